"""Payments end to end against the local fake Stripe (tests/payments/fake_stripe.py): book,
check out, the signed webhook confirms; events applied once and in any order; a payment for
an appointment no longer open is refunded; refunds by policy and by the front desk; money
checked in minor units; a webhook racing a cancellation, with real concurrent connections.
Every failure path leaves the database as it was."""

from __future__ import annotations

import asyncio
import time as clock
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest
import stripe
from sqlalchemy import func, select, text, update

from models import Appointment, Doctor, Notification, Payment, ProviderEvent, Refund, User
from resolvers.core.database import Database
from resolvers.core.jobs import JobContext, run_job
from resolvers.core.settings import Settings
from tests.appointments.factories import at, local_day_ahead, weekday_of
from tests.client import GraphQLClient, graphql_client
from tests.factories import gid, make_doctor, make_rule, make_user, user_of
from tests.payments.fake_stripe import FakeStripe, fake_stripe, signed_event

SECRET = "whsec_test_caregraph_0123456789"
BOOK = """
mutation ($input: BookAppointmentInput!) { bookAppointment(input: $input) {
  __typename ... on AppointmentBooked { appointment { id status amountDue currency } } } }
"""
CHECKOUT = """
mutation ($id: ID!) { startCheckout(input: {appointmentId: $id}) {
  __typename
  ... on CheckoutStarted { clientSecret instructions
    payment { id status amount currency provider providerRef } appointment { status } }
  ... on PaymentProviderError { code message }
  ... on InvalidTransition { code message }
  ... on NotAllowed { code } ... on NotFound { code } ... on ValidationError { fields { field } }
} }
"""
APPOINTMENT = """
query ($id: ID!) { appointment(id: $id) { status history { kind toStatus actorRole note }
  payments { status amount amountRefunded provider method
    refunds { amount status reason requestedRole } } } }
"""
CANCEL = """
mutation ($id: ID!) { cancelAppointment(input: {id: $id}) { __typename
  ... on AppointmentUpdated { appointment { status } } ... on InvalidTransition { code } } }
"""
REFUND = """
mutation ($input: RefundPaymentInput!) { refundPayment(input: $input) {
  __typename
  ... on PaymentRefunded { refund { amount status requestedRole reason }
    payment { status amountRefunded } appointment { status } }
  ... on ValidationError { fields { field messages } } ... on NotAllowed { code }
  ... on InvalidTransition { code } } }
"""
RECONCILE = """
{ paymentReconciliation { totals { provider status currency count amount refunded }
    mismatches { kind reference detail } waitingEvents { type status } } }
"""


@pytest.fixture
async def fake() -> AsyncIterator[FakeStripe]:
    async with fake_stripe() as running:
        yield running


@pytest.fixture
async def client(
    settings: Settings, db: Database, fake: FakeStripe
) -> AsyncIterator[GraphQLClient]:
    async with graphql_client(
        settings,
        db,
        payment_provider="stripe",
        stripe_api_key="sk_test_caregraph",
        stripe_webhook_secret=SECRET,
        stripe_api_base=fake.url,
    ) as graphql:
        yield graphql


@pytest.fixture
def stripe_settings(settings: Settings, fake: FakeStripe) -> Settings:
    return settings.model_copy(
        update={
            "payment_provider": "stripe",
            "stripe_api_key": "sk_test_caregraph",
            "stripe_webhook_secret": SECRET,
            "stripe_api_base": fake.url,
        }
    )


async def _booked(
    client: GraphQLClient, db: Database, *, fee: str = "100.00", currency: str = "USD"
) -> tuple[Doctor, User, str]:
    doctor = await make_doctor(db, timezone="Europe/London")
    async with db.transaction() as session:
        await session.execute(
            update(Doctor)
            .where(Doctor.id == doctor.id)
            .values(fee_standard=Decimal(fee), currency=currency, cancellation_policy_hours=24)
        )
    day = local_day_ahead("Europe/London", 10)
    await make_rule(db, doctor, day_of_week=weekday_of(day), start=time(9), end=time(12))
    patient = await make_user(db)
    booked = await client.execute(
        BOOK,
        {
            "input": {
                "doctorId": gid(doctor),
                "startsAt": at(day, time(9), "Europe/London").isoformat(),
            }
        },
        as_user=patient,
    )
    appointment = booked.data["bookAppointment"]["appointment"]
    assert appointment["status"] == "PENDING_PAYMENT", booked.body
    return doctor, patient, appointment["id"]


