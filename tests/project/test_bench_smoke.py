"""The bench at a tiny scale: the generator fills every table this branch has, and each
bench operation's GraphQL response equals its raw-SQL baseline's (differential test),
for several viewers, with a statement count that does not depend on the viewer."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

from bench.baseline import create_pool, run_operation
from bench.generate import Scale, generate, table_counts
from bench.operations import (
    MUTATION_MIX,
    NEXT_SLOTS_SQL,
    OPERATIONS,
    SLOTS_SQL,
    mix_slots,
    viewer_email,
    viewer_id,
    viewer_numbers,
)
from models import User
from resolvers.core.database import Database
from resolvers.core.settings import get_settings
from tests.appointments.factories import make_appointment, make_hold
from tests.client import GraphQLClient
from tests.factories import gid, make_doctor, make_exception, make_rule

SCALE = Scale.tiny()


def _filled(value: Any, name: str) -> bool:
    """Whether field `name` somewhere in `value` is a non-empty list or connection, or a
    non-null object."""
    if isinstance(value, list):
        return any(_filled(item, name) for item in value)
    if not isinstance(value, dict):
        return False
    found = value.get(name)
    if isinstance(found, list) and found:
        return True
    if isinstance(found, dict) and (found.get("edges") if "edges" in found else True):
        return True
    return any(_filled(item, name) for item in value.values())


async def test_generator_and_baseline_agree_with_graphql(
    client: GraphQLClient, database_url: str
) -> None:
    report = await generate(database_url, SCALE)
    assert {"users", "doctors", "availability", "goals", "appointments"} <= set(report.filled)
    counts = await table_counts(database_url)
    assert counts["doctors"] == SCALE.doctors
    assert counts["goals"] == SCALE.goals
    assert counts["appointments"] == SCALE.appointments
    assert counts["goal_check_ins"] > SCALE.goals

    pool = await create_pool(database_url, size=2)
    try:
        for operation in OPERATIONS:
            statements: set[int] = set()
            non_empty = 0
            for n in viewer_numbers(operation.viewer_kind, SCALE, 6):
                viewer = SimpleNamespace(
                    id=viewer_id(operation.viewer_kind, n),
                    email=viewer_email(operation.viewer_kind, n),
                )
                variables = operation.variables(SCALE, n)
                response = await client.execute(operation.document, variables, as_user=viewer)
                expected: Any = json.loads(
                    await run_operation(pool, operation.name, viewer.id, variables)
                )
                assert response.data == expected, (operation.name, n)
                statements.add(response.statements)
                non_empty += all(_filled(expected, name) for name in operation.filled)
            assert len(statements) == 1, (operation.name, statements)
            assert non_empty >= 4, (operation.name, non_empty)  # most of the six viewers
    finally:
        await pool.close()


MIX_DOCTOR = """
query MixDoctorSlots($id: ID!, $from: Date!, $to: Date!) {
  doctor(id: $id) { availableSlots(from: $from, to: $to) { startsAt } }
}
"""


async def test_mutation_mix_cycle_frees_its_slot(client: GraphQLClient, database_url: str) -> None:
    """One hold + book + cancel cycle as the runner sends it: each step answers with its
    success type, and the slot is open again afterwards (repeated runs never run out)."""
    await generate(database_url, SCALE)
    mix = MUTATION_MIX
    n = mix.viewers(1)[0]
    patient = SimpleNamespace(id=viewer_id("patient", n), email=viewer_email("patient", n))
    listed = await client.execute(mix.slots, mix.slot_variables(), as_user=patient)
    slots = mix_slots(mix, SCALE, listed.data)
    assert len(slots) > 50
    doctors = len({doctor for doctor, _ in slots})
    assert doctors >= 3
    assert len({doctor for doctor, _ in slots[:doctors]}) == doctors, "spread over doctors"
    doctor_id, starts_at = slots[0]
    slot = {"doctorId": doctor_id, "startsAt": starts_at}
    names = mix.operation_names()
    held = await client.execute(mix.hold, slot, as_user=patient)
    assert held.data[next(iter(held.data))]["__typename"] == mix.succeeded[0], held.data
    booked = await client.execute(mix.book, slot, as_user=patient)
    result = booked.data["bookAppointment"]
    assert result["__typename"] == mix.succeeded[1], result
    appointment_id = result["appointment"]["id"]
    range_ = {"id": doctor_id, **mix.slot_variables()}
    during = await client.execute(MIX_DOCTOR, range_, as_user=patient)
    assert starts_at not in {s["startsAt"] for s in during.data["doctor"]["availableSlots"]}
    cancelled = await client.execute(mix.cancel, {"id": appointment_id}, as_user=patient)
    assert cancelled.data["cancelAppointment"]["__typename"] == mix.succeeded[2], cancelled.data
    after = await client.execute(MIX_DOCTOR, range_, as_user=patient)
    assert starts_at in {s["startsAt"] for s in after.data["doctor"]["availableSlots"]}
    assert names == ("BenchHold", "BenchBook", "BenchCancel")


SLOTS_ONLY = f"""
WITH edges AS (SELECT d.id, d.timezone, d.verified, d.accepting_patients
                 FROM doctors d WHERE d.id = $5), {SLOTS_SQL}
