"""Payments: recorded and refunded by admins or a provider webhook (service_role). A paid
payment confirms a pending appointment; a refund marks the appointment refunded."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models import Appointment, Payment
from resolvers import audit
from resolvers.appointments import (
    AppointmentByIdLoader,
    actor_role,
    check_transition,
    move_to,
    refuse_if_lapsed,
    status_words,
)
from resolvers.core.context import Context
from resolvers.core.errors import FieldErrors, NotFound, ValidationFailed
from resolvers.core.input_checks import money_problem
from resolvers.core.loaders import PolicyLoader, RowByIdLoader
from resolvers.notifications import Subject, notify
from resolvers.policies import require, visible
from resolvers.policies.appointments import payment_policy

MAX_REASON_LENGTH = 1000


@dataclass(frozen=True)
class PaymentRecord:
    appointment_id: uuid.UUID
    amount: Decimal
    currency: str
    status: str = "paid"
    provider: str = "manual"
    provider_ref: str | None = None


async def record_payment(
    ctx: Context, record: PaymentRecord, *, now: datetime | None = None
) -> tuple[Payment, Appointment]:
    """Records a paid (or failed) payment. The amount and currency must match what is
    due on the appointment; a paid payment confirms a pending appointment."""
    require(payment_policy.can_write(ctx.viewer), "Only admins and the payment provider may.")
    errors = FieldErrors()
    errors.check(record.status in ("paid", "failed"), "status", "must be PAID or FAILED")
    problem = money_problem(record.amount, positive=True)
    if problem is not None:
        errors.add("amount", problem)
    errors.check(bool(record.provider.strip()), "provider", "must not be empty")
    errors.check(len(record.provider) <= 40, "provider", "at most 40 characters")
    if record.provider_ref is not None:
        errors.check(len(record.provider_ref) <= 200, "providerRef", "at most 200 characters")
    errors.raise_if_any()
    now = now or datetime.now(UTC)
    try:
        async with ctx.db.transaction() as session:
            appointment = (
                await session.scalars(
                    visible(Appointment, ctx.viewer)
                    .where(Appointment.id == record.appointment_id)
                    .with_for_update()
                )
            ).one_or_none()
            if appointment is None:
                raise NotFound("Appointment not found.")
            due = appointment.price - appointment.discount
            errors = FieldErrors()
            errors.check(
                record.currency == appointment.currency,
                "currency",
                f"must be the appointment's currency {appointment.currency}",
            )
            errors.check(record.amount == due, "amount", f"must be the amount due, {due:.2f}")
            errors.raise_if_any()
            if record.status == "paid":
                refuse_if_lapsed(appointment, now)
                already = await session.scalar(
                    select(func.count())
                    .select_from(Payment)
                    .where(Payment.appointment_id == appointment.id, Payment.status == "paid")
                )
                if already:
                    raise ValidationFailed.single("appointmentId", "is already paid")
                check_transition(
                    appointment,
                    "confirmed",
                    f"An appointment that is {status_words(appointment.status)} cannot take "
                    "a payment.",
                )
            payment = Payment(
                appointment_id=appointment.id,
                amount=record.amount,
                currency=record.currency,
                status=record.status,
                provider=record.provider.strip(),
                provider_ref=record.provider_ref,
                paid_at=now if record.status == "paid" else None,
                recorded_by=ctx.viewer.user_id,
            )
            session.add(payment)
            await session.flush()
            if record.status == "paid":
                await move_to(
                    session, ctx, appointment, "confirmed", f"paid via {payment.provider}", now=now
                )
                await _tell(session, ctx, payment, appointment, "payment_received")
            await session.flush()
            audit.record(
                session,
                ctx,
                "payment.record",
                "Payment",
                payment.id,
                after=audit.snapshot(payment, "appointment_id", "amount", "currency", "status"),
            )
    except IntegrityError as error:
        if "uq_payments_provider_provider_ref" in str(error.orig):
            raise ValidationFailed.single(
                "providerRef", "this provider reference is already recorded"
            ) from error
        raise
    ctx.loaders.get(AppointmentByIdLoader).replace(appointment.id, appointment)
    return payment, appointment


async def _tell(
    session: AsyncSession, ctx: Context, payment: Payment, appointment: Appointment, kind: str
) -> None:
    await notify(
        session,
        user_id=appointment.patient_id,
        kind=kind,
        subject=Subject("Payment", payment.id),
        actor_role=actor_role(ctx.viewer, appointment),
        data={
            "amount": str(payment.amount),
            "currency": payment.currency,
            "appointmentReference": appointment.reference,
        },
    )


async def refund_payment(
    ctx: Context, payment_id: uuid.UUID, reason: str | None, *, now: datetime | None = None
) -> tuple[Payment, Appointment]:
    """Refunds a paid payment in full; the appointment becomes REFUNDED (a pending or
    already refunded appointment cannot be refunded)."""
    require(payment_policy.can_write(ctx.viewer), "Only admins and the payment provider may.")
    note = (reason or "").strip()
    if len(note) > MAX_REASON_LENGTH:
        raise ValidationFailed.single("reason", f"at most {MAX_REASON_LENGTH} characters")
    now = now or datetime.now(UTC)
    async with ctx.db.transaction() as session:
        payment = (
            await session.scalars(
                visible(Payment, ctx.viewer).where(Payment.id == payment_id).with_for_update()
            )
        ).one_or_none()
        if payment is None:
            raise NotFound("Payment not found.")
        if payment.status != "paid":
            raise ValidationFailed.single(
                "paymentId", f"only a paid payment can be refunded; this one is {payment.status}"
            )
        appointment = (
            await session.scalars(
                visible(Appointment, ctx.viewer)
                .where(Appointment.id == payment.appointment_id)
                .with_for_update()
            )
        ).one()
        await move_to(session, ctx, appointment, "refunded", note, now=now)
        payment.status = "refunded"
        payment.refunded_at = now
        payment.refund_reason = note or None
        await _tell(session, ctx, payment, appointment, "payment_refunded")
        audit.record(
            session,
            ctx,
            "payment.refund",
            "Payment",
            payment.id,
            before={"status": "paid"},
            after=audit.snapshot(payment, "status", "amount", "refund_reason"),
        )
        await session.flush()
    ctx.loaders.get(AppointmentByIdLoader).replace(appointment.id, appointment)
    return payment, appointment


class PaymentsByAppointmentIdLoader(PolicyLoader[uuid.UUID, list[Payment]]):
    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[list[Payment]]:
        rows = await self.visible_where_in(
            Payment, Payment.appointment_id, keys, Payment.created_at, Payment.id
        )
        grouped: dict[uuid.UUID, list[Payment]] = defaultdict(list)
        for payment in rows:
            grouped[payment.appointment_id].append(payment)
        return [grouped.get(key, []) for key in keys]


class PaymentByIdLoader(RowByIdLoader):
    model = Payment
