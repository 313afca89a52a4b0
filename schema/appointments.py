"""Appointments: their life cycle, history, booking and rescheduling."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy import Text, case, cast

from models import Appointment as AppointmentModel
from models import AppointmentEvent as EventModel
from models import ClinicalNote as ClinicalNoteModel
from resolvers import appointments as appointment_resolvers
from resolvers import payments as payment_resolvers
from resolvers import reviews as review_resolvers
from resolvers.appointments import AppointmentByIdLoader, AppointmentEventByIdLoader
from resolvers.core import realtime
from resolvers.core.context import Context
from resolvers.core.errors import CaregraphError, InvalidTransitionError, NotFound, ValidationFailed
from resolvers.core.json_reads import RootPage, isoformat_datetime
from resolvers.coupons import CouponInvalidError
from resolvers.doctors import DoctorByIdLoader
from resolvers.policies.appointments import appointment_event_policy
from resolvers.services import IntakeAnswer as IntakeAnswerSpec
from resolvers.services import ServiceByIdLoader
from resolvers.slots import SlotUnavailableError
from resolvers.users import UserByIdLoader
from schema.connections import Connection, First, OrderDirection, connection_from_page
from schema.coupons import CouponInvalid
from schema.engine.look_ahead import GraphQLInfo, selects
from schema.engine.sql_json import sql_field, sql_root, sql_row
from schema.enums import (
    ActorRole,
    AppointmentEventKind,
    AppointmentStatus,
    AppointmentType,
    IntakeQuestionKind,
    ServiceMode,
)
from schema.ids import format_id, format_optional_id, parse_id, parse_optional_id
from schema.mutation_results import (
    NotAllowed,
    NotFoundError,
    TransitionError,
    ValidationError,
    mutation_result,
    user_error,
)
from schema.node import Node, register_node
from schema.slots import SlotUnavailable, hold_error, slot_unavailable
from schema.users import User

if TYPE_CHECKING:
    from schema.doctors import Doctor
    from schema.payments import Payment
    from schema.reviews import Review
    from schema.services import Service


@strawberry.type(description="One change in an appointment's history.")
class AppointmentEvent(Node):
    id: strawberry.ID = strawberry.field(description="Event id.")
    kind: AppointmentEventKind = strawberry.field(description="What happened.")
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

    row: strawberry.Private[EventModel]
    appointment_doctor_id: strawberry.Private[uuid.UUID | None] = None

    @classmethod
    def from_model(
        cls, row: EventModel, appointment_doctor_id: uuid.UUID | None = None
    ) -> AppointmentEvent:
        """`appointment_doctor_id`: the doctor of the event's appointment, when known."""
        return cls(
            row=row,
            appointment_doctor_id=appointment_doctor_id,
            id=format_id("AppointmentEvent", row.id),
            kind=AppointmentEventKind(row.kind),
            actor_role=ActorRole(row.actor_role),
            from_status=AppointmentStatus(row.from_status) if row.from_status else None,
            to_status=AppointmentStatus(row.to_status),
            previous_starts_at=row.previous_starts_at,
            new_starts_at=row.new_starts_at,
            note=row.note,
            created_at=row.created_at,
        )

    @strawberry.field(
        description="User who made the change, for the appointment's doctor and admins; "
        "a patient sees only `actorRole`, except for their own changes. Null for system "
        "changes."
    )
    async def actor_id(self, info: GraphQLInfo) -> strawberry.ID | None:
        if self.row.actor_id is None:
            return None
        doctor_id = self.appointment_doctor_id
        if doctor_id is None:
            appointment = await info.context.loaders.get(AppointmentByIdLoader).load(
                self.row.appointment_id
            )
            if appointment is None:
                return None
            doctor_id = appointment.doctor_id
        if not appointment_event_policy.actor_visible(info.context.viewer, self.row, doctor_id):
            return None
        return format_id("User", self.row.actor_id)


