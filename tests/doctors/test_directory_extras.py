"""Directory extras: each doctor's next open slot, a fee range, and "available between";
a fixed number of statements per page whatever the number of doctors."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from resolvers.core.database import Database
from tests.appointments.factories import at, local_day_ahead, make_appointment, weekday_of
from tests.client import GraphQLClient
from tests.factories import gid, make_doctor, make_exception, make_rule, make_user

NEXT = """
query ($filter: DoctorFilter) {
  doctors(first: 50, filter: $filter) {
    edges { node { id nextAvailableSlot(withinDays: 7) { startsAt } } }
  }
}
"""
IDS = """
query ($filter: DoctorFilter) { doctors(first: 50, filter: $filter) { edges { node { id } } } }
"""


async def _doctors(db: Database, count: int, day: date, **fields: Any) -> list[Any]:
    doctors = []
    for _ in range(count):
        doctor = await make_doctor(db, **fields)
        await make_rule(db, doctor, day_of_week=weekday_of(day), start=time(9), end=time(10))
        doctors.append(doctor)
    return doctors


async def test_next_available_slot_is_the_first_open_one_with_fixed_statements(
    client: GraphQLClient, db: Database
) -> None:
    day = local_day_ahead("UTC", 5)
    open_doctor, full_doctor = await _doctors(db, 2, day)
    for minute in (0, 30):  # the full doctor's only two slots are taken
        await make_appointment(
            db,
            doctor=full_doctor,
            patient=await make_user(db),
            starts_at=at(day, time(9, minute), "UTC"),
        )
    idle = await make_doctor(db)  # no schedule at all
    few = await client.execute(NEXT)
    found = {
        edge["node"]["id"]: edge["node"]["nextAvailableSlot"]
        for edge in few.data["doctors"]["edges"]
    }
    assert found[gid(open_doctor)] == {"startsAt": at(day, time(9), "UTC").isoformat()}
    assert found[gid(full_doctor)] is None and found[gid(idle)] is None
    await _doctors(db, 10, day)
    many = await client.execute(NEXT)
    assert len(many.data["doctors"]["edges"]) == 13
    assert many.statements == few.statements
    refused = await client.execute(
        "query ($id: ID!) { doctor(id: $id) { nextAvailableSlot(withinDays: 0) { startsAt } } }",
        {"id": gid(open_doctor)},
    )
    assert refused.codes == ["BAD_USER_INPUT"]


async def test_fee_range(client: GraphQLClient, db: Database) -> None:
    cheap = await make_doctor(db, fee_standard=Decimal("50.00"))
    mid = await make_doctor(db, fee_standard=Decimal("100.00"))
    dear = await make_doctor(db, fee_standard=Decimal("200.00"))

    async def ids(**conditions: Any) -> set[str]:
        answer = await client.execute(IDS, {"filter": conditions})
        return {edge["node"]["id"] for edge in answer.data["doctors"]["edges"]}

    assert await ids(minFee="100") == {gid(mid), gid(dear)}
    assert await ids(maxFee="100") == {gid(cheap), gid(mid)}
    assert await ids(minFee="60", maxFee="150") == {gid(mid)}
    # Bounds past any fee, or with more digits than a fee has, compare as numbers would.
    assert await ids(maxFee="1e400") == {gid(cheap), gid(mid), gid(dear)}
    assert await ids(minFee="-1e400", maxFee="99.999") == {gid(cheap)}
    assert await ids(minFee="199.991") == {gid(dear)} and await ids(minFee="200.001") == set()
    answer = await client.execute(IDS, {"filter": {"maxFee": "NaN"}})
    assert answer.codes == ["BAD_USER_INPUT"]


async def test_available_between_keeps_doctors_with_an_open_slot_in_the_window(
    client: GraphQLClient, db: Database
) -> None:
    day = local_day_ahead("UTC", 5)
    other_day = local_day_ahead("UTC", 6)
    if weekday_of(other_day) == weekday_of(day):  # pragma: no cover - a week apart never
        other_day += timedelta(days=1)
    [on_day] = await _doctors(db, 1, day)
    [elsewhere] = await _doctors(db, 1, other_day)
    await make_doctor(db)  # no schedule
    window = {
        "from": datetime.combine(day, time(0), UTC).isoformat(),
        "to": datetime.combine(day + timedelta(days=1), time(0), UTC).isoformat(),
    }
    few = await client.execute(IDS, {"filter": {"availableBetween": window}})
    assert [edge["node"]["id"] for edge in few.data["doctors"]["edges"]] == [gid(on_day)]
    await _doctors(db, 10, day)
    many = await client.execute(IDS, {"filter": {"availableBetween": window}})
    assert len(many.data["doctors"]["edges"]) == 11
    assert gid(elsewhere) not in {edge["node"]["id"] for edge in many.data["doctors"]["edges"]}
    assert many.statements == few.statements
    too_long = await client.execute(
        IDS,
        {
            "filter": {
                "availableBetween": {
                    "from": window["from"],
                    "to": datetime.combine(day + timedelta(days=15), time(0), UTC).isoformat(),
                }
            }
        },
    )
    assert too_long.codes == ["BAD_USER_INPUT"]


async def test_next_available_slot_skips_full_and_blocked_days_as_available_slots_do(
    client: GraphQLClient, db: Database
) -> None:
    """nextAvailableSlot computes slots only up to the first date that has any: a day
    fully booked and a day blocked by an exception are passed over, and the answer is the
    first of availableSlots over the same days."""
    zone = "Europe/London"
    doctor = await make_doctor(db, timezone=zone)
    days = [local_day_ahead(zone, offset) for offset in (2, 3, 4)]
    for day in days:
        await make_rule(db, doctor, day_of_week=weekday_of(day), start=time(9), end=time(10))
    for minute in (0, 30):  # the first day full
        await make_appointment(
            db,
            doctor=doctor,
            patient=await make_user(db),
            starts_at=at(days[0], time(9, minute), zone),
        )
    await make_exception(db, doctor, on=days[1], kind="blocked")  # the second blocked
    answer = await client.execute(
        """query ($id: ID!, $from: Date!, $to: Date!) { doctor(id: $id) {
             nextAvailableSlot(withinDays: 7) { startsAt }
             availableSlots(from: $from, to: $to) { startsAt } } }""",
        {"id": gid(doctor), "from": days[0].isoformat(), "to": days[2].isoformat()},
    )
    found = answer.data["doctor"]
    assert found["nextAvailableSlot"] == {"startsAt": at(days[2], time(9), zone).isoformat()}
    assert found["availableSlots"][0] == found["nextAvailableSlot"]
