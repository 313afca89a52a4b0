"""The README's payments walk-through runs as written against the local fake Stripe:
book, check out, the signed webhook confirms; cancel in time, refunded."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from resolvers.core.database import Database
from resolvers.core.settings import Settings
from tests.client import GraphQLClient, graphql_client
from tests.payments.fake_stripe import FakeStripe, fake_stripe, signed_event
from tests.payments.test_checkout import SECRET, _booked, _run_refund_jobs

README = Path(__file__).resolve().parent.parent.parent / "README.md"


def walkthrough() -> dict[str, str]:
    text = README.read_text()
    section = text[text.index("## Payments") : text.index("## Rate limits")]
    documents = re.findall(r"```graphql\n(.*?)```", section, re.S)
    return {re.search(r"(?:query|mutation) (\w+)", doc).group(1): doc for doc in documents}  # type: ignore[union-attr]


@pytest.fixture
async def fake() -> AsyncIterator[FakeStripe]:
    async with fake_stripe() as running:
        yield running


async def test_the_readme_payments_walkthrough(
    settings: Settings, db: Database, fake: FakeStripe
) -> None:
    documents = walkthrough()
    assert list(documents) == ["CheckOut", "AfterPayment", "CancelAndRefund"]
    stripe_settings = settings.model_copy(
        update={
            "payment_provider": "stripe",
            "stripe_api_key": "sk_test_caregraph",
            "stripe_webhook_secret": SECRET,
            "stripe_api_base": fake.url,
        }
    )
    client: GraphQLClient
    async with graphql_client(stripe_settings, db) as client:
        _doctor, patient, appointment_id = await _booked(client, db)
        variables = {"appointmentId": appointment_id}
        checkout = await client.execute(documents["CheckOut"], variables, as_user=patient)
        started = checkout.data["startCheckout"]
        assert started["payment"]["status"] == "PENDING" and started["clientSecret"]
        [intent_id] = fake.intents
        body, headers = signed_event(fake.succeed(intent_id), SECRET)
        assert (
            await client.http.post("/webhooks/stripe", content=body, headers=headers)
        ).is_success
        paid = (await client.execute(documents["AfterPayment"], variables, as_user=patient)).data
        assert paid["appointment"]["status"] == "CONFIRMED"
        assert paid["appointment"]["payments"][0]["status"] == "PAID"
        cancelled = await client.execute(documents["CancelAndRefund"], variables, as_user=patient)
        refunds = cancelled.data["cancelAppointment"]["appointment"]["payments"][0]["refunds"]
        assert refunds == [{"amount": "100.00", "status": "PENDING"}]
        await _run_refund_jobs(db, stripe_settings)
        done = (await client.execute(documents["AfterPayment"], variables, as_user=patient)).data
    appointment = done["appointment"]
    assert appointment["status"] == "REFUNDED"
    assert appointment["payments"][0]["amountRefunded"] == "100.00"
    assert appointment["payments"][0]["refunds"][0]["status"] == "SUCCEEDED"