@strawberry.type(
    description="A doctor's private note on an appointment: for that doctor and admins only."
)
class ClinicalNote(Node):
    id: strawberry.ID = strawberry.field(description="Note id.")
    appointment_id: strawberry.ID = strawberry.field(description="The appointment.")
    body: str = strawberry.field(description="The note.")
    created_at: datetime = strawberry.field(description="When it was written.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    row: strawberry.Private[ClinicalNoteModel]

    @classmethod
    def from_model(cls, row: ClinicalNoteModel) -> ClinicalNote:
        return cls(
            row=row,
            id=format_id("ClinicalNote", row.id),
            appointment_id=format_id("Appointment", row.appointment_id),
            body=row.body,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(description="The doctor who wrote it, where the users policy allows.")
    async def author(self, info: GraphQLInfo) -> User | None:
        if self.row.author_id is None:
            return None
        visible = await info.context.loaders.get(UserByIdLoader).load(self.row.author_id)
        return User.from_visible(visible) if visible is not None else None


@strawberry.type(description="A booked consultation between a doctor and a patient.")
class Appointment(Node):
    id: strawberry.ID = strawberry.field(description="Appointment id.")
    doctor_id: strawberry.ID = strawberry.field(description="The doctor.")
    patient_id: strawberry.ID = strawberry.field(description="The patient (a user).")
    starts_at: datetime = strawberry.field(description="Start (UTC).")
    ends_at: datetime = strawberry.field(description="End (UTC).")
    type: AppointmentType = strawberry.field(
        description="Standard or follow-up (STANDARD for services other than the follow-up "
        "default)."
    )
    status: AppointmentStatus = strawberry.field(description="Life-cycle status.")
    price: Decimal = strawberry.field(description="Price before discount.")
    discount: Decimal = strawberry.field(description="Coupon discount.")
    amount_due: Decimal = strawberry.field(description="Price minus discount.")
    currency: str = strawberry.field(description="ISO 4217 currency.")
    notes: str = strawberry.field(description="The patient's notes for the doctor.")
    meeting_link: str | None = strawberry.field(
        description="Video appointments: the meeting link, shown once the appointment is "
        "CONFIRMED (to its patient and doctor, the front desk and admins)."
    )
    service_id: strawberry.ID | None = strawberry.field(description="The service booked.")
    mode: ServiceMode = strawberry.field(description="In person or by video, as booked.")
    seat: int = strawberry.field(description="Seat number in a group session; 1 when private.")
    intake_answers: list[IntakeAnswer] = strawberry.field(
        description="The patient's answers to the service's intake questions, as asked."
    )
    payment_due_at: datetime | None = strawberry.field(
        description="While PENDING_PAYMENT: pay before this instant, or the booking lapses "
        "(the system cancels it, reason `payment timeout`) and its time is free to others."
    )
    cancellation_reason: str | None = strawberry.field(description="Why it was cancelled.")
    cancelled_at: datetime | None = strawberry.field(description="When it was cancelled.")
    created_at: datetime = strawberry.field(description="When it was booked.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    reference: str = strawberry.field(
        description="Booking reference for people (phone, front desk): 8 letters and "
        "digits, unique, random; find the appointment with `appointment(reference:)`."
    )
    row: strawberry.Private[AppointmentModel]

    @classmethod
    def from_model(cls, row: AppointmentModel) -> Appointment:
        return cls(
            row=row,
            id=format_id("Appointment", row.id),
            doctor_id=format_id("Doctor", row.doctor_id),
            patient_id=format_id("User", row.patient_id),
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            type=AppointmentType(row.type),
            status=AppointmentStatus(row.status),
            price=row.price,
            discount=row.discount,
            amount_due=row.price - row.discount,
            currency=row.currency,
            notes=row.notes,
            meeting_link=row.meeting_link if row.status == "confirmed" else None,
            service_id=format_optional_id("Service", row.service_id),
            mode=ServiceMode(row.mode),
            seat=row.seat,
            intake_answers=[IntakeAnswer.from_stored(answer) for answer in row.intake_answers],
            payment_due_at=row.payment_due_at if row.status == "pending_payment" else None,
            cancellation_reason=row.cancellation_reason,
            cancelled_at=row.cancelled_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            reference=row.reference,
        )

    @strawberry.field(
        description="The doctor, if the doctors policy lets the viewer see it.",
        metadata=sql_field(appointment_resolvers.APPOINTMENT_DOCTOR),
    )
    async def doctor(
        self, info: GraphQLInfo
    ) -> Annotated[Doctor, strawberry.lazy("schema.doctors")] | None:
        from schema.doctors import Doctor

        row = await info.context.loaders.get(DoctorByIdLoader).load(self.row.doctor_id)
        return Doctor.from_model(row) if row is not None else None

    @strawberry.field(
        description="The service booked, if the services policy lets the viewer see it "
        "(a service no longer offered is shown to its doctor and admins only)."
    )
    async def service(
        self, info: GraphQLInfo
    ) -> Annotated[Service, strawberry.lazy("schema.services")] | None:
        from schema.services import Service

        if self.row.service_id is None:
            return None
        row = await info.context.loaders.get(ServiceByIdLoader).load(self.row.service_id)
        return Service.from_model(row) if row is not None else None

    @strawberry.field(
        description="The patient: name for the doctor, contact where the users policy allows.",
        metadata=sql_field(appointment_resolvers.APPOINTMENT_PATIENT),
    )
    async def patient(self, info: GraphQLInfo) -> User | None:
        visible = await info.context.loaders.get(UserByIdLoader).load(self.row.patient_id)
        return User.from_visible(visible) if visible is not None else None

    @strawberry.field(
        description="Payments for this appointment, oldest first.",
        metadata=sql_field(payment_resolvers.APPOINTMENT_PAYMENTS),
    )
    async def payments(
        self, info: GraphQLInfo
    ) -> list[Annotated[Payment, strawberry.lazy("schema.payments")]]:
        from schema.payments import Payment

        rows = await info.context.loaders.get(payment_resolvers.PaymentsByAppointmentIdLoader).load(
            self.row.id
        )
        return [Payment.from_model(row) for row in rows]

    @strawberry.field(description="The patient's review, once written.")
    async def review(
        self, info: GraphQLInfo
    ) -> Annotated[Review, strawberry.lazy("schema.reviews")] | None:
        from schema.reviews import Review

        row = await info.context.loaders.get(review_resolvers.ReviewByAppointmentIdLoader).load(
            self.row.id
        )
        return Review.from_model(row) if row is not None else None

    @strawberry.field(description="Every change, oldest first: who, when, from, to.")
    async def history(self, info: GraphQLInfo) -> list[AppointmentEvent]:
        rows = await info.context.loaders.get(
            appointment_resolvers.EventsByAppointmentIdLoader
        ).load(self.row.id)
        return [AppointmentEvent.from_model(row, self.row.doctor_id) for row in rows]

    @strawberry.field(
        description="The doctor's private clinical notes, oldest first: for the "
        "appointment's doctor and admins; empty for everyone else."
    )
    async def clinical_notes(self, info: GraphQLInfo) -> list[ClinicalNote]:
        rows = await info.context.loaders.get(
            appointment_resolvers.ClinicalNotesByAppointmentIdLoader
        ).load(self.row.id)
        return [ClinicalNote.from_model(row) for row in rows]


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
            doctor_id=parse_optional_id(self.doctor_id, "doctorId", of="Doctor"),
        )


@strawberry.enum(description="What to sort appointments by.")
class AppointmentOrderField(Enum):
    STARTS_AT = "starts_at"


@strawberry.input(description="Sort order for appointments; ties are broken by id.")
class AppointmentOrder:
    field: AppointmentOrderField = strawberry.field(
        default=AppointmentOrderField.STARTS_AT, description="Sort key."
    )
    direction: OrderDirection = strawberry.field(
        default=OrderDirection.ASC, description="Direction."
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


@strawberry.type(
    description="The appointment's status does not allow this (a TransitionError). Nothing "
    "was written."
)
class InvalidTransition(TransitionError):
    from_status: AppointmentStatus = strawberry.field(description="The current status.")
    to_status: AppointmentStatus = strawberry.field(description="The status asked for.")
    allowed_statuses: list[AppointmentStatus] = strawberry.field(
        description="The statuses the appointment may move to from its current one."
    )


def _invalid_transition(error: InvalidTransitionError) -> InvalidTransition:
    return InvalidTransition(
        message=error.message,
        code=error.code,
        from_status=AppointmentStatus(error.from_status),
        to_status=AppointmentStatus(error.to_status),
        allowed_statuses=[
            AppointmentStatus(status)
            for status in sorted(appointment_resolvers.TRANSITIONS.get(error.from_status, ()))
        ],
    )


@strawberry.type(description="An answer to an intake question, with the question as asked.")
class IntakeAnswer:
    question_key: str = strawberry.field(description="The question's key.")
    prompt: str = strawberry.field(description="The question, as it was asked.")
    kind: IntakeQuestionKind = strawberry.field(description="What kind of answer it took.")
    text: str | None = strawberry.field(description="The answer to a TEXT question.")
    choice: str | None = strawberry.field(description="The answer to a CHOICE question.")
    yes: bool | None = strawberry.field(description="The answer to a YES_NO question.")

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> IntakeAnswer:
        kind = IntakeQuestionKind(stored["kind"])
        answer = stored["answer"]
        return cls(
            question_key=stored["question_key"],
            prompt=stored["prompt"],
            kind=kind,
            text=answer if kind is IntakeQuestionKind.TEXT else None,
            choice=answer if kind is IntakeQuestionKind.CHOICE else None,
            yes=answer if kind is IntakeQuestionKind.YES_NO else None,
        )


@strawberry.input(
    description="An answer to one intake question: `text`, `choice` or `yes`, as the "
    "question's kind asks."
)
class IntakeAnswerInput:
    question_key: str = strawberry.field(description="The question's key (`IntakeQuestion.key`).")
    text: str | None = strawberry.field(default=None, description="For TEXT (2000 chars).")
    choice: str | None = strawberry.field(default=None, description="For CHOICE: one choice.")
    yes: bool | None = strawberry.field(default=None, description="For YES_NO.")


@strawberry.input(description="Set a video appointment's meeting link.")
class SetMeetingLinkInput:
    appointment_id: strawberry.ID = strawberry.field(description="The appointment.")
    url: str = strawberry.field(description="An https URL (500 characters).")


@strawberry.input(description="Book an open slot for yourself (or, at the front desk, a patient).")
class BookAppointmentInput:
    doctor_id: strawberry.ID = strawberry.field(description="The doctor.")
    starts_at: datetime = strawberry.field(description="Slot start, as listed (UTC).")
    type: AppointmentType = strawberry.field(
        default=AppointmentType.STANDARD,
        description="The doctor's default service of this type, when `serviceId` is not "
        "given: STANDARD, or FOLLOWUP after a completed appointment with this doctor.",
        deprecation_reason="Use `serviceId`: STANDARD and FOLLOWUP are the doctor's two "
        "default services (`Doctor.services { defaultFor }`).",
    )
    service_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The service (a group session: one seat); its price applies. Default "
        "the doctor's standard consultation.",
    )
    intake_answers: list[IntakeAnswerInput] = strawberry.field(
        default_factory=list,
        description="Answers to the service's intake questions (errors name "
        "`intakeAnswers.<questionKey>`).",
    )
    coupon_code: str | None = strawberry.field(default=None, description="A coupon code.")
    notes: str = strawberry.field(default="", description="Notes for the doctor (2000 chars).")
    patient_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Front desk (staff) and admins: the patient to book for. Others may "
        "only name themselves (the default).",
    )


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


