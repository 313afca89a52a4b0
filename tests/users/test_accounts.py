"""Accounts (admins): roles granted and revoked (in effect from the next request; the last
admin stays, even when two admins remove each other at once), accounts deactivated (their
tokens 401, their history kept), doctors onboarded unverified, and the user list; every
one FORBIDDEN to others with nothing written."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from models import Appointment, Doctor, User, UserRole
from resolvers.core.database import Database
from tests.appointments.factories import make_appointment
from tests.client import GraphQLClient
from tests.factories import count_rows, gid, make_doctor, make_user

ROLE = """
mutation ($input: RoleInput!) {
  grant: grantRole(input: $input) {
    __typename ... on RolesChanged { roles } ... on ValidationError { fields { field messages } }
    ... on UserError { code }
  }
}
"""
REVOKE = ROLE.replace("grant: grantRole", "grant: revokeRole")
DEACTIVATE = """
mutation ($id: ID!) {
  deactivateUser(input: {userId: $id}) {
    __typename ... on UserDeactivated { user { id } } ... on ValidationError { fields { field } }
    ... on UserError { code }
  }
}
"""
CREATE_DOCTOR = """
mutation ($input: CreateDoctorInput!) {
  createDoctor(input: $input) {
    __typename ... on DoctorCreated { doctor { id fullName verified user { email } } }
    ... on ValidationError { fields { field } } ... on UserError { code }
  }
}
"""
USERS = """
query ($search: String, $role: AppRole) {
  users(search: $search, role: $role, first: 20) { totalCount edges { node { fullName } } }
}
"""
PATIENTS = '{ patients(search: "a") { totalCount } }'


async def test_a_granted_role_works_from_the_next_request_and_revoking_ends_it(
    client: GraphQLClient, db: Database
) -> None:
    admin = await make_user(db, roles=("admin",))
    user = await make_user(db)
    assert (await client.execute(PATIENTS, as_user=user)).codes == ["FORBIDDEN"]
    granted = await client.execute(
        ROLE, {"input": {"userId": gid(user), "role": "STAFF"}}, as_user=admin
    )
    assert granted.data["grant"]["roles"] == ["PATIENT", "STAFF"]
    assert (await client.execute(PATIENTS, as_user=user)).errors == []
    revoked = await client.execute(
        REVOKE, {"input": {"userId": gid(user), "role": "STAFF"}}, as_user=admin
    )
    assert revoked.data["grant"]["roles"] == ["PATIENT"]
    assert (await client.execute(PATIENTS, as_user=user)).codes == ["FORBIDDEN"]


async def test_roles_that_come_with_the_account_are_not_granted(
    client: GraphQLClient, db: Database
) -> None:
    admin = await make_user(db, roles=("admin",))
    user = await make_user(db)
    for role in ("PATIENT", "DOCTOR"):
        answer = await client.execute(
            ROLE, {"input": {"userId": gid(user), "role": role}}, as_user=admin
        )
        assert answer.data["grant"]["fields"][0]["field"] == "role"
    assert await count_rows(db, UserRole) == 1  # the admin's own


@pytest.mark.parametrize("who", ["patient", "coach", "staff", "doctor", "anon"])
async def test_only_admins_manage_accounts(client: GraphQLClient, db: Database, who: str) -> None:
    target = await make_user(db)
    viewers: dict[str, User | None] = {
        "patient": await make_user(db),
        "coach": await make_user(db, roles=("coach",)),
        "staff": await make_user(db, roles=("staff",)),
        "doctor": await make_user(db),
        "anon": None,
    }
    if who == "doctor":
        await make_doctor(db, user=viewers["doctor"])
    viewer = viewers[who]
    before = await count_rows(db, UserRole), await count_rows(db, Doctor)
    role = {"input": {"userId": gid(target), "role": "ADMIN"}}
    assert (await client.execute(ROLE, role, as_user=viewer)).data["grant"]["code"] == "FORBIDDEN"
    gone = await client.execute(DEACTIVATE, {"id": gid(target)}, as_user=viewer)
    assert gone.data["deactivateUser"]["code"] == "FORBIDDEN"
    made = await client.execute(
        CREATE_DOCTOR, {"input": {"userId": gid(target), "fullName": "Dr. X"}}, as_user=viewer
    )
    assert made.data["createDoctor"]["code"] == "FORBIDDEN"
    assert (await client.execute(USERS, as_user=viewer)).codes == ["FORBIDDEN"]
    assert (await count_rows(db, UserRole), await count_rows(db, Doctor)) == before


async def test_the_last_admin_stays_even_when_two_remove_each_other_at_once(
    client: GraphQLClient, db: Database
) -> None:
    first = await make_user(db, roles=("admin",))
    second = await make_user(db, roles=("admin",))
    answers = await asyncio.gather(
        client.execute(REVOKE, {"input": {"userId": gid(second), "role": "ADMIN"}}, as_user=first),
        client.execute(REVOKE, {"input": {"userId": gid(first), "role": "ADMIN"}}, as_user=second),
    )
    results = [answer.data["grant"]["__typename"] for answer in answers]
    # One removal wins; the other waits for it, then is refused: as the last admin, or
    # FORBIDDEN because its sender is no longer an admin.
    assert results.count("RolesChanged") == 1
    assert set(results) - {"RolesChanged"} <= {"NotAllowed", "ValidationError"}
    async with db.read() as session:
        admins = await session.scalar(
            select(func.count()).select_from(UserRole).where(UserRole.role == "admin")
        )
    assert admins == 1
    survivor = first if results[0] == "RolesChanged" else second
    alone = await client.execute(
        REVOKE, {"input": {"userId": gid(survivor), "role": "ADMIN"}}, as_user=survivor
    )
    assert alone.data["grant"]["fields"] == [
        {"field": "role", "messages": ["the last admin cannot be removed"]}
    ]


async def test_a_deactivated_account_gets_401_and_keeps_its_history(
    client: GraphQLClient, db: Database
) -> None:
    admin = await make_user(db, roles=("admin",))
    patient = await make_user(db)
    appointment = await make_appointment(
        db,
        doctor=await make_doctor(db),
        patient=patient,
        starts_at=datetime.now(UTC) + timedelta(days=2),
    )
    assert (await client.execute("{ viewer { id } }", as_user=patient)).status == 200
    done = await client.execute(DEACTIVATE, {"id": gid(patient)}, as_user=admin)
    assert done.data["deactivateUser"]["user"] == {"id": gid(patient)}
    refused = await client.execute("{ viewer { id } }", as_user=patient)
    assert refused.status == 401 and refused.codes == ["UNAUTHENTICATED"]
    history = await client.execute(
        "query ($id: ID!) { appointment(id: $id) { id } }", {"id": gid(appointment)}, as_user=admin
    )
    assert history.data["appointment"] == {"id": gid(appointment)}
    async with db.read() as session:
        assert await session.get(Appointment, appointment.id) is not None
    itself = await client.execute(DEACTIVATE, {"id": gid(admin)}, as_user=admin)
    assert itself.data["deactivateUser"]["fields"] == [{"field": "userId"}]


async def test_a_doctor_is_onboarded_unverified_for_an_existing_or_new_user(
    client: GraphQLClient, db: Database
) -> None:
    admin = await make_user(db, roles=("admin",))
    existing = await make_user(db)
    made = await client.execute(
        CREATE_DOCTOR,
        {"input": {"userId": gid(existing), "fullName": "Dr. Existing", "feeStandard": "80"}},
        as_user=admin,
    )
    doctor = made.data["createDoctor"]["doctor"]
    assert doctor["verified"] is False and doctor["user"]["email"] == existing.email
    viewer = await client.execute("{ viewer { roles doctor { id } } }", as_user=existing)
    assert viewer.data["viewer"] == {"roles": ["DOCTOR", "PATIENT"], "doctor": {"id": doctor["id"]}}
    directory = await client.execute("{ doctors(first: 50) { edges { node { id } } } }")
    assert {"node": {"id": doctor["id"]}} not in directory.data["doctors"]["edges"]

    new = await client.execute(
        CREATE_DOCTOR,
        {
            "input": {
                "email": "New.Doc@Example.test",
                "fullName": "Dr. New",
                "timezone": "Asia/Dubai",
            }
        },
        as_user=admin,
    )
    assert new.data["createDoctor"]["doctor"]["user"]["email"] == "new.doc@example.test"

    again = await client.execute(
        CREATE_DOCTOR, {"input": {"userId": gid(existing), "fullName": "Dr. Twice"}}, as_user=admin
    )
    assert again.data["createDoctor"]["fields"] == [{"field": "userId"}]
    bad = await client.execute(
        CREATE_DOCTOR,
        {"input": {"fullName": " ", "timezone": "Mars/Base", "currency": "usd"}},
        as_user=admin,
    )
    assert {field["field"] for field in bad.data["createDoctor"]["fields"]} == {
        "userId",
        "fullName",
        "timezone",
        "currency",
    }
    assert await count_rows(db, Doctor) == 2


async def test_admins_list_users_by_search_and_role(client: GraphQLClient, db: Database) -> None:
    admin = await make_user(db, roles=("admin",), full_name="Zed Admin")
    await make_user(db, roles=("coach",), full_name="Cora Coach")
    await make_user(db, full_name="Pia Patient")
    await make_doctor(db, user=await make_user(db, full_name="Dora Doctor"))

    async def names(**variables: Any) -> list[str]:
        answer = await client.execute(USERS, variables, as_user=admin)
        return [edge["node"]["fullName"] for edge in answer.data["users"]["edges"]]

    assert await names() == ["Cora Coach", "Dora Doctor", "Pia Patient", "Zed Admin"]
    assert await names(role="COACH") == ["Cora Coach"]
    assert await names(role="DOCTOR") == ["Dora Doctor"]
    assert await names(role="PATIENT", search="pia") == ["Pia Patient"]
