"""Clinical notes: the appointment's doctor writes them; that doctor and admins read them
(nested, by node); the patient, the front desk, coaches and other doctors never do; bad
input and other writers change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models import ClinicalNote, User
from resolvers.core.database import Database
from schema.ids import decode_id
from tests.appointments.factories import make_appointment
from tests.client import GraphQLClient
from tests.factories import count_rows, gid, make_doctor, make_user, user_of

ADD = """
mutation ($id: ID!, $body: String!) {
  addClinicalNote(input: {appointmentId: $id, body: $body}) {
    __typename ... on ClinicalNoteSaved { note { id body author { id } } }
    ... on ValidationError { fields { field } } ... on UserError { code }
  }
}
"""
UPDATE = """
mutation ($id: ID!, $body: String!) {
  updateClinicalNote(input: {id: $id, body: $body}) {
    __typename ... on ClinicalNoteSaved { note { body } } ... on UserError { code }
  }
}
"""
NOTES = """
query ($id: ID!, $note: ID!) {
  appointment(id: $id) { clinicalNotes { id body } }
  node(id: $note) { id }
}
"""


async def _world(db: Database) -> dict[str, Any]:
    doctor = await make_doctor(db)
    patient = await make_user(db)
    appointment = await make_appointment(
        db, doctor=doctor, patient=patient, starts_at=datetime.now(UTC) + timedelta(days=1)
    )
    return {
        "appointment": appointment,
        "doctor": await user_of(db, doctor),
        "patient": patient,
        "staff": await make_user(db, roles=("staff",)),
        "coach": await make_user(db, roles=("coach",)),
        "admin": await make_user(db, roles=("admin",)),
        "other_doctor": await user_of(db, await make_doctor(db)),
    }


READERS = {"doctor": True, "admin": True, "patient": False, "staff": False, "coach": False}


@pytest.mark.parametrize("role", [*READERS, "other_doctor"])
async def test_notes_are_for_the_doctor_and_admins_only(
    client: GraphQLClient, db: Database, role: str
) -> None:
    world = await _world(db)
    appointment = world["appointment"]
    added = await client.execute(
        ADD, {"id": gid(appointment), "body": " BP 150/95; recheck. "}, as_user=world["doctor"]
    )
    note = added.data["addClinicalNote"]["note"]
    assert note["body"] == "BP 150/95; recheck." and note["author"] == {"id": gid(world["doctor"])}
    answer = await client.execute(
        NOTES, {"id": gid(appointment), "note": note["id"]}, as_user=world[role]
    )
    assert answer.errors == []
    if role in ("other_doctor", "coach"):  # the appointment itself is hidden from them
        assert answer.data["appointment"] is None
    else:
        expected = [{"id": note["id"], "body": note["body"]}] if READERS[role] else []
        assert answer.data["appointment"]["clinicalNotes"] == expected
    assert (answer.data["node"] is not None) is READERS.get(role, False)


@pytest.mark.parametrize(
    ("role", "code"),
    [
        ("patient", "FORBIDDEN"),
        ("staff", "FORBIDDEN"),
        ("admin", "FORBIDDEN"),
        ("other_doctor", "NOT_FOUND"),
        ("coach", "NOT_FOUND"),
    ],
)
async def test_only_the_appointments_doctor_writes_and_nothing_else_is_stored(
    client: GraphQLClient, db: Database, role: str, code: str
) -> None:
    world = await _world(db)
    who: User = world[role]
    answer = await client.execute(ADD, {"id": gid(world["appointment"]), "body": "x"}, as_user=who)
    assert answer.data["addClinicalNote"]["code"] == code
    assert await count_rows(db, ClinicalNote) == 0


async def test_the_author_edits_and_bad_text_is_refused(
    client: GraphQLClient, db: Database
) -> None:
    world = await _world(db)
    appointment = world["appointment"]
    empty = await client.execute(
        ADD, {"id": gid(appointment), "body": "   "}, as_user=world["doctor"]
    )
    assert empty.data["addClinicalNote"]["fields"] == [{"field": "body"}]
    assert await count_rows(db, ClinicalNote) == 0
    added = await client.execute(
        ADD, {"id": gid(appointment), "body": "first"}, as_user=world["doctor"]
    )
    note_id = added.data["addClinicalNote"]["note"]["id"]
    edited = await client.execute(
        UPDATE, {"id": note_id, "body": "second"}, as_user=world["doctor"]
    )
    assert edited.data["updateClinicalNote"]["note"] == {"body": "second"}
    by_admin = await client.execute(UPDATE, {"id": note_id, "body": "x"}, as_user=world["admin"])
    assert by_admin.data["updateClinicalNote"]["code"] == "FORBIDDEN"
    by_patient = await client.execute(
        UPDATE, {"id": note_id, "body": "x"}, as_user=world["patient"]
    )
    assert by_patient.data["updateClinicalNote"]["code"] == "NOT_FOUND"
    too_long = await client.execute(
        UPDATE, {"id": note_id, "body": "x" * 10_001}, as_user=world["doctor"]
    )
    assert too_long.data["updateClinicalNote"]["code"] == "BAD_USER_INPUT"
    async with db.read() as session:
        stored = await session.get(ClinicalNote, _key(note_id))
    assert stored is not None and stored.body == "second"


def _key(note_id: str) -> Any:
    decoded = decode_id(note_id)
    assert decoded is not None
    return decoded[1]