def status_error(
    error: CaregraphError,
) -> InvalidTransition | ValidationError | NotAllowed | NotFoundError:
    if isinstance(error, InvalidTransitionError):
        return _invalid_transition(error)
    return user_error(error)


def _booking_error(
    error: CaregraphError,
) -> SlotUnavailable | CouponInvalid | ValidationError | NotAllowed | NotFoundError:
    if isinstance(error, CouponInvalidError):
        return CouponInvalid(message=error.message, code=error.code, reason=error.reason)
    return hold_error(error)


def _reschedule_error(
    error: CaregraphError,
) -> SlotUnavailable | InvalidTransition | ValidationError | NotAllowed | NotFoundError:
    if isinstance(error, SlotUnavailableError):
        return slot_unavailable(error)
    return status_error(error)


def _updated(row: AppointmentModel) -> AppointmentUpdated:
    return AppointmentUpdated(appointment=Appointment.from_model(row))


async def _change(
    info: GraphQLInfo, appointment_id: strawberry.ID, to: str, reason: str | None = None
) -> AppointmentUpdated | InvalidTransition | ValidationError | NotAllowed | NotFoundError:
    return await mutation_result(
        lambda: appointment_resolvers.change_status(
            info.context, parse_id(appointment_id, of="Appointment"), to, reason=reason
        ),
        _updated,
        status_error,
    )


