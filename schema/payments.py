"""Payments for appointments: the payment and refund types, checkout, payments recorded
at the front desk, refunds, the admins' reconciliation view, and Stripe's webhook
endpoint (`POST /webhooks/stripe`)."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from models import Payment as PaymentModel
from models import Refund as RefundModel
from resolvers import payments as payment_resolvers
from resolvers.core.context import Context
from resolvers.core.errors import RETRY_AFTER_SECONDS, CaregraphError, ServiceUnavailable
from resolvers.core.identity import SERVICE
from resolvers.core.settings import Settings
from resolvers.payment_providers import stripe_provider
from resolvers.payments import PaymentByIdLoader, RefundByIdLoader, RefundsByPaymentIdLoader
from schema.appointments import Appointment, InvalidTransition, status_error
from schema.engine.look_ahead import GraphQLInfo
from schema.engine.sql_json import sql_row
from schema.enums import PaymentMethod, PaymentStatus, ProviderEventStatus, RefundStatus
from schema.ids import format_id, parse_id
from schema.mutation_results import (
    NotAllowed,
    NotFoundError,
    UserError,
    ValidationError,
    mutation_result,
)
from schema.node import Node, register_node


@strawberry.type(description="A payment for an appointment.")
class Payment(Node):
    id: strawberry.ID = strawberry.field(description="Payment id.")
    appointment_id: strawberry.ID = strawberry.field(description="The appointment paid for.")
    amount: Decimal = strawberry.field(description="Amount.")
    amount_refunded: Decimal = strawberry.field(
        description="Refunded so far (refunds that succeeded); never more than `amount`."
    )
    currency: str = strawberry.field(description="ISO 4217 currency.")
    status: PaymentStatus = strawberry.field(description="Pending, paid, failed or refunded.")
    provider: str = strawberry.field(description="Payment provider, e.g. stripe or manual.")
    provider_ref: str | None = strawberry.field(description="The provider's reference.")
    method: PaymentMethod | None = strawberry.field(description="How it was paid.")
    failure_reason: str | None = strawberry.field(description="Why it failed.")
    paid_at: datetime | None = strawberry.field(description="When it was paid.")
    refunded_at: datetime | None = strawberry.field(description="When it was refunded in full.")
    refund_reason: str | None = strawberry.field(description="Why it was refunded in full.")
    created_at: datetime = strawberry.field(description="When it was recorded.")
    row: strawberry.Private[PaymentModel]

    @classmethod
    def from_model(cls, row: PaymentModel) -> Payment:
        return cls(
            row=row,
            id=format_id("Payment", row.id),
            appointment_id=format_id("Appointment", row.appointment_id),
            amount=row.amount,
            amount_refunded=row.amount_refunded,
            currency=row.currency,
            status=PaymentStatus(row.status),
            provider=row.provider,
            provider_ref=row.provider_ref,
            method=PaymentMethod(row.method) if row.method else None,
            failure_reason=row.failure_reason,
            paid_at=row.paid_at,
            refunded_at=row.refunded_at,
            refund_reason=row.refund_reason,
            created_at=row.created_at,
        )

    @strawberry.field(description="Refunds of this payment, oldest first.")
    async def refunds(self, info: GraphQLInfo) -> list[Refund]:
        rows = await info.context.loaders.get(RefundsByPaymentIdLoader).load(self.row.id)
        return [Refund.from_model(row) for row in rows]


@strawberry.type(description="Money given back on a payment.")
class Refund(Node):
    id: strawberry.ID = strawberry.field(description="Refund id.")
    payment_id: strawberry.ID = strawberry.field(description="The payment refunded.")
    amount: Decimal = strawberry.field(description="Amount given back.")
    currency: str = strawberry.field(description="ISO 4217 currency (the payment's).")
    status: RefundStatus = strawberry.field(description="Where the refund stands.")
    reason: str = strawberry.field(description="Why: the person's words, or the policy's.")
    requested_role: str = strawberry.field(
        description="Who asked, as a role: staff, admin, service (the provider), or system "
        "(the cancellation policy, a payment that found its appointment no longer open)."
    )
    provider_ref: str | None = strawberry.field(description="The provider's refund id.")
    failure_reason: str | None = strawberry.field(description="Why the provider refused.")
    created_at: datetime = strawberry.field(description="When it was asked for.")
    succeeded_at: datetime | None = strawberry.field(description="When the money was back.")

    @classmethod
    def from_model(cls, row: RefundModel) -> Refund:
        return cls(
            id=format_id("Refund", row.id),
            payment_id=format_id("Payment", row.payment_id),
            amount=row.amount,
            currency=row.currency,
            status=RefundStatus(row.status),
            reason=row.reason,
            requested_role=row.requested_role,
            provider_ref=row.provider_ref,
            failure_reason=row.failure_reason,
            created_at=row.created_at,
            succeeded_at=row.succeeded_at,
        )


# --- checkout ------------------------------------------------------------------------


@strawberry.input(description="Pay for a PENDING_PAYMENT appointment.")
class StartCheckoutInput:
    appointment_id: strawberry.ID = strawberry.field(description="The appointment.")


@strawberry.type(description="A payment is open: pay it with the provider.")
class CheckoutStarted:
    payment: Payment = strawberry.field(description="The open (PENDING) payment.")
    appointment: Appointment = strawberry.field(description="The appointment it pays.")
    client_secret: str | None = strawberry.field(
        description="Stripe: the PaymentIntent's client secret for Stripe.js / the mobile "
        "SDKs (confirm the payment with it). Null for payment at the front desk."
    )
    instructions: str = strawberry.field(description="What the patient does next, for people.")


@strawberry.type(description="The payment provider refused or could not be reached.")
class PaymentProviderError(UserError):
    pass


StartCheckoutResult = Annotated[
    CheckoutStarted
    | PaymentProviderError
    | InvalidTransition
    | ValidationError
    | NotAllowed
    | NotFoundError,
    strawberry.union("StartCheckoutResult", description="Result of startCheckout."),
]


def _checkout_started(result: payment_resolvers.CheckoutResult) -> CheckoutStarted:
    payment = result.payment
    if payment.provider == "manual":
        instructions = (
            f"Pay {payment.amount:.2f} {payment.currency} at the front desk before "
            "the payment window ends."
        )
    else:
        instructions = f"Pay {payment.amount:.2f} {payment.currency} with {payment.provider}."
    return CheckoutStarted(
        payment=Payment.from_model(payment),
        appointment=Appointment.from_model(result.appointment),
        client_secret=payment.client_secret,
        instructions=instructions,
    )


def _checkout_error(
    error: CaregraphError,
) -> PaymentProviderError | InvalidTransition | ValidationError | NotAllowed | NotFoundError:
    if isinstance(error, payment_resolvers.PaymentProviderUnavailable):
        return PaymentProviderError(message=error.message, code=error.code)
    return status_error(error)


# --- recorded at the desk, refunds ---------------------------------------------------


@strawberry.input(description="Record a payment (the front desk, admins, payment webhooks).")
class RecordPaymentInput:
    appointment_id: strawberry.ID = strawberry.field(description="The appointment.")
    amount: Decimal = strawberry.field(description="Must equal the amount due.")
    currency: str = strawberry.field(description="Must equal the appointment's currency.")
    status: PaymentStatus = strawberry.field(
        default=PaymentStatus.PAID, description="PAID or FAILED."
    )
    provider: str = strawberry.field(default="manual", description="Provider name.")
    provider_ref: str | None = strawberry.field(
        default=None, description="Provider reference; unique per provider (idempotency)."
    )
    method: PaymentMethod | None = strawberry.field(
        default=None, description="At the desk: CASH, CARD or BANK_TRANSFER."
    )


@strawberry.type(description="The payment was recorded.")
class PaymentRecorded:
    payment: Payment = strawberry.field(description="The payment.")
    appointment: Appointment = strawberry.field(
        description="The appointment (CONFIRMED after a paid payment)."
    )


RecordPaymentResult = Annotated[
    PaymentRecorded | InvalidTransition | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("RecordPaymentResult", description="Result of recordPayment."),
]


@strawberry.input(description="Refund a paid payment, in part or in full.")
class RefundPaymentInput:
    payment_id: strawberry.ID = strawberry.field(description="The payment.")
    amount: Decimal | None = strawberry.field(
        default=None,
        description="How much; omit for all that is left (paid, less refunded and refunds "
        "under way).",
    )
    reason: str | None = strawberry.field(default=None, description="Why (1000 chars).")


@strawberry.type(
    description="A refund was made (at the desk) or asked of the provider (PENDING until it "
    "confirms)."
)
class PaymentRefunded:
    refund: Refund = strawberry.field(description="The refund.")
    payment: Payment = strawberry.field(description="The payment.")
    appointment: Appointment = strawberry.field(
        description="The appointment, REFUNDED once the payment is refunded in full."
    )


RefundPaymentResult = Annotated[
    PaymentRefunded | InvalidTransition | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("RefundPaymentResult", description="Result of refundPayment."),
]


# --- reconciliation ------------------------------------------------------------------


@strawberry.type(description="Payments of one provider, status and currency.")
class PaymentTotal:
    provider: str = strawberry.field(description="The provider (manual: the front desk).")
    status: PaymentStatus = strawberry.field(description="Their status.")
    currency: str = strawberry.field(description="ISO 4217 currency.")
    count: int = strawberry.field(description="How many.")
    amount: Decimal = strawberry.field(description="Their amounts, summed.")
    refunded: Decimal = strawberry.field(description="Refunded of them, summed.")


@strawberry.type(description="An appointment whose payments do not add up.")
class PaymentMismatch:
    kind: str = strawberry.field(
        description="confirmed_unpaid (confirmed, something due, no paid payment), "
        "paid_twice, cancelled_not_refunded (paid, cancelled, nothing refunded: a late "
        "cancellation's fee, or a refund to make), refund_failed, refund_stuck (pending "
        "over an hour)."
    )
    appointment_id: strawberry.ID = strawberry.field(description="The appointment.")
    reference: str = strawberry.field(description="Its booking reference.")
    detail: str = strawberry.field(description="What is off, for people.")


@strawberry.type(description="A provider event not applied yet.")
class WaitingProviderEvent:
    provider: str = strawberry.field(description="The provider.")
    event_id: str = strawberry.field(description="The provider's event id.")
    type: str = strawberry.field(description="The event's type, e.g. charge.refunded.")
    status: ProviderEventStatus = strawberry.field(description="Why it waits.")
    received_at: datetime = strawberry.field(description="When it arrived.")


@strawberry.type(description="Payments against appointments, for admins.")
class PaymentReconciliation:
    totals: list[PaymentTotal] = strawberry.field(
        description="Payments by provider, status and currency."
    )
    mismatches: list[PaymentMismatch] = strawberry.field(
        description="Appointments whose payments do not add up (100 of each kind at most)."
    )
    waiting_events: list[WaitingProviderEvent] = strawberry.field(
        description="Provider events waiting to apply: refunds that came before their "
        "payment's success (applied with it)."
    )


@strawberry.type
class PaymentsQuery:
    @strawberry.field(description="Admins: reconcile payments. Others get FORBIDDEN.")
    async def payment_reconciliation(self, info: GraphQLInfo) -> PaymentReconciliation:
        found = await payment_resolvers.reconciliation(info.context)
        return PaymentReconciliation(
            totals=[
                PaymentTotal(
                    provider=t.provider,
                    status=PaymentStatus(t.status),
                    currency=t.currency,
                    count=t.count,
                    amount=t.amount,
                    refunded=t.refunded,
                )
                for t in found.totals
            ],
            mismatches=[
                PaymentMismatch(
                    kind=m.kind,
                    appointment_id=format_id("Appointment", m.appointment_id),
                    reference=m.reference,
                    detail=m.detail,
                )
                for m in found.mismatches
            ],
            waiting_events=[
                WaitingProviderEvent(
                    provider=e.provider,
                    event_id=e.event_id,
                    type=e.type,
                    status=ProviderEventStatus(e.status),
                    received_at=e.received_at,
                )
                for e in found.waiting_events
            ],
        )


@strawberry.type
class PaymentsMutation:
    @strawberry.mutation(
        description="The patient (or the front desk, admins): open the payment of a "
        "PENDING_PAYMENT appointment with the configured provider, or get the one already "
        "open. The amount and currency are the appointment's."
    )
    async def start_checkout(
        self,
        info: GraphQLInfo,
        input: Annotated[StartCheckoutInput, strawberry.argument(description="The input.")],
    ) -> StartCheckoutResult:
        return await mutation_result(
            lambda: payment_resolvers.start_checkout(
                info.context, parse_id(input.appointment_id, "appointmentId", of="Appointment")
            ),
            _checkout_started,
            _checkout_error,
        )

    @strawberry.mutation(
        description="The front desk (cash, card, transfer), admins and service_role: record "
        "a payment."
    )
    async def record_payment(
        self,
        info: GraphQLInfo,
        input: Annotated[RecordPaymentInput, strawberry.argument(description="The input.")],
    ) -> RecordPaymentResult:
        return await mutation_result(
            lambda: payment_resolvers.record_payment(
                info.context,
                payment_resolvers.PaymentRecord(
                    appointment_id=parse_id(
                        input.appointment_id, "appointmentId", of="Appointment"
                    ),
                    amount=input.amount,
                    currency=input.currency,
                    status=input.status.value,
                    provider=input.provider,
                    provider_ref=input.provider_ref,
                    method=input.method.value if input.method else None,
                ),
            ),
            lambda saved: PaymentRecorded(
                payment=Payment.from_model(saved[0]), appointment=Appointment.from_model(saved[1])
            ),
            status_error,
        )

    @strawberry.mutation(
        description="The front desk, admins and service_role: refund a paid payment in part "
        "or in full."
    )
    async def refund_payment(
        self,
        info: GraphQLInfo,
        input: Annotated[RefundPaymentInput, strawberry.argument(description="The input.")],
    ) -> RefundPaymentResult:
        return await mutation_result(
            lambda: payment_resolvers.refund_payment(
                info.context,
                parse_id(input.payment_id, "paymentId", of="Payment"),
                input.reason,
                amount=input.amount,
            ),
            lambda done: PaymentRefunded(
                refund=Refund.from_model(done.refund),
                payment=Payment.from_model(done.payment),
                appointment=Appointment.from_model(done.appointment),
            ),
            status_error,
        )


register_node("Payment", PaymentByIdLoader, lambda _info, row: Payment.from_model(row))
register_node("Refund", RefundByIdLoader, lambda _info, row: Refund.from_model(row))


# --- provider webhooks ---------------------------------------------------------------

logger = logging.getLogger("caregraph.payments")


class StripeWebhookEndpoint:
    """`POST /webhooks/stripe`: Stripe's events, verified with its signature (the
    `Stripe-Signature` header over the raw body, our webhook secret, a 5-minute tolerance
    by default) and applied once each (resolvers/payments.py). A bad, missing or stale
    signature: 400 and nothing changes. A database outage: 503, so Stripe sends it again."""

    def __init__(self, settings: Settings, state: dict[str, Any]) -> None:
        self.settings = settings
        self.state = state

    async def handle(self, request: Request) -> Response:
        provider = stripe_provider(self.settings)
        if provider is None:
            return JSONResponse({"error": "Stripe is not configured."}, status_code=404)
        payload = await request.body()
        if len(payload) > self.settings.max_body_bytes:
            return JSONResponse({"error": "Payload too large."}, status_code=413)
        try:
            event = provider.verify_event(payload, request.headers.get("stripe-signature"))
        except ValueError as error:
            logger.warning("refused a Stripe webhook: %s", error)
            return JSONResponse({"error": "Invalid signature."}, status_code=400)
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        ctx = Context(SERVICE, self.state["db"], self.settings, request_id)
        try:
            result = await payment_resolvers.apply_provider_event(ctx, "stripe", event)
        except ServiceUnavailable:
            return JSONResponse(
                {"error": "Try again later."},
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        finally:
            ctx.close()
        return JSONResponse({"received": True, "result": result})


sql_row(
    Payment,
    PaymentModel,
    ids={"id": ("Payment", "id"), "appointment_id": ("Appointment", "appointment_id")},
)
