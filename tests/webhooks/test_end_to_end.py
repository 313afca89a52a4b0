"""Webhooks fed by the product's own notifications: a patient's cancellation reaches the
clinic's endpoint, signed, for the doctor; a reminder of a cancelled appointment sends
nothing."""

from __future__ import annotations

from datetime import time, timedelta

import orjson
from sqlalchemy import select, update

from models import Appointment, WebhookDelivery
from resolvers.appointments import BookingRequest, book_appointment, change_status
from resolvers.core.database import Database
from resolvers.core.jobs import JobContext, run_job
from resolvers.core.settings import Settings
from schema.ids import format_id
from tests.appointments.factories import at, context_for, local_day_ahead, viewer_for, weekday_of
from tests.client import GraphQLClient
from tests.factories import make_doctor, make_rule, make_user, user_of
from tests.jobs.test_runner import _eventually, _runner
from tests.webhooks.factories import make_endpoint
from tests.webhooks.receiver import receiver
from tests.webhooks.test_webhooks import _status


async def test_a_cancellation_reaches_the_endpoint_and_a_cancelled_reminder_does_not(
    client: GraphQLClient, db: Database, settings: Settings
) -> None:
    admin = await make_user(db, roles=("admin",))
    doctor = await make_doctor(db, timezone="Europe/London")
    doctor_user = await user_of(db, doctor)
    day = local_day_ahead("Europe/London", 10)
    await make_rule(db, doctor, day_of_week=weekday_of(day), start=time(9), end=time(12))
    patient = await make_user(db)
    ctx = context_for(db, settings, viewer_for(patient))
    async with receiver() as hook:
        _endpoint, hook.secret = await make_endpoint(
            client, admin, hook.url, kinds=("BOOKING_CANCELLED", "APPOINTMENT_REMINDER")
        )
        booked = await book_appointment(
            ctx, BookingRequest(doctor_id=doctor.id, starts_at=at(day, time(9), "Europe/London"))
        )
        async with db.transaction() as session:
            await session.execute(
                update(Appointment).where(Appointment.id == booked.id).values(status="confirmed")
            )
        await change_status(ctx, booked.id, "cancelled", reason="travelling")
        await run_job(
            JobContext(db, settings, lambda: booked.starts_at - timedelta(hours=1)),
            "appointment.remind",
            {
                "appointmentId": str(booked.id),
                "startsAt": booked.starts_at.isoformat(),
                "minutesBefore": 60,
            },
        )
        async with db.read() as session:
            [delivery] = (await session.scalars(select(WebhookDelivery))).all()
        async with _runner(db, settings):
            await hook.wait_for(1)

            async def delivered() -> bool:
                return await _status(db, delivery.id) == "delivered"

            await _eventually(delivered)
    [received] = hook.requests
    assert received.verified
    body = orjson.loads(received.body)
    assert body["kind"] == "booking_cancelled" and body["actorRole"] == "patient"
    assert body["recipient"] == format_id("User", doctor_user.id)
    assert body["subject"] == {"type": "Appointment", "id": format_id("Appointment", booked.id)}
    assert body["data"]["reason"] == "travelling"
