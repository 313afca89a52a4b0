"""Payments: checkout with the configured provider, payments recorded at the front desk,
provider webhooks (verified, applied once, in any order), and refunds (by staff and admins
in part or in full, and by the cancellation policy). A paid payment confirms its pending
appointment in the same transaction; a payment for an appointment no longer open (lapsed,
cancelled, paid otherwise) is refunded, never confirming it."""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models import Appointment, Doctor, Payment, ProviderEvent, Refund
from resolvers import audit
from resolvers.appointments import (
    TRANSITIONS,
    AppointmentByIdLoader,
    InvalidTransitionError,
    actor_role,
    check_transition,
    is_lapsed,
    lapse,
    move_to,
    refuse_if_lapsed,
    status_words,
)
from resolvers.core.context import Context
from resolvers.core.errors import FieldErrors, NotFound, ValidationFailed
from resolvers.core.input_checks import money_problem
from resolvers.core.jobs import JobContext, enqueue, job
from resolvers.core.json_reads import ListOf
from resolvers.core.loaders import PolicyLoader, RowByIdLoader
from resolvers.notifications import Subject, notify
from resolvers.payment_providers import (
    ProviderError,
    checkout_provider,
    from_minor_units,
    minor_units,
    provider_named,
    smallest_unit,
)
from resolvers.policies import readable, require, visible
from resolvers.policies.appointments import payment_policy

logger = logging.getLogger("caregraph.payments")

MAX_REASON_LENGTH = 1000
DESK_METHODS = ("cash", "card", "bank_transfer")
CENT = Decimal("0.01")


# --- recorded at the desk (or by the provider's service account) ----------------------


@dataclass(frozen=True)
class PaymentRecord:
    appointment_id: uuid.UUID
    amount: Decimal
    currency: str
    status: str = "paid"
    provider: str = "manual"
    provider_ref: str | None = None
    method: str | None = None
    """cash, card or bank_transfer (at the desk)."""


async def record_payment(
    ctx: Context, record: PaymentRecord, *, now: datetime | None = None
) -> tuple[Payment, Appointment]:
    """Records a paid (or failed) payment: the front desk (cash, card, transfer), admins,
    the provider's service account. The amount and currency must match what is due on the
    appointment; a paid payment confirms a pending appointment. An open manual checkout of
    the appointment becomes this payment."""
    require(
        payment_policy.can_record_at_desk(ctx.viewer),
        "Only the front desk, admins and the payment provider may.",
    )
    errors = FieldErrors()
    errors.check(record.status in ("paid", "failed"), "status", "must be PAID or FAILED")
    problem = money_problem(record.amount, positive=True)
    if problem is not None:
        errors.add("amount", problem)
    errors.check(bool(record.provider.strip()), "provider", "must not be empty")
    errors.check(len(record.provider) <= 40, "provider", "at most 40 characters")
    if record.provider_ref is not None:
        errors.check(len(record.provider_ref) <= 200, "providerRef", "at most 200 characters")
    errors.check(
        record.method is None or record.method in DESK_METHODS,
        "method",
        "must be CASH, CARD or BANK_TRANSFER",
    )
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
            payment = await _open_manual_checkout(session, appointment.id, record.provider)
            if payment is None:
                payment = Payment(appointment_id=appointment.id)
                session.add(payment)
            payment.amount = record.amount
            payment.currency = record.currency
            payment.status = record.status
            payment.provider = record.provider.strip()
            payment.provider_ref = record.provider_ref
            payment.method = record.method
            payment.paid_at = now if record.status == "paid" else None
            payment.recorded_by = ctx.viewer.user_id
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
                after=audit.snapshot(
                    payment, "appointment_id", "amount", "currency", "status", "method"
                ),
            )
    except IntegrityError as error:
        if "uq_payments_provider_provider_ref" in str(error.orig):
            raise ValidationFailed.single(
                "providerRef", "this provider reference is already recorded"
            ) from error
        raise
    ctx.loaders.get(AppointmentByIdLoader).replace(appointment.id, appointment)
    return payment, appointment


async def _open_manual_checkout(
    session: AsyncSession, appointment_id: uuid.UUID, provider: str
) -> Payment | None:
    if provider.strip() != "manual":
        return None
    return (
        await session.scalars(
            select(Payment)
            .where(
                Payment.appointment_id == appointment_id,
                Payment.status == "pending",
                Payment.provider == "manual",
            )
            .with_for_update()
        )
    ).one_or_none()


