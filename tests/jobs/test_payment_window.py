"""Unpaid bookings lapse: the payment window, the slot free at its end (before any job
runs), the lapse job (as the system, coupon given back), payments after it refused, and
jobs enqueued in the write's own transaction."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text, update

from models import Appointment, AppointmentEvent, Coupon, CouponUsage, Doctor, Payment, User
from resolvers.appointments import BookingRequest, approve_appointment, book_appointment
from resolvers.core.database import Database
from resolvers.core.jobs import JobContext, enqueue, run_job
from resolvers.core.settings import Settings
from resolvers.slots import SlotUnavailableError
from tests.appointments.factories import (
    at,
    context_for,
    fetch,
    local_day_ahead,
    make_coupon,
    viewer_for,
    weekday_of,
)
from tests.client import GraphQLClient
from tests.factories import gid, make_doctor, make_rule, make_service, make_user

BOOK = """
mutation ($input: BookAppointmentInput!) {
  bookAppointment(input: $input) {
    __typename
    ... on AppointmentBooked { appointment { id status paymentDueAt createdAt } }
    ... on SlotUnavailable { code }
  }
}
"""
APPOINTMENT = """
query ($id: ID!) { appointment(id: $id) {
  status paymentDueAt cancellationReason history { kind toStatus actorRole note actorId } } }
"""
SLOTS = """
query ($id: ID!, $day: Date!) { doctor(id: $id) { availableSlots(from: $day, to: $day) {
  startsAt } } }
"""
RECORD_PAYMENT = """
mutation ($input: RecordPaymentInput!) { recordPayment(input: $input) {
  __typename ... on InvalidTransition { code message } } }