async def _post(client: GraphQLClient, event: dict[str, Any], **sign: Any) -> Any:
    body, headers = signed_event(event, sign.pop("secret", SECRET), **sign)
    return await client.http.post("/webhooks/stripe", content=body, headers=headers)


async def _state(db: Database) -> tuple[Any, ...]:
    async with db.read() as session:
        payments = (
            await session.execute(
                select(Payment.status, Payment.amount_refunded).order_by(Payment.created_at)
            )
        ).all()
        appointments = (await session.execute(select(Appointment.status))).all()
        refunds = await session.scalar(select(func.count()).select_from(Refund))
        events = await session.scalar(select(func.count()).select_from(ProviderEvent))
    return (tuple(payments), tuple(appointments), refunds, events)


async def _view(client: GraphQLClient, appointment_id: str, user: Any) -> dict[str, Any]:
    return dict(
        (await client.execute(APPOINTMENT, {"id": appointment_id}, as_user=user)).data[
            "appointment"
        ]
    )


async def _run_refund_jobs(db: Database, settings: Settings) -> int:
    async with db.read() as session:
        payloads = (
            await session.scalars(
                text(
                    "SELECT convert_from(payload, 'UTF8') FROM pgqueuer"
                    " WHERE entrypoint = 'payment.refund' ORDER BY id"
                )
            )
        ).all()
    for payload in payloads:
        await run_job(JobContext(db, settings), "payment.refund", orjson.loads(payload))
    return len(payloads)


async def test_book_check_out_and_the_webhook_confirms(
    client: GraphQLClient, db: Database, fake: FakeStripe
) -> None:
    _doctor, patient, appointment_id = await _booked(client, db)
    first = (await client.execute(CHECKOUT, {"id": appointment_id}, as_user=patient)).data[
        "startCheckout"
    ]
    assert first["__typename"] == "CheckoutStarted", first
    intent_id = first["payment"]["providerRef"]
    intent = fake.intents[intent_id]
    assert (intent["amount"], intent["currency"]) == (10000, "usd")
    assert first["clientSecret"] == intent["client_secret"]
    assert first["payment"]["status"] == "PENDING" and first["payment"]["amount"] == "100.00"
    [created] = fake.requests_to("POST", "/v1/payment_intents")
    assert created.idempotency_key is not None and created.idempotency_key.startswith("checkout-")

    again = (await client.execute(CHECKOUT, {"id": appointment_id}, as_user=patient)).data[
        "startCheckout"
    ]
    assert again["payment"]["id"] == first["payment"]["id"]
    assert again["clientSecret"] == first["clientSecret"]
    assert len(fake.requests_to("POST", "/v1/payment_intents")) == 1

    event = fake.succeed(intent_id)
    answer = await _post(client, event)
    assert answer.status_code == 200 and answer.json()["result"] == "applied"
    view = await _view(client, appointment_id, patient)
    assert view["status"] == "CONFIRMED"
    assert view["payments"][0]["status"] == "PAID" and view["payments"][0]["method"] == "ONLINE"
    assert view["history"][-1] == {
        "kind": "STATUS_CHANGED",
        "toStatus": "CONFIRMED",
        "actorRole": "SERVICE",
        "note": "paid via stripe",
    }
    before = await _state(db)
    replay = await _post(client, event)
    assert replay.status_code == 200 and replay.json()["result"] == "duplicate"
    assert await _state(db) == before
    async with db.read() as session:
        kinds = (await session.scalars(select(Notification.kind))).all()
    assert sorted(kinds) == ["booking_confirmed", "payment_received"]


