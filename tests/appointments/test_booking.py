"""Holds and booking: re-validation, pricing, coupons, typed errors with the database
unchanged, and no double booking under real concurrency."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from models import Appointment, AppointmentEvent, Coupon, CouponUsage, Doctor, SlotHold, User
from resolvers.core.database import Database
from tests.appointments.factories import (
    at,
    fetch,
    local_day_ahead,
    make_appointment,
    make_coupon,
    make_hold,
    weekday_of,
)
from tests.client import GraphQLClient
from tests.factories import count_rows, gid, make_doctor, make_rule, make_user, user_of

BOOK = """
mutation ($input: BookAppointmentInput!) {
  bookAppointment(input: $input) {
    __typename
    ... on AppointmentBooked { appointment { id status price discount amountDue currency
      startsAt endsAt type notes history { kind toStatus actorRole } } }
    ... on SlotUnavailable { code message startsAt }
    ... on CouponInvalid { code reason }
    ... on ValidationError { code fields { field messages } }
    ... on NotAllowed { code }
  }
}
"""
HOLD = """
mutation ($input: HoldSlotInput!) {
  holdSlot(input: $input) {
    __typename
    ... on SlotHeld { hold { id startsAt endsAt expiresAt } }
    ... on SlotUnavailable { code }
    ... on NotAllowed { code }
    ... on NotFound { code }
    ... on ValidationError { fields { field } }
  }
}
"""
RELEASE = """
mutation ($id: ID!) { releaseHold(input: {id: $id}) {
  __typename ... on HoldReleased { id } ... on NotFound { code } ... on NotAllowed { code } } }
"""
SLOT_STARTS = """
query ($id: ID!, $day: Date!) { doctor(id: $id) { availableSlots(from: $day, to: $day) {
  startsAt } } }