async def _tell(
    session: AsyncSession,
    ctx: Context,
    payment: Payment,
    appointment: Appointment,
    kind: str,
    *,
    role: str | None = None,
    amount: Decimal | None = None,
) -> None:
    await notify(
        session,
        user_id=appointment.patient_id,
        kind=kind,
        subject=Subject("Payment", payment.id),
        actor_role=role or actor_role(ctx.viewer, appointment),
        data={
            "amount": str(amount if amount is not None else payment.amount),
            "currency": payment.currency,
            "appointmentReference": appointment.reference,
        },
    )


async def _lock(session: AsyncSession, payment_id: uuid.UUID) -> Payment:
    """Locks a payment's appointment, then the payment: the order of every path that
    changes both (cancelling locks the appointment first too), so none deadlocks another."""
    appointment_id = await session.scalar(
        select(Payment.appointment_id).where(Payment.id == payment_id)
    )
    await session.execute(
        select(Appointment.id).where(Appointment.id == appointment_id).with_for_update()
    )
    return await session.get_one(Payment, payment_id, with_for_update=True, populate_existing=True)


# --- checkout ------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckoutResult:
    payment: Payment
    appointment: Appointment


async def start_checkout(
    ctx: Context, appointment_id: uuid.UUID, *, now: datetime | None = None
) -> CheckoutResult:
    """Opens (or returns the open) payment of a PENDING_PAYMENT appointment with the
    configured provider. The amount and currency are the appointment's. The provider is
    called outside any transaction, with an idempotency key of the payment's id: a retry
    (after a failed call, or a second checkout) is the same payment at the provider."""
    now = now or datetime.now(UTC)
    provider = checkout_provider(ctx.settings)
    async with ctx.db.transaction() as session:
        appointment = (
            await session.scalars(
                visible(Appointment, ctx.viewer)
                .where(Appointment.id == appointment_id)
                .with_for_update()
            )
        ).one_or_none()
        if appointment is None:
            raise NotFound("Appointment not found.")
        require(
            payment_policy.can_check_out(ctx.viewer, appointment),
            "Only the patient, the front desk and admins check out an appointment.",
        )
        if appointment.status != "pending_payment":
            raise InvalidTransitionError(
                f"An appointment that is {status_words(appointment.status)} has nothing to pay.",
                appointment.status,
                "confirmed",
            )
        refuse_if_lapsed(appointment, now)
        payment = (
            await session.scalars(
                select(Payment)
                .where(Payment.appointment_id == appointment.id, Payment.status == "pending")
                .with_for_update()
            )
        ).one_or_none()
        if payment is not None and payment.provider != provider.name:
            payment.status = "failed"
            payment.failure_reason = f"replaced by a checkout with {provider.name}"
            await session.flush()
            payment = None
        created = payment is None
        if payment is None:
            due = appointment.price - appointment.discount
            try:
                if provider.name != "manual":
                    minor_units(due, appointment.currency)
            except ValueError as error:
                raise ValidationFailed.single("appointmentId", str(error)) from error
            payment = Payment(
                appointment_id=appointment.id,
                amount=due,
                currency=appointment.currency,
                status="pending",
                provider=provider.name,
                method=None if provider.name == "manual" else "online",
                recorded_by=ctx.viewer.user_id,
            )
            session.add(payment)
            await session.flush()
    if payment.provider_ref is None and provider.name != "manual":
        try:
            checkout = await provider.open_checkout(payment, appointment)
        except ProviderError as error:
            if created:  # nothing of this call is left behind
                async with ctx.db.transaction() as session:
                    await session.execute(
                        delete(Payment).where(
                            Payment.id == payment.id, Payment.provider_ref.is_(None)
                        )
                    )
            raise PaymentProviderUnavailable(error.message) from error
        async with ctx.db.transaction() as session:
            await session.execute(
                update(Payment)
                .where(Payment.id == payment.id, Payment.provider_ref.is_(None))
                .values(provider_ref=checkout.provider_ref, client_secret=checkout.client_secret)
            )
            payment = await session.get_one(Payment, payment.id, populate_existing=True)
    return CheckoutResult(payment, appointment)


class PaymentProviderUnavailable(ValidationFailed):
    """The provider refused or could not be reached; nothing is charged. Try again."""

    code = "PAYMENT_PROVIDER_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__({"appointmentId": [message]}, message)


