"""Payments (admins and service_role; amounts and currency checked; a paid payment
confirms; refunds) and reviews (one per completed appointment by its patient, exact
rating under concurrency, featuring)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from models import Appointment, AppointmentEvent, Doctor, Payment, Review
from resolvers.core.database import Database
from tests.appointments.factories import fetch, make_appointment, make_payment
from tests.client import GraphQLClient
from tests.factories import count_rows, gid, make_doctor, make_user, user_of

RECORD = """
mutation ($input: RecordPaymentInput!) {
  recordPayment(input: $input) {
    __typename
    ... on PaymentRecorded { payment { amount currency status provider paidAt }
      appointment { status history { toStatus actorRole } } }
    ... on ValidationError { code fields { field messages } }
    ... on InvalidTransition { code fromStatus }
    ... on NotAllowed { code }
    ... on NotFound { code }
  }
}
"""
REFUND = """
mutation ($id: ID!) {
  refundPayment(input: {paymentId: $id, reason: "duplicate charge"}) {
    __typename
    ... on PaymentRefunded { payment { status refundedAt refundReason }
      appointment { status } }
    ... on ValidationError { fields { field messages } }
    ... on InvalidTransition { code }
    ... on NotAllowed { code }
    ... on NotFound { code }
  }
}
"""
REVIEW = """
mutation ($input: ReviewAppointmentInput!) {
  reviewAppointment(input: $input) {
    __typename
    ... on AppointmentReviewed { review { rating comment featured } }
    ... on ValidationError { fields { field messages } }
    ... on InvalidTransition { code }
    ... on NotAllowed { code }
    ... on NotFound { code }
  }
}
"""
FEATURE = """
mutation ($id: ID!) { featureReview(input: {reviewId: $id}) {
  __typename ... on ReviewFeatured { review { featured } } ... on NotAllowed { code }
  ... on NotFound { code } } }