SELECT coalesce(json_agg(json_build_object('startsAt', s.starts_at, 'endsAt', s.ends_at)
                         ORDER BY s.starts_at), '[]'::json)::text
  FROM slots s
"""

DOCTOR_SLOTS = """
query DoctorSlots($id: ID!, $from: Date!, $to: Date!) {
  doctor(id: $id) { availableSlots(from: $from, to: $to) { startsAt endsAt } }
}
"""


async def test_slot_baseline_matches_server_on_edge_cases(
    client: GraphQLClient, db: Database, database_url: str
) -> None:
    """The directory baseline's slot SQL against `Doctor.availableSlots` where the bench
    data does not go: DST both ways (a skipped hour has no slots, a repeated one starts
    at the earlier instant), custom hours keeping the weekday's slot length and buffer,
    a blocked day, the daily cap, live vs cancelled appointments with the buffer, and
    other viewers' holds vs the viewer's own."""
    await generate(database_url, SCALE)
    patient_id = viewer_id("patient", 1)
    async with db.read() as session:
        own = await session.get(User, patient_id)
        other = await session.get(User, viewer_id("patient", 2))
    assert own is not None and other is not None
    doctor = await make_doctor(db, timezone="America/New_York")
    for day, opens, closes, slot, buffer, cap, active in [
        (0, time(0, 30), time(4, 0), 30, 0, None, True),
        (1, time(9, 0), time(12, 0), 45, 10, 2, True),
        (1, time(14, 0), time(16, 0), 30, 0, None, False),
        (2, time(9, 0), time(17, 0), 20, 5, None, True),
    ]:
        await make_rule(
            db,
            doctor,
            day_of_week=day,
            start=opens,
            end=closes,
            slot_minutes=slot,
            buffer_minutes=buffer,
            max_patients_per_day=cap,
            active=active,
        )
    await make_exception(
        db, doctor, on=date(2027, 3, 15), kind="custom_hours", start=time(13), end=time(15)
    )
    await make_exception(db, doctor, on=date(2027, 11, 9))

    def at(day: date, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(day, time(hour, minute), UTC)

    for starts, status in [
        (at(date(2027, 3, 16), 14), "confirmed"),
        (at(date(2027, 3, 16), 15), "cancelled"),
        (at(date(2027, 11, 8), 14), "pending_payment"),
        (at(date(2027, 11, 8), 15), "confirmed"),
        (at(date(2027, 11, 10), 15, 7), "confirmed"),
    ]:
        await make_appointment(db, doctor=doctor, patient=other, starts_at=starts, status=status)
    for user, starts in [(other, at(date(2027, 3, 16), 16)), (own, at(date(2027, 3, 16), 18))]:
        await make_hold(
            db,
            doctor=doctor,
            user=user,
            starts_at=starts,
            minutes=20,
            expires_in=timedelta(hours=1),
        )
    pool = await create_pool(database_url, size=1)
    try:
        lead = get_settings().min_lead_minutes
        # March: 5 Sunday slots (02:00 and 02:30 skipped), 2 in Monday's custom hours with
        # Monday's 45 + 10 minutes, Tuesday's 19 less 2 around the live appointment and 2
        # around the other patient's hold (buffer 5; the cancelled appointment and the
        # viewer's own hold do not count). November:
        # 7 Sunday slots (01:00 and 01:30 once, the earlier instants), Monday capped,
        # Tuesday blocked.
        for start, end, expected_count in [
            (date(2027, 3, 12), date(2027, 3, 17), 5 + 2 + 15),
            (date(2027, 11, 5), date(2027, 11, 10), 7),
        ]:
            variables = {"id": gid(doctor), "from": start.isoformat(), "to": end.isoformat()}
            response = await client.execute(DOCTOR_SLOTS, variables, as_user=own)
            served = response.data["doctor"]["availableSlots"]
            baseline = json.loads(
                await pool.fetchval(SLOTS_ONLY, patient_id, start, end, lead, doctor.id)
            )
            assert served == baseline, (start, served, baseline)
            assert len(served) == expected_count, served
    finally:
        await pool.close()


NEXT_SLOT_ONLY = f"""
WITH edges AS (SELECT d.id, d.timezone, d.verified, d.accepting_patients
                 FROM doctors d WHERE d.id = $3), {NEXT_SLOTS_SQL}