"""


async def _setup(db: Database, **doctor_fields: Any) -> tuple[Doctor, User, datetime]:
    doctor = await make_doctor(db, timezone="Europe/London", **doctor_fields)
    day = local_day_ahead("Europe/London", 10)
    await make_rule(db, doctor, day_of_week=weekday_of(day), start=time(9), end=time(12))
    patient = await make_user(db)
    return doctor, patient, at(day, time(9), "Europe/London")


def _book(doctor: Doctor, starts_at: datetime, **extra: Any) -> dict[str, Any]:
    return {"input": {"doctorId": gid(doctor), "startsAt": starts_at.isoformat(), **extra}}


async def _state(db: Database) -> tuple[int, ...]:
    return (
        await count_rows(db, Appointment),
        await count_rows(db, AppointmentEvent),
        await count_rows(db, CouponUsage),
        await count_rows(db, SlotHold),
    )


async def test_book_an_open_slot(client: GraphQLClient, db: Database) -> None:
    doctor, patient, slot = await _setup(db)
    response = await client.execute(
        BOOK, _book(doctor, slot, notes=" chest pain "), as_user=patient
    )
    result = response.data["bookAppointment"]
    assert result["__typename"] == "AppointmentBooked", result
    appointment = result["appointment"]
    assert appointment["status"] == "PENDING_PAYMENT"
    assert appointment["price"] == "100.00" and appointment["amountDue"] == "100.00"
    assert appointment["notes"] == "chest pain"
    assert datetime.fromisoformat(appointment["endsAt"]) == slot + timedelta(minutes=30)
    assert appointment["history"] == [
        {"kind": "CREATED", "toStatus": "PENDING_PAYMENT", "actorRole": "PATIENT"}
    ]
    # The slot is gone for everyone now.
    day = slot.astimezone().date().isoformat()
    starts = await client.execute(SLOT_STARTS, {"id": gid(doctor), "day": day})
    assert slot.isoformat() not in [s["startsAt"] for s in starts.data["doctor"]["availableSlots"]]


async def test_free_doctor_is_confirmed_at_once(client: GraphQLClient, db: Database) -> None:
    doctor, patient, slot = await _setup(db, fee_standard=Decimal("0"))
    result = (await client.execute(BOOK, _book(doctor, slot), as_user=patient)).data
    assert result["bookAppointment"]["appointment"]["status"] == "CONFIRMED"


@pytest.mark.parametrize(
    ("kind", "value", "currency", "discount", "due", "status"),
    [
        ("percent", "15", None, "15.00", "85.00", "PENDING_PAYMENT"),
        ("fixed", "30", "USD", "30.00", "70.00", "PENDING_PAYMENT"),
        ("fixed", "500", "USD", "100.00", "0.00", "CONFIRMED"),  # never below zero
        ("percent", "100", None, "100.00", "0.00", "CONFIRMED"),
    ],
)
async def test_coupons_discount(
    client: GraphQLClient,
    db: Database,
    kind: str,
    value: str,
    currency: str | None,
    discount: str,
    due: str,
    status: str,
) -> None:
    doctor, patient, slot = await _setup(db)
    coupon = await make_coupon(
        db, code="SAVE", kind=kind, value=Decimal(value), currency=currency, doctor_id=doctor.id
    )
    response = await client.execute(BOOK, _book(doctor, slot, couponCode="save"), as_user=patient)
    appointment = response.data["bookAppointment"]["appointment"]
    assert (appointment["discount"], appointment["amountDue"], appointment["status"]) == (
        discount,
        due,
        status,
    )
    stored = await fetch(db, Coupon, coupon.id)
    assert stored.used_count == 1
    assert await count_rows(db, CouponUsage) == 1


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"active": False}, "UNKNOWN"),
        ({"valid_until": datetime(2020, 1, 1, tzinfo=UTC)}, "EXPIRED"),
        ({"valid_from": datetime(2099, 1, 1, tzinfo=UTC)}, "NOT_YET_VALID"),
        ({"kind": "fixed", "value": Decimal("5"), "currency": "EUR"}, "WRONG_CURRENCY"),
        ({"max_uses": 1, "used_count": 1}, "USED_UP"),
        ({"other_doctor": True}, "UNKNOWN"),
    ],
)
async def test_invalid_coupons_change_nothing(
    client: GraphQLClient, db: Database, fields: dict[str, Any], reason: str
) -> None:
    doctor, patient, slot = await _setup(db)
    if fields.pop("other_doctor", False):
        fields["doctor_id"] = (await make_doctor(db)).id
    await make_coupon(db, code="NOPE", **fields)
    before = await _state(db)
    response = await client.execute(BOOK, _book(doctor, slot, couponCode="NOPE"), as_user=patient)
    result = response.data["bookAppointment"]
    assert result == {"__typename": "CouponInvalid", "code": "COUPON_INVALID", "reason": reason}
    assert await _state(db) == before


async def test_unknown_coupon_and_per_user_limit(client: GraphQLClient, db: Database) -> None:
    doctor, patient, slot = await _setup(db)
    await make_coupon(db, code="ONCE", max_uses_per_user=1)
    first = await client.execute(BOOK, _book(doctor, slot, couponCode="ONCE"), as_user=patient)
    assert first.data["bookAppointment"]["__typename"] == "AppointmentBooked"
    later = slot + timedelta(minutes=30)
    again = await client.execute(BOOK, _book(doctor, later, couponCode="ONCE"), as_user=patient)
    assert again.data["bookAppointment"]["reason"] == "USER_LIMIT"
    unknown = await client.execute(BOOK, _book(doctor, later, couponCode="XYZ1"), as_user=patient)
    assert unknown.data["bookAppointment"]["reason"] == "UNKNOWN"
    assert await count_rows(db, Appointment) == 1


@pytest.mark.parametrize(
    "shift",
    [timedelta(minutes=10), timedelta(days=-20), timedelta(hours=5)],
    ids=["off-grid", "past", "outside-hours"],
)
async def test_slots_not_on_the_schedule_are_unavailable(
    client: GraphQLClient, db: Database, shift: timedelta
) -> None:
    doctor, patient, slot = await _setup(db)
    before = await _state(db)
    response = await client.execute(BOOK, _book(doctor, slot + shift), as_user=patient)
    assert response.data["bookAppointment"]["code"] == "SLOT_UNAVAILABLE"
    assert await _state(db) == before


async def test_taken_slot_is_unavailable(client: GraphQLClient, db: Database) -> None:
    doctor, patient, slot = await _setup(db)
    other = await make_user(db)
    await make_appointment(db, doctor=doctor, patient=other, starts_at=slot)
    before = await _state(db)
    response = await client.execute(BOOK, _book(doctor, slot), as_user=patient)
    assert response.data["bookAppointment"]["__typename"] == "SlotUnavailable"
    assert await _state(db) == before


async def test_validation_and_permission_errors(client: GraphQLClient, db: Database) -> None:
    doctor, patient, slot = await _setup(db)
    before = await _state(db)
    anon = await client.execute(BOOK, _book(doctor, slot))
    assert anon.data["bookAppointment"] == {"__typename": "NotAllowed", "code": "FORBIDDEN"}
    own = await client.execute(BOOK, _book(doctor, slot), as_user=await user_of(db, doctor))
    assert own.data["bookAppointment"]["__typename"] == "NotAllowed"
    long_notes = await client.execute(BOOK, _book(doctor, slot, notes="x" * 2001), as_user=patient)
    assert long_notes.data["bookAppointment"]["fields"] == [
        {"field": "notes", "messages": ["at most 2000 characters"]}
    ]
    followup = await client.execute(BOOK, _book(doctor, slot, type="FOLLOWUP"), as_user=patient)
    assert followup.data["bookAppointment"]["fields"][0]["field"] == "type"
    unverified = await make_doctor(db, verified=False)
    hidden = await client.execute(BOOK, _book(unverified, slot), as_user=patient)
    assert hidden.data["bookAppointment"]["__typename"] == "NotFound"
    assert await _state(db) == before


async def test_followup_after_a_completed_visit_uses_the_followup_fee(
    client: GraphQLClient, db: Database
) -> None:
    doctor, patient, slot = await _setup(db)
    await make_appointment(
        db, doctor=doctor, patient=patient, starts_at=slot - timedelta(days=30), status="completed"
    )
    response = await client.execute(BOOK, _book(doctor, slot, type="FOLLOWUP"), as_user=patient)
    appointment = response.data["bookAppointment"]["appointment"]
    assert (appointment["type"], appointment["price"]) == ("FOLLOWUP", "60.00")


async def test_hold_hides_slot_from_others_until_released(
    client: GraphQLClient, db: Database
) -> None:
    doctor, holder, slot = await _setup(db)
    other = await make_user(db)
    held = await client.execute(HOLD, _book(doctor, slot), as_user=holder)
    hold = held.data["holdSlot"]["hold"]
    expires = datetime.fromisoformat(hold["expiresAt"])
    assert timedelta(minutes=9) < expires - datetime.now(UTC) <= timedelta(minutes=10)

    blocked = await client.execute(BOOK, _book(doctor, slot), as_user=other)
    assert blocked.data["bookAppointment"]["__typename"] == "SlotUnavailable"
    other_hold = await client.execute(HOLD, _book(doctor, slot), as_user=other)
    assert other_hold.data["holdSlot"]["__typename"] == "SlotUnavailable"
    # Someone else cannot release it (they cannot even see it).
    stolen = await client.execute(RELEASE, {"id": hold["id"]}, as_user=other)
    assert stolen.data["releaseHold"]["__typename"] == "NotFound"

    released = await client.execute(RELEASE, {"id": hold["id"]}, as_user=holder)
    assert released.data["releaseHold"] == {"__typename": "HoldReleased", "id": hold["id"]}
    booked = await client.execute(BOOK, _book(doctor, slot), as_user=other)
    assert booked.data["bookAppointment"]["__typename"] == "AppointmentBooked"


async def test_holder_books_own_hold_and_the_hold_is_consumed(
    client: GraphQLClient, db: Database
) -> None:
    doctor, holder, slot = await _setup(db)
    await client.execute(HOLD, _book(doctor, slot), as_user=holder)
    # A second hold with the same doctor replaces the first.
    await client.execute(HOLD, _book(doctor, slot + timedelta(minutes=30)), as_user=holder)
    assert await count_rows(db, SlotHold) == 1
    booked = await client.execute(BOOK, _book(doctor, slot), as_user=holder)
    assert booked.data["bookAppointment"]["__typename"] == "AppointmentBooked"
    assert await count_rows(db, SlotHold) == 0


async def test_expired_hold_does_not_block(client: GraphQLClient, db: Database) -> None:
    doctor, patient, slot = await _setup(db)
    other = await make_user(db)
    await make_hold(db, doctor=doctor, user=other, starts_at=slot, expires_in=timedelta(seconds=-1))
    booked = await client.execute(BOOK, _book(doctor, slot), as_user=patient)
    assert booked.data["bookAppointment"]["__typename"] == "AppointmentBooked"


async def test_hold_errors(client: GraphQLClient, db: Database) -> None:
    doctor, patient, slot = await _setup(db)
    anon = await client.execute(HOLD, _book(doctor, slot))
    assert anon.data["holdSlot"]["__typename"] == "NotAllowed"
    off_grid = await client.execute(
        HOLD, _book(doctor, slot + timedelta(minutes=5)), as_user=patient
    )
    assert off_grid.data["holdSlot"]["__typename"] == "SlotUnavailable"
    unverified = await make_doctor(db, verified=False)
    hidden = await client.execute(HOLD, _book(unverified, slot), as_user=patient)
    assert hidden.data["holdSlot"]["__typename"] == "NotFound"
    assert await count_rows(db, SlotHold) == 0


# --- no double booking, under real concurrency ---------------------------------------

ATTEMPTS = 24


async def test_concurrent_bookings_of_one_slot_have_exactly_one_winner(
    client: GraphQLClient, db: Database
) -> None:
    doctor, _patient, slot = await _setup(db)
    patients = [await make_user(db) for _ in range(ATTEMPTS)]
    responses = await asyncio.gather(
        *(client.execute(BOOK, _book(doctor, slot), as_user=p) for p in patients)
    )
    kinds = [r.data["bookAppointment"]["__typename"] for r in responses]
    assert kinds.count("AppointmentBooked") == 1, kinds
    assert kinds.count("SlotUnavailable") == ATTEMPTS - 1
    async with db.read() as session:
        live = (
            await session.scalars(select(Appointment).where(Appointment.doctor_id == doctor.id))
        ).all()
    assert len(live) == 1


async def test_concurrent_overlapping_moves_and_bookings_have_one_winner(
    client: GraphQLClient, db: Database
) -> None:
    """Bookings of 09:00-09:30 race the doctor moving other appointments to 09:10 and
    09:20 (off the grid, overlapping): exactly one of all of them wins."""
    doctor, _patient, slot = await _setup(db)
    doctor_user = await user_of(db, doctor)
    patients = [await make_user(db) for _ in range(ATTEMPTS)]
    movable = [
        await make_appointment(
            db, doctor=doctor, patient=patients[i], starts_at=slot + timedelta(days=1, hours=i)
        )
        for i in range(8)
    ]
    moves = [
        client.execute(
            RESCHEDULE,
            {
                "id": gid(a),
                "startsAt": (slot + timedelta(minutes=10 + 10 * (i % 2))).isoformat(),
            },
            as_user=doctor_user,
        )
        for i, a in enumerate(movable)
    ]
    bookings = [client.execute(BOOK, _book(doctor, slot), as_user=p) for p in patients[8:]]
    responses = await asyncio.gather(*moves, *bookings)
    kinds = [
        (r.data.get("rescheduleAppointment") or r.data.get("bookAppointment"))["__typename"]
        for r in responses
    ]
    winners = kinds.count("AppointmentUpdated") + kinds.count("AppointmentBooked")
    assert winners == 1, kinds
    assert kinds.count("SlotUnavailable") == len(responses) - 1
    async with db.read() as session:
        rows = (
            await session.execute(
                select(Appointment.starts_at, Appointment.ends_at).where(
                    Appointment.doctor_id == doctor.id,
                    Appointment.starts_at < slot + timedelta(hours=1),
                    Appointment.starts_at >= slot - timedelta(hours=1),
                )
            )
        ).all()
    assert len(rows) == 1


async def test_concurrent_bookings_over_separate_engines(db: Database, settings: Any) -> None:
    """The same race through separate engines (separate pools and connections),
    calling the resolver directly."""
    from resolvers.appointments import BookingRequest, book_appointment
    from resolvers.core.errors import CaregraphError
    from tests.appointments.factories import context_for, viewer_for

    doctor, _patient, slot = await _setup(db)
    patients = [await make_user(db) for _ in range(12)]
    engines = [Database(settings.database_url, pool_size=1, max_overflow=0) for _ in patients]

    async def attempt(engine: Database, patient: User) -> str:
        ctx = context_for(engine, settings, viewer_for(patient))
        try:
            await book_appointment(ctx, BookingRequest(doctor_id=doctor.id, starts_at=slot))
        except CaregraphError as error:
            return error.code
        return "BOOKED"

    try:
        outcomes = await asyncio.gather(
            *(attempt(e, p) for e, p in zip(engines, patients, strict=True))
        )
    finally:
        for engine in engines:
            await engine.dispose()
    assert outcomes.count("BOOKED") == 1
    assert outcomes.count("SLOT_UNAVAILABLE") == len(patients) - 1


RESCHEDULE = """
mutation ($id: ID!, $startsAt: DateTime!) {
  rescheduleAppointment(input: {id: $id, startsAt: $startsAt}) {
    __typename ... on SlotUnavailable { code } ... on InvalidTransition { code }
    ... on NotAllowed { code } ... on NotFound { code } ... on ValidationError { code }
  }
}
"""


CANCEL = """
mutation ($id: ID!) { cancelAppointment(input: {id: $id}) { __typename } }
"""


async def test_cancelling_gives_the_coupon_use_back(client: GraphQLClient, db: Database) -> None:
    doctor, patient, slot = await _setup(db)
    coupon = await make_coupon(db, code="ONLY1", max_uses=1, max_uses_per_user=1)
    booked = await client.execute(BOOK, _book(doctor, slot, couponCode="ONLY1"), as_user=patient)
    appointment_id = booked.data["bookAppointment"]["appointment"]["id"]
    assert (await fetch(db, Coupon, coupon.id)).used_count == 1
    cancelled = await client.execute(CANCEL, {"id": appointment_id}, as_user=patient)
    assert cancelled.data["cancelAppointment"]["__typename"] == "AppointmentUpdated"
    assert (await fetch(db, Coupon, coupon.id)).used_count == 0
    assert await count_rows(db, CouponUsage) == 0
    again = await client.execute(BOOK, _book(doctor, slot, couponCode="ONLY1"), as_user=patient)
    assert again.data["bookAppointment"]["__typename"] == "AppointmentBooked"