"""
DOCTOR_REVIEWS = """
query ($id: ID!, $first: Int, $after: String, $featured: Boolean! = false) {
  doctor(id: $id) { ratingAvg ratingCount
    reviews(first: $first, after: $after, featured: $featured) { totalCount
      pageInfo { hasNextPage endCursor } edges { node { rating patient { fullName } } } } }
}
"""


def _record(appointment: Appointment, **overrides: Any) -> dict[str, Any]:
    values = {
        "appointmentId": gid(appointment),
        "amount": str(appointment.price - appointment.discount),
        "currency": appointment.currency,
        "provider": "stripe",
    }
    values.update(overrides)
    return {"input": values}


async def _pending(db: Database) -> tuple[Doctor, Any, Appointment]:
    doctor = await make_doctor(db)
    patient = await make_user(db)
    appointment = await make_appointment(
        db,
        doctor=doctor,
        patient=patient,
        starts_at=datetime.now(UTC) + timedelta(days=3),
        status="pending_payment",
        price=Decimal("100.00"),
        discount=Decimal("10.00"),
    )
    return doctor, patient, appointment


@pytest.mark.parametrize("who", ["admin", "service"])
async def test_paid_payment_confirms_pending_appointment(
    client: GraphQLClient, db: Database, who: str
) -> None:
    _doctor, _patient, appointment = await _pending(db)
    actor = await make_user(db, roles=("admin",)) if who == "admin" else "service"
    response = await client.execute(RECORD, _record(appointment, providerRef="pi_1"), as_user=actor)
    result = response.data["recordPayment"]
    assert result["__typename"] == "PaymentRecorded", result
    assert result["payment"]["amount"] == "90.00" and result["payment"]["status"] == "PAID"
    assert result["appointment"]["status"] == "CONFIRMED"
    assert result["appointment"]["history"][-1] == {
        "toStatus": "CONFIRMED",
        "actorRole": "ADMIN" if who == "admin" else "SERVICE",
    }


async def test_failed_payment_leaves_appointment_pending(
    client: GraphQLClient, db: Database
) -> None:
    _doctor, _patient, appointment = await _pending(db)
    response = await client.execute(
        RECORD, _record(appointment, status="FAILED"), as_user="service"
    )
    assert response.data["recordPayment"]["appointment"]["status"] == "PENDING_PAYMENT"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"amount": "100.00"}, "amount"),
        ({"currency": "EUR"}, "currency"),
        ({"amount": "-5"}, "amount"),
        ({"provider": ""}, "provider"),
    ],
)
async def test_payment_checks_change_nothing(
    client: GraphQLClient, db: Database, overrides: dict[str, Any], field: str
) -> None:
    _doctor, _patient, appointment = await _pending(db)
    response = await client.execute(RECORD, _record(appointment, **overrides), as_user="service")
    result = response.data["recordPayment"]
    assert result["__typename"] == "ValidationError"
    assert field in [f["field"] for f in result["fields"]]
    assert await count_rows(db, Payment) == 0
    assert (await fetch(db, Appointment, appointment.id)).status == "pending_payment"


async def test_payment_permissions_and_duplicates(client: GraphQLClient, db: Database) -> None:
    doctor, patient, appointment = await _pending(db)
    for who in (patient, await user_of(db, doctor), None):
        response = await client.execute(RECORD, _record(appointment), as_user=who)
        assert response.data["recordPayment"]["__typename"] == "NotAllowed"
    first = await client.execute(
        RECORD, _record(appointment, providerRef="pi_9"), as_user="service"
    )
    assert first.data["recordPayment"]["__typename"] == "PaymentRecorded"
    again = await client.execute(
        RECORD, _record(appointment, providerRef="pi_9"), as_user="service"
    )
    assert again.data["recordPayment"]["__typename"] == "ValidationError"
    paid_twice = await client.execute(RECORD, _record(appointment), as_user="service")
    assert paid_twice.data["recordPayment"]["fields"][0]["field"] == "appointmentId"
    assert await count_rows(db, Payment) == 1


async def test_payment_for_cancelled_appointment_is_invalid(
    client: GraphQLClient, db: Database
) -> None:
    doctor = await make_doctor(db)
    cancelled = await make_appointment(
        db,
        doctor=doctor,
        patient=await make_user(db),
        starts_at=datetime.now(UTC) + timedelta(days=1),
        status="cancelled",
    )
    response = await client.execute(RECORD, _record(cancelled), as_user="service")
    assert response.data["recordPayment"]["__typename"] == "InvalidTransition"
    assert await count_rows(db, Payment) == 0


async def test_refund(client: GraphQLClient, db: Database) -> None:
    doctor, patient, _ = await _pending(db)
    appointment = await make_appointment(
        db, doctor=doctor, patient=patient, starts_at=datetime.now(UTC) + timedelta(days=4)
    )
    payment = await make_payment(db, appointment)
    events = await count_rows(db, AppointmentEvent)
    refused = await client.execute(REFUND, {"id": gid(payment)}, as_user=patient)
    assert refused.data["refundPayment"]["__typename"] == "NotAllowed"
    response = await client.execute(REFUND, {"id": gid(payment)}, as_user="service")
    result = response.data["refundPayment"]
    assert result["payment"]["status"] == "REFUNDED"
    assert result["payment"]["refundReason"] == "duplicate charge"
    assert result["appointment"]["status"] == "REFUNDED"
    assert await count_rows(db, AppointmentEvent) == events + 1
    again = await client.execute(REFUND, {"id": gid(payment)}, as_user="service")
    assert again.data["refundPayment"]["__typename"] == "ValidationError"


# --- reviews -----------------------------------------------------------------------------


async def _completed(db: Database, doctor: Doctor | None = None) -> tuple[Doctor, Any, Appointment]:
    doctor = doctor or await make_doctor(db)
    patient = await make_user(db)
    appointment = await make_appointment(
        db,
        doctor=doctor,
        patient=patient,
        starts_at=datetime.now(UTC) - timedelta(days=1),
        status="completed",
    )
    return doctor, patient, appointment


def _review(appointment: Appointment, rating: int = 4, comment: str = "Kind") -> dict[str, Any]:
    return {"input": {"appointmentId": gid(appointment), "rating": rating, "comment": comment}}


async def test_review_updates_rating(client: GraphQLClient, db: Database) -> None:
    doctor, patient, appointment = await _completed(db)
    response = await client.execute(REVIEW, _review(appointment, 4), as_user=patient)
    assert response.data["reviewAppointment"]["review"] == {
        "rating": 4,
        "comment": "Kind",
        "featured": False,
    }
    _, patient2, second = await _completed(db, doctor)
    await client.execute(REVIEW, _review(second, 5), as_user=patient2)
    stored = await fetch(db, Doctor, doctor.id)
    assert (stored.rating_avg, stored.rating_count) == (Decimal("4.50"), 2)


async def test_review_errors_change_nothing(client: GraphQLClient, db: Database) -> None:
    doctor, patient, appointment = await _completed(db)
    upcoming = await make_appointment(
        db, doctor=doctor, patient=patient, starts_at=datetime.now(UTC) + timedelta(days=2)
    )
    cases = [
        (_review(appointment, 6), patient, "ValidationError"),
        (_review(appointment, 0), patient, "ValidationError"),
        (_review(appointment, 3, "x" * 2001), patient, "ValidationError"),
        (_review(upcoming), patient, "InvalidTransition"),
        (_review(appointment), await make_user(db), "NotFound"),
        (_review(appointment), None, "NotAllowed"),
        (_review(appointment), await user_of(db, doctor), "NotAllowed"),
    ]
    for variables, who, expected in cases:
        response = await client.execute(REVIEW, variables, as_user=who)
        assert response.data["reviewAppointment"]["__typename"] == expected, variables
    assert await count_rows(db, Review) == 0
    assert (await fetch(db, Doctor, doctor.id)).rating_count == 0
    await client.execute(REVIEW, _review(appointment), as_user=patient)
    twice = await client.execute(REVIEW, _review(appointment, 1), as_user=patient)
    assert twice.data["reviewAppointment"]["__typename"] == "ValidationError"
    stored = await fetch(db, Doctor, doctor.id)
    assert (stored.rating_avg, stored.rating_count) == (Decimal("4.00"), 1)


async def test_concurrent_reviews_keep_rating_exact(client: GraphQLClient, db: Database) -> None:
    doctor = await make_doctor(db)
    ratings = [5, 4, 3, 5, 2, 1, 4, 5, 3, 4, 5, 2, 4, 3, 5, 1]
    reviewers = [await _completed(db, doctor) for _ in ratings]
    responses = await asyncio.gather(
        *(
            client.execute(REVIEW, _review(appointment, rating), as_user=patient)
            for (_, patient, appointment), rating in zip(reviewers, ratings, strict=True)
        )
    )
    assert all(
        r.data["reviewAppointment"]["__typename"] == "AppointmentReviewed" for r in responses
    )
    stored = await fetch(db, Doctor, doctor.id)
    expected = (Decimal(sum(ratings)) / len(ratings)).quantize(Decimal("0.01"))
    assert (stored.rating_avg, stored.rating_count) == (expected, len(ratings))


async def test_feature_and_list_reviews(client: GraphQLClient, db: Database) -> None:
    doctor, patient, appointment = await _completed(db)
    others = [await _completed(db, doctor) for _ in range(3)]
    for _, who, done in [(doctor, patient, appointment), *others]:
        await client.execute(REVIEW, _review(done), as_user=who)
    async with db.read() as session:
        from sqlalchemy import select

        review_id = await session.scalar(
            select(Review.id).where(Review.appointment_id == appointment.id)
        )
    refused = await client.execute(FEATURE, {"id": str(review_id)}, as_user=patient)
    assert refused.data["featureReview"]["__typename"] == "NotAllowed"
    admin = await make_user(db, roles=("admin",))
    featured = await client.execute(FEATURE, {"id": str(review_id)}, as_user=admin)
    assert featured.data["featureReview"]["review"]["featured"] is True

    page = await client.execute(DOCTOR_REVIEWS, {"id": gid(doctor), "first": 3})
    reviews = page.data["doctor"]["reviews"]
    assert reviews["totalCount"] == 4 and reviews["pageInfo"]["hasNextPage"] is True
    assert len(reviews["edges"]) == 3
    # Anonymous readers see reviews but not who wrote them.
    assert reviews["edges"][0]["node"]["patient"] is None
    rest = await client.execute(
        DOCTOR_REVIEWS,
        {"id": gid(doctor), "first": 3, "after": reviews["pageInfo"]["endCursor"]},
    )
    assert len(rest.data["doctor"]["reviews"]["edges"]) == 1
    only = await client.execute(DOCTOR_REVIEWS, {"id": gid(doctor), "featured": True})
    assert only.data["doctor"]["reviews"]["totalCount"] == 1