async def test_bad_missing_or_stale_signatures_change_nothing(
    client: GraphQLClient, db: Database, fake: FakeStripe
) -> None:
    _doctor, patient, appointment_id = await _booked(client, db)
    checkout = (await client.execute(CHECKOUT, {"id": appointment_id}, as_user=patient)).data
    event = fake.succeed(checkout["startCheckout"]["payment"]["providerRef"])
    before = await _state(db)
    wrong = await _post(client, event, secret="whsec_someone_else")
    stale = await _post(client, event, timestamp=int(clock.time()) - 301)
    body, headers = signed_event(event, SECRET)
    missing = await client.http.post(
        "/webhooks/stripe", content=body, headers={"content-type": "application/json"}
    )
    tampered = await client.http.post(
        "/webhooks/stripe", content=body.replace(b"succeeded", b"succeedeD"), headers=headers
    )
    assert [r.status_code for r in (wrong, stale, missing, tampered)] == [400, 400, 400, 400]
    assert await _state(db) == before


async def test_a_decline_keeps_the_payment_open_and_a_failure_after_success_changes_nothing(
    client: GraphQLClient, db: Database, fake: FakeStripe
) -> None:
    _doctor, patient, appointment_id = await _booked(client, db)
    checkout = (await client.execute(CHECKOUT, {"id": appointment_id}, as_user=patient)).data
    payment_id = checkout["startCheckout"]["payment"]["id"]
    intent_id = checkout["startCheckout"]["payment"]["providerRef"]
    declined = fake.fail(intent_id)
    assert (await _post(client, declined)).json()["result"] == "applied"
    view = await _view(client, appointment_id, patient)
    # The card was declined; the same intent may be paid with another one.
    assert view["status"] == "PENDING_PAYMENT" and view["payments"][0]["status"] == "PENDING"
    again = (await client.execute(CHECKOUT, {"id": appointment_id}, as_user=patient)).data
    assert again["startCheckout"]["payment"]["id"] == payment_id
    assert len(fake.requests_to("POST", "/v1/payment_intents")) == 1
    assert (await _post(client, fake.succeed(intent_id))).json()["result"] == "applied"
    before = await _state(db)
    # The decline delivered again (a new event id) after the success: stored, no change.
    late = dict(declined, id=declined["id"] + "_again")
    assert (await _post(client, late)).json()["result"] == "ignored"
    payments, appointments, refunds, events = await _state(db)
    assert (payments, appointments, refunds) == before[:3] and events == before[3] + 1
    view = await _view(client, appointment_id, patient)
    assert view["status"] == "CONFIRMED" and view["payments"][0]["status"] == "PAID"


async def test_a_replaced_checkout_that_is_paid_anyway_keeps_the_money_accounted(
    client: GraphQLClient, db: Database, fake: FakeStripe, stripe_settings: Settings
) -> None:
    """The clinic switches to the front desk while a Stripe checkout is open; the
    patient then pays the old intent: the money is recorded (PAID) and confirms the
    booking, never lost on a FAILED row."""
    _doctor, patient, appointment_id = await _booked(client, db)
    checkout = (await client.execute(CHECKOUT, {"id": appointment_id}, as_user=patient)).data
    intent_id = checkout["startCheckout"]["payment"]["providerRef"]
    async with graphql_client(
        stripe_settings.model_copy(update={"payment_provider": "manual"}), db
    ) as desk:
        manual = (await desk.execute(CHECKOUT, {"id": appointment_id}, as_user=patient)).data
        assert manual["startCheckout"]["payment"]["provider"] == "manual"
    view = await _view(client, appointment_id, patient)
    assert sorted(p["status"] for p in view["payments"]) == ["FAILED", "PENDING"]
    assert (await _post(client, fake.succeed(intent_id))).json()["result"] == "applied"
    view = await _view(client, appointment_id, patient)
    assert view["status"] == "CONFIRMED"
    assert sorted((p["provider"], p["status"]) for p in view["payments"]) == [
        ("manual", "PENDING"),
        ("stripe", "PAID"),
    ]


