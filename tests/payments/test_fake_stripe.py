"""The fake Stripe (tests/payments/fake_stripe.py) as the official stripe package sees it: its
async client against the fake's HTTP server, and its webhook verification on the fake's
signed events."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import stripe
from stripe.params import RefundCreateParams

from tests.payments.fake_stripe import (
    FakeStripe,
    event_payload,
    fake_stripe,
    signature_header,
    signed_event,
)

SECRET = "whsec_test_secret_0123456789"

# stripe-python's HTTPXClient posts its form body as `data=<str>`, which httpx deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


@pytest.fixture
async def fake() -> AsyncIterator[FakeStripe]:
    async with fake_stripe() as running:
        yield running


@pytest.fixture
async def make_client(fake: FakeStripe) -> AsyncIterator[Callable[..., stripe.StripeClient]]:
    """Clients of the fake as caregraph builds them (closed at the end)."""
    http_clients: list[stripe.HTTPXClient] = []

    def make(api_key: str = "sk_test_caregraph", *, sync: bool = False) -> stripe.StripeClient:
        http_client = stripe.HTTPXClient(allow_sync_methods=sync)
        http_clients.append(http_client)
        return stripe.StripeClient(
            api_key,
            base_addresses={"api": fake.url},
            http_client=http_client,
            max_network_retries=0,
        )

    yield make
    for http_client in http_clients:
        await http_client.close_async()
        http_client.close()


@pytest.fixture
def stripe_client(make_client: Callable[..., stripe.StripeClient]) -> stripe.StripeClient:
    return make_client()


async def create_intent(
    client: stripe.StripeClient, amount: int = 4500, key: str | None = None
) -> stripe.PaymentIntent:
    return await client.v1.payment_intents.create_async(
        {
            "amount": amount,
            "currency": "usd",
            "metadata": {"appointment_id": "appt-1", "clinic": "north"},
            "automatic_payment_methods": {"enabled": True},
            "description": "Consultation",
        },
        options={"idempotency_key": key} if key else None,
    )


async def test_create_sends_what_stripe_receives_and_answers_a_payment_intent(
    fake: FakeStripe, stripe_client: stripe.StripeClient
) -> None:
    intent = await create_intent(stripe_client, key="appointment-appt-1")

    assert isinstance(intent, stripe.PaymentIntent)
    assert intent.id.startswith("pi_")
    assert intent.object == "payment_intent"
    assert intent.amount == 4500
    assert intent.amount_received == 0
    assert intent.currency == "usd"
    assert intent.status == "requires_payment_method"
    assert intent.client_secret is not None
    assert intent.client_secret.startswith(f"{intent.id}_secret_")
    assert intent.metadata.to_dict() == {"appointment_id": "appt-1", "clinic": "north"}
    assert intent.livemode is False
    assert abs(intent.created - time.time()) < 60
    assert intent.description == "Consultation"
    assert fake.intents[intent.id]["amount"] == 4500

    [request] = fake.requests
    assert (request.method, request.path, request.status) == ("POST", "/v1/payment_intents", 200)
    assert request.params == {
        "amount": "4500",
        "currency": "usd",
        "metadata": {"appointment_id": "appt-1", "clinic": "north"},
        "automatic_payment_methods": {"enabled": "true"},
        "description": "Consultation",
    }
    assert request.idempotency_key == "appointment-appt-1"
    assert request.headers["authorization"] == "Bearer sk_test_caregraph"
    assert request.stripe_version == stripe.api_version
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"


async def test_retrieve_and_cancel(fake: FakeStripe, stripe_client: stripe.StripeClient) -> None:
    intent = await create_intent(stripe_client)
    fetched = await stripe_client.v1.payment_intents.retrieve_async(intent.id)
    assert fetched.id == intent.id
    assert fetched.status == "requires_payment_method"
    assert fetched.metadata["appointment_id"] == "appt-1"

    canceled = await stripe_client.v1.payment_intents.cancel_async(
        intent.id, {"cancellation_reason": "requested_by_customer"}
    )
    assert canceled.status == "canceled"
    assert canceled.cancellation_reason == "requested_by_customer"
    assert canceled.canceled_at is not None
    assert fake.intents[intent.id]["status"] == "canceled"
    assert [(r.method, r.path) for r in fake.requests] == [
        ("POST", "/v1/payment_intents"),
        ("GET", f"/v1/payment_intents/{intent.id}"),
        ("POST", f"/v1/payment_intents/{intent.id}/cancel"),
    ]


async def test_unknown_ids_and_refused_cancel(stripe_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        await stripe_client.v1.payment_intents.retrieve_async("pi_nothing")
    assert missing.value.http_status == 404
    assert missing.value.code == "resource_missing"
    assert "No such payment_intent: 'pi_nothing'" in str(missing.value)

    with pytest.raises(stripe.InvalidRequestError) as cancel_missing:
        await stripe_client.v1.payment_intents.cancel_async("pi_nothing")
    assert cancel_missing.value.http_status == 404


async def test_cancel_refused_once_succeeded(
    fake: FakeStripe, stripe_client: stripe.StripeClient
) -> None:
    intent = await create_intent(stripe_client)
    fake.succeed(intent.id)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await stripe_client.v1.payment_intents.cancel_async(intent.id)
    assert refused.value.http_status == 400
    assert refused.value.code == "payment_intent_unexpected_state"
    assert fake.intents[intent.id]["status"] == "succeeded"


async def test_parameters_are_validated_as_stripe_does(
    fake: FakeStripe, stripe_client: stripe.StripeClient
) -> None:
    cases: list[tuple[dict[str, object], str | None, str]] = [
        ({"currency": "usd"}, "parameter_missing", "amount"),
        ({"amount": 4500}, "parameter_missing", "currency"),
        ({"amount": 0, "currency": "usd"}, "parameter_invalid_integer", "amount"),
        ({"amount": -5, "currency": "usd"}, "parameter_invalid_integer", "amount"),
        ({"amount": 10, "currency": "usd"}, "amount_too_small", "amount"),
        ({"amount": 4500, "currency": "dollars"}, None, "currency"),
        ({"amount": 4500, "currency": "usd", "colour": "red"}, "parameter_unknown", "colour"),
    ]
    for params, code, param in cases:
        with pytest.raises(stripe.InvalidRequestError) as refused:
            await stripe_client.v1.payment_intents.create_async(params)  # type: ignore[arg-type]
        assert refused.value.http_status == 400, params
        assert refused.value.code == code, params
        assert refused.value.param == param, params
    assert fake.intents == {}


async def test_refunds_partial_then_the_rest_then_none_left(
    fake: FakeStripe, stripe_client: stripe.StripeClient
) -> None:
    intent = await create_intent(stripe_client, amount=10_000)
    event = fake.succeed(intent.id)
    assert event["data"]["object"]["amount_received"] == 10_000

    partial = await stripe_client.v1.refunds.create_async(
        {
            "payment_intent": intent.id,
            "amount": 2_500,
            "reason": "requested_by_customer",
            "metadata": {"refund_request": "r-1"},
        },
        options={"idempotency_key": "refund-r-1"},
    )
    assert isinstance(partial, stripe.Refund)
    assert partial.id.startswith("re_")
    assert (partial.object, partial.amount, partial.currency) == ("refund", 2_500, "usd")
    assert (partial.status, partial.payment_intent) == ("succeeded", intent.id)
    assert partial.metadata is not None
    assert partial.metadata.to_dict() == {"refund_request": "r-1"}
    assert partial.reason == "requested_by_customer"

    with pytest.raises(stripe.InvalidRequestError) as too_large:
        await stripe_client.v1.refunds.create_async({"payment_intent": intent.id, "amount": 7_501})
    assert too_large.value.http_status == 400
    assert too_large.value.code == "amount_too_large"

    rest = await stripe_client.v1.refunds.create_async({"payment_intent": intent.id})
    assert rest.amount == 7_500
    assert set(fake.refunds) == {partial.id, rest.id}

    with pytest.raises(stripe.InvalidRequestError) as none_left:
        await stripe_client.v1.refunds.create_async({"payment_intent": intent.id, "amount": 1})
    assert none_left.value.code == "charge_already_refunded"


async def test_refund_refused_before_the_payment_succeeded(
    fake: FakeStripe, stripe_client: stripe.StripeClient
) -> None:
    intent = await create_intent(stripe_client)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await stripe_client.v1.refunds.create_async({"payment_intent": intent.id})
    assert refused.value.http_status == 400
    assert refused.value.code == "payment_intent_unexpected_state"

    with pytest.raises(stripe.InvalidRequestError) as missing:
        await stripe_client.v1.refunds.create_async({"payment_intent": "pi_nothing"})
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")

    with pytest.raises(stripe.InvalidRequestError) as no_target:
        await stripe_client.v1.refunds.create_async({"amount": 100})
    assert no_target.value.code == "parameter_missing"
    assert fake.refunds == {}


async def test_idempotent_replay_creates_nothing(
    fake: FakeStripe,
    stripe_client: stripe.StripeClient,
    make_client: Callable[..., stripe.StripeClient],
) -> None:
    first = await create_intent(stripe_client, key="appointment-appt-1")
    again = await create_intent(stripe_client, key="appointment-appt-1")

    assert again.id == first.id
    assert again.client_secret == first.client_secret
    assert list(fake.intents) == [first.id]
    assert [r.replayed for r in fake.requests] == [False, True]
    assert again.last_response is not None
    assert again.last_response.headers["Idempotent-Replayed"] == "true"

    # A refund replays as well, even once the state has moved on.
    fake.succeed(first.id)
    params: RefundCreateParams = {"payment_intent": first.id, "amount": 1_000}
    refund = await stripe_client.v1.refunds.create_async(params, options={"idempotency_key": "r"})
    replayed = await stripe_client.v1.refunds.create_async(params, options={"idempotency_key": "r"})
    assert replayed.id == refund.id
    assert len(fake.refunds) == 1

    # The same key on another API key is another key.
    other = make_client("sk_test_other_account")
    elsewhere = await create_intent(other, key="appointment-appt-1")
    assert elsewhere.id != first.id


async def test_idempotency_error_for_other_parameters_or_endpoint(
    fake: FakeStripe, stripe_client: stripe.StripeClient
) -> None:
    first = await create_intent(stripe_client, amount=4500, key="appointment-appt-1")
    with pytest.raises(stripe.IdempotencyError) as other_params:
        await create_intent(stripe_client, amount=5000, key="appointment-appt-1")
    assert other_params.value.http_status == 400
    assert other_params.value.error is not None
    assert other_params.value.error.type == "idempotency_error"
    assert "appointment-appt-1" in str(other_params.value)

    fake.succeed(first.id)
    with pytest.raises(stripe.IdempotencyError):
        await stripe_client.v1.refunds.create_async(
            {"payment_intent": first.id}, options={"idempotency_key": "appointment-appt-1"}
        )
    assert list(fake.intents) == [first.id]
    assert fake.refunds == {}


async def test_validation_failures_are_not_saved_but_endpoint_refusals_are(
    fake: FakeStripe, stripe_client: stripe.StripeClient
) -> None:
    with pytest.raises(stripe.InvalidRequestError):
        await stripe_client.v1.payment_intents.create_async(
            {"amount": 4500, "currency": "usd", "colour": "red"},  # type: ignore[typeddict-unknown-key]
            options={"idempotency_key": "k1"},
        )
    # Corrected parameters under the same key: the first attempt was never saved.
    intent = await create_intent(stripe_client, key="k1")
    assert list(fake.intents) == [intent.id]

    # A refund refused by the endpoint (not succeeded) is saved: replayed even once it could.
    with pytest.raises(stripe.InvalidRequestError):
        await stripe_client.v1.refunds.create_async(
            {"payment_intent": intent.id}, options={"idempotency_key": "k2"}
        )
    fake.succeed(intent.id)
    with pytest.raises(stripe.InvalidRequestError) as replayed:
        await stripe_client.v1.refunds.create_async(
            {"payment_intent": intent.id}, options={"idempotency_key": "k2"}
        )
    assert replayed.value.code == "payment_intent_unexpected_state"
    assert fake.requests[-1].replayed
    assert fake.refunds == {}


async def test_authentication(
    fake: FakeStripe, make_client: Callable[..., stripe.StripeClient]
) -> None:
    for api_key in ("sk_live_0123456789abcdef", "pk_test_abc", "nonsense"):
        client = make_client(api_key)
        with pytest.raises(stripe.AuthenticationError) as refused:
            await client.v1.payment_intents.create_async({"amount": 4500, "currency": "usd"})
        assert refused.value.http_status == 401

    async with httpx.AsyncClient(base_url=fake.url) as raw:
        anonymous = await raw.post("/v1/payment_intents", data={"amount": 4500})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["type"] == "invalid_request_error"
    assert "did not provide an API key" in anonymous.json()["error"]["message"]
    assert fake.intents == {}


async def test_fail_next(fake: FakeStripe, stripe_client: stripe.StripeClient) -> None:
    fake.fail_next(500)
    with pytest.raises(stripe.APIError) as server_error:
        await create_intent(stripe_client, key="k")
    assert server_error.value.http_status == 500
    assert fake.intents == {}
    # Not saved: the retry with the same key runs.
    intent = await create_intent(stripe_client, key="k")
    assert list(fake.intents) == [intent.id]

    fake.fail_next(402, {"message": "Your card has insufficient funds.", "code": "card_declined"})
    with pytest.raises(stripe.CardError) as card_error:
        await stripe_client.v1.payment_intents.retrieve_async(intent.id)
    assert card_error.value.code == "card_declined"
    assert "insufficient funds" in str(card_error.value)

    fake.fail_next(429)
    with pytest.raises(stripe.RateLimitError):
        await stripe_client.v1.payment_intents.retrieve_async(intent.id)

    fake.fail_next(503, saved=True)
    with pytest.raises(stripe.APIError):
        await create_intent(stripe_client, key="k3")
    with pytest.raises(stripe.APIError):
        await create_intent(stripe_client, key="k3")  # replayed, as Stripe replays a 500
    assert fake.requests[-1].replayed
    assert list(fake.intents) == [intent.id]

    assert (await stripe_client.v1.payment_intents.retrieve_async(intent.id)).id == intent.id


async def test_sync_calls_work_too(make_client: Callable[..., stripe.StripeClient]) -> None:
    """The server runs in its own thread: a blocking call from the test's loop still gets
    its answer."""
    client = make_client(sync=True)
    intent = client.v1.payment_intents.create({"amount": 4500, "currency": "eur"})
    assert intent.currency == "eur"


async def test_events_and_their_objects(
    fake: FakeStripe, stripe_client: stripe.StripeClient
) -> None:
    intent = await create_intent(stripe_client)
    failed = fake.fail(intent.id, message="Your card has insufficient funds.")
    assert failed["type"] == "payment_intent.payment_failed"
    failed_intent = failed["data"]["object"]
    assert failed_intent["status"] == "requires_payment_method"
    assert failed_intent["last_payment_error"]["message"] == "Your card has insufficient funds."
    assert failed_intent["last_payment_error"]["code"] == "card_declined"

    succeeded = fake.succeed(intent.id)
    assert succeeded["id"].startswith("evt_")
    assert succeeded["object"] == "event"
    assert succeeded["type"] == "payment_intent.succeeded"
    assert succeeded["api_version"] == stripe.api_version
    assert succeeded["livemode"] is False
    assert succeeded["data"]["object"]["id"] == intent.id
    assert succeeded["data"]["object"]["status"] == "succeeded"
    assert succeeded["data"]["object"]["amount_received"] == 4500
    assert succeeded["data"]["object"]["metadata"] == {
        "appointment_id": "appt-1",
        "clinic": "north",
    }
    assert (await stripe_client.v1.payment_intents.retrieve_async(intent.id)).status == "succeeded"
    with pytest.raises(ValueError):
        fake.succeed(intent.id)

    refund = await stripe_client.v1.refunds.create_async(
        {"payment_intent": intent.id, "amount": 1_000}, options={"idempotency_key": "refund-1"}
    )
    created = fake.refund_event(refund.id)
    assert created["type"] == "refund.created"
    assert created["data"]["object"]["id"] == refund.id
    assert created["data"]["object"]["payment_intent"] == intent.id
    assert created["data"]["object"]["amount"] == 1_000
    assert created["request"]["idempotency_key"] == "refund-1"

    charge = fake.refund_event(refund.id, type="charge.refunded")
    assert charge["type"] == "charge.refunded"
    charge_object = charge["data"]["object"]
    assert (charge_object["object"], charge_object["payment_intent"]) == ("charge", intent.id)
    assert (charge_object["amount"], charge_object["amount_refunded"]) == (4500, 1_000)
    assert charge_object["refunded"] is False
    assert [e["id"] for e in fake.events] == [
        failed["id"],
        succeeded["id"],
        created["id"],
        charge["id"],
    ]


async def test_construct_event_accepts_signed_events(
    fake: FakeStripe, stripe_client: stripe.StripeClient
) -> None:
    intent = await create_intent(stripe_client)
    event = fake.succeed(intent.id)

    body, headers = signed_event(event, SECRET)
    assert body == event_payload(event)
    assert json.loads(body) == event
    assert headers["Stripe-Signature"].startswith("t=")
    constructed = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], SECRET)
    assert isinstance(constructed, stripe.Event)
    assert constructed.id == event["id"]
    assert constructed.type == "payment_intent.succeeded"
    obj = constructed.data.object
    assert obj["id"] == intent.id
    assert obj["amount_received"] == 4500
    assert obj["metadata"]["appointment_id"] == "appt-1"

    # The header is what Stripe makes: t=<seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">.
    import hashlib
    import hmac

    header = signature_header(body, SECRET, timestamp=1_700_000_000)
    digest = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={digest}"


async def test_construct_event_rejects_tampering_wrong_secret_and_stale_timestamps(
    fake: FakeStripe, stripe_client: stripe.StripeClient
) -> None:
    intent = await create_intent(stripe_client)
    event = fake.succeed(intent.id)
    body, headers = signed_event(event, SECRET)
    signature = headers["Stripe-Signature"]

    tampered = body.replace(b'"amount_received": 4500', b'"amount_received": 9999')
    assert tampered != body
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, signature, SECRET)

    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, signature, "whsec_someone_else")

    stale = signature_header(body, SECRET, timestamp=int(time.time()) - 301)
    with pytest.raises(stripe.SignatureVerificationError, match="tolerance"):
        stripe.Webhook.construct_event(body, stale, SECRET)
    # Within the tolerance it is accepted.
    recent = signature_header(body, SECRET, timestamp=int(time.time()) - 200)
    assert stripe.Webhook.construct_event(body, recent, SECRET).id == event["id"]