"""


async def _setup(db: Database) -> tuple[Doctor, User, datetime]:
    doctor = await make_doctor(db, timezone="Europe/London")
    day = local_day_ahead("Europe/London", 10)
    await make_rule(db, doctor, day_of_week=weekday_of(day), start=time(9), end=time(12))
    return doctor, await make_user(db), at(day, time(9), "Europe/London")


async def _jobs(db: Database) -> list[Any]:
    async with db.read() as session:
        rows = await session.execute(
            text("SELECT entrypoint, payload, execute_after FROM pgqueuer ORDER BY id")
        )
        return list(rows)


async def _set_due(db: Database, appointment_id: Any, due: datetime) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(Appointment).where(Appointment.id == appointment_id).values(payment_due_at=due)
        )


async def test_a_booking_waits_for_payment_and_queues_its_lapse(
    client: GraphQLClient, db: Database
) -> None:
    doctor, patient, slot = await _setup(db)
    response = await client.execute(
        BOOK, {"input": {"doctorId": gid(doctor), "startsAt": slot.isoformat()}}, as_user=patient
    )
    booked = response.data["bookAppointment"]["appointment"]
    assert booked["status"] == "PENDING_PAYMENT"
    created = datetime.fromisoformat(booked["createdAt"])
    due = datetime.fromisoformat(booked["paymentDueAt"])
    assert abs(due - created - timedelta(minutes=30)) < timedelta(seconds=5)
    [job] = await _jobs(db)
    assert job.entrypoint == "appointment.lapse"
    assert abs(job.execute_after - due) < timedelta(seconds=2)


async def test_the_window_is_configurable(db: Database, settings: Settings) -> None:
    doctor, patient, slot = await _setup(db)
    ctx = context_for(db, settings.model_copy(update={"payment_window_minutes": 5}))
    ctx.viewer = viewer_for(patient)
    now = datetime.now(UTC)
    appointment = await book_appointment(
        ctx, BookingRequest(doctor_id=doctor.id, starts_at=slot), now=now
    )
    assert appointment.payment_due_at == now + timedelta(minutes=5)


async def test_the_slot_is_free_at_the_window_end_and_not_before(
    db: Database, settings: Settings
) -> None:
    """Before any job runs: one microsecond before the window ends the time is taken; at
    its end the next booking takes it, lapsing the unpaid one in its own transaction."""
    doctor, first, slot = await _setup(db)
    second = await make_user(db)
    booked_at = datetime.now(UTC)
    ctx = context_for(db, settings, viewer_for(first))
    unpaid = await book_appointment(
        ctx, BookingRequest(doctor_id=doctor.id, starts_at=slot), now=booked_at
    )
    due = booked_at + timedelta(minutes=settings.payment_window_minutes)
    assert unpaid.payment_due_at == due
    other = context_for(db, settings, viewer_for(second))
    with pytest.raises(SlotUnavailableError):
        await book_appointment(
            other,
            BookingRequest(doctor_id=doctor.id, starts_at=slot),
            now=due - timedelta(microseconds=1),
        )
    taken = await book_appointment(
        other, BookingRequest(doctor_id=doctor.id, starts_at=slot), now=due
    )
    assert taken.status == "pending_payment" and taken.starts_at == slot
    lapsed = await fetch(db, Appointment, unpaid.id)
    assert lapsed.status == "cancelled"
    assert lapsed.cancellation_reason == "payment timeout"
    assert lapsed.cancelled_by is None and lapsed.payment_due_at is None


async def test_the_open_slots_show_the_time_once_the_window_ended(
    client: GraphQLClient, db: Database
) -> None:
    doctor, patient, slot = await _setup(db)
    response = await client.execute(
        BOOK, {"input": {"doctorId": gid(doctor), "startsAt": slot.isoformat()}}, as_user=patient
    )
    appointment_id = response.data["bookAppointment"]["appointment"]["id"]
    variables = {"id": gid(doctor), "day": slot.date().isoformat()}

    async def open_starts() -> set[datetime]:
        slots = (await client.execute(SLOTS, variables)).data["doctor"]["availableSlots"]
        return {datetime.fromisoformat(s["startsAt"]) for s in slots}

    assert slot not in await open_starts()
    raw_id = (await fetch_by_gid(db, appointment_id)).id
    await _set_due(db, raw_id, datetime.now(UTC) + timedelta(minutes=1))
    assert slot not in await open_starts()
    await _set_due(db, raw_id, datetime.now(UTC) - timedelta(seconds=1))
    assert slot in await open_starts()


async def fetch_by_gid(db: Database, global_id: str) -> Appointment:
    async with db.read() as session:
        rows = (await session.scalars(select(Appointment))).all()
    [row] = [row for row in rows if gid(row) == global_id]
    return row


async def test_the_lapse_job_cancels_as_the_system_and_gives_the_coupon_back(
    client: GraphQLClient, db: Database, settings: Settings
) -> None:
    doctor, patient, slot = await _setup(db)
    coupon = await make_coupon(db, code="LAPSE10", max_uses=1)
    booked_at = datetime.now(UTC)
    ctx = context_for(db, settings, viewer_for(patient))
    unpaid = await book_appointment(
        ctx,
        BookingRequest(doctor_id=doctor.id, starts_at=slot, coupon_code="LAPSE10"),
        now=booked_at,
    )
    assert (await fetch(db, Coupon, coupon.id)).used_count == 1
    due = unpaid.payment_due_at
    assert due is not None
    payload = {"appointmentId": str(unpaid.id)}

    await run_job(
        JobContext(db, settings, lambda: due - timedelta(seconds=1)), "appointment.lapse", payload
    )
    assert (await fetch(db, Appointment, unpaid.id)).status == "pending_payment"

    for _ in range(2):  # once more, as after a worker died mid-job: nothing more happens
        await run_job(JobContext(db, settings, lambda: due), "appointment.lapse", payload)
    lapsed = await fetch(db, Appointment, unpaid.id)
    assert lapsed.status == "cancelled" and lapsed.cancellation_reason == "payment timeout"
    assert (await fetch(db, Coupon, coupon.id)).used_count == 0
    async with db.read() as session:
        usages = (await session.scalars(select(CouponUsage))).all()
        events = (
            await session.scalars(
                select(AppointmentEvent).where(AppointmentEvent.appointment_id == unpaid.id)
            )
        ).all()
    assert usages == []
    assert [(e.to_status, e.actor_role, e.actor_id) for e in events if e.kind != "created"] == [
        ("cancelled", "system", None)
    ]
    history = (await client.execute(APPOINTMENT, {"id": gid(unpaid)}, as_user=patient)).data[
        "appointment"
    ]
    assert history["status"] == "CANCELLED" and history["paymentDueAt"] is None
    assert history["cancellationReason"] == "payment timeout"
    assert history["history"][-1] == {
        "kind": "STATUS_CHANGED",
        "toStatus": "CANCELLED",
        "actorRole": "SYSTEM",
        "note": "payment timeout",
        "actorId": None,
    }


async def test_a_payment_after_the_window_is_refused(
    client: GraphQLClient, db: Database, settings: Settings
) -> None:
    doctor, patient, slot = await _setup(db)
    ctx = context_for(db, settings, viewer_for(patient))
    unpaid = await book_appointment(ctx, BookingRequest(doctor_id=doctor.id, starts_at=slot))
    await _set_due(db, unpaid.id, datetime.now(UTC) - timedelta(seconds=1))
    payment = {
        "appointmentId": gid(unpaid),
        "amount": str(unpaid.price - unpaid.discount),
        "currency": unpaid.currency,
    }
    result = (await client.execute(RECORD_PAYMENT, {"input": payment}, as_user="service")).data[
        "recordPayment"
    ]
    assert result["__typename"] == "InvalidTransition", result
    assert "lapsed" in result["message"]
    async with db.read() as session:
        assert (await session.scalars(select(Payment))).all() == []
    assert (await fetch(db, Appointment, unpaid.id)).status == "pending_payment"


async def test_the_sweep_lapses_unpaid_bookings_without_a_job(
    db: Database, settings: Settings
) -> None:
    doctor, patient, slot = await _setup(db)
    ctx = context_for(db, settings, viewer_for(patient))
    unpaid = await book_appointment(ctx, BookingRequest(doctor_id=doctor.id, starts_at=slot))
    paid_later = await book_appointment(
        context_for(db, settings, viewer_for(await make_user(db))),
        BookingRequest(doctor_id=doctor.id, starts_at=slot + timedelta(minutes=30)),
    )
    await _set_due(db, unpaid.id, datetime.now(UTC) - timedelta(minutes=1))
    await run_job(JobContext(db, settings), "appointments.lapse_overdue", {})
    assert (await fetch(db, Appointment, unpaid.id)).status == "cancelled"
    assert (await fetch(db, Appointment, paid_later.id)).status == "pending_payment"


async def test_an_approved_booking_starts_its_window_then(db: Database, settings: Settings) -> None:
    doctor, patient, slot = await _setup(db)
    service = await make_service(db, doctor, name="Second opinion", confirmation="approval")
    ctx = context_for(db, settings, viewer_for(patient))
    requested = await book_appointment(
        ctx, BookingRequest(doctor_id=doctor.id, starts_at=slot, service_id=service.id)
    )
    assert requested.status == "requested" and requested.payment_due_at is None
    assert await _jobs(db) == []
    assert doctor.user_id is not None
    doctor_user = await fetch(db, User, doctor.user_id)
    approving = context_for(db, settings, viewer_for(doctor_user, doctor=doctor))
    before = datetime.now(UTC)
    approved = await approve_appointment(approving, requested.id)
    assert approved.status == "pending_payment"
    assert approved.payment_due_at is not None
    assert before + timedelta(minutes=30) <= approved.payment_due_at
    assert [job.entrypoint for job in await _jobs(db)] == ["appointment.lapse"]


async def test_a_job_exists_only_if_its_transaction_commits(
    db: Database, settings: Settings
) -> None:
    class Rollback(Exception):
        pass

    with pytest.raises(Rollback):
        async with db.transaction() as session:
            await session.execute(text("SELECT 1"))
            await enqueue(session, "appointment.lapse", {"appointmentId": "rolled-back"})
            raise Rollback
    assert await _jobs(db) == []
    async with db.transaction() as session:
        await session.execute(text("SELECT 1"))
        await enqueue(session, "appointment.lapse", {"appointmentId": "committed"})
    assert [job.payload for job in await _jobs(db)] == [b'{"appointmentId":"committed"}']


async def test_a_free_booking_has_no_window(db: Database, settings: Settings) -> None:
    doctor, patient, slot = await _setup(db)
    async with db.transaction() as session:
        await session.execute(
            update(Doctor).where(Doctor.id == doctor.id).values(fee_standard=Decimal("0"))
        )
    ctx = context_for(db, settings, viewer_for(patient))
    confirmed = await book_appointment(ctx, BookingRequest(doctor_id=doctor.id, starts_at=slot))
    assert confirmed.status == "confirmed" and confirmed.payment_due_at is None
    assert "appointment.lapse" not in {job.entrypoint for job in await _jobs(db)}


async def test_a_booking_waits_for_an_overdue_booking_being_paid(
    db: Database, settings: Settings
) -> None:
    """A payment holds the lock of a booking whose window ends as another patient books
    an overlapping time: the booking waits for it (no SKIP LOCKED), sees it paid, and is
    refused; two live appointments never overlap."""
    doctor, first, nine = await _setup(db)
    second = await make_user(db)
    long = await make_service(db, doctor, duration_minutes=60)
    short = await make_service(db, doctor, duration_minutes=30)
    booked_at = datetime.now(UTC)
    unpaid = await book_appointment(
        context_for(db, settings, viewer_for(first)),
        BookingRequest(doctor_id=doctor.id, starts_at=nine, service_id=long.id),
        now=booked_at,
    )
    assert unpaid.payment_due_at is not None
    due = unpaid.payment_due_at
    async with db.transaction() as paying:
        row = (
            await paying.scalars(
                select(Appointment).where(Appointment.id == unpaid.id).with_for_update()
            )
        ).one()
        booking = asyncio.create_task(
            book_appointment(
                context_for(db, settings, viewer_for(second)),
                BookingRequest(
                    doctor_id=doctor.id,
                    starts_at=nine + timedelta(minutes=30),
                    service_id=short.id,
                ),
                now=due + timedelta(milliseconds=1),
            )
        )
        await asyncio.sleep(0.5)
        assert not booking.done()  # waiting for the payment's lock
        row.status = "confirmed"
        row.payment_due_at = None
    with pytest.raises(SlotUnavailableError):
        await booking
    async with db.read() as session:
        live = (
            await session.execute(
                select(Appointment.starts_at, Appointment.status).where(
                    Appointment.status.in_(["confirmed", "pending_payment"])
                )
            )
        ).all()
    assert [tuple(row) for row in live] == [(nine, "confirmed")]
