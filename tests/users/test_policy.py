"""The users row: own row, coach reads names, doctor reads own patients' name and
contact, admin all; contact fields are null where the viewer may not see them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from resolvers.core.database import Database
from tests.appointments.factories import make_appointment
from tests.client import GraphQLClient
from tests.factories import gid, make_doctor, make_user, user_of

USER = "query ($id: ID!) { user(id: $id) { id fullName email phone } }"
DOCTOR_USER = "query ($id: ID!) { doctor(id: $id) { id user { id fullName email phone } } }"


async def test_own_row_with_contact_and_nobody_elses(client: GraphQLClient, db: Database) -> None:
    me = await make_user(db, phone="+15550002222")
    other = await make_user(db)
    own = await client.execute(USER, {"id": gid(me)}, as_user=me)
    assert own.data["user"] == {
        "id": gid(me),
        "fullName": me.full_name,
        "email": me.email,
        "phone": "+15550002222",
    }
    assert (await client.execute(USER, {"id": gid(other)}, as_user=me)).data == {"user": None}
    assert (await client.execute(USER, {"id": gid(me)})).data == {"user": None}


async def test_coach_reads_names_without_contact(client: GraphQLClient, db: Database) -> None:
    coach = await make_user(db, roles=("coach",))
    patient = await make_user(db)
    response = await client.execute(USER, {"id": gid(patient)}, as_user=coach)
    assert response.data["user"] == {
        "id": gid(patient),
        "fullName": patient.full_name,
        "email": None,
        "phone": None,
    }


async def test_doctor_reads_own_patients_only(client: GraphQLClient, db: Database) -> None:
    doctor = await make_doctor(db)
    doctor_user = await user_of(db, doctor)
    patient = await make_user(db)
    stranger = await make_user(db)
    await make_appointment(
        db, doctor=doctor, patient=patient, starts_at=datetime.now(UTC) + timedelta(days=2)
    )
    seen = await client.execute(USER, {"id": gid(patient)}, as_user=doctor_user)
    assert seen.data["user"]["email"] == patient.email
    assert seen.data["user"]["phone"] == patient.phone
    hidden = await client.execute(USER, {"id": gid(stranger)}, as_user=doctor_user)
    assert hidden.data == {"user": None}


async def test_admin_and_service_read_all_with_contact(client: GraphQLClient, db: Database) -> None:
    admin = await make_user(db, roles=("admin",))
    patient = await make_user(db)
    for viewer in (admin, "service"):
        response = await client.execute(USER, {"id": gid(patient)}, as_user=viewer)
        assert response.data["user"]["email"] == patient.email


async def test_doctor_user_nested_follows_users_policy(client: GraphQLClient, db: Database) -> None:
    doctor = await make_doctor(db)
    doctor_user = await user_of(db, doctor)
    patient = await make_user(db)
    coach = await make_user(db, roles=("coach",))
    variables = {"id": gid(doctor)}
    assert (await client.execute(DOCTOR_USER, variables)).data["doctor"]["user"] is None
    as_patient = await client.execute(DOCTOR_USER, variables, as_user=patient)
    assert as_patient.data["doctor"]["user"] is None
    as_coach = await client.execute(DOCTOR_USER, variables, as_user=coach)
    assert as_coach.data["doctor"]["user"]["fullName"] == doctor_user.full_name
    assert as_coach.data["doctor"]["user"]["email"] is None
    as_self = await client.execute(DOCTOR_USER, variables, as_user=doctor_user)
    assert as_self.data["doctor"]["user"]["email"] == doctor_user.email