# --- provider webhooks ---------------------------------------------------------------

SUCCEEDED = "payment_intent.succeeded"
FAILED = ("payment_intent.payment_failed", "payment_intent.canceled")
# Stripe sends `refund.created` / `refund.updated` for every refund, ours or made in its
# dashboard, with the Refund itself (its id: applied once); `charge.refunded`, sent for the
# same refunds with the charge's running total, is ignored so none is counted twice.
REFUNDED = ("refund.created", "refund.updated")


def _intent_of(event: dict[str, Any]) -> str | None:
    obj = event.get("data", {}).get("object", {})
    if event.get("type", "").startswith("payment_intent."):
        return obj.get("id")
    return obj.get("payment_intent")


async def apply_provider_event(ctx: Context, provider: str, event: dict[str, Any]) -> str:
    """Applies a verified provider event once (its id is stored with the change, in one
    transaction): `applied`, `duplicate`, `deferred` (a refund before its payment's
    success) or `ignored`."""
    now = datetime.now(UTC)
    async with ctx.db.transaction() as session:
        stored = (
            await session.scalars(
                insert(ProviderEvent)
                .values(
                    provider=provider,
                    event_id=str(event["id"]),
                    type=str(event.get("type", "")),
                    object_ref=_intent_of(event),
                    payload=event,
                    status="applied",
                    applied_at=now,
                )
                .on_conflict_do_nothing(index_elements=["provider", "event_id"])
                .returning(ProviderEvent)
            )
        ).one_or_none()
        if stored is None:
            return "duplicate"
        stored.status = await _apply(session, ctx, provider, event, now)
        if stored.status != "applied":
            stored.applied_at = None
        return stored.status


async def _apply(
    session: AsyncSession, ctx: Context, provider: str, event: dict[str, Any], now: datetime
) -> str:
    kind = event.get("type")
    obj = event.get("data", {}).get("object", {})
    intent = _intent_of(event)
    if intent is None:
        return "ignored"
    payment_id = await session.scalar(
        select(Payment.id).where(Payment.provider == provider, Payment.provider_ref == intent)
    )
    if payment_id is None:
        logger.warning("%s event %s for an unknown payment %s", provider, event.get("id"), intent)
        return "ignored"
    payment = await _lock(session, payment_id)
    if kind == SUCCEEDED:
        return await _succeeded(session, ctx, payment, obj)
    if kind in FAILED:
        if payment.status != "pending":
            return "ignored"  # a failure after a success (or a second failure) changes nothing
        error = obj.get("last_payment_error") or {}
        payment.failure_reason = error.get("message") or obj.get("cancellation_reason") or kind
        if kind == "payment_intent.canceled":
            payment.status = "failed"
            payment.client_secret = None
        # A declined attempt is not the end: the same intent (and client secret) may be
        # paid with another card, so the payment stays open with the reason shown.
        return "applied"
    if kind in REFUNDED:
        if payment.status not in ("paid", "refunded"):
            return "deferred"  # applied when the success arrives
        return await _refunded_at_provider(session, ctx, payment, kind, obj, now)
    return "ignored"


