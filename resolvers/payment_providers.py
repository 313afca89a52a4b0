"""Payment providers behind one small interface: `manual` (paid at the front desk, which
records it; refunds handed back there) and Stripe (PaymentIntents and refunds through the
official `stripe` package, webhook signatures verified with its own code).

Amounts cross the boundary in the currency's minor units, checked exactly (an amount
that is not a whole number of minor units is refused, never rounded); every provider call
carries an idempotency key derived from our row's id, so a retried call (a job run again,
a second checkout) is one operation at the provider."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import stripe

from models import Appointment, Payment, Refund
from resolvers.core.settings import Settings

logger = logging.getLogger("caregraph.payments")

# Stripe's lists (https://docs.stripe.com/currencies): currencies without a minor unit,
# and those with three decimals.
ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
THREE_DECIMAL = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])


def exponent(currency: str) -> int:
    if currency in ZERO_DECIMAL:
        return 0
    return 3 if currency in THREE_DECIMAL else 2


def minor_units(amount: Decimal, currency: str) -> int:
    """`amount` in `currency`'s minor units (cents); ValueError when it is not whole."""
    scaled = amount.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value() or scaled <= 0:
        raise ValueError(f"{amount} {currency} is not a positive whole number of minor units")
    return int(scaled)


def smallest_unit(currency: str) -> Decimal:
    """The smallest amount stored for `currency` (amounts keep two decimals at most)."""
    return Decimal(1).scaleb(-min(exponent(currency), 2))


def from_minor_units(units: int, currency: str) -> Decimal:
    return Decimal(units).scaleb(-exponent(currency)).quantize(Decimal("0.01"))


class ProviderError(Exception):
    """The provider refused or could not be reached. `retryable`: worth trying again."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


@dataclass(frozen=True)
class Checkout:
    provider_ref: str | None
    client_secret: str | None


@dataclass(frozen=True)
class ProviderRefund:
    provider_ref: str | None
    status: str
    """succeeded, pending (the provider confirms later, by webhook) or failed."""
    failure_reason: str | None = None


class PaymentProvider(Protocol):
    name: str

    async def open_checkout(self, payment: Payment, appointment: Appointment) -> Checkout:
        """What the patient's app needs to pay `payment` (its amount and currency)."""
        ...

    async def refund(self, refund: Refund, payment: Payment) -> ProviderRefund:
        """Gives `refund.amount` of `payment` back."""
        ...


class ManualProvider:
    """Paid at the front desk (recordPayment), refunded there: nothing to call."""

    name = "manual"

    async def open_checkout(self, payment: Payment, appointment: Appointment) -> Checkout:
        return Checkout(provider_ref=None, client_secret=None)

    async def refund(self, refund: Refund, payment: Payment) -> ProviderRefund:
        return ProviderRefund(provider_ref=None, status="succeeded")


def _stripe_error(error: stripe.StripeError) -> ProviderError:
    retryable = isinstance(
        error, stripe.APIConnectionError | stripe.RateLimitError | stripe.APIError
    ) or (error.http_status is not None and error.http_status >= 500)
    message = error.user_message or str(error) or type(error).__name__
    return ProviderError(f"Stripe: {message}", retryable=retryable)


class StripeProvider:
    name = "stripe"

    def __init__(self, settings: Settings) -> None:
        assert settings.stripe_api_key and settings.stripe_webhook_secret
        base: dict[str, Any] = {}
        if settings.stripe_api_base:
            base = {"base_addresses": {"api": settings.stripe_api_base}}
        self.client = stripe.StripeClient(
            settings.stripe_api_key,
            http_client=stripe.HTTPXClient(),
            max_network_retries=2,
            **base,
        )
        self.webhook_secret = settings.stripe_webhook_secret
        self.tolerance = settings.stripe_webhook_tolerance_seconds

    async def open_checkout(self, payment: Payment, appointment: Appointment) -> Checkout:
        amount = minor_units(payment.amount, payment.currency)
        currency = payment.currency.lower()
        try:
            intent = await self.client.v1.payment_intents.create_async(
                {
                    "amount": amount,
                    "currency": currency,
                    "automatic_payment_methods": {"enabled": True},
                    "description": f"Appointment {appointment.reference}",
                    "metadata": {
                        "payment_id": str(payment.id),
                        "appointment_id": str(appointment.id),
                        "reference": appointment.reference,
                    },
                },
                {"idempotency_key": f"checkout-{payment.id}"},
            )
        except stripe.StripeError as error:
            raise _stripe_error(error) from error
        if intent.amount != amount or intent.currency != currency:
            raise ProviderError(
                f"Stripe answered {intent.amount} {intent.currency}, not {amount} {currency}",
                retryable=False,
            )
        return Checkout(provider_ref=intent.id, client_secret=intent.client_secret)

    async def refund(self, refund: Refund, payment: Payment) -> ProviderRefund:
        if payment.provider_ref is None:
            return ProviderRefund(None, "failed", "the payment has no Stripe PaymentIntent")
        try:
            amount = minor_units(refund.amount, refund.currency)
        except ValueError as error:
            return ProviderRefund(None, "failed", str(error))
        try:
            made = await self.client.v1.refunds.create_async(
                {
                    "payment_intent": payment.provider_ref,
                    "amount": amount,
                    "metadata": {"refund_id": str(refund.id), "payment_id": str(payment.id)},
                },
                {"idempotency_key": f"refund-{refund.id}"},
            )
        except stripe.StripeError as error:
            problem = _stripe_error(error)
            if problem.retryable:
                raise problem from error
            return ProviderRefund(None, "failed", problem.message)
        status = {"succeeded": "succeeded", "failed": "failed", "canceled": "failed"}.get(
            str(made.status), "pending"
        )
        return ProviderRefund(made.id, status, getattr(made, "failure_reason", None))

    def verify_event(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The event, if `signature` (the Stripe-Signature header) signs `payload` with our
        webhook secret within the tolerance; ValueError otherwise."""
        try:
            event = stripe.Webhook.construct_event(
                payload, signature, self.webhook_secret, tolerance=self.tolerance
            )
        except stripe.SignatureVerificationError as error:
            raise ValueError(f"bad signature: {error}") from error
        return dict(event.to_dict())


_MANUAL = ManualProvider()


_STRIPE: dict[tuple[Any, ...], StripeProvider] = {}


def _stripe_for(settings: Settings) -> StripeProvider:
    """One client per configuration (its HTTP connections are reused)."""
    key = (
        settings.stripe_api_key,
        settings.stripe_api_base,
        settings.stripe_webhook_secret,
        settings.stripe_webhook_tolerance_seconds,
    )
    if key not in _STRIPE:
        _STRIPE[key] = StripeProvider(settings)
    return _STRIPE[key]


def provider_named(name: str, settings: Settings) -> PaymentProvider:
    """The provider that handles payments made with `name`."""
    if name == "stripe":
        return _stripe_for(settings)
    return _MANUAL


def checkout_provider(settings: Settings) -> PaymentProvider:
    """The provider new checkouts go to (`CAREGRAPH_PAYMENT_PROVIDER`)."""
    return provider_named(settings.payment_provider, settings)


def stripe_provider(settings: Settings) -> StripeProvider | None:
    """Stripe, when it is configured (its webhooks are verified with it)."""
    if not (settings.stripe_api_key and settings.stripe_webhook_secret):
        return None
    return _stripe_for(settings)
