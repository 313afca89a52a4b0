"""Open slots: weekly rules in local time across DST in two zones, exceptions, buffer,
per-day cap, holds (self vs others), booked and past slots, range limits, statements."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from models import Doctor
from resolvers.core.database import Database
from resolvers.core.errors import BadUserInput
from resolvers.core.identity import Viewer
from resolvers.core.settings import Settings
from resolvers.slots import available_slots
from tests.appointments.factories import (
    at,
    context_for,
    local_day_ahead,
    make_appointment,
    make_hold,
    viewer_for,
    weekday_of,
)
from tests.client import GraphQLClient
from tests.factories import gid, make_doctor, make_exception, make_rule, make_user

SLOTS = """
query ($id: ID!, $from: Date, $to: Date) {
  doctor(id: $id) { timezone availableSlots(from: $from, to: $to) {
    startsAt endsAt timezone localDate localStartTime price currency } }
}
"""
DOCTORS_SLOTS = """
query ($first: Int!, $from: Date, $to: Date) {
  doctors(first: $first) { edges { node { id availableSlots(from: $from, to: $to) {
    startsAt } } } }
}
"""
NOW = datetime(2027, 3, 1, 12, tzinfo=UTC)


async def _starts(
    db: Database,
    settings: Settings,
    doctor: Doctor,
    start: date,
    end: date,
    now: datetime = NOW,
    viewer: Viewer | None = None,
) -> list[datetime]:
    ctx = context_for(db, settings, viewer) if viewer else context_for(db, settings)
    return [slot.starts_at for slot in await available_slots(ctx, doctor, start, end, now=now)]


@pytest.mark.parametrize(
    ("timezone", "before", "after", "offset_before", "offset_after"),
    [
        # New York: DST starts Sunday 2027-03-14 (EST -5 -> EDT -4).
        ("America/New_York", date(2027, 3, 8), date(2027, 3, 15), 5, 4),
        # Berlin: DST starts Sunday 2027-03-28 (CET +1 -> CEST +2).
        ("Europe/Berlin", date(2027, 3, 22), date(2027, 3, 29), -1, -2),
    ],
)
async def test_weekly_rule_keeps_local_time_across_dst(
    db: Database,
    settings: Settings,
    timezone: str,
    before: date,
    after: date,
    offset_before: int,
    offset_after: int,
) -> None:
    doctor = await make_doctor(db, timezone=timezone)
    await make_rule(db, doctor, day_of_week=1, start=time(9), end=time(10), slot_minutes=30)
    starts = await _starts(db, settings, doctor, before, after)
    assert starts == [
        datetime.combine(before, time(9 + offset_before), UTC),
        datetime.combine(before, time(9 + offset_before, 30), UTC),
        datetime.combine(after, time(9 + offset_after), UTC),
        datetime.combine(after, time(9 + offset_after, 30), UTC),
    ]


async def test_skipped_hour_has_no_slots_and_fall_back_day_is_correct(
    db: Database, settings: Settings
) -> None:
    doctor = await make_doctor(db, timezone="America/New_York")
    # Sunday rules at night: 2027-03-14 loses 02:00-03:00; 2027-11-07 repeats 01:00-02:00.
    await make_rule(db, doctor, day_of_week=0, start=time(1), end=time(4), slot_minutes=60)
    spring = await _starts(db, settings, doctor, date(2027, 3, 14), date(2027, 3, 14))
    assert spring == [
        datetime(2027, 3, 14, 6, tzinfo=UTC),  # 01:00 EST
        datetime(2027, 3, 14, 7, tzinfo=UTC),  # 03:00 EDT (02:00 does not exist)
    ]
    autumn = await _starts(db, settings, doctor, date(2027, 11, 7), date(2027, 11, 7))
    assert autumn == [
        datetime(2027, 11, 7, 5, tzinfo=UTC),  # 01:00 EDT (first of the two)
        datetime(2027, 11, 7, 7, tzinfo=UTC),  # 02:00 EST
        datetime(2027, 11, 7, 8, tzinfo=UTC),  # 03:00 EST
    ]


async def test_exceptions_block_a_day_or_replace_its_hours(
    db: Database, settings: Settings
) -> None:
    doctor = await make_doctor(db, timezone="Asia/Dubai")
    monday, next_monday = date(2027, 3, 8), date(2027, 3, 15)
    await make_rule(db, doctor, day_of_week=1, start=time(9), end=time(11), slot_minutes=60)
    await make_exception(db, doctor, on=monday, kind="blocked")
    await make_exception(
        db, doctor, on=next_monday, kind="custom_hours", start=time(14), end=time(16)
    )
    # A custom-hours date that has no weekly rule at all uses 30-minute slots.
    await make_exception(
        db, doctor, on=date(2027, 3, 10), kind="custom_hours", start=time(8), end=time(9)
    )
    starts = await _starts(db, settings, doctor, monday, next_monday)
    assert starts == [
        at(date(2027, 3, 10), time(8), "Asia/Dubai"),
        at(date(2027, 3, 10), time(8, 30), "Asia/Dubai"),
        at(next_monday, time(14), "Asia/Dubai"),
        at(next_monday, time(15), "Asia/Dubai"),
    ]


async def test_buffer_spaces_slots(db: Database, settings: Settings) -> None:
    doctor = await make_doctor(db)
    await make_rule(
        db, doctor, day_of_week=1, start=time(9), end=time(11), slot_minutes=30, buffer_minutes=10
    )
    starts = await _starts(db, settings, doctor, date(2027, 3, 8), date(2027, 3, 8))
    assert [s.time() for s in starts] == [time(9), time(9, 40), time(10, 20)]


async def test_per_day_cap_counts_live_appointments(db: Database, settings: Settings) -> None:
    doctor = await make_doctor(db)
    patient = await make_user(db)
    for day in (1, 2):  # Monday and Tuesday, 09:00-12:00, two patients a day
        await make_rule(
            db, doctor, day_of_week=day, start=time(9), end=time(12), max_patients_per_day=2
        )
    monday, tuesday = date(2027, 3, 8), date(2027, 3, 9)
    await make_appointment(db, doctor=doctor, patient=patient, starts_at=at(monday, time(9), "UTC"))
    await make_appointment(
        db, doctor=doctor, patient=patient, starts_at=at(monday, time(10), "UTC")
    )
    await make_appointment(
        db, doctor=doctor, patient=patient, starts_at=at(tuesday, time(9), "UTC")
    )
    # A cancelled appointment does not count.
    await make_appointment(
        db,
        doctor=doctor,
        patient=patient,
        starts_at=at(tuesday, time(10), "UTC"),
        status="cancelled",
    )
    starts = await _starts(db, settings, doctor, monday, tuesday)
    assert all(s.date() == tuesday for s in starts)
    assert len(starts) == 5  # six half-hours minus the booked 09:00


async def test_booked_slots_and_overlaps_are_gone(db: Database, settings: Settings) -> None:
    doctor = await make_doctor(db)
    patient = await make_user(db)
    monday = date(2027, 3, 8)
    await make_rule(db, doctor, day_of_week=1, start=time(9), end=time(11), slot_minutes=30)
    await make_appointment(db, doctor=doctor, patient=patient, starts_at=at(monday, time(9), "UTC"))
    # Off-grid (e.g. moved by the doctor): 10:15-10:45 blocks 10:00 and 10:30.
    await make_appointment(
        db, doctor=doctor, patient=patient, starts_at=at(monday, time(10, 15), "UTC")
    )
    await make_appointment(
        db,
        doctor=doctor,
        patient=patient,
        starts_at=at(monday, time(9, 30), "UTC"),
        status="cancelled",
    )
    starts = await _starts(db, settings, doctor, monday, monday)
    assert [s.time() for s in starts] == [time(9, 30)]


async def test_past_and_lead_time_are_gone(db: Database, settings: Settings) -> None:
    doctor = await make_doctor(db)
    monday = date(2027, 3, 8)
    await make_rule(db, doctor, day_of_week=1, start=time(9), end=time(13), slot_minutes=60)
    now = datetime(2027, 3, 8, 10, 30, tzinfo=UTC)  # lead time 60 minutes: from 11:30
    starts = await _starts(db, settings, doctor, monday, monday, now=now)
    assert [s.time() for s in starts] == [time(12)]


async def test_holds_hide_slots_from_others_but_not_the_holder(
    db: Database, settings: Settings
) -> None:
    doctor = await make_doctor(db)
    holder, other = await make_user(db), await make_user(db)
    day = local_day_ahead("UTC", 9)
    await make_rule(db, doctor, day_of_week=weekday_of(day), start=time(9), end=time(10))
    slot = at(day, time(9), "UTC")
    await make_hold(db, doctor=doctor, user=holder, starts_at=slot)
    await make_hold(
        db,
        doctor=doctor,
        user=holder,
        starts_at=at(day, time(9, 30), "UTC"),
        expires_in=timedelta(minutes=-1),  # expired: counts for nobody
    )
    now = datetime.now(UTC)
    for_holder = await _starts(db, settings, doctor, day, day, now=now, viewer=viewer_for(holder))
    for_other = await _starts(db, settings, doctor, day, day, now=now, viewer=viewer_for(other))
    assert for_holder == [slot, at(day, time(9, 30), "UTC")]
    assert for_other == [at(day, time(9, 30), "UTC")]


async def test_unverified_or_closed_doctors_have_no_slots(db: Database, settings: Settings) -> None:
    closed = await make_doctor(db, accepting_patients=False)
    await make_rule(db, closed, day_of_week=1)
    assert await _starts(db, settings, closed, date(2027, 3, 8), date(2027, 3, 8)) == []


async def test_graphql_slots_relative_to_today(client: GraphQLClient, db: Database) -> None:
    doctor = await make_doctor(db, timezone="Australia/Sydney", fee_standard=80, currency="AUD")
    day = local_day_ahead("Australia/Sydney", 5)
    await make_rule(db, doctor, day_of_week=weekday_of(day), start=time(9), end=time(10))
    response = await client.execute(
        SLOTS, {"id": gid(doctor), "from": day.isoformat(), "to": day.isoformat()}
    )
    slots = response.data["doctor"]["availableSlots"]
    assert [s["localStartTime"] for s in slots] == ["09:00", "09:30"]
    assert slots[0]["timezone"] == "Australia/Sydney"
    assert slots[0]["localDate"] == day.isoformat()
    assert slots[0]["price"] == "80.00" and slots[0]["currency"] == "AUD"
    expected = at(day, time(9), "Australia/Sydney")
    assert datetime.fromisoformat(slots[0]["startsAt"]) == expected


@pytest.mark.parametrize(
    ("start", "end"),
    [(date(2027, 1, 1), date(2027, 3, 5)), (date(2027, 1, 10), date(2027, 1, 9))],
    ids=["too-long", "inverted"],
)
async def test_range_limits_are_bad_user_input(
    client: GraphQLClient, db: Database, settings: Settings, start: date, end: date
) -> None:
    doctor = await make_doctor(db)
    response = await client.execute(
        SLOTS, {"id": gid(doctor), "from": start.isoformat(), "to": end.isoformat()}
    )
    assert response.codes == ["BAD_USER_INPUT"]
    with pytest.raises(BadUserInput):
        await available_slots(context_for(db, settings), doctor, start, end, now=NOW)


async def test_62_days_is_allowed(client: GraphQLClient, db: Database) -> None:
    doctor = await make_doctor(db)
    response = await client.execute(
        SLOTS, {"id": gid(doctor), "from": "2027-01-01", "to": "2027-03-03"}
    )
    assert response.errors == []


async def test_slots_for_many_doctors_use_a_fixed_number_of_statements(
    client: GraphQLClient, db: Database
) -> None:
    day = local_day_ahead("UTC", 7)
    counts = {}
    for total in (2, 12):
        while len(await _doctor_ids(client)) < total:
            doctor = await make_doctor(db)
            await make_rule(db, doctor, day_of_week=weekday_of(day))
        response = await client.execute(
            DOCTORS_SLOTS, {"first": total, "from": day.isoformat(), "to": day.isoformat()}
        )
        edges = response.data["doctors"]["edges"]
        assert len(edges) == total
        assert all(len(edge["node"]["availableSlots"]) == 6 for edge in edges)
        counts[total] = response.statements
    assert counts[2] == counts[12]


async def _doctor_ids(client: GraphQLClient) -> list[str]:
    response = await client.execute("{ doctors(first: 100) { edges { node { id } } } }")
    return [edge["node"]["id"] for edge in response.data["doctors"]["edges"]]
