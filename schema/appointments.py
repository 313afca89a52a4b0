"""Booking: open slots, holds, appointments and their life cycle, payments, coupons,
reviews, and the admin dashboard."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import strawberry

from models import Appointment as AppointmentModel
from models import AppointmentEvent as EventModel
from models import Coupon as CouponModel
from models import Doctor as DoctorModel
from models import Payment as PaymentModel
from models import Review as ReviewModel
from models import SlotHold as SlotHoldModel
from resolvers import appointments as appointment_resolvers
from resolvers import coupons as coupon_resolvers
from resolvers import dashboard as dashboard_resolvers
from resolvers import payments as payment_resolvers
from resolvers import reviews as review_resolvers
from resolvers import slots as slot_resolvers
from resolvers.core.errors import CaregraphError
from resolvers.core.input_checks import parse_id, parse_optional_id
from resolvers.coupons import CouponInvalidError
from resolvers.doctors import DoctorByIdLoader
from resolvers.slots import SlotUnavailableError
from resolvers.users import UserByIdLoader
from schema.common import (
    Connection,
    First,
    GraphQLInfo,
    NotAllowed,
    NotFoundError,
    OrderDirection,
    UserError,
    ValidationError,
    connection_from_page,
    deleted_id_field,
    deprecated_id_field,
    mutation_result,
    selects,
    user_error,
)
from schema.users import User

if TYPE_CHECKING:
    from schema.doctors import Doctor


def _id(value: uuid.UUID) -> strawberry.ID:
    return strawberry.ID(str(value))


@strawberry.enum(description="Where an appointment is in its life cycle.")
class AppointmentStatus(Enum):
    PENDING_PAYMENT = "pending_payment"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    REFUNDED = "refunded"


@strawberry.enum(description="Kind of consultation; it sets the price.")
class AppointmentType(Enum):
    STANDARD = "standard"
    FOLLOWUP = "followup"


@strawberry.enum(description="State of a payment.")
class PaymentStatus(Enum):
    PAID = "paid"
    FAILED = "failed"
    REFUNDED = "refunded"


@strawberry.enum(description="How a coupon discounts: a percentage or a fixed amount.")
class CouponKind(Enum):
    PERCENT = "percent"
    FIXED = "fixed"


@strawberry.enum(description="What an appointment event records.")
class AppointmentEventKind(Enum):
    CREATED = "created"
    STATUS_CHANGED = "status_changed"
    RESCHEDULED = "rescheduled"


@strawberry.enum(description="In which capacity someone changed an appointment.")
class ActorRole(Enum):
    PATIENT = "patient"
    DOCTOR = "doctor"
    ADMIN = "admin"
    SERVICE = "service"


# --- slots and holds -----------------------------------------------------------------


def _local_start_time(root: AvailableSlot) -> str:
    # Computed only when a query selects it (a directory page lists hundreds of slots).
    return root.starts_at.astimezone(ZoneInfo(root.timezone)).strftime("%H:%M")


@strawberry.type(description="An open, bookable slot. Times are UTC instants.")
class AvailableSlot:
    starts_at: datetime = strawberry.field(description="Start (UTC).")
    ends_at: datetime = strawberry.field(description="End (UTC).")
    timezone: str = strawberry.field(description="The doctor's IANA time zone.")
    local_date: date = strawberry.field(description="The date in the doctor's time zone.")
    local_start_time: str = strawberry.field(
        resolver=_local_start_time, description="Start in the doctor's time zone, HH:MM."
    )
    type: AppointmentType = strawberry.field(description="The type the price is for.")
    price: Decimal = strawberry.field(description="Price of this type before coupons.")
    currency: str = strawberry.field(description="ISO 4217 currency of the price.")

    @classmethod
    def from_slot(cls, slot: slot_resolvers.Slot, type_: AppointmentType) -> AvailableSlot:
        """`type_`: the type the slots were computed for (`slot.type`, as the enum)."""
        return cls(
            starts_at=slot.starts_at,
            ends_at=slot.ends_at,
            timezone=slot.timezone,
            local_date=slot.local_date,
            type=type_,
            price=slot.price,
            currency=slot.currency,
        )


@strawberry.type(description="A short hold on a slot; it hides the slot from others.")
class SlotHold:
    id: strawberry.ID = strawberry.field(description="Hold id.")
    doctor_id: strawberry.ID = strawberry.field(description="The doctor held.")
    user_id: strawberry.ID = strawberry.field(description="Who holds it.")
    starts_at: datetime = strawberry.field(description="Slot start (UTC).")
    ends_at: datetime = strawberry.field(description="Slot end (UTC).")
    expires_at: datetime = strawberry.field(description="When the hold lapses by itself.")

    @classmethod
    def from_model(cls, row: SlotHoldModel) -> SlotHold:
        return cls(
            id=_id(row.id),
            doctor_id=_id(row.doctor_id),
            user_id=_id(row.user_id),
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            expires_at=row.expires_at,
        )


async def resolve_available_slots(
    info: GraphQLInfo,
    doctor: DoctorModel,
    from_: date | None,
    to: date | None,
    type_: AppointmentType,
) -> list[AvailableSlot]:
    """Used by `Doctor.availableSlots`."""
    slots = await slot_resolvers.available_slots(info.context, doctor, from_, to, type_.value)
    return [AvailableSlot.from_slot(slot, type_) for slot in slots]


# --- appointments --------------------------------------------------------------------


@strawberry.type(description="One change in an appointment's history.")
class AppointmentEvent:
    id: strawberry.ID = strawberry.field(description="Event id.")
    kind: AppointmentEventKind = strawberry.field(description="What happened.")
    actor_id: strawberry.ID | None = strawberry.field(
        description="User who made the change (null for service calls)."
    )
    actor_role: ActorRole = strawberry.field(description="In which capacity.")
    from_status: AppointmentStatus | None = strawberry.field(
        description="Status before (null on creation)."
    )
    to_status: AppointmentStatus = strawberry.field(description="Status after.")
    previous_starts_at: datetime | None = strawberry.field(description="Start before a reschedule.")
    new_starts_at: datetime | None = strawberry.field(
        description="Start after creation or a reschedule."
    )
    note: str = strawberry.field(description="Reason or note given with the change.")
    created_at: datetime = strawberry.field(description="When.")

    @classmethod
    def from_model(cls, row: EventModel) -> AppointmentEvent:
        return cls(
            id=_id(row.id),
            kind=AppointmentEventKind(row.kind),
            actor_id=_id(row.actor_id) if row.actor_id else None,
            actor_role=ActorRole(row.actor_role),
            from_status=AppointmentStatus(row.from_status) if row.from_status else None,
            to_status=AppointmentStatus(row.to_status),
            previous_starts_at=row.previous_starts_at,
            new_starts_at=row.new_starts_at,
            note=row.note,
            created_at=row.created_at,
        )


@strawberry.type(description="A payment for an appointment.")
class Payment:
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
            id=_id(row.id),
            appointment_id=_id(row.appointment_id),
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


@strawberry.type(description="A patient's review of a completed appointment.")
class Review:
    id: strawberry.ID = strawberry.field(description="Review id.")
    appointment_id: strawberry.ID = strawberry.field(description="The reviewed appointment.")
    doctor_id: strawberry.ID = strawberry.field(description="The reviewed doctor.")
    rating: int = strawberry.field(description="Stars, 1 to 5.")
    comment: str = strawberry.field(description="What the patient wrote.")
    featured: bool = strawberry.field(description="Featured by an admin.")
    created_at: datetime = strawberry.field(description="When it was written.")
    patient_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, row: ReviewModel) -> Review:
        return cls(
            id=_id(row.id),
            appointment_id=_id(row.appointment_id),
            doctor_id=_id(row.doctor_id),
            rating=row.rating,
            comment=row.comment,
            featured=row.featured,
            created_at=row.created_at,
            patient_id=row.patient_id,
        )

    @strawberry.field(
        description="The author, where the users policy lets the viewer see them (else null)."
    )
    async def patient(self, info: GraphQLInfo) -> User | None:
        visible = await info.context.loaders.get(UserByIdLoader).load(self.patient_id)
        return User.from_visible(visible) if visible is not None else None


@strawberry.type(description="A booked consultation between a doctor and a patient.")
class Appointment:
    id: strawberry.ID = strawberry.field(description="Appointment id.")
    doctor_id: strawberry.ID = strawberry.field(description="The doctor.")
    patient_id: strawberry.ID = strawberry.field(description="The patient (a user).")
    starts_at: datetime = strawberry.field(description="Start (UTC).")
    ends_at: datetime = strawberry.field(description="End (UTC).")
    type: AppointmentType = strawberry.field(description="Standard or follow-up.")
    status: AppointmentStatus = strawberry.field(description="Life-cycle status.")
    price: Decimal = strawberry.field(description="Price before discount.")
    discount: Decimal = strawberry.field(description="Coupon discount.")
    amount_due: Decimal = strawberry.field(description="Price minus discount.")
    currency: str = strawberry.field(description="ISO 4217 currency.")
    notes: str = strawberry.field(description="The patient's notes for the doctor.")
    meeting_link: str | None = strawberry.field(description="Video meeting link, if any.")
    cancellation_reason: str | None = strawberry.field(description="Why it was cancelled.")
    cancelled_at: datetime | None = strawberry.field(description="When it was cancelled.")
    created_at: datetime = strawberry.field(description="When it was booked.")
    updated_at: datetime = strawberry.field(description="When it last changed.")

    @classmethod
    def from_model(cls, row: AppointmentModel) -> Appointment:
        return cls(
            id=_id(row.id),
            doctor_id=_id(row.doctor_id),
            patient_id=_id(row.patient_id),
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            type=AppointmentType(row.type),
            status=AppointmentStatus(row.status),
            price=row.price,
            discount=row.discount,
            amount_due=row.price - row.discount,
            currency=row.currency,
            notes=row.notes,
            meeting_link=row.meeting_link,
            cancellation_reason=row.cancellation_reason,
            cancelled_at=row.cancelled_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(description="The doctor, if the doctors policy lets the viewer see it.")
    async def doctor(
        self, info: GraphQLInfo
    ) -> Annotated[Doctor, strawberry.lazy("schema.doctors")] | None:
        from schema.doctors import Doctor

        row = await info.context.loaders.get(DoctorByIdLoader).load(parse_id(self.doctor_id))
        return Doctor.from_model(row) if row is not None else None

    @strawberry.field(
        description="The patient: name for the doctor, contact where the users policy allows."
    )
    async def patient(self, info: GraphQLInfo) -> User | None:
        visible = await info.context.loaders.get(UserByIdLoader).load(parse_id(self.patient_id))
        return User.from_visible(visible) if visible is not None else None

    @strawberry.field(description="Payments for this appointment, oldest first.")
    async def payments(self, info: GraphQLInfo) -> list[Payment]:
        rows = await info.context.loaders.get(payment_resolvers.PaymentsByAppointmentIdLoader).load(
            parse_id(self.id)
        )
        return [Payment.from_model(row) for row in rows]

    @strawberry.field(description="The patient's review, once written.")
    async def review(self, info: GraphQLInfo) -> Review | None:
        row = await info.context.loaders.get(review_resolvers.ReviewByAppointmentIdLoader).load(
            parse_id(self.id)
        )
        return Review.from_model(row) if row is not None else None

    @strawberry.field(description="Every change, oldest first: who, when, from, to.")
    async def history(self, info: GraphQLInfo) -> list[AppointmentEvent]:
        rows = await info.context.loaders.get(
            appointment_resolvers.EventsByAppointmentIdLoader
        ).load(parse_id(self.id))
        return [AppointmentEvent.from_model(row) for row in rows]


@strawberry.input(description="Filters for appointment lists; all optional and combined.")
class AppointmentFilter:
    status: list[AppointmentStatus] | None = strawberry.field(
        default=None, description="Any of these statuses."
    )
    from_: datetime | None = strawberry.field(
        default=None, name="from", description="Starting at or after this instant."
    )
    to: datetime | None = strawberry.field(
        default=None, description="Starting before this instant."
    )
    doctor_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only with this doctor."
    )

    def to_resolver(self) -> appointment_resolvers.AppointmentFilter:
        return appointment_resolvers.AppointmentFilter(
            statuses=tuple(sorted(s.value for s in self.status)) if self.status else None,
            start=self.from_,
            end=self.to,
            doctor_id=parse_optional_id(self.doctor_id, "doctorId"),
        )


async def resolve_doctor_appointments(
    info: GraphQLInfo,
    doctor_id: uuid.UUID,
    first: int | None,
    after: str | None,
    filter: AppointmentFilter | None,
) -> Connection[Appointment]:
    """Used by `Doctor.appointments`."""
    conditions = filter.to_resolver() if filter else appointment_resolvers.AppointmentFilter()
    page = await appointment_resolvers.doctor_appointments(
        info.context, doctor_id, conditions, first=first, after=after
    )
    return connection_from_page(page, Appointment.from_model)


async def resolve_doctor_reviews(
    info: GraphQLInfo, doctor_id: uuid.UUID, first: int | None, after: str | None, featured: bool
) -> Connection[Review]:
    """Used by `Doctor.reviews`."""
    page = await review_resolvers.doctor_reviews(
        info.context, doctor_id, first=first, after=after, featured_only=featured
    )
    return connection_from_page(page, Review.from_model)


# --- coupons -------------------------------------------------------------------------


@strawberry.type(description="A discount code; doctors and admins manage them.")
class Coupon:
    id: strawberry.ID = strawberry.field(description="Coupon id.")
    code: str = strawberry.field(description="The code patients type (upper case).")
    doctor_id: strawberry.ID | None = strawberry.field(
        description="Valid for this doctor only; null means platform-wide."
    )
    kind: CouponKind = strawberry.field(description="Percent or fixed amount.")
    value: Decimal = strawberry.field(description="Percentage (1-100) or amount.")
    currency: str | None = strawberry.field(description="Currency of a fixed amount.")
    valid_from: datetime | None = strawberry.field(description="Not valid before.")
    valid_until: datetime | None = strawberry.field(description="Not valid from then on.")
    max_uses: int | None = strawberry.field(description="Total redemptions allowed.")
    max_uses_per_user: int | None = strawberry.field(description="Redemptions per patient.")
    used_count: int = strawberry.field(description="Redemptions so far.")
    active: bool = strawberry.field(description="Inactive codes are refused.")
    created_at: datetime = strawberry.field(description="When it was created.")

    @classmethod
    def from_model(cls, row: CouponModel) -> Coupon:
        return cls(
            id=_id(row.id),
            code=row.code,
            doctor_id=_id(row.doctor_id) if row.doctor_id else None,
            kind=CouponKind(row.kind),
            value=row.value,
            currency=row.currency,
            valid_from=row.valid_from,
            valid_until=row.valid_until,
            max_uses=row.max_uses,
            max_uses_per_user=row.max_uses_per_user,
            used_count=row.used_count,
            active=row.active,
            created_at=row.created_at,
        )


# --- dashboard -----------------------------------------------------------------------


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


# --- queries -------------------------------------------------------------------------


@strawberry.type
class AppointmentsQuery:
    @strawberry.field(
        description="Appointments the viewer may see: a patient's own, a doctor's own as "
        "the doctor, all for admins. Ordered by start."
    )
    async def appointments(
        self,
        info: GraphQLInfo,
        first: First = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
        filter: Annotated[
            AppointmentFilter | None, strawberry.argument(description="Filters.")
        ] = None,
        direction: Annotated[
            OrderDirection, strawberry.argument(description="By start, ASC or DESC.")
        ] = OrderDirection.ASC,
    ) -> Connection[Appointment]:
        conditions = filter.to_resolver() if filter else appointment_resolvers.AppointmentFilter()
        page = await appointment_resolvers.list_appointments(
            info.context,
            conditions,
            first=first,
            after=after,
            descending=direction is OrderDirection.DESC,
            with_doctors=selects(info, "edges", "node", "doctor"),
        )
        return connection_from_page(page, Appointment.from_model)

    @strawberry.field(description="An appointment by id; null when absent or not visible.")
    async def appointment(
        self,
        info: GraphQLInfo,
        id: Annotated[strawberry.ID, strawberry.argument(description="Appointment id.")],
    ) -> Appointment | None:
        row = await appointment_resolvers.get_appointment(info.context, parse_id(id))
        return Appointment.from_model(row) if row is not None else None

    @strawberry.field(
        description="Unexpired slot holds the viewer may see (own; a doctor's also those "
        "on their schedule; admins all)."
    )
    async def slot_holds(self, info: GraphQLInfo) -> list[SlotHold]:
        rows = await slot_resolvers.list_active_holds(info.context)
        return [SlotHold.from_model(row) for row in rows]

    @strawberry.field(
        description="Coupons: a doctor's own, all for admins; empty for everyone else."
    )
    async def coupons(
        self,
        info: GraphQLInfo,
        first: First = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
        doctor_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this doctor's.")
        ] = None,
    ) -> Connection[Coupon]:
        page = await coupon_resolvers.list_coupons(
            info.context,
            parse_optional_id(doctor_id, "doctorId"),
            first=first,
            after=after,
        )
        return connection_from_page(page, Coupon.from_model)

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


# --- typed errors --------------------------------------------------------------------


@strawberry.type(
    description="The slot is not open: taken, held by someone else, past, or off "
    "the schedule. Nothing was written."
)
class SlotUnavailable(UserError):
    starts_at: datetime | None = strawberry.field(description="The slot asked for.")


@strawberry.type(description="The coupon cannot be used for this booking. Nothing was written.")
class CouponInvalid(UserError):
    reason: str = strawberry.field(
        description="UNKNOWN (also for a code of another doctor), NOT_YET_VALID, EXPIRED, "
        "WRONG_CURRENCY, USED_UP or USER_LIMIT."
    )


@strawberry.type(description="The appointment's status does not allow this. Nothing was written.")
class InvalidTransition(UserError):
    from_status: AppointmentStatus = strawberry.field(description="The current status.")
    to_status: AppointmentStatus = strawberry.field(description="The status asked for.")


def _slot_unavailable(error: SlotUnavailableError) -> SlotUnavailable:
    return SlotUnavailable(message=error.message, code=error.code, starts_at=error.starts_at)


def _invalid_transition(error: appointment_resolvers.InvalidTransitionError) -> InvalidTransition:
    return InvalidTransition(
        message=error.message,
        code=error.code,
        from_status=AppointmentStatus(error.from_status),
        to_status=AppointmentStatus(error.to_status),
    )


# --- mutations: inputs and results ---------------------------------------------------


@strawberry.input(description="Hold an open slot for a few minutes while checking out.")
class HoldSlotInput:
    doctor_id: strawberry.ID = strawberry.field(description="The doctor.")
    starts_at: datetime = strawberry.field(description="Slot start, as listed (UTC).")


@strawberry.type(description="The slot is held for the viewer until `hold.expiresAt`.")
class SlotHeld:
    hold: SlotHold = strawberry.field(description="The hold.")


HoldSlotResult = Annotated[
    SlotHeld | SlotUnavailable | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("HoldSlotResult", description="Result of holdSlot."),
]


@strawberry.input(description="Release a hold.")
class ReleaseHoldInput:
    id: strawberry.ID = strawberry.field(description="The hold.")


@strawberry.type(description="The hold was released.")
class HoldReleased:
    id: strawberry.ID = deprecated_id_field("Id of the released hold.")
    deleted_id: strawberry.ID = deleted_id_field("Id of the released hold.")


ReleaseHoldResult = Annotated[
    HoldReleased | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("ReleaseHoldResult", description="Result of releaseHold."),
]


@strawberry.input(description="Book an open slot for yourself.")
class BookAppointmentInput:
    doctor_id: strawberry.ID = strawberry.field(description="The doctor.")
    starts_at: datetime = strawberry.field(description="Slot start, as listed (UTC).")
    type: AppointmentType = strawberry.field(
        default=AppointmentType.STANDARD,
        description="STANDARD, or FOLLOWUP after a completed appointment with this doctor.",
    )
    coupon_code: str | None = strawberry.field(default=None, description="A coupon code.")
    notes: str = strawberry.field(default="", description="Notes for the doctor (2000 chars).")


@strawberry.type(description="The appointment was booked.")
class AppointmentBooked:
    appointment: Appointment = strawberry.field(
        description="PENDING_PAYMENT, or CONFIRMED when nothing is due."
    )


BookAppointmentResult = Annotated[
    AppointmentBooked
    | SlotUnavailable
    | CouponInvalid
    | ValidationError
    | NotAllowed
    | NotFoundError,
    strawberry.union(
        "BookAppointmentResult",
        description="Result of bookAppointment (`NotFound`: no doctor you may book with that id).",
    ),
]


@strawberry.input(description="An appointment to act on.")
class AppointmentActionInput:
    id: strawberry.ID = strawberry.field(description="The appointment.")


@strawberry.input(description="Cancel an appointment.")
class CancelAppointmentInput:
    id: strawberry.ID = strawberry.field(description="The appointment.")
    reason: str | None = strawberry.field(default=None, description="Why (1000 chars).")


@strawberry.input(description="Move an appointment to another time.")
class RescheduleAppointmentInput:
    id: strawberry.ID = strawberry.field(description="The appointment.")
    starts_at: datetime = strawberry.field(
        description="New start (UTC): an open slot for patients; doctors and admins may "
        "pick any free future time."
    )
    reason: str | None = strawberry.field(default=None, description="Why (1000 chars).")


@strawberry.type(description="The appointment was changed.")
class AppointmentUpdated:
    appointment: Appointment = strawberry.field(description="The appointment as it is now.")


AppointmentChangeResult = Annotated[
    AppointmentUpdated | InvalidTransition | ValidationError | NotAllowed | NotFoundError,
    strawberry.union(
        "AppointmentChangeResult",
        description="Result of confirm/complete/markNoShow/cancelAppointment.",
    ),
]

RescheduleAppointmentResult = Annotated[
    AppointmentUpdated
    | SlotUnavailable
    | InvalidTransition
    | ValidationError
    | NotAllowed
    | NotFoundError,
    strawberry.union("RescheduleAppointmentResult", description="Result of rescheduleAppointment."),
]


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


@strawberry.input(description="Review a completed appointment (its patient, once).")
class ReviewAppointmentInput:
    appointment_id: strawberry.ID = strawberry.field(description="The appointment.")
    rating: int = strawberry.field(description="1 to 5 stars.")
    comment: str = strawberry.field(default="", description="Up to 2000 characters.")


@strawberry.type(description="The review was saved and the doctor's rating updated.")
class AppointmentReviewed:
    review: Review = strawberry.field(description="The review.")


ReviewAppointmentResult = Annotated[
    AppointmentReviewed | InvalidTransition | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("ReviewAppointmentResult", description="Result of reviewAppointment."),
]


@strawberry.input(description="Feature (or un-feature) a review.")
class FeatureReviewInput:
    review_id: strawberry.ID = strawberry.field(description="The review.")
    featured: bool = strawberry.field(default=True, description="New state.")


@strawberry.type(description="The review's featured state was changed.")
class ReviewFeatured:
    review: Review = strawberry.field(description="The review.")


FeatureReviewResult = Annotated[
    ReviewFeatured | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("FeatureReviewResult", description="Result of featureReview."),
]


@strawberry.input(description="Create a coupon.")
class CreateCouponInput:
    code: str = strawberry.field(description="3-40 letters, digits, '-' or '_'.")
    kind: CouponKind = strawberry.field(description="PERCENT or FIXED.")
    value: Decimal = strawberry.field(description="Percentage 1-100, or an amount.")
    doctor_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Doctors: omit for their own. Admins: a doctor, or null for platform-wide.",
    )
    currency: str | None = strawberry.field(
        default=None, description="Required for FIXED; must match the doctor's."
    )
    valid_from: datetime | None = strawberry.field(default=None, description="Not before.")
    valid_until: datetime | None = strawberry.field(default=None, description="Expiry.")
    max_uses: int | None = strawberry.field(default=None, description="Total uses.")
    max_uses_per_user: int | None = strawberry.field(default=None, description="Per patient.")
    active: bool = strawberry.field(default=True, description="Usable now.")


@strawberry.input(description="Change a coupon; omitted fields stay.")
class UpdateCouponInput:
    id: strawberry.ID = strawberry.field(description="The coupon.")
    active: bool | None = strawberry.field(default=None, description="Usable now.")
    valid_from: datetime | None = strawberry.field(default=None, description="Not before.")
    valid_until: datetime | None = strawberry.field(default=None, description="Expiry.")
    max_uses: int | None = strawberry.field(default=None, description="Total uses.")
    max_uses_per_user: int | None = strawberry.field(default=None, description="Per patient.")


@strawberry.type(description="The coupon was saved.")
class CouponSaved:
    coupon: Coupon = strawberry.field(description="The coupon.")


CouponResult = Annotated[
    CouponSaved | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("CouponResult", description="Result of createCoupon / updateCoupon."),
]


def _status_error(
    error: CaregraphError,
) -> InvalidTransition | ValidationError | NotAllowed | NotFoundError:
    if isinstance(error, appointment_resolvers.InvalidTransitionError):
        return _invalid_transition(error)
    return user_error(error)


def _hold_error(
    error: CaregraphError,
) -> SlotUnavailable | ValidationError | NotAllowed | NotFoundError:
    if isinstance(error, SlotUnavailableError):
        return _slot_unavailable(error)
    return user_error(error)


def _booking_error(
    error: CaregraphError,
) -> SlotUnavailable | CouponInvalid | ValidationError | NotAllowed | NotFoundError:
    if isinstance(error, CouponInvalidError):
        return CouponInvalid(message=error.message, code=error.code, reason=error.reason)
    return _hold_error(error)


def _reschedule_error(
    error: CaregraphError,
) -> SlotUnavailable | InvalidTransition | ValidationError | NotAllowed | NotFoundError:
    if isinstance(error, SlotUnavailableError):
        return _slot_unavailable(error)
    return _status_error(error)


def _updated(row: AppointmentModel) -> AppointmentUpdated:
    return AppointmentUpdated(appointment=Appointment.from_model(row))


def _coupon_saved(row: CouponModel) -> CouponSaved:
    return CouponSaved(coupon=Coupon.from_model(row))


async def _change(
    info: GraphQLInfo, appointment_id: strawberry.ID, to: str, reason: str | None = None
) -> AppointmentUpdated | InvalidTransition | ValidationError | NotAllowed | NotFoundError:
    return await mutation_result(
        lambda: appointment_resolvers.change_status(
            info.context, parse_id(appointment_id), to, reason=reason
        ),
        _updated,
        _status_error,
    )


@strawberry.type
class AppointmentsMutation:
    @strawberry.mutation(description="Hold an open slot for a few minutes (default 10).")
    async def hold_slot(
        self,
        info: GraphQLInfo,
        input: Annotated[HoldSlotInput, strawberry.argument(description="The input.")],
    ) -> HoldSlotResult:
        return await mutation_result(
            lambda: slot_resolvers.hold_slot(
                info.context, parse_id(input.doctor_id, "doctorId"), input.starts_at
            ),
            lambda hold: SlotHeld(hold=SlotHold.from_model(hold)),
            _hold_error,
        )

    @strawberry.mutation(description="Release your hold on a slot.")
    async def release_hold(
        self,
        info: GraphQLInfo,
        input: Annotated[ReleaseHoldInput, strawberry.argument(description="The input.")],
    ) -> ReleaseHoldResult:
        return await mutation_result(
            lambda: slot_resolvers.release_hold(info.context, parse_id(input.id)),
            lambda released: HoldReleased(id=_id(released)),
        )

    @strawberry.mutation(
        description="Book a slot for yourself. Re-validated on the server; exactly one of "
        "concurrent bookings of a slot wins."
    )
    async def book_appointment(
        self,
        info: GraphQLInfo,
        input: Annotated[BookAppointmentInput, strawberry.argument(description="The input.")],
    ) -> BookAppointmentResult:
        return await mutation_result(
            lambda: appointment_resolvers.book_appointment(
                info.context,
                appointment_resolvers.BookingRequest(
                    doctor_id=parse_id(input.doctor_id, "doctorId"),
                    starts_at=input.starts_at,
                    type=input.type.value,
                    coupon_code=input.coupon_code,
                    notes=input.notes,
                ),
            ),
            lambda row: AppointmentBooked(appointment=Appointment.from_model(row)),
            _booking_error,
        )

    @strawberry.mutation(description="The doctor or an admin confirms a pending appointment.")
    async def confirm_appointment(
        self,
        info: GraphQLInfo,
        input: Annotated[AppointmentActionInput, strawberry.argument(description="The input.")],
    ) -> AppointmentChangeResult:
        return await _change(info, input.id, "confirmed")

    @strawberry.mutation(description="The doctor or an admin completes a started appointment.")
    async def complete_appointment(
        self,
        info: GraphQLInfo,
        input: Annotated[AppointmentActionInput, strawberry.argument(description="The input.")],
    ) -> AppointmentChangeResult:
        return await _change(info, input.id, "completed")

    @strawberry.mutation(description="The doctor or an admin marks the patient a no-show.")
    async def mark_no_show(
        self,
        info: GraphQLInfo,
        input: Annotated[AppointmentActionInput, strawberry.argument(description="The input.")],
    ) -> AppointmentChangeResult:
        return await _change(info, input.id, "no_show")

    @strawberry.mutation(
        description="Cancel: the patient before the doctor's cancellation window, the "
        "doctor or an admin any time."
    )
    async def cancel_appointment(
        self,
        info: GraphQLInfo,
        input: Annotated[CancelAppointmentInput, strawberry.argument(description="The input.")],
    ) -> AppointmentChangeResult:
        return await _change(info, input.id, "cancelled", input.reason)

    @strawberry.mutation(description="Move an appointment, atomically.")
    async def reschedule_appointment(
        self,
        info: GraphQLInfo,
        input: Annotated[RescheduleAppointmentInput, strawberry.argument(description="The input.")],
    ) -> RescheduleAppointmentResult:
        return await mutation_result(
            lambda: appointment_resolvers.reschedule_appointment(
                info.context, parse_id(input.id), input.starts_at, reason=input.reason
            ),
            _updated,
            _reschedule_error,
        )

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
                    appointment_id=parse_id(input.appointment_id, "appointmentId"),
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
            _status_error,
        )

    @strawberry.mutation(description="Admins and service_role: refund a paid payment.")
    async def refund_payment(
        self,
        info: GraphQLInfo,
        input: Annotated[RefundPaymentInput, strawberry.argument(description="The input.")],
    ) -> RefundPaymentResult:
        return await mutation_result(
            lambda: payment_resolvers.refund_payment(
                info.context, parse_id(input.payment_id, "paymentId"), input.reason
            ),
            lambda saved: PaymentRefunded(
                payment=Payment.from_model(saved[0]), appointment=Appointment.from_model(saved[1])
            ),
            _status_error,
        )

    @strawberry.mutation(description="Review your completed appointment (once).")
    async def review_appointment(
        self,
        info: GraphQLInfo,
        input: Annotated[ReviewAppointmentInput, strawberry.argument(description="The input.")],
    ) -> ReviewAppointmentResult:
        return await mutation_result(
            lambda: review_resolvers.review_appointment(
                info.context,
                parse_id(input.appointment_id, "appointmentId"),
                input.rating,
                input.comment,
            ),
            lambda row: AppointmentReviewed(review=Review.from_model(row)),
            _status_error,
        )

    @strawberry.mutation(description="Admins: feature a review (or stop featuring it).")
    async def feature_review(
        self,
        info: GraphQLInfo,
        input: Annotated[FeatureReviewInput, strawberry.argument(description="The input.")],
    ) -> FeatureReviewResult:
        return await mutation_result(
            lambda: review_resolvers.feature_review(
                info.context, parse_id(input.review_id, "reviewId"), input.featured
            ),
            lambda row: ReviewFeatured(review=Review.from_model(row)),
        )

    @strawberry.mutation(description="Doctors (own) and admins: create a coupon.")
    async def create_coupon(
        self,
        info: GraphQLInfo,
        input: Annotated[CreateCouponInput, strawberry.argument(description="The input.")],
    ) -> CouponResult:
        return await mutation_result(
            lambda: coupon_resolvers.create_coupon(
                info.context,
                coupon_resolvers.CouponSpec(
                    code=input.code,
                    kind=input.kind.value,
                    value=input.value,
                    doctor_id=parse_optional_id(input.doctor_id, "doctorId"),
                    currency=input.currency,
                    valid_from=input.valid_from,
                    valid_until=input.valid_until,
                    max_uses=input.max_uses,
                    max_uses_per_user=input.max_uses_per_user,
                    active=input.active,
                ),
            ),
            _coupon_saved,
        )

    @strawberry.mutation(description="Doctors (own) and admins: change a coupon.")
    async def update_coupon(
        self,
        info: GraphQLInfo,
        input: Annotated[UpdateCouponInput, strawberry.argument(description="The input.")],
    ) -> CouponResult:
        return await mutation_result(
            lambda: coupon_resolvers.update_coupon(
                info.context,
                parse_id(input.id),
                coupon_resolvers.CouponChanges(
                    active=input.active,
                    valid_from=input.valid_from,
                    valid_until=input.valid_until,
                    max_uses=input.max_uses,
                    max_uses_per_user=input.max_uses_per_user,
                ),
            ),
            _coupon_saved,
        )