async def _succeeded(
    session: AsyncSession, ctx: Context, payment: Payment, obj: dict[str, Any]
) -> str:
    """A FAILED payment may succeed still (replaced by another checkout while its intent
    stayed payable): the money arrived, so it is PAID, and refunded when the appointment
    is paid otherwise or no longer open."""
    if payment.status not in ("pending", "failed"):
        return "ignored"
    now = datetime.now(UTC)  # after the locks: the moment it applies
    received = obj.get("amount_received", obj.get("amount"))
    currency = str(obj.get("currency", "")).upper()
    if currency != payment.currency or received != minor_units(payment.amount, payment.currency):
        logger.error(
            "payment %s: the provider received %s %s, %s %s was due",
            payment.id,
            received,
            currency,
            payment.amount,
            payment.currency,
        )
        return "ignored"
    payment.status = "paid"
    payment.paid_at = now
    payment.client_secret = None
    appointment = await session.get_one(Appointment, payment.appointment_id, with_for_update=True)
    other_paid = await session.scalar(
        select(func.count())
        .select_from(Payment)
        .where(
            Payment.appointment_id == appointment.id,
            Payment.status == "paid",
            Payment.id != payment.id,
        )
    )
    if is_lapsed(appointment, now):
        await lapse(session, ctx, appointment, now)
    payment.failure_reason = None
    await session.flush()
    # Refunds reported before this success apply now, before anything is decided.
    for deferred in (
        await session.scalars(
            select(ProviderEvent)
            .where(
                ProviderEvent.provider == payment.provider,
                ProviderEvent.object_ref == payment.provider_ref,
                ProviderEvent.status == "deferred",
            )
            .order_by(ProviderEvent.received_at)
        )
    ).all():
        deferred.status = await _refunded_at_provider(
            session,
            ctx,
            payment,
            deferred.type,
            deferred.payload.get("data", {}).get("object", {}),
            now,
        )
        deferred.applied_at = now if deferred.status == "applied" else None
    if appointment.status == "pending_payment" and not other_paid and payment.status == "paid":
        await move_to(
            session, ctx, appointment, "confirmed", f"paid via {payment.provider}", now=now
        )
        await _tell(session, ctx, payment, appointment, "payment_received")
    else:
        # Nothing to confirm (lapsed, cancelled, already paid otherwise): what is left of
        # it goes back.
        why = "already paid" if other_paid else status_words(appointment.status)
        left = await refundable(session, payment)
        if left > 0:
            await _request_refund(
                session,
                ctx,
                payment,
                left,
                f"the appointment was {why} when the payment arrived",
                role="system",
            )
    await session.flush()
    return "applied"


async def _refunded_at_provider(
    session: AsyncSession,
    ctx: Context,
    payment: Payment,
    kind: str,
    obj: dict[str, Any],
    now: datetime,
) -> str:
    """A refund the provider reports (a Refund object): ours (matched by its id or our id
    in its metadata) succeeds or fails; one made at the provider (its dashboard) is
    recorded."""
    refund_ref = obj.get("id")
    status = obj.get("status")
    found: Refund | None = (
        await session.scalars(
            select(Refund).where(Refund.provider_ref == refund_ref).with_for_update()
        )
    ).one_or_none()
    ours = (obj.get("metadata") or {}).get("refund_id")
    if found is None and ours:
        found = await session.get(Refund, uuid.UUID(ours), with_for_update=True)
    if found is not None and found.status != "pending":
        return "ignored"
    amount = (
        found.amount
        if found is not None
        else from_minor_units(int(obj.get("amount", 0)), payment.currency)
    )
    if amount > payment.amount - payment.amount_refunded:
        logger.error("refund %s: more than is left of payment %s", refund_ref, payment.id)
        return "ignored"
    if found is not None:
        refund = found
    else:
        if status != "succeeded":
            return "ignored"
        refund = Refund(
            payment_id=payment.id,
            amount=amount,
            currency=payment.currency,
            reason="refunded at the provider",
            requested_role="service",
            provider_ref=refund_ref,
            status="pending",
        )
        session.add(refund)
        await session.flush()
    refund.provider_ref = refund.provider_ref or refund_ref
    if status == "succeeded":
        await _refund_succeeded(session, ctx, refund, payment, now)
    elif status in ("failed", "canceled"):
        refund.status = "failed"
        refund.failure_reason = obj.get("failure_reason") or status
    return "applied"


# --- refunds -------------------------------------------------------------------------


async def _pending_refunds(session: AsyncSession, payment: Payment) -> Decimal:
    pending = await session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(
            Refund.payment_id == payment.id, Refund.status == "pending"
        )
    )
    return Decimal(pending or 0)


async def refundable(session: AsyncSession, payment: Payment) -> Decimal:
    """What may still be refunded: paid, less refunded and refunds under way."""
    return payment.amount - payment.amount_refunded - await _pending_refunds(session, payment)


async def _request_refund(
    session: AsyncSession,
    ctx: Context,
    payment: Payment,
    amount: Decimal,
    reason: str,
    *,
    role: str,
) -> Refund:
    """Records a refund of `amount` (checked against what is refundable by the caller)
    and has the provider make it: at once for the desk, by a job for a provider (whose
    call must not run inside this transaction)."""
    refund = Refund(
        payment_id=payment.id,
        amount=amount,
        currency=payment.currency,
        reason=reason,
        requested_by=ctx.viewer.user_id,
        requested_role=role,
        status="pending",
    )
    session.add(refund)
    await session.flush()
    if payment.provider == "manual":
        await _refund_succeeded(session, ctx, refund, payment, datetime.now(UTC))
    else:
        await enqueue(session, "payment.refund", {"refundId": str(refund.id)})
    return refund


