"""Booking references: short, random, unique under concurrent bookings, found by
`appointment(reference:)` for whoever may read the appointment, and a taken reference
drawn again instead of failing the booking."""

from __future__ import annotations

import asyncio
import re
from datetime import time, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from models import Appointment, User
from resolvers.core.database import Database
from resolvers.demo.ids import demo_id, demo_reference
from tests.appointments.factories import at, local_day_ahead, make_appointment, weekday_of
from tests.client import GraphQLClient
from tests.factories import gid, make_doctor, make_rule, make_user, user_of

BOOK = """
mutation ($input: BookAppointmentInput!) {
  bookAppointment(input: $input) {
    __typename ... on AppointmentBooked { appointment { id reference } }
  }
}
"""
BY_REFERENCE = """
query ($reference: String) { appointment(reference: $reference) { id reference } }
"""
PATTERN = re.compile(r"[2-9A-HJKMNP-TV-Z]{8}")


async def _book(client: GraphQLClient, doctor: Any, patient: Any, starts_at: Any) -> Any:
    answer = await client.execute(
        BOOK,
        {"input": {"doctorId": gid(doctor), "startsAt": starts_at.isoformat()}},
        as_user=patient,
    )
    result = answer.data["bookAppointment"]
    assert result["__typename"] == "AppointmentBooked", result
    return result["appointment"]


async def test_a_booking_gets_a_reference_found_by_whoever_may_read_it(
    client: GraphQLClient, db: Database
) -> None:
    doctor = await make_doctor(db)
    day = local_day_ahead("UTC", 10)
    await make_rule(db, doctor, day_of_week=weekday_of(day), start=time(9), end=time(12))
    patient = await make_user(db)
    booked = await _book(client, doctor, patient, at(day, time(9), "UTC"))
    reference = booked["reference"]
    assert PATTERN.fullmatch(reference)
    typed = f" {reference[:4].lower()}-{reference[4:]} "  # as someone reads it out
    expected = {"id": booked["id"], "reference": reference}
    for viewer in (patient, await user_of(db, doctor), await make_user(db, roles=("admin",))):
        answer = await client.execute(BY_REFERENCE, {"reference": typed}, as_user=viewer)
        assert answer.data["appointment"] == expected
    outsiders: list[User | None] = [await make_user(db), await make_user(db, roles=("coach",))]
    for outsider in [*outsiders, None]:
        answer = await client.execute(BY_REFERENCE, {"reference": reference}, as_user=outsider)
        assert answer.errors == [] and answer.data["appointment"] is None


async def test_a_malformed_reference_or_both_or_neither_argument_is_bad_input(
    client: GraphQLClient, db: Database
) -> None:
    patient = await make_user(db)
    for reference in ("", "ABC", "OOOOOOOO", "ABCDEFGHJ"):
        answer = await client.execute(BY_REFERENCE, {"reference": reference}, as_user=patient)
        assert answer.codes == ["BAD_USER_INPUT"], reference
        assert "`reference`" in answer.errors[0]["message"]
    neither = await client.execute(BY_REFERENCE, {"reference": None}, as_user=patient)
    assert neither.codes == ["BAD_USER_INPUT"]
    both = await client.execute(
        'query { appointment(id: "x", reference: "23456789") { id } }', as_user=patient
    )
    assert both.codes == ["BAD_USER_INPUT"]


async def test_references_are_unique_and_unordered_under_concurrent_bookings(
    client: GraphQLClient, db: Database
) -> None:
    doctor = await make_doctor(db)
    day = local_day_ahead("UTC", 10)
    await make_rule(db, doctor, day_of_week=weekday_of(day), start=time(8), end=time(16))
    starts = [at(day, time(8), "UTC") + timedelta(minutes=30 * n) for n in range(16)]
    patients = [await make_user(db) for _ in starts]
    booked = await asyncio.gather(
        *(
            _book(client, doctor, patient, start)
            for patient, start in zip(patients, starts, strict=True)
        )
    )
    references = [appointment["reference"] for appointment in booked]
    assert len(set(references)) == 16
    in_booking_order = [
        appointment["reference"]
        for appointment in sorted(booked, key=lambda appointment: appointment["id"])
    ]
    assert in_booking_order != sorted(in_booking_order)  # not a sequence
    # The database itself refuses a second appointment with a taken reference.
    other = await make_appointment(
        db, doctor=doctor, patient=patients[0], starts_at=at(day, time(20), "UTC")
    )
    try:
        async with db.transaction() as session:
            await session.execute(
                text("UPDATE appointments SET reference = :reference WHERE id = :id"),
                {"reference": references[0], "id": other.id},
            )
    except IntegrityError as error:
        assert "uq_appointments_reference" in str(error.orig)
    else:
        raise AssertionError("a duplicate reference was stored")


async def test_a_taken_reference_is_drawn_again(client: GraphQLClient, db: Database) -> None:
    doctor = await make_doctor(db)
    day = local_day_ahead("UTC", 10)
    await make_rule(db, doctor, day_of_week=weekday_of(day), start=time(9), end=time(12))
    patient = await make_user(db)
    taken = await make_appointment(
        db, doctor=doctor, patient=patient, starts_at=at(day, time(11), "UTC")
    )
    original = (
        "CREATE OR REPLACE FUNCTION booking_reference() RETURNS text LANGUAGE sql VOLATILE AS "
        "$$ SELECT string_agg(substr('23456789ABCDEFGHJKMNPQRSTVWXYZ', "
        "1 + floor(random() * 30)::int, 1), '') FROM generate_series(1, 8) $$"
    )
    async with db.transaction() as session:
        # The next draw repeats the taken reference; the ones after are random again.
        await session.execute(text("CREATE SEQUENCE IF NOT EXISTS test_reference_draws"))
        await session.execute(
            text(
                "CREATE OR REPLACE FUNCTION booking_reference() RETURNS text LANGUAGE sql "
                "VOLATILE AS $$ SELECT CASE WHEN nextval('test_reference_draws') = 1 "
                f"THEN '{taken.reference}' ELSE (SELECT string_agg(substr("
                "'23456789ABCDEFGHJKMNPQRSTVWXYZ', 1 + floor(random() * 30)::int, 1), '') "
                "FROM generate_series(1, 8)) END $$"
            )
        )
    try:
        booked = await _book(client, doctor, patient, at(day, time(9), "UTC"))
    finally:
        async with db.transaction() as session:
            await session.execute(text(original))
            await session.execute(text("DROP SEQUENCE test_reference_draws"))
    assert PATTERN.fullmatch(booked["reference"])
    assert booked["reference"] != taken.reference


def test_demo_references_are_fixed() -> None:
    reference = demo_reference(demo_id("appointment", "pat-followup-confirmed"))
    assert reference == "9KGXNGSR"
    assert PATTERN.fullmatch(reference)
    assert Appointment.__table__.c.reference.server_default is not None
