"""Payments for appointments: the payment type, recording and refunding."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from models import Payment as PaymentModel
from resolvers import payments as payment_resolvers
from resolvers.payments import PaymentByIdLoader
from schema.appointments import Appointment, InvalidTransition, status_error
from schema.engine.look_ahead import GraphQLInfo
from schema.enums import (
    PaymentStatus,
)
from schema.ids import format_id, parse_id
from schema.mutation_results import (
    NotAllowed,
    NotFoundError,
    ValidationError,
    mutation_result,
)
from schema.node import Node, register_node

if TYPE_CHECKING:
    pass


@strawberry.type(description="A payment for an appointment.")
class Payment(Node):
    id: strawberry.ID = strawberry.field(description="Payment id.")
    appointment_id: strawberry.ID = strawberry.field(description="The appointment paid for.")
    amount: Decimal = strawberry.field(description="Amount.")
    currency: str = strawberry.field(description="ISO 4217 currency.")
    status: PaymentStatus = strawberry.field(description="Paid, failed or refunded.")
    provider: str = strawberry.field(description="Payment provider, e.g. stripe or manual.")
    provider_ref: str | None = strawberry.field(description="The provider's reference.")
    paid_at: datetime | None = strawberry.field(description="When it was paid.")
    refunded_at: datetime | None = strawberry.field(description="When it was refunded.")
    refund_reason: str | None = strawberry.field(description="Why it was refunded.")
    created_at: datetime = strawberry.field(description="When it was recorded.")

    @classmethod
    def from_model(cls, row: PaymentModel) -> Payment:
        return cls(
            id=format_id("Payment", row.id),
            appointment_id=format_id("Appointment", row.appointment_id),
            amount=row.amount,
            currency=row.currency,
            status=PaymentStatus(row.status),
            provider=row.provider,
            provider_ref=row.provider_ref,
            paid_at=row.paid_at,
            refunded_at=row.refunded_at,
            refund_reason=row.refund_reason,
            created_at=row.created_at,
        )


@strawberry.input(description="Record a payment (admins, payment webhooks).")
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


@strawberry.input(description="Refund a paid payment in full.")
class RefundPaymentInput:
    payment_id: strawberry.ID = strawberry.field(description="The payment.")
    reason: str | None = strawberry.field(default=None, description="Why (1000 chars).")


@strawberry.type(description="The payment was refunded.")
class PaymentRefunded:
    payment: Payment = strawberry.field(description="The payment.")
    appointment: Appointment = strawberry.field(description="The appointment, now REFUNDED.")


RefundPaymentResult = Annotated[
    PaymentRefunded | InvalidTransition | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("RefundPaymentResult", description="Result of refundPayment."),
]


@strawberry.type
class PaymentsMutation:
    @strawberry.mutation(description="Admins and service_role: record a payment.")
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
                ),
            ),
            lambda saved: PaymentRecorded(
                payment=Payment.from_model(saved[0]), appointment=Appointment.from_model(saved[1])
            ),
            status_error,
        )

    @strawberry.mutation(description="Admins and service_role: refund a paid payment.")
    async def refund_payment(
        self,
        info: GraphQLInfo,
        input: Annotated[RefundPaymentInput, strawberry.argument(description="The input.")],
    ) -> RefundPaymentResult:
        return await mutation_result(
            lambda: payment_resolvers.refund_payment(
                info.context, parse_id(input.payment_id, "paymentId", of="Payment"), input.reason
            ),
            lambda saved: PaymentRefunded(
                payment=Payment.from_model(saved[0]), appointment=Appointment.from_model(saved[1])
            ),
            status_error,
        )


register_node("Payment", PaymentByIdLoader, lambda _info, row: Payment.from_model(row))