async def _refund_succeeded(
    session: AsyncSession, ctx: Context, refund: Refund, payment: Payment, now: datetime
) -> None:
    """The money is back: the payment's refunded total grows (never past what was paid);
    refunded in full, the payment is REFUNDED and so is its appointment (when it may be)."""
    refund.status = "succeeded"
    refund.succeeded_at = now
    payment.amount_refunded += refund.amount
    assert payment.amount_refunded <= payment.amount, "refunded more than was paid"
    appointment = await session.get_one(Appointment, payment.appointment_id, with_for_update=True)
    if payment.amount_refunded == payment.amount:
        payment.status = "refunded"
        payment.refunded_at = now
        payment.refund_reason = refund.reason or None
        if "refunded" in TRANSITIONS.get(appointment.status, frozenset()):
            await move_to(session, ctx, appointment, "refunded", refund.reason, now=now)
    await _tell(
        session,
        ctx,
        payment,
        appointment,
        "payment_refunded",
        role=refund.requested_role,
        amount=refund.amount,
    )


@dataclass(frozen=True)
class RefundResult:
    refund: Refund
    payment: Payment
    appointment: Appointment


async def refund_payment(
    ctx: Context,
    payment_id: uuid.UUID,
    reason: str | None,
    *,
    amount: Decimal | None = None,
    now: datetime | None = None,
) -> RefundResult:
    """The front desk and admins refund a paid payment in part or in full (`amount`
    omitted: all that is left). Never more than was paid, less what is refunded or under
    way. Refunded in full, the appointment becomes REFUNDED."""
    require(
        payment_policy.can_refund(ctx.viewer), "Only the front desk and admins refund payments."
    )
    note = (reason or "").strip()
    errors = FieldErrors()
    errors.check(
        len(note) <= MAX_REASON_LENGTH, "reason", f"at most {MAX_REASON_LENGTH} characters"
    )
    if amount is not None:
        problem = money_problem(amount, positive=True)
        if problem is not None:
            errors.add("amount", problem)
    errors.raise_if_any()
    async with ctx.db.transaction() as session:
        found = await session.scalar(
            visible(Payment, ctx.viewer)
            .with_only_columns(Payment.id)
            .where(Payment.id == payment_id)
        )
        if found is None:
            raise NotFound("Payment not found.")
        payment = await _lock(session, payment_id)
        if payment.status != "paid":
            raise ValidationFailed.single(
                "paymentId", f"only a paid payment can be refunded; this one is {payment.status}"
            )
        appointment = await session.get_one(
            Appointment, payment.appointment_id, with_for_update=True
        )
        left = await refundable(session, payment)
        wanted = left if amount is None else amount
        if wanted != wanted.quantize(smallest_unit(payment.currency)):
            raise ValidationFailed.single(
                "amount", f"must be a whole number of {payment.currency}'s smallest unit"
            )
        if wanted > left or left <= 0:
            raise ValidationFailed.single(
                "amount", f"at most {left:.2f} {payment.currency} is left to refund"
            )
        if wanted == payment.amount - payment.amount_refunded:
            check_transition(appointment, "refunded")
        refund = await _request_refund(
            session, ctx, payment, wanted, note, role=actor_role(ctx.viewer, appointment)
        )
        audit.record(
            session,
            ctx,
            "payment.refund",
            "Payment",
            payment.id,
            before={"status": "paid"},
            after={
                "status": payment.status,
                "refund": str(refund.amount),
                "refund_status": refund.status,
                "reason": note,
            },
        )
        await session.flush()
    ctx.loaders.get(AppointmentByIdLoader).replace(appointment.id, appointment)
    return RefundResult(refund, payment, appointment)


def cancellation_refund(
    paid_left: Decimal, *, late: bool, fee_percent: int, quantum: Decimal = CENT
) -> tuple[Decimal, str]:
    """What a cancelled appointment's payment gives back: all of it, or, for a late
    cancellation by the patient's side, all but the fee (rounded down to the currency's
    smallest unit, `quantum`: 1 yen, a cent)."""
    if not late:
        return paid_left, "cancelled in time: refunded in full"
    back = (paid_left * (100 - fee_percent) / 100).quantize(quantum, rounding=ROUND_DOWN)
    return back, f"late cancellation: {fee_percent}% kept as a fee"


