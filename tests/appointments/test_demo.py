"""The demo clinic has appointments in every status, payments, coupons and reviews, and
loading it twice changes nothing."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from models import Appointment, AppointmentEvent, Coupon, Doctor, Payment, Review
from resolvers.core.database import Database
from resolvers.demo import load_demo_data
from resolvers.demo.ids import user_id_for
from tests.client import GraphQLClient
from tests.factories import count_rows

MINE = """
query { appointments(first: 50) { totalCount edges { node { status doctor { fullName }
  payments { status } review { rating } history { toStatus } } } } }
"""


async def test_demo_booking_data(client: GraphQLClient, db: Database) -> None:
    await load_demo_data(db)
    counts = [await count_rows(db, model) for model in (Appointment, Payment, Review, Coupon)]
    await load_demo_data(db)
    assert [await count_rows(db, m) for m in (Appointment, Payment, Review, Coupon)] == counts
    async with db.read() as session:
        statuses = set((await session.scalars(select(Appointment.status))).all())
        sarah = (
            await session.scalars(
                select(Doctor).where(Doctor.user_id == user_id_for("doctor@caregraph.dev"))
            )
        ).one()
        exact = await session.scalar(
            select(func.round(func.avg(Review.rating), 2)).where(Review.doctor_id == sarah.id)
        )
        events = await count_rows(db, AppointmentEvent)
    assert statuses == {
        "pending_payment",
        "confirmed",
        "cancelled",
        "completed",
        "no_show",
        "refunded",
    }
    assert sarah.rating_count == 4 and sarah.rating_avg == exact == Decimal("4.50")
    assert events > counts[0]

    class Patient:
        id = user_id_for("patient@caregraph.dev")
        email = "patient@caregraph.dev"

    response = await client.execute(MINE, as_user=Patient())
    nodes = [edge["node"] for edge in response.data["appointments"]["edges"]]
    assert len(nodes) == 10  # with a video consultation and a group class seat
    assert {n["status"] for n in nodes} == {
        "PENDING_PAYMENT",
        "CONFIRMED",
        "CANCELLED",
        "COMPLETED",
        "NO_SHOW",
        "REFUNDED",
    }
    assert all(n["history"] for n in nodes)
    assert any(n["review"] for n in nodes) and any(n["payments"] for n in nodes)