def _descending(direction: OrderDirection, order_by: AppointmentOrder | None) -> bool:
    return (order_by.direction if order_by is not None else direction) is OrderDirection.DESC


def _appointment_rows(
    ctx: Context,
    first: int | None = None,
    after: str | None = None,
    filter: AppointmentFilter | None = None,
    direction: OrderDirection = OrderDirection.ASC,
    order_by: AppointmentOrder | None = None,
) -> RootPage:
    """`appointments` as a root field answered in SQL (schema/engine/sql_json.py)."""
    return appointment_resolvers.appointment_rows(
        ctx,
        filter.to_resolver() if filter else appointment_resolvers.AppointmentFilter(),
        first=first,
        after=after,
        descending=_descending(direction, order_by),
    )


@strawberry.type
class AppointmentsQuery:
    @strawberry.field(
        description="Appointments the viewer may see: a patient's own, a doctor's own as "
        "the doctor, all for admins. Ordered by start.",
        metadata=sql_root(_appointment_rows),
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
            OrderDirection,
            strawberry.argument(
                description="By start, ASC or DESC.",
                deprecation_reason="Use `orderBy: {direction}`, the style of every list.",
            ),
        ] = OrderDirection.ASC,
        order_by: Annotated[
            AppointmentOrder | None,
            strawberry.argument(description="Sort order (default: by start, ascending)."),
        ] = None,
    ) -> Connection[Appointment]:
        conditions = filter.to_resolver() if filter else appointment_resolvers.AppointmentFilter()
        page = await appointment_resolvers.list_appointments(
            info.context,
            conditions,
            first=first,
            after=after,
            descending=_descending(direction, order_by),
            with_doctors=selects(info, "edges", "node", "doctor"),
        )
        return connection_from_page(page, Appointment.from_model)

    @strawberry.field(
        description="An appointment by id or by booking reference (give exactly one); null "
        "when absent or not visible."
    )
    async def appointment(
        self,
        info: GraphQLInfo,
        id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Appointment id.")
        ] = None,
        reference: Annotated[
            str | None,
            strawberry.argument(
                description="Booking reference, as shown to the patient (any case; spaces "
                "and dashes ignored)."
            ),
        ] = None,
    ) -> Appointment | None:
        if (id is None) == (reference is None):
            problem = "give either `id` or `reference`"
            raise ValidationFailed({"id": [problem]}, message=f"`id`: {problem}")
        if reference is not None:
            row = await appointment_resolvers.get_appointment_by_reference(info.context, reference)
        else:
            assert id is not None
            row = await appointment_resolvers.get_appointment(
                info.context, parse_id(id, of="Appointment")
            )
        return Appointment.from_model(row) if row is not None else None