async def test_a_refund_before_its_success_waits_and_applies_with_it(
    client: GraphQLClient, db: Database, fake: FakeStripe, stripe_settings: Settings
) -> None:
    _doctor, patient, appointment_id = await _booked(client, db)
    admin = await make_user(db, roles=("admin",))
    checkout = (await client.execute(CHECKOUT, {"id": appointment_id}, as_user=patient)).data
    intent_id = checkout["startCheckout"]["payment"]["providerRef"]
    success = fake.succeed(intent_id)
    # Refunded at the provider (its dashboard) in part, and that event arrives first.
    provider_client = stripe.StripeClient(
        "sk_test_caregraph", base_addresses={"api": fake.url}, http_client=stripe.HTTPXClient()
    )
    made = await provider_client.v1.refunds.create_async(
        {"payment_intent": intent_id, "amount": 2500}
    )
    refund_event = fake.refund_event(made.id)
    assert (await _post(client, refund_event)).json()["result"] == "deferred"
    waiting = (await client.execute(RECONCILE, as_user=admin)).data["paymentReconciliation"]
    assert waiting["waitingEvents"] == [{"type": "refund.created", "status": "DEFERRED"}]
    assert (await _post(client, success)).json()["result"] == "applied"
    view = await _view(client, appointment_id, patient)
    assert view["status"] == "CONFIRMED"
    [payment] = view["payments"]
    assert payment["status"] == "PAID" and payment["amountRefunded"] == "25.00"
    assert payment["refunds"] == [
        {
            "amount": "25.00",
            "status": "SUCCEEDED",
            "reason": "refunded at the provider",
            "requestedRole": "service",
        }
    ]
    after = (await client.execute(RECONCILE, as_user=admin)).data["paymentReconciliation"]
    assert after["waitingEvents"] == []