SELECT (SELECT json_build_object('startsAt', s.starts_at, 'endsAt', s.ends_at)
          FROM slots s ORDER BY s.starts_at LIMIT 1)::text
"""

WEEK_SLOTS_ONLY = f"""
WITH edges AS (SELECT d.id, d.timezone, d.verified, d.accepting_patients
                 FROM doctors d WHERE d.id = $5), {SLOTS_SQL}
SELECT coalesce(json_agg(json_build_object('startsAt', s.starts_at, 'endsAt', s.ends_at)
                         ORDER BY s.starts_at), '[]'::json)::text
  FROM slots s
"""

DOCTOR_NEXT_SLOT = """
query DoctorNextSlot($id: ID!, $from: Date!, $to: Date!) {
  doctor(id: $id) {
    availableSlots(from: $from, to: $to) { startsAt endsAt }
    nextAvailableSlot { startsAt endsAt }
  }
}
"""


async def test_slot_baseline_follows_the_default_service(
    client: GraphQLClient, db: Database, database_url: str
) -> None:
    """The slot SQL of both directory baselines against `Doctor.availableSlots` and
    `nextAvailableSlot` when the doctor's standard service has its own length, buffer and
    minimum notice (25 + 10 minutes, 25 hours' notice), and an unpaid booking past its
    payment window no longer blocks its time while one still within it does."""
    await generate(database_url, SCALE)
    patient_id = viewer_id("patient", 1)
    async with db.read() as session:
        own = await session.get(User, patient_id)
        other = await session.get(User, viewer_id("patient", 2))
    assert own is not None and other is not None
    doctor = await make_doctor(db, timezone="Asia/Dubai")
    for weekday in range(7):
        await make_rule(db, doctor, day_of_week=weekday, start=time(8), end=time(18))
    async with db.transaction() as session:
        await session.execute(
            text(
                "UPDATE services SET duration_minutes = 25, buffer_minutes = 10, "
                "min_notice_minutes = 1500 WHERE doctor_id = :id AND default_for = 'standard'"
            ),
            {"id": doctor.id},
        )
    zone = ZoneInfo("Asia/Dubai")
    today = datetime.now(zone).date()
    day = today + timedelta(days=3)

    def local(hour: int) -> datetime:
        return datetime.combine(day, time(hour), zone).astimezone(UTC)

    now = datetime.now(UTC)
    lapsed, unpaid = now - timedelta(hours=1), now + timedelta(hours=1)
    for hour, due in [(10, lapsed), (14, unpaid)]:
        appointment = await make_appointment(
            db, doctor=doctor, patient=other, starts_at=local(hour), status="pending_payment"
        )
        async with db.transaction() as session:
            await session.execute(
                text("UPDATE appointments SET payment_due_at = :due WHERE id = :id"),
                {"due": due, "id": appointment.id},
            )
    pool = await create_pool(database_url, size=1)
    try:
        lead = get_settings().min_lead_minutes
        variables = {"id": gid(doctor), "from": today.isoformat(), "to": day.isoformat()}
        response = await client.execute(DOCTOR_NEXT_SLOT, variables, as_user=own)
        served = response.data["doctor"]
        week = json.loads(
            await pool.fetchval(WEEK_SLOTS_ONLY, patient_id, today, day, lead, doctor.id)
        )
        assert served["availableSlots"] == week
        first = json.loads(await pool.fetchval(NEXT_SLOT_ONLY, patient_id, lead, doctor.id))
        assert served["nextAvailableSlot"] == first
        starts = [datetime.fromisoformat(slot["startsAt"]) for slot in week]
        assert min(starts) >= now + timedelta(minutes=1500)
        assert all(
            datetime.fromisoformat(slot["endsAt"]) - start == timedelta(minutes=25)
            for slot, start in zip(week, starts, strict=True)
        )
        # 08:00 .. 18:00 every 35 minutes: 17 slots; the live unpaid booking at 14:00 takes
        # two (13:50 and 14:25, with the buffer), the lapsed one at 10:00 none.
        on_day = [start for start in starts if start.astimezone(zone).date() == day]
        assert len(on_day) == 15, on_day
    finally:
        await pool.close()