@strawberry.input(description="A clinical note on an appointment (its doctor).")
class AddClinicalNoteInput:
    appointment_id: strawberry.ID = strawberry.field(description="The appointment.")
    body: str = strawberry.field(description="The note, 1 to 10000 characters.")


@strawberry.input(description="New text for a clinical note (its author).")
class UpdateClinicalNoteInput:
    id: strawberry.ID = strawberry.field(description="The note.")
    body: str = strawberry.field(description="The note, 1 to 10000 characters.")


@strawberry.type(description="The clinical note was saved.")
class ClinicalNoteSaved:
    note: ClinicalNote = strawberry.field(description="The note.")


ClinicalNoteResult = Annotated[
    ClinicalNoteSaved | ValidationError | NotAllowed | NotFoundError,
    strawberry.union(
        "ClinicalNoteResult", description="Result of addClinicalNote / updateClinicalNote."
    ),
]


@strawberry.type
class AppointmentsMutation:
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
                    doctor_id=parse_id(input.doctor_id, "doctorId", of="Doctor"),
                    starts_at=input.starts_at,
                    type=input.type.value,
                    coupon_code=input.coupon_code,
                    notes=input.notes,
                    patient_id=parse_optional_id(input.patient_id, "patientId", of="User"),
                    service_id=parse_optional_id(input.service_id, "serviceId", of="Service"),
                    intake_answers=tuple(
                        IntakeAnswerSpec(
                            question_key=answer.question_key,
                            text=answer.text,
                            choice=answer.choice,
                            yes=answer.yes,
                        )
                        for answer in input.intake_answers
                    ),
                ),
            ),
            lambda row: AppointmentBooked(appointment=Appointment.from_model(row)),
            _booking_error,
        )

    @strawberry.mutation(
        description="The doctor or an admin approves a REQUESTED booking (a service that "
        "needs approval): it becomes PENDING_PAYMENT, or CONFIRMED when nothing is due. "
        "To decline, cancel it."
    )
    async def approve_appointment(
        self,
        info: GraphQLInfo,
        input: Annotated[AppointmentActionInput, strawberry.argument(description="The input.")],
    ) -> AppointmentChangeResult:
        return await mutation_result(
            lambda: appointment_resolvers.approve_appointment(
                info.context, parse_id(input.id, of="Appointment")
            ),
            _updated,
            status_error,
        )

    @strawberry.mutation(
        description="The doctor or an admin sets a video appointment's meeting link (an "
        "https URL), instead of the generated one."
    )
    async def set_meeting_link(
        self,
        info: GraphQLInfo,
        input: Annotated[SetMeetingLinkInput, strawberry.argument(description="The input.")],
    ) -> AppointmentChangeResult:
        return await mutation_result(
            lambda: appointment_resolvers.set_meeting_link(
                info.context,
                parse_id(input.appointment_id, "appointmentId", of="Appointment"),
                input.url,
            ),
            _updated,
            status_error,
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
                info.context,
                parse_id(input.id, of="Appointment"),
                input.starts_at,
                reason=input.reason,
            ),
            _updated,
            _reschedule_error,
        )

    @strawberry.mutation(description="The appointment's doctor writes a private clinical note.")
    async def add_clinical_note(
        self,
        info: GraphQLInfo,
        input: Annotated[AddClinicalNoteInput, strawberry.argument(description="The input.")],
    ) -> ClinicalNoteResult:
        return await mutation_result(
            lambda: appointment_resolvers.add_clinical_note(
                info.context,
                parse_id(input.appointment_id, "appointmentId", of="Appointment"),
                input.body,
            ),
            lambda row: ClinicalNoteSaved(note=ClinicalNote.from_model(row)),
        )

    @strawberry.mutation(description="Its author changes a clinical note.")
    async def update_clinical_note(
        self,
        info: GraphQLInfo,
        input: Annotated[UpdateClinicalNoteInput, strawberry.argument(description="The input.")],
    ) -> ClinicalNoteResult:
        return await mutation_result(
            lambda: appointment_resolvers.update_clinical_note(
                info.context, parse_id(input.id, of="ClinicalNote"), input.body
            ),
            lambda row: ClinicalNoteSaved(note=ClinicalNote.from_model(row)),
        )