async def test_a_payment_for_a_lapsed_appointment_is_refunded_never_confirming_it(
    client: GraphQLClient, db: Database, fake: FakeStripe, stripe_settings: Settings
) -> None:
    _doctor, patient, appointment_id = await _booked(client, db)
    checkout = (await client.execute(CHECKOUT, {"id": appointment_id}, as_user=patient)).data
    intent_id = checkout["startCheckout"]["payment"]["providerRef"]
    async with db.transaction() as session:
        await session.execute(
            update(Appointment).values(payment_due_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    # The window ended; the job has not run; the payment succeeds at the provider.
    assert (await _post(client, fake.succeed(intent_id))).json()["result"] == "applied"
    view = await _view(client, appointment_id, patient)
    assert view["status"] == "CANCELLED"
    [payment] = view["payments"]
    assert payment["status"] == "PAID"
    assert payment["refunds"][0]["status"] == "PENDING"
    assert payment["refunds"][0]["requestedRole"] == "system"
    assert await _run_refund_jobs(db, stripe_settings) == 1
    [refund_call] = fake.requests_to("POST", "/v1/refunds")
    assert refund_call.params["amount"] == "10000"
    assert refund_call.idempotency_key is not None and refund_call.idempotency_key.startswith(
        "refund-"
    )
    view = await _view(client, appointment_id, patient)
    assert view["status"] == "REFUNDED"
    assert view["payments"][0]["status"] == "REFUNDED"
    assert view["payments"][0]["refunds"][0]["status"] == "SUCCEEDED"
    # The provider's own refund event afterwards: ours already, nothing more.
    refund_id = next(iter(fake.refunds))
    before = await _state(db)
    assert (await _post(client, fake.refund_event(refund_id))).json()["result"] == "ignored"
    payments, appointments, refunds, _events = await _state(db)
    assert (payments, appointments, refunds) == before[:3]


async def test_cancellations_refund_by_policy(
    client: GraphQLClient, db: Database, fake: FakeStripe, stripe_settings: Settings
) -> None:
    """In time (the patient, before the doctor's 24-hour window): everything back. Late
    (the front desk for the patient, inside the window): all but the configured fee."""
    _doctor, patient, appointment_id = await _booked(client, db)
    checkout = (await client.execute(CHECKOUT, {"id": appointment_id}, as_user=patient)).data
    await _post(client, fake.succeed(checkout["startCheckout"]["payment"]["providerRef"]))
    cancelled = await client.execute(CANCEL, {"id": appointment_id}, as_user=patient)
    assert cancelled.data["cancelAppointment"]["__typename"] == "AppointmentUpdated"
    await _run_refund_jobs(db, stripe_settings)
    view = await _view(client, appointment_id, patient)
    assert view["status"] == "REFUNDED"
    assert view["payments"][0]["refunds"][0]["reason"] == "cancelled in time: refunded in full"

    async with graphql_client(
        stripe_settings.model_copy(update={"late_cancellation_fee_percent": 20}), db
    ) as late_client:
        _doctor2, patient2, second = await _booked(late_client, db)
        staff = await make_user(db, roles=("staff",))
        checkout = (await late_client.execute(CHECKOUT, {"id": second}, as_user=patient2)).data
        await _post(late_client, fake.succeed(checkout["startCheckout"]["payment"]["providerRef"]))
        async with db.transaction() as session:  # now inside the window: 2 hours ahead
            await session.execute(
                update(Appointment)
                .where(Appointment.patient_id == patient2.id)
                .values(
                    starts_at=datetime.now(UTC) + timedelta(hours=2),
                    ends_at=datetime.now(UTC) + timedelta(hours=2, minutes=30),
                )
            )
        cancelled = await late_client.execute(CANCEL, {"id": second}, as_user=staff)
        assert cancelled.data["cancelAppointment"]["__typename"] == "AppointmentUpdated"
        await _run_refund_jobs(db, stripe_settings)
        view = await _view(late_client, second, patient2)
    assert view["status"] == "CANCELLED"  # 20% kept: not refunded in full
    [payment] = view["payments"]
    assert payment["status"] == "PAID" and payment["amountRefunded"] == "80.00"
    assert payment["refunds"][0]["reason"] == "late cancellation: 20% kept as a fee"


async def test_the_front_desk_refunds_in_part_never_more_than_was_paid(
    client: GraphQLClient, db: Database, fake: FakeStripe, stripe_settings: Settings
) -> None:
    _doctor, patient, appointment_id = await _booked(client, db)
    staff = await make_user(db, roles=("staff",))
    checkout = (await client.execute(CHECKOUT, {"id": appointment_id}, as_user=patient)).data
    payment_id = checkout["startCheckout"]["payment"]["id"]
    await _post(client, fake.succeed(checkout["startCheckout"]["payment"]["providerRef"]))

    refused = await client.execute(
        REFUND, {"input": {"paymentId": payment_id, "amount": "10.00"}}, as_user=patient
    )
    assert refused.data["refundPayment"]["__typename"] == "NotAllowed"
    part = await client.execute(
        REFUND,
        {"input": {"paymentId": payment_id, "amount": "30.00", "reason": "waited an hour"}},
        as_user=staff,
    )
    assert part.data["refundPayment"]["refund"] == {
        "amount": "30.00",
        "status": "PENDING",
        "requestedRole": "staff",
        "reason": "waited an hour",
    }
    before = await _state(db)
    too_much = await client.execute(
        REFUND, {"input": {"paymentId": payment_id, "amount": "70.01"}}, as_user=staff
    )
    assert too_much.data["refundPayment"]["fields"] == [
        {"field": "amount", "messages": ["at most 70.00 USD is left to refund"]}
    ]
    assert await _state(db) == before
    await _run_refund_jobs(db, stripe_settings)
    rest = await client.execute(REFUND, {"input": {"paymentId": payment_id}}, as_user=staff)
    assert rest.data["refundPayment"]["refund"]["amount"] == "70.00"
    await _run_refund_jobs(db, stripe_settings)  # the first job again changes nothing
    view = await _view(client, appointment_id, patient)
    assert view["status"] == "REFUNDED"
    assert view["payments"][0]["amountRefunded"] == "100.00"
    assert [r["amount"] for r in view["payments"][0]["refunds"]] == ["30.00", "70.00"]
    assert sum(int(r.params["amount"]) for r in fake.requests_to("POST", "/v1/refunds")) == 10000


async def test_a_provider_failure_at_checkout_leaves_nothing(
    client: GraphQLClient, db: Database, fake: FakeStripe
) -> None:
    _doctor, patient, appointment_id = await _booked(client, db)
    before = await _state(db)
    fake.fail_next(402, {"type": "card_error", "code": "card_declined", "message": "Declined."})
    failed = (await client.execute(CHECKOUT, {"id": appointment_id}, as_user=patient)).data[
        "startCheckout"
    ]
    assert failed["__typename"] == "PaymentProviderError"
    assert failed["code"] == "PAYMENT_PROVIDER_ERROR"
    assert await _state(db) == before
    other = await make_user(db)
    foreign = (await client.execute(CHECKOUT, {"id": appointment_id}, as_user=other)).data
    assert foreign["startCheckout"]["__typename"] == "NotFound"


async def test_amounts_cross_in_minor_units(
    client: GraphQLClient, db: Database, fake: FakeStripe
) -> None:
    for fee, currency, units in (("5000.00", "JPY", 5000), ("12.35", "KWD", 12350)):
        _doctor, patient, appointment_id = await _booked(client, db, fee=fee, currency=currency)
        started = (await client.execute(CHECKOUT, {"id": appointment_id}, as_user=patient)).data
        intent = fake.intents[started["startCheckout"]["payment"]["providerRef"]]
        assert (intent["amount"], intent["currency"]) == (units, currency.lower())
    _doctor, patient, appointment_id = await _booked(client, db, fee="10.50", currency="JPY")
    refused = (await client.execute(CHECKOUT, {"id": appointment_id}, as_user=patient)).data
    assert refused["startCheckout"]["__typename"] == "ValidationError"


async def test_a_webhook_racing_a_cancellation_ends_consistent(
    settings: Settings, db: Database, fake: FakeStripe, stripe_settings: Settings
) -> None:
    """The success webhook and the patient's cancellation at once, over separate
    connections, ten times: whichever wins, the appointment ends cancelled with everything
    refunded (or on its way), never confirmed with the money kept."""
    other_engine = Database(settings.database_url or "", pool_size=4)
    async with (
        graphql_client(stripe_settings, db, differential=False) as one,
        graphql_client(stripe_settings, other_engine, differential=False) as two,
    ):
        outcomes = []
        for _ in range(10):
            _doctor, patient, appointment_id = await _booked(one, db)
            started = (await one.execute(CHECKOUT, {"id": appointment_id}, as_user=patient)).data
            event = fake.succeed(started["startCheckout"]["payment"]["providerRef"])
            posted, cancelled = await asyncio.gather(
                _post(two, event), one.execute(CANCEL, {"id": appointment_id}, as_user=patient)
            )
            assert posted.status_code == 200
            outcomes.append(cancelled.data["cancelAppointment"]["__typename"])
        await _run_refund_jobs(db, stripe_settings)
    await other_engine.dispose()
    assert set(outcomes) == {"AppointmentUpdated"}
    async with db.read() as session:
        rows = (
            await session.execute(
                select(Appointment.status, Payment.status, Payment.amount_refunded).join(
                    Payment, Payment.appointment_id == Appointment.id
                )
            )
        ).all()
    assert len(rows) == 10
    assert {tuple(row) for row in rows} == {("refunded", "refunded", Decimal("100.00"))}


async def test_reconciliation_is_for_admins_and_finds_what_does_not_add_up(
    client: GraphQLClient, db: Database
) -> None:
    _doctor, patient, _appointment_id = await _booked(client, db)
    admin = await make_user(db, roles=("admin",))
    async with db.transaction() as session:
        await session.execute(update(Appointment).values(status="confirmed", payment_due_at=None))
    refused = await client.execute(RECONCILE, as_user=patient)
    assert refused.errors[0]["extensions"]["code"] == "FORBIDDEN"
    found = (await client.execute(RECONCILE, as_user=admin)).data["paymentReconciliation"]
    assert [m["kind"] for m in found["mismatches"]] == ["confirmed_unpaid"]
    assert found["mismatches"][0]["detail"] == "100.00 due, no payment"


async def test_a_refund_racing_a_cancellation_never_deadlocks_nor_overpays(
    settings: Settings, db: Database, fake: FakeStripe, stripe_settings: Settings
) -> None:
    """The front desk refunds part while the patient cancels, over separate connections:
    both lock the appointment before the payment, so neither deadlocks; what is refunded
    in all never exceeds what was paid."""
    other_engine = Database(settings.database_url or "", pool_size=4)
    staff = await make_user(db, roles=("staff",))
    async with (
        graphql_client(stripe_settings, db, differential=False) as one,
        graphql_client(stripe_settings, other_engine, differential=False) as two,
    ):
        for _ in range(6):
            _doctor, patient, appointment_id = await _booked(one, db)
            started = (await one.execute(CHECKOUT, {"id": appointment_id}, as_user=patient)).data
            await _post(one, fake.succeed(started["startCheckout"]["payment"]["providerRef"]))
            payment_id = started["startCheckout"]["payment"]["id"]
            refunded, cancelled = await asyncio.gather(
                two.execute(
                    REFUND, {"input": {"paymentId": payment_id, "amount": "40.00"}}, as_user=staff
                ),
                one.execute(CANCEL, {"id": appointment_id}, as_user=patient),
            )
            assert not refunded.errors and not cancelled.errors
            assert cancelled.data["cancelAppointment"]["__typename"] == "AppointmentUpdated"
        await _run_refund_jobs(db, stripe_settings)
    await other_engine.dispose()
    async with db.read() as session:
        rows = (
            await session.execute(select(Payment.amount, Payment.amount_refunded, Payment.status))
        ).all()
    assert len(rows) == 6
    # Whichever came first, the rest of the payment went back: all of it, in one or two.
    assert {tuple(row) for row in rows} == {(Decimal("100.00"), Decimal("100.00"), "refunded")}
    # And Stripe was asked for exactly that: never more than was paid.
    asked = sum(int(r.params["amount"]) for r in fake.requests_to("POST", "/v1/refunds"))
    assert asked == 6 * 10000


async def test_a_refund_reported_twice_by_stripe_counts_once(
    client: GraphQLClient, db: Database, fake: FakeStripe
) -> None:
    """Stripe reports a refund made in its dashboard with `refund.created` and with
    `charge.refunded` (the charge's running total): 30.00 back, not 60.00."""
    _doctor, patient, appointment_id = await _booked(client, db)
    checkout = (await client.execute(CHECKOUT, {"id": appointment_id}, as_user=patient)).data
    intent_id = checkout["startCheckout"]["payment"]["providerRef"]
    await _post(client, fake.succeed(intent_id))
    provider_client = stripe.StripeClient(
        "sk_test_caregraph", base_addresses={"api": fake.url}, http_client=stripe.HTTPXClient()
    )
    made = await provider_client.v1.refunds.create_async(
        {"payment_intent": intent_id, "amount": 3000}
    )
    for kind in ("charge.refunded", "refund.created", "charge.refunded"):
        event = fake.refund_event(made.id, type=kind)
        assert (await _post(client, event)).status_code == 200
    view = await _view(client, appointment_id, patient)
    [payment] = view["payments"]
    assert payment["amountRefunded"] == "30.00" and payment["status"] == "PAID"
    assert [r["amount"] for r in payment["refunds"]] == ["30.00"]


async def test_refunds_are_read_with_their_payment(
    client: GraphQLClient, db: Database, fake: FakeStripe
) -> None:
    """The refunds policy follows the payments policy: the appointment's patient and
    doctor, the front desk and admins read a refund (also by node id); another patient,
    a coach and anon do not; the webhook log (provider events) is for admins only."""
    doctor, patient, appointment_id = await _booked(client, db)
    checkout = (await client.execute(CHECKOUT, {"id": appointment_id}, as_user=patient)).data
    intent_id = checkout["startCheckout"]["payment"]["providerRef"]
    await _post(client, fake.succeed(intent_id))
    staff = await make_user(db, roles=("staff",))
    admin = await make_user(db, roles=("admin",))
    refunded = await client.execute(
        REFUND,
        {"input": {"paymentId": checkout["startCheckout"]["payment"]["id"], "amount": "5.00"}},
        as_user=staff,
    )
    assert refunded.data["refundPayment"]["refund"]["amount"] == "5.00"
    async with db.read() as session:
        [refund] = (await session.scalars(select(Refund))).all()
    node = "query ($id: ID!) { node(id: $id) { ... on Refund { amount } } }"
    readers = [patient, await user_of(db, doctor), staff, admin]
    others = [await make_user(db), await make_user(db, roles=("coach",)), None]
    for reader in readers:
        seen = await client.execute(node, {"id": gid(refund)}, as_user=reader)
        assert seen.data["node"] == {"amount": "5.00"}, reader
    for other in others:
        seen = await client.execute(node, {"id": gid(refund)}, as_user=other)
        assert seen.data["node"] is None, other
    for reader in (patient, staff):
        refused = await client.execute(RECONCILE, as_user=reader)
        assert refused.errors[0]["extensions"]["code"] == "FORBIDDEN"
