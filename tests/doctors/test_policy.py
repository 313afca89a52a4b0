"""The doctors, availability and exceptions rows of the policy matrix, for every role,
both ways, at the root, nested, and in totalCount."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Any

from models import Doctor
from resolvers.core.database import Database
from tests.client import GraphQLClient
from tests.factories import gid, make_doctor, make_exception, make_rule, make_user, user_of

DIRECTORY = """
query {
  doctors(first: 100) {
    totalCount
    edges { node { id verified availabilityRules { id active } exceptions { id } } }
  }
}
"""
ONE = """
query ($id: ID!) {
  doctor(id: $id) { id availabilityRules { id active } exceptions { id kind } }
}
"""
VIEWER_DOCTOR = """
query { viewer { doctor { id verified availabilityRules { id active } exceptions { id } } } }
"""


@dataclass
class Clinic:
    verified: Doctor
    unverified: Doctor
    active: str
    inactive: str
    hidden_rule: str
    public_exception: str
    hidden_exception: str


async def _clinic(db: Database) -> Clinic:
    verified = await make_doctor(db, verified=True)
    unverified = await make_doctor(db, verified=False)
    active = await make_rule(db, verified, day_of_week=1, active=True)
    inactive = await make_rule(db, verified, day_of_week=2, active=False)
    hidden_rule = await make_rule(db, unverified, day_of_week=3, active=True)
    soon = date.today() + timedelta(days=3)
    public_exception = await make_exception(db, verified, on=soon)
    hidden_exception = await make_exception(
        db, unverified, on=soon, kind="custom_hours", start=time(9), end=time(10)
    )
    return Clinic(
        verified=verified,
        unverified=unverified,
        active=gid(active),
        inactive=gid(inactive),
        hidden_rule=gid(hidden_rule),
        public_exception=gid(public_exception),
        hidden_exception=gid(hidden_exception),
    )


def _ids(response_data: Any) -> dict[str, Any]:
    return {edge["node"]["id"]: edge["node"] for edge in response_data["doctors"]["edges"]}


async def test_anon_and_patient_see_verified_doctors_and_their_active_rules(
    client: GraphQLClient, db: Database
) -> None:
    clinic = await _clinic(db)
    patient = await make_user(db)
    verified_id = gid(clinic.verified)
    unverified_id = gid(clinic.unverified)
    for viewer in (None, patient):
        response = await client.execute(DIRECTORY, as_user=viewer)
        doctors = _ids(response.data)
        assert set(doctors) == {verified_id}
        assert response.data["doctors"]["totalCount"] == 1
        assert [r["id"] for r in doctors[verified_id]["availabilityRules"]] == [clinic.active]
        assert [e["id"] for e in doctors[verified_id]["exceptions"]] == [clinic.public_exception]
        single = await client.execute(ONE, {"id": unverified_id}, as_user=viewer)
        assert single.data == {"doctor": None}
        visible = await client.execute(ONE, {"id": verified_id}, as_user=viewer)
        assert visible.data["doctor"]["id"] == verified_id


async def test_doctor_sees_own_unverified_profile_and_inactive_rules_not_others(
    client: GraphQLClient, db: Database
) -> None:
    clinic = await _clinic(db)
    own = await make_doctor(db, verified=False)
    own_inactive = await make_rule(db, own, active=False)
    own_exception = await make_exception(db, own, on=date.today() + timedelta(days=1))
    me = await user_of(db, own)

    response = await client.execute(DIRECTORY, as_user=me)
    doctors = _ids(response.data)
    assert set(doctors) == {gid(clinic.verified), gid(own)}
    assert response.data["doctors"]["totalCount"] == 2
    assert [r["id"] for r in doctors[gid(own)]["availabilityRules"]] == [gid(own_inactive)]
    assert [e["id"] for e in doctors[gid(own)]["exceptions"]] == [gid(own_exception)]
    # Another doctor's inactive rule stays hidden.
    other = doctors[gid(clinic.verified)]
    assert clinic.inactive not in [r["id"] for r in other["availabilityRules"]]

    mine = await client.execute(VIEWER_DOCTOR, as_user=me)
    assert mine.data["viewer"]["doctor"]["id"] == gid(own)
    assert mine.data["viewer"]["doctor"]["verified"] is False

    hidden = await client.execute(
        ONE,
        {"id": gid(clinic.unverified)},
        as_user=me,
    )
    assert hidden.data == {"doctor": None}


async def test_admin_and_service_role_see_everything(client: GraphQLClient, db: Database) -> None:
    clinic = await _clinic(db)
    admin = await make_user(db, roles=("admin",))
    for viewer in (admin, "service"):
        response = await client.execute(DIRECTORY, as_user=viewer)
        doctors = _ids(response.data)
        assert response.data["doctors"]["totalCount"] == 2
        verified = doctors[gid(clinic.verified)]
        unverified = doctors[gid(clinic.unverified)]
        assert {r["id"] for r in verified["availabilityRules"]} == {
            clinic.active,
            clinic.inactive,
        }
        assert [r["id"] for r in unverified["availabilityRules"]] == [clinic.hidden_rule]
        assert [e["id"] for e in unverified["exceptions"]] == [clinic.hidden_exception]


async def test_coach_sees_what_a_patient_sees(client: GraphQLClient, db: Database) -> None:
    clinic = await _clinic(db)
    coach = await make_user(db, roles=("coach",))
    patient = await make_user(db)
    response = await client.execute(DIRECTORY, as_user=coach)
    assert set(_ids(response.data)) == {gid(clinic.verified)}
    assert response.data["doctors"]["totalCount"] == 1
    # Nested rules and exceptions too: no inactive rule, nothing of the unverified doctor.
    assert response.data == (await client.execute(DIRECTORY, as_user=patient)).data
    single = await client.execute(ONE, {"id": gid(clinic.unverified)}, as_user=coach)
    assert single.data == {"doctor": None}


async def test_verified_filter_cannot_widen_the_policy(client: GraphQLClient, db: Database) -> None:
    await _clinic(db)
    query = "query { doctors(filter: {verified: false}) { totalCount edges { node { id } } } }"
    patient = await make_user(db)
    response = await client.execute(query, as_user=patient)
    assert response.data["doctors"] == {"totalCount": 0, "edges": []}
    admin = await make_user(db, roles=("admin",))
    assert (await client.execute(query, as_user=admin)).data["doctors"]["totalCount"] == 1