async def refund_for_cancellation(
    session: AsyncSession,
    ctx: Context,
    appointment: Appointment,
    role: str,
    now: datetime,
) -> None:
    """Called as an appointment is cancelled (in its transaction): its paid payments are
    refunded by the policy. A cancellation by the doctor, an admin or the system refunds
    in full; one by the patient or the front desk, in full before the doctor's
    cancellation window, else less the late-cancellation fee."""
    payments = (
        await session.scalars(
            select(Payment)
            .where(Payment.appointment_id == appointment.id, Payment.status == "paid")
            .with_for_update()
        )
    ).all()
    if not payments:
        return
    hours = await session.scalar(
        select(Doctor.cancellation_policy_hours).where(Doctor.id == appointment.doctor_id)
    )
    late = role in ("patient", "staff") and now > appointment.starts_at - timedelta(
        hours=hours or 0
    )
    for payment in payments:
        left = await refundable(session, payment)
        amount, reason = cancellation_refund(
            left,
            late=late,
            fee_percent=ctx.settings.late_cancellation_fee_percent,
            quantum=smallest_unit(payment.currency),
        )
        if amount > 0:
            await _request_refund(session, ctx, payment, amount, reason, role="system")


@job("payment.refund", max_attempts=10)
async def refund_job(jobs: JobContext, payload: dict[str, Any]) -> None:
    """Has the provider make a refund recorded as pending. The provider call runs outside
    any transaction, with the refund's id as its idempotency key (a retry is the same
    refund); a provider that cannot be reached is retried with backoff."""
    ctx = jobs.request_context()
    refund_id = uuid.UUID(payload["refundId"])
    async with ctx.db.read() as session:
        refund = await session.get(Refund, refund_id)
        payment = await session.get(Payment, refund.payment_id) if refund else None
    if refund is None or payment is None or refund.status != "pending":
        return
    made = await provider_named(payment.provider, ctx.settings).refund(refund, payment)
    async with ctx.db.transaction() as session:
        payment = await _lock(session, payment.id)
        refund = await session.get_one(Refund, refund_id, with_for_update=True)
        if refund.status != "pending":
            return  # the provider's webhook got here first
        refund.provider_ref = made.provider_ref
        if made.status == "succeeded":
            await _refund_succeeded(session, ctx, refund, payment, jobs.now())
        elif made.status == "failed":
            refund.status = "failed"
            refund.failure_reason = made.failure_reason


# --- reads ---------------------------------------------------------------------------


APPOINTMENT_PAYMENTS = ListOf(
    lambda viewer: visible(Payment, viewer),
    Payment.appointment_id,
    (Payment.created_at, Payment.id),
)
"""`PaymentsByAppointmentIdLoader`'s read, as a source for fields answered in SQL."""


class PaymentsByAppointmentIdLoader(PolicyLoader[uuid.UUID, list[Payment]]):
    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[list[Payment]]:
        rows = await self.visible_where_in(
            Payment, Payment.appointment_id, keys, Payment.created_at, Payment.id
        )
        grouped: dict[uuid.UUID, list[Payment]] = defaultdict(list)
        for payment in rows:
            grouped[payment.appointment_id].append(payment)
        return [grouped.get(key, []) for key in keys]


class RefundsByPaymentIdLoader(PolicyLoader[uuid.UUID, list[Refund]]):
    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[list[Refund]]:
        rows = await self.visible_where_in(
            Refund, Refund.payment_id, keys, Refund.created_at, Refund.id
        )
        grouped: dict[uuid.UUID, list[Refund]] = defaultdict(list)
        for refund in rows:
            grouped[refund.payment_id].append(refund)
        return [grouped.get(key, []) for key in keys]


class PaymentByIdLoader(RowByIdLoader):
    model = Payment


class RefundByIdLoader(RowByIdLoader):
    model = Refund


# --- reconciliation (admins) ---------------------------------------------------------

MISMATCH_LIMIT = 100


@dataclass(frozen=True)
class PaymentTotal:
    provider: str
    status: str
    currency: str
    count: int
    amount: Decimal
    refunded: Decimal


@dataclass(frozen=True)
class Mismatch:
    kind: str
    appointment_id: uuid.UUID
    reference: str
    detail: str


