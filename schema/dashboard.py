"""The admin dashboard: figures for a time range, computed in SQL."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from resolvers import dashboard as dashboard_resolvers
from schema.engine.look_ahead import GraphQLInfo
from schema.enums import (
    AppointmentStatus,
)

if TYPE_CHECKING:
    from schema.doctors import Doctor


@strawberry.type(description="Number of appointments in one status.")
class StatusCount:
    status: AppointmentStatus = strawberry.field(description="The status.")
    count: int = strawberry.field(description="Appointments starting in the range.")


@strawberry.type(description="Revenue of one month in one currency (paid payments).")
class MonthRevenue:
    month: date = strawberry.field(description="First day of the month (UTC).")
    currency: str = strawberry.field(description="ISO 4217 currency.")
    amount: Decimal = strawberry.field(description="Sum of paid payments.")
    payments: int = strawberry.field(description="Number of paid payments.")


@strawberry.type(description="Bookings whose start falls in one hour of the doctor's day.")
class HourCount:
    hour: int = strawberry.field(description="Hour 0-23, in the doctor's time zone.")
    count: int = strawberry.field(description="Appointments booked in the range.")


@strawberry.type(description="A doctor's standing on the dashboard.")
class DoctorStanding:
    doctor: Annotated[Doctor, strawberry.lazy("schema.doctors")] = strawberry.field(
        description="The doctor."
    )
    appointments: int = strawberry.field(description="Appointments starting in the range.")
    completed: int = strawberry.field(description="Of those, completed.")


@strawberry.enum(description="How to rank top doctors.")
class TopDoctorsOrder(Enum):
    RATING = "rating"
    VOLUME = "volume"


@strawberry.type(description="Admin dashboard figures for a time range, computed in SQL.")
class AdminDashboard:
    from_: datetime = strawberry.field(name="from", description="Range start (inclusive).")
    to: datetime = strawberry.field(description="Range end (exclusive).")

    @strawberry.field(description="Appointments starting in the range, by status.")
    async def appointments_by_status(self, info: GraphQLInfo) -> list[StatusCount]:
        rows = await dashboard_resolvers.counts_by_status(info.context, self.from_, self.to)
        return [StatusCount(status=AppointmentStatus(r.status), count=r.count) for r in rows]

    @strawberry.field(description="Paid (not refunded) payments by month and currency.")
    async def revenue_by_month(self, info: GraphQLInfo) -> list[MonthRevenue]:
        rows = await dashboard_resolvers.revenue_by_month(info.context, self.from_, self.to)
        return [
            MonthRevenue(
                month=r.month.date(), currency=r.currency, amount=r.amount, payments=r.payments
            )
            for r in rows
        ]

    @strawberry.field(description="Appointments booked in the range by local start hour.")
    async def bookings_by_hour(self, info: GraphQLInfo) -> list[HourCount]:
        rows = await dashboard_resolvers.bookings_by_hour(info.context, self.from_, self.to)
        return [HourCount(hour=r.hour, count=r.count) for r in rows]

    @strawberry.field(description="Top doctors by rating or by appointment volume.")
    async def top_doctors(
        self,
        info: GraphQLInfo,
        limit: Annotated[int, strawberry.argument(description="How many, 1-50.")] = 10,
        order_by: Annotated[
            TopDoctorsOrder, strawberry.argument(description="Ranking.")
        ] = TopDoctorsOrder.RATING,
    ) -> list[DoctorStanding]:
        from schema.doctors import Doctor

        rows = await dashboard_resolvers.top_doctors(
            info.context, self.from_, self.to, limit, order_by is TopDoctorsOrder.RATING
        )
        return [
            DoctorStanding(
                doctor=Doctor.from_model(r.doctor),
                appointments=r.appointments,
                completed=r.completed,
            )
            for r in rows
        ]


@strawberry.type
class DashboardQuery:
    @strawberry.field(description="Admins: dashboard figures for [from, to). Others get FORBIDDEN.")
    def admin_dashboard(
        self,
        info: GraphQLInfo,
        from_: Annotated[datetime, strawberry.argument(name="from", description="Start.")],
        to: Annotated[datetime, strawberry.argument(description="End (exclusive).")],
    ) -> AdminDashboard:
        dashboard_resolvers.require_admin(info.context)
        dashboard_resolvers.check_range(from_, to)
        return AdminDashboard(from_=from_, to=to)