register_node(
    "AppointmentEvent",
    AppointmentEventByIdLoader,
    lambda _info, row: AppointmentEvent.from_model(row),
)
register_node("Appointment", AppointmentByIdLoader, lambda _info, row: Appointment.from_model(row))
register_node(
    "ClinicalNote",
    appointment_resolvers.ClinicalNoteByIdLoader,
    lambda _info, row: ClinicalNote.from_model(row),
)


@strawberry.type
class AppointmentsSubscription:
    @strawberry.subscription(
        description="An appointment as it changes (booked, status, rescheduled, paid): the "
        "one given, or every one the viewer may read (a patient's own, a doctor's, all for "
        "the front desk and admins). Delivered only while the viewer may read it."
    )
    async def appointment_changed(
        self,
        info: GraphQLInfo,
        id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only this appointment; default all the viewer's."),
        ] = None,
    ) -> AsyncGenerator[Appointment, None]:
        target = parse_optional_id(id, of="Appointment")
        if target is not None:
            visible = await info.context.loaders.get(AppointmentByIdLoader).load(target)
            if visible is None:
                raise NotFound("Appointment not found.")
        async for row in realtime.stream(
            info.context,
            "appointment",
            AppointmentModel,
            None if target is None else ("row_id", target),
        ):
            yield Appointment.from_model(row)


sql_row(
    Appointment,
    AppointmentModel,
    ids={
        "id": ("Appointment", "id"),
        "doctor_id": ("Doctor", "doctor_id"),
        "patient_id": ("User", "patient_id"),
        "service_id": ("Service", "service_id"),
    },
    computed={
        "amount_due": lambda row: cast(row.price - row.discount, Text),
        "meeting_link": lambda row: case((row.status == "confirmed", row.meeting_link)),
        "payment_due_at": lambda row: case(
            (row.status == "pending_payment", isoformat_datetime(row.payment_due_at))
        ),
    },
)