@dataclass(frozen=True)
class Reconciliation:
    totals: list[PaymentTotal]
    mismatches: list[Mismatch]
    waiting_events: list[ProviderEvent]
    """Provider events not applied yet (a refund that came before its payment's success)."""


async def reconciliation(ctx: Context, *, now: datetime | None = None) -> Reconciliation:
    """Admins: payments by provider, status and currency, and what does not add up:
    confirmed appointments with something due and no paid payment, appointments paid
    twice, cancelled ones whose payment nothing was refunded of, refunds failed or pending
    for over an hour."""
    require(ctx.viewer.is_admin or ctx.viewer.is_service, "Only admins reconcile payments.")
    now = now or datetime.now(UTC)
    viewer = ctx.viewer
    # Every read through the tables' policies (all rows for admins, as the gate says).
    payments_read = readable(Payment, viewer)
    appointments_read = readable(Appointment, viewer)
    paid = (
        select(Payment.appointment_id, func.count().label("paid"))
        .where(Payment.status == "paid", payments_read)
        .group_by(Payment.appointment_id)
        .subquery()
    )
    refunds = (
        select(Refund.payment_id)
        .where(Refund.payment_id == Payment.id, readable(Refund, viewer))
        .exists()
    )
    due = Appointment.price - Appointment.discount
    async with ctx.db.read() as session:
        totals = [
            PaymentTotal(*row)
            for row in await session.execute(
                select(
                    Payment.provider,
                    Payment.status,
                    Payment.currency,
                    func.count(),
                    func.sum(Payment.amount),
                    func.sum(Payment.amount_refunded),
                )
                .where(payments_read)
                .group_by(Payment.provider, Payment.status, Payment.currency)
                .order_by(Payment.provider, Payment.status, Payment.currency)
            )
        ]
        mismatches: list[Mismatch] = []
        for row in await session.execute(
            select(Appointment.id, Appointment.reference, due.label("due"))
            .outerjoin(paid, paid.c.appointment_id == Appointment.id)
            .where(
                Appointment.status == "confirmed", due > 0, paid.c.paid.is_(None), appointments_read
            )
            .order_by(Appointment.starts_at)
            .limit(MISMATCH_LIMIT)
        ):
            mismatches.append(
                Mismatch(
                    "confirmed_unpaid", row.id, row.reference, f"{row.due:.2f} due, no payment"
                )
            )
        for row in await session.execute(
            select(Appointment.id, Appointment.reference, paid.c.paid)
            .join(paid, paid.c.appointment_id == Appointment.id)
            .where(paid.c.paid > 1, appointments_read)
            .limit(MISMATCH_LIMIT)
        ):
            mismatches.append(
                Mismatch("paid_twice", row.id, row.reference, f"{row.paid} paid payments")
            )
        for row in await session.execute(
            select(Appointment.id, Appointment.reference, Payment.amount)
            .join(Payment, Payment.appointment_id == Appointment.id)
            .where(
                Appointment.status == "cancelled",
                Payment.status == "paid",
                ~refunds,
                appointments_read,
                payments_read,
            )
            .limit(MISMATCH_LIMIT)
        ):
            mismatches.append(
                Mismatch(
                    "cancelled_not_refunded",
                    row.id,
                    row.reference,
                    f"{row.amount:.2f} paid, nothing refunded (a late cancellation's fee?)",
                )
            )
        for refund_row in await session.execute(
            select(Appointment.id, Appointment.reference, Refund.status, Refund.amount)
            .join(Payment, Payment.appointment_id == Appointment.id)
            .join(Refund, Refund.payment_id == Payment.id)
            .where(
                appointments_read,
                readable(Refund, viewer),
                (Refund.status == "failed")
                | ((Refund.status == "pending") & (Refund.created_at < now - timedelta(hours=1))),
            )
            .limit(MISMATCH_LIMIT)
        ):
            kind = "refund_failed" if refund_row.status == "failed" else "refund_stuck"
            mismatches.append(
                Mismatch(
                    kind,
                    refund_row.id,
                    refund_row.reference,
                    f"a refund of {refund_row.amount:.2f} {refund_row.status}",
                )
            )
        waiting = list(
            (
                await session.scalars(
                    visible(ProviderEvent, viewer)
                    .where(ProviderEvent.status == "deferred")
                    .order_by(ProviderEvent.received_at)
                    .limit(MISMATCH_LIMIT)
                )
            ).all()
        )
    return Reconciliation(totals, mismatches, waiting)
