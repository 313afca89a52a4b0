"""Appointments: booking (no double booking, ever), the life cycle state machine with its
event history, and policy-filtered reads (root list, by id, per doctor)."""

from __future__ import annotations

import functools
import re
import secrets
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Executable,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    Appointment,
    AppointmentEvent,
    ClinicalNote,
    Coupon,
    CouponUsage,
    Doctor,
    Service,
    SlotHold,
    User,
)
from models.appointment import APPOINTMENT_STATUSES, APPOINTMENT_TYPES, LIVE_STATUSES
from resolvers import audit
from resolvers.core.context import Context
from resolvers.core.database import execute_in, run_in
from resolvers.core.errors import (
    BadUserInput,
    FieldErrors,
    InvalidTransitionError,
    NotFound,
    ValidationFailed,
)
from resolvers.core.identity import Viewer
from resolvers.core.jobs import JobContext, enqueue, job, periodic_job
from resolvers.core.json_reads import RootPage
from resolvers.core.loaders import PolicyLoader, RowByIdLoader
from resolvers.core.pagination import Page, SortKey, decode_cursor_for, page_size, paginate
from resolvers.core.statement_templates import AnySelect, statement_for
from resolvers.core.windowed_pages import counts_per_parent, pages_per_parent
from resolvers.coupons import redeem_coupon
from resolvers.doctors import DoctorByIdLoader, doctor_by, doctors_joined, lock_doctor
from resolvers.notifications import Subject, notify, notify_each, schedule_reminders
from resolvers.policies import readable, require, visible
from resolvers.policies.appointments import appointment_policy, clinical_note_policy
from resolvers.services import IntakeAnswer, check_intake_answers
from resolvers.slots import SlotUnavailableError, find_open_slot, lock_doctor_to_book
from resolvers.users import user_by

MAX_NOTES_LENGTH = 2000
MAX_REASON_LENGTH = 1000
LIVE_INDEX = "uq_appointments_doctor_id_starts_at_seat_live"
PATIENT_LIVE_INDEX = "uq_appointments_doctor_id_starts_at_patient_id_live"
REFERENCE_CONSTRAINT = "uq_appointments_reference"
REFERENCE_ATTEMPTS = 3

# The state machine: which status may follow which. Refunds are made by refundPayment.
TRANSITIONS: dict[str, frozenset[str]] = {
    # A service that needs the doctor's approval books REQUESTED; approving moves it on.
    "requested": frozenset({"pending_payment", "confirmed", "cancelled"}),
    "pending_payment": frozenset({"confirmed", "cancelled"}),
    "confirmed": frozenset({"completed", "no_show", "cancelled", "refunded"}),
    "completed": frozenset({"refunded"}),
    "no_show": frozenset({"refunded"}),
    "cancelled": frozenset({"refunded"}),
    "refunded": frozenset(),
}


# Statuses in messages, for people ("no_show" is the enum's database value).
STATUS_WORDS = {
    "requested": "awaiting the doctor's approval",
    "pending_payment": "pending payment",
    "confirmed": "confirmed",
    "completed": "completed",
    "no_show": "a no-show",
    "cancelled": "cancelled",
    "refunded": "refunded",
}


def status_words(status: str) -> str:
    return STATUS_WORDS.get(status, status)


def check_transition(appointment: Appointment, to_status: str, message: str | None = None) -> None:
    if to_status not in TRANSITIONS.get(appointment.status, frozenset()):
        raise InvalidTransitionError(
            message
            or f"An appointment that is {status_words(appointment.status)} cannot become "
            f"{status_words(to_status)}.",
            appointment.status,
            to_status,
        )


def actor_role(viewer: Viewer, appointment: Appointment) -> str:
    if appointment_policy.is_patient(viewer, appointment):
        return "patient"
    if appointment_policy.is_doctor(viewer, appointment):
        return "doctor"
    if viewer.is_admin:
        return "admin"
    if viewer.is_staff:
        return "staff"
    return "service"


def _new_event(
    viewer: Viewer,
    appointment: Appointment,
    kind: str,
    from_status: str | None,
    note: str,
    previous_starts_at: datetime | None,
    role: str | None,
) -> AppointmentEvent:
    return AppointmentEvent(
        appointment_id=appointment.id,
        kind=kind,
        actor_id=viewer.user_id,
        actor_role=role or actor_role(viewer, appointment),
        from_status=from_status,
        to_status=appointment.status,
        previous_starts_at=previous_starts_at,
        new_starts_at=appointment.starts_at if kind != "status_changed" else None,
        note=note,
    )


def record_event(
    session: AsyncSession,
    viewer: Viewer,
    appointment: Appointment,
    *,
    kind: str,
    from_status: str | None,
    note: str = "",
    previous_starts_at: datetime | None = None,
    now: datetime | None = None,
    role: str | None = None,
) -> AppointmentEvent:
    """`role`: the actor's capacity when it is not the viewer's (`system` for a job)."""
    event = _new_event(viewer, appointment, kind, from_status, note, previous_starts_at, role)
    if now is not None:
        event.created_at = now
    session.add(event)
    return event


_EVENT_COLUMNS = (
    "id",
    "appointment_id",
    "kind",
    "actor_id",
    "actor_role",
    "from_status",
    "to_status",
    "previous_starts_at",
    "new_starts_at",
    "note",
)
_NEW_EVENT = insert(AppointmentEvent).values({name: bindparam(name) for name in _EVENT_COLUMNS})
_NEW_EVENT_AT = insert(AppointmentEvent).values(
    {name: bindparam(name) for name in (*_EVENT_COLUMNS, "created_at")}
)


async def insert_event(
    session: AsyncSession,
    viewer: Viewer,
    appointment: Appointment,
    *,
    kind: str,
    from_status: str | None,
    note: str = "",
    now: datetime | None = None,
    role: str | None = None,
) -> AppointmentEvent:
    """`record_event`, written at once (one prepared INSERT, no unit of work) for an
    appointment already in the database."""
    event = _new_event(viewer, appointment, kind, from_status, note, None, role)
    event.id = uuid.uuid4()
    values = {name: getattr(event, name) for name in _EVENT_COLUMNS}
    if now is None:
        await execute_in(session, _NEW_EVENT, values)
    else:
        event.created_at = now
        await execute_in(session, _NEW_EVENT_AT, {**values, "created_at": now})
    return event


def open_meeting_room(ctx: Context, appointment: Appointment) -> None:
    """A confirmed video appointment gets its meeting link (unless its doctor set one):
    the configured template with an unguessable room name (128 random bits)."""
    if appointment.mode == "video" and appointment.meeting_link is None:
        room = secrets.token_hex(16)
        appointment.meeting_link = ctx.settings.meeting_url_template.format(room=room)


async def move_to(
    session: AsyncSession,
    ctx: Context,
    appointment: Appointment,
    to_status: str,
    note: str = "",
    *,
    role: str | None = None,
    now: datetime | None = None,
) -> AppointmentEvent:
    """The one way an appointment's status changes: checked against the state machine
    and recorded as a `status_changed` event, and told to those it concerns
    (notifications). A video appointment gets its meeting link as it is confirmed, and
    its reminders; only an unpaid one has a payment deadline."""
    check_transition(appointment, to_status)
    from_status = appointment.status
    appointment.status = to_status
    if to_status == "confirmed":
        open_meeting_room(ctx, appointment)
    if to_status != "pending_payment":
        appointment.payment_due_at = None
    event = await insert_event(
        session,
        ctx.viewer,
        appointment,
        kind="status_changed",
        from_status=from_status,
        note=note,
        role=role,
    )
    now = now or datetime.now(UTC)
    if to_status == "cancelled" and from_status == "confirmed":
        # Only a confirmed appointment has paid payments: refunded by the cancellation
        # policy, in this transaction.
        from resolvers.payments import refund_for_cancellation  # payments imports this module

        await refund_for_cancellation(session, ctx, appointment, event.actor_role, now)
    await _tell(session, ctx, appointment, to_status, event.actor_role, now)
    return event


def _about(appointment: Appointment, **more: Any) -> dict[str, Any]:
    return {
        "startsAt": appointment.starts_at.isoformat(),
        "reference": appointment.reference,
        **more,
    }


_DOCTOR_TERMS = select(
    Doctor.user_id.label("user_id"),
    Doctor.cancellation_policy_hours.label("cancellation_policy_hours"),
).where(Doctor.id == bindparam("doctor_id"))
_TERMS = "caregraph_doctor_terms"  # in a session's `info`: doctor id -> its row of _DOCTOR_TERMS


async def _doctor_terms(session: AsyncSession, doctor_id: uuid.UUID) -> Any:
    """The doctor's user and cancellation window, read once per transaction (a cancel
    needs both; neither changes under the appointment's lock in a way it depends on)."""
    terms = session.info.setdefault(_TERMS, {})
    if doctor_id not in terms:
        rows = await run_in(session, _DOCTOR_TERMS, {"doctor_id": doctor_id})
        terms[doctor_id] = rows[0] if rows else None
    return terms[doctor_id]


async def _doctor_user_id(session: AsyncSession, appointment: Appointment) -> uuid.UUID | None:
    terms = await _doctor_terms(session, appointment.doctor_id)
    return terms.user_id if terms is not None else None


async def _tell(
    session: AsyncSession,
    ctx: Context,
    appointment: Appointment,
    status: str,
    role: str,
    now: datetime,
) -> None:
    """The notifications of an appointment reaching `status`."""
    subject = Subject("Appointment", appointment.id)
    if status == "confirmed":
        await notify(
            session,
            user_id=appointment.patient_id,
            kind="booking_confirmed",
            subject=subject,
            actor_role=role,
            data=_about(appointment),
        )
        await schedule_reminders(session, ctx.settings, appointment, now)
    elif status == "cancelled" and role == "system":
        await notify(
            session,
            user_id=appointment.patient_id,
            kind="booking_lapsed",
            subject=subject,
            actor_role=role,
            data=_about(appointment),
        )
    elif status == "cancelled":
        await notify_each(
            session,
            [appointment.patient_id, await _doctor_user_id(session, appointment)],
            except_user=ctx.viewer.user_id,
            kind="booking_cancelled",
            subject=subject,
            actor_role=role,
            data=_about(appointment, reason=appointment.cancellation_reason),
        )
    elif status == "completed":
        await notify(
            session,
            user_id=appointment.patient_id,
            kind="review_requested",
            subject=subject,
            actor_role=role,
            data=_about(appointment),
        )


def _is_live_index_violation(error: IntegrityError) -> bool:
    return LIVE_INDEX in str(error.orig) or PATIENT_LIVE_INDEX in str(error.orig)


# --- booking -------------------------------------------------------------------------


@dataclass(frozen=True)
class BookingRequest:
    doctor_id: uuid.UUID
    starts_at: datetime
    type: str = "standard"
    """The type whose default service to book, when `service_id` is None."""
    coupon_code: str | None = None
    notes: str = ""
    patient_id: uuid.UUID | None = None
    """Whom the booking is for: the viewer when None; the front desk names a patient."""
    service_id: uuid.UUID | None = None
    intake_answers: tuple[IntakeAnswer, ...] = ()


async def book_appointment(
    ctx: Context, request: BookingRequest, *, now: datetime | None = None
) -> Appointment:
    """Books a slot of a service (or a seat of a group session) for the viewer. Under the
    per-doctor lock it re-computes the service's open slots (so overlap, seats, holds,
    cap, notice and the grid are all re-checked), checks the intake answers, prices the
    service, redeems a coupon, and inserts the appointment: REQUESTED when the service
    needs the doctor's approval, else PENDING_PAYMENT, or CONFIRMED when nothing is due.
    The unique indexes on live (doctor, start, seat) and (doctor, start, patient) back
    the lock up and are reported as `SlotUnavailableError`. The database draws the booking
    reference; in the rare case it draws one already taken, the booking runs again (its
    transaction rolled back, nothing of it kept)."""
    for _attempt in range(REFERENCE_ATTEMPTS - 1):
        try:
            return await _book(ctx, request, now)
        except IntegrityError as error:
            if REFERENCE_CONSTRAINT not in str(error.orig):
                raise
    return await _book(ctx, request, now)


async def _book(ctx: Context, request: BookingRequest, now: datetime | None) -> Appointment:
    viewer = ctx.viewer
    require(appointment_policy.can_book(viewer), "Sign in to book an appointment.")
    assert viewer.user_id is not None
    patient_id = request.patient_id or viewer.user_id
    require(
        appointment_policy.can_book_for(viewer, patient_id),
        "Only the front desk books for someone else.",
    )
    require(
        appointment_policy.can_book_with(viewer, request.doctor_id),
        "Doctors cannot book appointments with themselves.",
    )
    errors = FieldErrors()
    errors.check(request.type in APPOINTMENT_TYPES, "type", "must be STANDARD or FOLLOWUP")
    errors.check(
        len(request.notes) <= MAX_NOTES_LENGTH, "notes", f"at most {MAX_NOTES_LENGTH} characters"
    )
    errors.check(request.starts_at.tzinfo is not None, "startsAt", "must include a UTC offset")
    errors.raise_if_any()
    now = now or datetime.now(UTC)
    try:
        async with ctx.db.transaction() as session:
            doctor = await lock_doctor_to_book(session, viewer, request.doctor_id)
            await lapse_overdue_of_doctor(session, ctx, doctor.id, now)
            if patient_id != viewer.user_id and await session.get(User, patient_id) is None:
                raise NotFound("Patient not found.")
            slot, offer = await find_open_slot(
                session,
                viewer,
                doctor,
                request.starts_at,
                now=now,
                lead_minutes=ctx.settings.min_lead_minutes,
                appointment_type=request.type,
                service_id=request.service_id,
                holder_id=patient_id,
            )
            (intake_questions,) = (
                await run_in(session, _INTAKE_QUESTIONS, {"service_id": offer.service_id})
            )[0]
            answers = check_intake_answers(intake_questions, request.intake_answers)
            seat = await _free_seat(session, doctor.id, slot.starts_at, patient_id, offer.capacity)
            if offer.type == "followup":
                earlier = await session.scalar(
                    select(func.count())
                    .select_from(Appointment)
                    .where(
                        Appointment.doctor_id == doctor.id,
                        Appointment.patient_id == patient_id,
                        Appointment.status == "completed",
                    )
                )
                if not earlier:
                    raise ValidationFailed.single(
                        "type", "a follow-up needs a completed appointment with this doctor"
                    )
            price = offer.price
            discount = Decimal("0.00")
            coupon = None
            if request.coupon_code and request.coupon_code.strip():
                coupon, discount = await redeem_coupon(
                    session,
                    code=request.coupon_code,
                    doctor=doctor,
                    user_id=patient_id,
                    price=price,
                    now=now,
                )
            appointment = Appointment(
                id=uuid.uuid4(),
                doctor_id=doctor.id,
                patient_id=patient_id,
                starts_at=slot.starts_at,
                ends_at=slot.ends_at,
                type=offer.type,
                status=_first_status(offer.confirmation, price - discount),
                price=price,
                discount=discount,
                currency=offer.currency,
                notes=request.notes.strip(),
                meeting_link=None,
                cancellation_reason=None,
                cancelled_by=None,
                cancelled_at=None,
                coupon_id=coupon.id if coupon else None,
                service_id=offer.service_id,
                seat=seat,
                mode=offer.mode,
                intake_answers=answers,
                payment_due_at=None,
            )
            if appointment.status == "confirmed":
                open_meeting_room(ctx, appointment)
            if appointment.status == "pending_payment":
                appointment.payment_due_at = payment_deadline(ctx, now)
            # Written at once, with its payment window (no unit of work, no UPDATE after).
            (written,) = await run_in(
                session,
                _NEW_APPOINTMENT,
                {name: getattr(appointment, name) for name in _APPOINTMENT_GIVEN},
            )
            appointment.reference = written.reference
            appointment.created_at = written.created_at
            appointment.updated_at = written.updated_at
            await queue_lapse(session, appointment)
            if coupon is not None:
                coupon.used_count += 1
                session.add(
                    CouponUsage(
                        coupon_id=coupon.id,
                        user_id=patient_id,
                        appointment_id=appointment.id,
                        discount=discount,
                    )
                )
            await execute_in(
                session, _HOLDS_OF_PATIENT, {"doctor_id": doctor.id, "user_id": patient_id}
            )
            event = await insert_event(
                session, viewer, appointment, kind="created", from_status=None
            )
            if appointment.status == "confirmed":  # nothing due: confirmed as it is booked
                await _tell(session, ctx, appointment, "confirmed", event.actor_role, now)
            if patient_id != viewer.user_id:  # a booking on someone's behalf
                await session.flush()
                audit.record(
                    session,
                    ctx,
                    "appointment.book_for",
                    "Appointment",
                    appointment.id,
                    after=audit.snapshot(
                        appointment, "patient_id", "doctor_id", "starts_at", "status"
                    ),
                )
            await session.flush()
    except IntegrityError as error:
        if _is_live_index_violation(error):
            raise SlotUnavailableError("This slot was just taken.", request.starts_at) from error
        raise
    ctx.loaders.get(AppointmentByIdLoader).replace(appointment.id, appointment)
    return appointment


# The statements of a booking, built once (run prepared in its transaction).
_INTAKE_QUESTIONS = select(Service.intake_questions.label("intake_questions")).where(
    Service.id == bindparam("service_id")
)
# Every column but those the database fills (the reference it draws, the timestamps).
_APPOINTMENT_GIVEN = tuple(
    column.key
    for column in Appointment.__table__.columns
    if column.key not in ("reference", "created_at", "updated_at")
)
_NEW_APPOINTMENT = (
    insert(Appointment)
    .values({name: bindparam(name) for name in _APPOINTMENT_GIVEN})
    .returning(Appointment.reference, Appointment.created_at, Appointment.updated_at)
)
_HOLDS_OF_PATIENT = delete(SlotHold).where(
    SlotHold.doctor_id == bindparam("doctor_id"), SlotHold.user_id == bindparam("user_id")
)


def _status_when_due(due: Decimal) -> str:
    """A booking that may go ahead: CONFIRMED when nothing is due, else PENDING_PAYMENT."""
    return "confirmed" if due <= 0 else "pending_payment"


def _first_status(confirmation: str, due: Decimal) -> str:
    return "requested" if confirmation == "approval" else _status_when_due(due)


@functools.cache
def _taken_seats(excluding: bool) -> Executable:
    """Seats and patients of the live appointments at `:doctor_id`'s `:starts_at`
    (when `excluding`, not the appointment `:excluded`)."""
    statement = select(
        Appointment.seat.label("seat"), Appointment.patient_id.label("patient_id")
    ).where(
        Appointment.doctor_id == bindparam("doctor_id"),
        Appointment.starts_at == bindparam("starts_at"),
        Appointment.status.in_([literal(status) for status in LIVE_STATUSES]),
    )
    if excluding:
        statement = statement.where(Appointment.id != bindparam("excluded"))
    return statement


async def _free_seat(
    session: AsyncSession,
    doctor_id: uuid.UUID,
    starts_at: datetime,
    patient_id: uuid.UUID,
    capacity: int,
    *,
    exclude_appointment_id: uuid.UUID | None = None,
) -> int:
    """The lowest seat number not taken by a live appointment at the doctor's `starts_at`
    (1 for a private appointment). The slot computation has already found a seat left;
    this refuses a patient who already has one there."""
    values = {"doctor_id": doctor_id, "starts_at": starts_at}
    if exclude_appointment_id is not None:
        values["excluded"] = exclude_appointment_id
    taken = await run_in(session, _taken_seats(exclude_appointment_id is not None), values)
    if any(row.patient_id == patient_id for row in taken):
        raise ValidationFailed.single("startsAt", "already booked for this patient")
    used = {row.seat for row in taken}
    seat = next(number for number in range(1, len(used) + 2) if number not in used)
    if seat > capacity:
        raise SlotUnavailableError("This session is full.", starts_at)
    return seat


async def approve_appointment(ctx: Context, appointment_id: uuid.UUID) -> Appointment:
    """The doctor (or an admin) approves a REQUESTED booking: PENDING_PAYMENT when
    something is due, else CONFIRMED. Declining is cancelling."""
    async with ctx.db.transaction() as session:
        appointment = await _locked_appointment(session, ctx.viewer, appointment_id)
        require(
            appointment_policy.can_run(ctx.viewer, appointment),
            "Only the doctor or an admin may approve a booking.",
        )
        if appointment.status != "requested":
            raise InvalidTransitionError(
                f"An appointment that is {status_words(appointment.status)} is not awaiting "
                "approval.",
                appointment.status,
                "pending_payment",
            )
        to_status = _status_when_due(appointment.price - appointment.discount)
        now = datetime.now(UTC)
        audit.record(
            session,
            ctx,
            "appointment.approve",
            "Appointment",
            appointment.id,
            before={"status": appointment.status},
            after={"status": to_status},
        )
        await move_to(session, ctx, appointment, to_status, "approved", now=now)
        await session.flush()
        await await_payment(session, ctx, appointment, now)
    ctx.loaders.get(AppointmentByIdLoader).replace(appointment.id, appointment)
    return appointment


MAX_MEETING_LINK_LENGTH = 500


async def set_meeting_link(ctx: Context, appointment_id: uuid.UUID, url: str) -> Appointment:
    """The doctor (or an admin) sets a video appointment's meeting link (an https URL),
    replacing the generated one."""
    url = url.strip()
    if not re.fullmatch(r"https://[^\s/$.?#][^\s]*", url) or len(url) > MAX_MEETING_LINK_LENGTH:
        raise ValidationFailed.single(
            "url", f"an https:// URL of at most {MAX_MEETING_LINK_LENGTH} characters"
        )
    async with ctx.db.transaction() as session:
        appointment = await _locked_appointment(session, ctx.viewer, appointment_id)
        require(
            appointment_policy.can_run(ctx.viewer, appointment),
            "Only the doctor or an admin sets the meeting link.",
        )
        if appointment.mode != "video":
            raise ValidationFailed.single("appointmentId", "is not a video appointment")
        if appointment.status not in LIVE_STATUSES:
            raise InvalidTransitionError(
                f"An appointment that is {status_words(appointment.status)} needs no meeting link.",
                appointment.status,
                appointment.status,
            )
        audit.record(
            session,
            ctx,
            "appointment.set_meeting_link",
            "Appointment",
            appointment.id,
            before={"meeting_link": appointment.meeting_link},
            after={"meeting_link": url},
        )
        appointment.meeting_link = url
        await session.flush()
    ctx.loaders.get(AppointmentByIdLoader).replace(appointment.id, appointment)
    return appointment


# --- life cycle ----------------------------------------------------------------------


async def _locked_appointment(
    session: AsyncSession, viewer: Viewer, appointment_id: uuid.UUID
) -> Appointment:
    appointment = (
        await session.scalars(
            visible(Appointment, viewer).where(Appointment.id == appointment_id).with_for_update()
        )
    ).one_or_none()
    if appointment is None:
        raise NotFound("Appointment not found.")
    return appointment


def _appointment_to_lock(viewer: Viewer) -> AnySelect:
    return (
        visible(Appointment, viewer)
        .where(Appointment.id == bindparam("appointment_id"))
        .with_for_update()
    )


async def _appointment_to_change(
    session: AsyncSession, viewer: Viewer, appointment_id: uuid.UUID
) -> tuple[Appointment, bool]:
    """`_locked_appointment` for `change_status`: the same statement (the appointments
    policy, FOR UPDATE), kept as a template per viewer shape and run prepared. The row
    comes back as an `Appointment` outside the session (False), whose changes
    `_WRITE_STATUS` writes; or, when the policy cannot be a template, loaded into the
    session (True), which flushes them."""
    statement, values, reusable = statement_for(
        "appointments.change_status.lock", viewer, _appointment_to_lock
    )
    if not reusable:
        return await _locked_appointment(session, viewer, appointment_id), True
    rows = await run_in(session, statement, {**values, "appointment_id": appointment_id})
    if not rows:
        raise NotFound("Appointment not found.")
    return Appointment(**rows[0]._asdict()), False


# What a status change may change on the appointment (`change_status`, `move_to`).
_STATUS_COLUMNS = (
    "status",
    "payment_due_at",
    "meeting_link",
    "cancellation_reason",
    "cancelled_by",
    "cancelled_at",
)
_WRITE_STATUS = (
    update(Appointment)
    .where(Appointment.id == bindparam("appointment_id"))
    .values(
        {
            **{name: bindparam(f"new_{name}") for name in _STATUS_COLUMNS},
            "updated_at": func.now(),
        }
    )
    .returning(Appointment.updated_at.label("updated_at"))
)


def _check_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON_LENGTH:
        raise ValidationFailed.single("reason", f"at most {MAX_REASON_LENGTH} characters")
    return reason


async def change_status(
    ctx: Context,
    appointment_id: uuid.UUID,
    to_status: str,
    *,
    reason: str | None = None,
    now: datetime | None = None,
) -> Appointment:
    """confirm / complete / no-show / cancel, following the state machine.

    The doctor and admins run the appointment; the patient may only cancel, and only
    before the doctor's cancellation window."""
    assert to_status in APPOINTMENT_STATUSES
    viewer = ctx.viewer
    note = _check_reason(reason)
    now = now or datetime.now(UTC)
    async with ctx.db.transaction() as session:
        appointment, in_session = await _appointment_to_change(session, viewer, appointment_id)
        if to_status == "cancelled":
            require(
                appointment_policy.can_cancel(viewer, appointment),
                "You may not cancel this appointment.",
            )
        else:
            require(
                appointment_policy.can_run(viewer, appointment),
                "Only the doctor or an admin may do this.",
            )
        check_transition(appointment, to_status)
        if to_status in ("completed", "no_show") and now < appointment.starts_at:
            raise InvalidTransitionError(
                "The appointment has not started yet; it cannot be marked "
                f"{status_words(to_status)} before then.",
                appointment.status,
                to_status,
            )
        if to_status == "cancelled" and actor_role(viewer, appointment) == "patient":
            hours = await _cancellation_hours(session, appointment)
            _check_patient_window(appointment, hours, now, "cancel")
        if to_status == "cancelled":
            appointment.cancellation_reason = note or None
            appointment.cancelled_by = viewer.user_id
            appointment.cancelled_at = now
            if appointment.coupon_id is not None:
                await _release_coupon(session, appointment)
        if not appointment_policy.is_patient(viewer, appointment):
            audit.record(
                session,
                ctx,
                f"appointment.{to_status}",
                "Appointment",
                appointment.id,
                before={"status": appointment.status},
                after={"status": to_status, "reason": note},
            )
        await move_to(session, ctx, appointment, to_status, note, now=now)
        if not in_session:
            (written,) = await run_in(
                session,
                _WRITE_STATUS,
                {
                    "appointment_id": appointment.id,
                    **{f"new_{name}": getattr(appointment, name) for name in _STATUS_COLUMNS},
                },
            )
            appointment.updated_at = written.updated_at
        await session.flush()
    ctx.loaders.get(AppointmentByIdLoader).replace(appointment.id, appointment)
    return appointment


async def _release_coupon(session: AsyncSession, appointment: Appointment) -> None:
    """A cancelled booking gives its coupon redemption back (total and per-user)."""
    released = await session.execute(
        delete(CouponUsage).where(CouponUsage.appointment_id == appointment.id)
    )
    if getattr(released, "rowcount", 0):
        await session.execute(
            update(Coupon)
            .where(Coupon.id == appointment.coupon_id, Coupon.used_count > 0)
            .values(used_count=Coupon.used_count - 1)
        )


async def _cancellation_hours(session: AsyncSession, appointment: Appointment) -> int | None:
    terms = await _doctor_terms(session, appointment.doctor_id)
    return terms.cancellation_policy_hours if terms is not None else None


def _check_patient_window(
    appointment: Appointment, hours: int | None, now: datetime, action: str
) -> None:
    deadline = appointment.starts_at - timedelta(hours=hours or 0)
    if now > deadline:
        raise InvalidTransitionError(
            f"Patients may {action} up to {hours} hours before the start; please contact "
            "the clinic.",
            appointment.status,
            "cancelled" if action == "cancel" else appointment.status,
        )


async def reschedule_appointment(
    ctx: Context,
    appointment_id: uuid.UUID,
    starts_at: datetime,
    *,
    reason: str | None = None,
    now: datetime | None = None,
) -> Appointment:
    """Moves a live appointment, atomically: the new time is taken or nothing changes.

    The patient moves to an open slot (before the cancellation window of the old one);
    the front desk to an open slot at any time; the doctor and admins may also move it off
    the grid to any free time in the future."""
    viewer = ctx.viewer
    note = _check_reason(reason)
    if starts_at.tzinfo is None:
        raise ValidationFailed.single("startsAt", "must include a UTC offset")
    now = now or datetime.now(UTC)
    try:
        async with ctx.db.transaction() as session:
            # The doctor's lock first, then the appointment's, as a booking takes them.
            doctor_id = await session.scalar(
                visible(Appointment, viewer)
                .with_only_columns(Appointment.doctor_id)
                .where(Appointment.id == appointment_id)
            )
            if doctor_id is None:
                raise NotFound("Appointment not found.")
            doctor = await lock_doctor(session, viewer, doctor_id)
            appointment = await _locked_appointment(session, viewer, appointment_id)
            require(
                appointment_policy.can_reschedule(viewer, appointment),
                "You may not reschedule this appointment.",
            )
            if appointment.status not in LIVE_STATUSES:
                raise InvalidTransitionError(
                    f"An appointment that is {status_words(appointment.status)} "
                    "cannot be rescheduled.",
                    appointment.status,
                    appointment.status,
                )
            refuse_if_lapsed(appointment, now)
            role = actor_role(viewer, appointment)
            await lapse_overdue_of_doctor(session, ctx, doctor.id, now)
            if role == "patient":
                _check_patient_window(
                    appointment, doctor.cancellation_policy_hours, now, "reschedule"
                )
            duration = appointment.ends_at - appointment.starts_at
            # The front desk moves a patient's appointment to an open slot, as the patient
            # would, but past the cancellation window too (the clinic decides then).
            capacity = await _capacity(session, appointment)
            # A group session's seat moves to another session of its service, whoever
            # moves it (seats are counted only on the service's grid).
            if role in ("patient", "staff") or capacity > 1:
                slot, offer = await find_open_slot(
                    session,
                    viewer,
                    doctor,
                    starts_at,
                    now=now,
                    lead_minutes=ctx.settings.min_lead_minutes,
                    appointment_type=appointment.type,
                    service_id=appointment.service_id,
                    exclude_appointment_id=appointment.id,
                    holder_id=appointment.patient_id,
                )
                new_start, new_end = slot.starts_at, slot.ends_at
                appointment.seat = await _free_seat(
                    session,
                    doctor.id,
                    new_start,
                    appointment.patient_id,
                    offer.capacity,
                    exclude_appointment_id=appointment.id,
                )
            else:
                new_start, new_end = starts_at, starts_at + duration
                await _check_free(session, appointment, new_start, new_end, now)
            previous = appointment.starts_at
            appointment.starts_at = new_start
            appointment.ends_at = new_end
            await session.execute(
                delete(SlotHold).where(
                    SlotHold.doctor_id == doctor.id, SlotHold.user_id == appointment.patient_id
                )
            )
            event = record_event(
                session,
                viewer,
                appointment,
                kind="rescheduled",
                from_status=appointment.status,
                note=note,
                previous_starts_at=previous,
            )
            await notify_each(
                session,
                [appointment.patient_id, doctor.user_id],
                except_user=viewer.user_id,
                kind="booking_rescheduled",
                subject=Subject("Appointment", appointment.id),
                actor_role=event.actor_role,
                data=_about(appointment, previousStartsAt=previous.isoformat()),
            )
            if appointment.status == "confirmed":
                await schedule_reminders(session, ctx.settings, appointment, now)
            if role != "patient":
                audit.record(
                    session,
                    ctx,
                    "appointment.reschedule",
                    "Appointment",
                    appointment.id,
                    before={"starts_at": previous},
                    after={"starts_at": new_start},
                )
            await session.flush()
    except IntegrityError as error:
        if _is_live_index_violation(error):
            raise SlotUnavailableError("This slot was just taken.", starts_at) from error
        raise
    ctx.loaders.get(AppointmentByIdLoader).replace(appointment.id, appointment)
    return appointment


async def _capacity(session: AsyncSession, appointment: Appointment) -> int:
    if appointment.service_id is None:
        return 1
    capacity = await session.scalar(
        select(Service.capacity).where(Service.id == appointment.service_id)
    )
    return capacity or 1


async def _check_free(
    session: AsyncSession,
    appointment: Appointment,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
) -> None:
    """Off-grid moves by the doctor or an admin: in the future and overlapping no other
    live appointment or unexpired hold of this doctor."""
    if starts_at <= now:
        raise SlotUnavailableError("The new time is in the past.", starts_at)
    overlapping = await session.scalar(
        select(func.count())
        .select_from(Appointment)
        .where(
            Appointment.doctor_id == appointment.doctor_id,
            Appointment.id != appointment.id,
            Appointment.status.in_(LIVE_STATUSES),
            Appointment.starts_at < ends_at,
            Appointment.ends_at > starts_at,
        )
    )
    held = await session.scalar(
        select(func.count())
        .select_from(SlotHold)
        .where(
            SlotHold.doctor_id == appointment.doctor_id,
            SlotHold.user_id != appointment.patient_id,
            SlotHold.expires_at > now,
            SlotHold.starts_at < ends_at,
            SlotHold.ends_at > starts_at,
        )
    )
    if overlapping or held:
        raise SlotUnavailableError(
            "The new time overlaps another appointment or a hold.", starts_at
        )


# --- reads ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AppointmentFilter:
    statuses: tuple[str, ...] | None = None
    start: datetime | None = None
    end: datetime | None = None
    doctor_id: uuid.UUID | None = None


def _filter_clauses(conditions: AppointmentFilter) -> list[ColumnElement[bool]]:
    """Times and the doctor are named parameters without a value (every caller binds
    `_filter_values`), so one statement template serves every value
    (`resolvers/core/statement_templates.py`), and a doctor's own id is never a value of it."""
    clauses: list[ColumnElement[bool]] = []
    if conditions.statuses:
        # A parameter per status (the statuses are part of the template's key).
        clauses.append(Appointment.status.in_([literal(status) for status in conditions.statuses]))
    if conditions.start is not None:
        clauses.append(Appointment.starts_at >= bindparam("filter_start", type_=_STARTS_AT))
    if conditions.end is not None:
        clauses.append(Appointment.starts_at < bindparam("filter_end", type_=_STARTS_AT))
    if conditions.doctor_id is not None:
        clauses.append(Appointment.doctor_id == bindparam("filter_doctor_id", type_=_DOCTOR_ID))
    return clauses


_STARTS_AT = Appointment.__table__.c.starts_at.type
_DOCTOR_ID = Appointment.__table__.c.doctor_id.type


def _filter_values(conditions: AppointmentFilter) -> dict[str, Any]:
    values = {
        "filter_start": conditions.start,
        "filter_end": conditions.end,
        "filter_doctor_id": conditions.doctor_id,
    }
    return {name: value for name, value in values.items() if value is not None}


def _template_key(site: object, conditions: AppointmentFilter) -> object:
    """Statements differ by the statuses and by which of the named filters are set."""
    return (
        site,
        conditions.statuses,
        conditions.start is None,
        conditions.end is None,
        conditions.doctor_id is None,
    )


def _check_filter(conditions: AppointmentFilter) -> None:
    if conditions.start and conditions.end and conditions.end < conditions.start:
        raise BadUserInput("`to` must not be before `from`.")


APPOINTMENT_SORT = SortKey((Appointment.starts_at, Appointment.id))  # type: ignore[arg-type]
APPOINTMENT_SORT_DESC = SortKey(
    (Appointment.starts_at, Appointment.id),  # type: ignore[arg-type]
    descending=True,
)


def _appointment_key(appointment: Appointment) -> tuple[datetime, uuid.UUID]:
    return appointment.starts_at, appointment.id


APPOINTMENT_DOCTOR = doctor_by("doctor_id")
APPOINTMENT_PATIENT = user_by("patient_id")


def appointment_rows(
    ctx: Context,
    conditions: AppointmentFilter,
    *,
    first: int | None,
    after: str | None,
    descending: bool = False,
) -> RootPage:
    """`list_appointments` as a source for a root field answered in SQL."""
    _check_filter(conditions)
    sort = APPOINTMENT_SORT_DESC if descending else APPOINTMENT_SORT
    return RootPage(
        build=lambda viewer: visible(Appointment, viewer).where(*_filter_clauses(conditions)),
        sort=sort,
        first=page_size(
            first, default=ctx.settings.default_page_size, maximum=ctx.settings.max_page_size
        ),
        after=decode_cursor_for(sort, after) if after is not None else None,
        key=_template_key(("appointments", descending), conditions),
        values=_filter_values(conditions),
    )


async def list_appointments(
    ctx: Context,
    conditions: AppointmentFilter,
    *,
    first: int | None,
    after: str | None,
    descending: bool = False,
    with_doctors: bool = False,
) -> Page[Appointment]:
    """The viewer's appointments: a patient's own, a doctor's own as the doctor, all for
    admins; filtered and keyset-paginated by start. `with_doctors`: their doctors are
    read in the same statement (`doctors_joined`), for a query that selects them."""
    _check_filter(conditions)
    limit = page_size(
        first, default=ctx.settings.default_page_size, maximum=ctx.settings.max_page_size
    )
    page = await paginate(
        ctx.db,
        ctx.viewer,
        _template_key("list_appointments", conditions),
        Appointment,
        lambda viewer: visible(Appointment, viewer).where(*_filter_clauses(conditions)),
        APPOINTMENT_SORT_DESC if descending else APPOINTMENT_SORT,
        _appointment_key,
        first=limit,
        after=after,
        values=_filter_values(conditions),
        joined=doctors_joined(ctx.loaders.get(DoctorByIdLoader)) if with_doctors else None,
    )
    loader = ctx.loaders.get(AppointmentByIdLoader)
    for row in page.rows:
        loader.replace(row.id, row)
    return page


class AppointmentByIdLoader(RowByIdLoader[Appointment]):
    model = Appointment


async def get_appointment(ctx: Context, appointment_id: uuid.UUID) -> Appointment | None:
    return await ctx.loaders.get(AppointmentByIdLoader).load(appointment_id)


REFERENCE_PATTERN = re.compile(r"[2-9A-HJKMNP-TV-Z]{8}")


def normalize_reference(reference: str) -> str:
    """A booking reference as people type it (any case, with spaces or dashes) in its
    stored form; `ValidationFailed` naming `reference` when it cannot be one."""
    normalized = re.sub(r"[\s-]", "", reference).upper()
    if not REFERENCE_PATTERN.fullmatch(normalized):
        problem = "a booking reference is 8 letters and digits, e.g. 7K4MQ2XP"
        raise ValidationFailed(
            {"reference": [problem]}, message=f"`reference` is not valid: {problem}"
        )
    return normalized


class AppointmentByReferenceLoader(PolicyLoader[str, Appointment | None]):
    async def batch_load_fn(self, keys: Sequence[str]) -> list[Appointment | None]:
        rows = await self.visible_where_in(Appointment, Appointment.reference, keys)
        found = {row.reference: row for row in rows}
        return [found.get(key) for key in keys]


async def get_appointment_by_reference(ctx: Context, reference: str) -> Appointment | None:
    """The appointment with this booking reference, if the viewer may read it."""
    return await ctx.loaders.get(AppointmentByReferenceLoader).load(normalize_reference(reference))


@dataclass(frozen=True)
class DoctorAppointmentsKey:
    doctor_id: uuid.UUID
    conditions: AppointmentFilter
    first: int
    after: str | None


@dataclass(frozen=True)
class DoctorAppointmentsCountKey:
    doctor_id: uuid.UUID
    conditions: AppointmentFilter


class AppointmentCountByDoctorIdLoader(PolicyLoader[DoctorAppointmentsCountKey, int]):
    async def batch_load_fn(self, keys: Sequence[DoctorAppointmentsCountKey]) -> list[int]:
        by_filter: dict[AppointmentFilter, set[uuid.UUID]] = defaultdict(set)
        for key in keys:
            by_filter[key.conditions].add(key.doctor_id)
        counts: dict[DoctorAppointmentsCountKey, int] = {}
        for conditions, doctor_ids in by_filter.items():

            def statement(viewer: Viewer, conditions: AppointmentFilter = conditions) -> AnySelect:
                return select(Appointment.doctor_id, func.count()).where(
                    readable(Appointment, viewer), *_filter_clauses(conditions)
                )

            found = await counts_per_parent(
                self.db,
                self.viewer,
                _template_key(type(self), conditions),
                statement,
                Appointment.doctor_id,
                doctor_ids,
                _filter_values(conditions),
            )
            for doctor_id, total in found.items():
                counts[DoctorAppointmentsCountKey(doctor_id, conditions)] = total
        return [counts[key] for key in keys]


class AppointmentsByDoctorIdLoader(PolicyLoader[DoctorAppointmentsKey, Page[Appointment]]):
    """`Doctor.appointments`: the policy applies (a patient sees only their own), one
    windowed query per distinct (filter, first, after) in the batch."""

    async def batch_load_fn(self, keys: Sequence[DoctorAppointmentsKey]) -> list[Page[Appointment]]:
        groups: dict[tuple[AppointmentFilter, int, str | None], set[uuid.UUID]] = defaultdict(set)
        for key in keys:
            groups[(key.conditions, key.first, key.after)].add(key.doctor_id)
        counter = self.sibling(AppointmentCountByDoctorIdLoader)
        pages: dict[DoctorAppointmentsKey, Page[Appointment]] = {}
        for (conditions, first, after), doctor_ids in groups.items():

            def statement(viewer: Viewer, conditions: AppointmentFilter = conditions) -> AnySelect:
                return visible(Appointment, viewer).where(*_filter_clauses(conditions))

            def count(doctor_id: Any, conditions: AppointmentFilter = conditions) -> Any:
                return counter.load(DoctorAppointmentsCountKey(doctor_id, conditions))

            found = await pages_per_parent(
                self.db,
                self.viewer,
                _template_key(type(self), conditions),
                Appointment,
                statement,
                Appointment.doctor_id,
                doctor_ids,
                APPOINTMENT_SORT,
                _appointment_key,
                first=first,
                after=after,
                count=count,
                values=_filter_values(conditions),
            )
            for doctor_id, page in found.items():
                pages[DoctorAppointmentsKey(doctor_id, conditions, first, after)] = page
        return [pages[key] for key in keys]


async def doctor_appointments(
    ctx: Context,
    doctor_id: uuid.UUID,
    conditions: AppointmentFilter,
    *,
    first: int | None,
    after: str | None,
) -> Page[Appointment]:
    _check_filter(conditions)
    limit = page_size(
        first, default=ctx.settings.default_page_size, maximum=ctx.settings.max_page_size
    )
    return await ctx.loaders.get(AppointmentsByDoctorIdLoader).load(
        DoctorAppointmentsKey(doctor_id, conditions, limit, after)
    )


class EventsByAppointmentIdLoader(PolicyLoader[uuid.UUID, list[AppointmentEvent]]):
    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[list[AppointmentEvent]]:
        statement = (
            visible(AppointmentEvent, self.viewer)
            .where(AppointmentEvent.appointment_id.in_(keys))
            .order_by(AppointmentEvent.created_at, AppointmentEvent.id)
        )
        grouped: dict[uuid.UUID, list[AppointmentEvent]] = defaultdict(list)
        async with self.db.read() as session:
            for event in (await session.scalars(statement)).all():
                grouped[event.appointment_id].append(event)
        return [grouped.get(key, []) for key in keys]


__all__ = [
    "AppointmentByIdLoader",
    "AppointmentFilter",
    "BookingRequest",
    "InvalidTransitionError",
    "SlotUnavailableError",
    "book_appointment",
    "change_status",
    "get_appointment",
    "list_appointments",
    "move_to",
    "reschedule_appointment",
]


class AppointmentEventByIdLoader(RowByIdLoader):
    model = AppointmentEvent


# --- clinical notes -------------------------------------------------------------------

MAX_NOTE_LENGTH = 10_000


def _note_body(body: str) -> str:
    text = body.strip()
    if not 0 < len(text) <= MAX_NOTE_LENGTH:
        raise ValidationFailed.single("body", f"1 to {MAX_NOTE_LENGTH} characters")
    return text


async def add_clinical_note(ctx: Context, appointment_id: uuid.UUID, body: str) -> ClinicalNote:
    """The appointment's doctor writes a private note on it."""
    text = _note_body(body)
    async with ctx.db.transaction() as session:
        appointment = await _locked_appointment(session, ctx.viewer, appointment_id)
        require(
            clinical_note_policy.can_write_on(ctx.viewer, appointment),
            "Only the appointment's doctor writes clinical notes.",
        )
        note = ClinicalNote(appointment_id=appointment.id, author_id=ctx.viewer.user_id, body=text)
        session.add(note)
        await session.flush()
    ctx.loaders.get(ClinicalNotesByAppointmentIdLoader).clear(appointment_id)
    return note


async def update_clinical_note(ctx: Context, note_id: uuid.UUID, body: str) -> ClinicalNote:
    """Its author edits a note (admins read notes, they do not rewrite them)."""
    text = _note_body(body)
    async with ctx.db.transaction() as session:
        note = (
            await session.scalars(
                visible(ClinicalNote, ctx.viewer)
                .where(ClinicalNote.id == note_id)
                .with_for_update()
            )
        ).one_or_none()
        if note is None:
            raise NotFound("Clinical note not found.")
        require(clinical_note_policy.can_edit(ctx.viewer, note), "Only its author edits a note.")
        note.body = text
        await session.flush()
    ctx.loaders.get(ClinicalNotesByAppointmentIdLoader).clear(note.appointment_id)
    return note


class ClinicalNotesByAppointmentIdLoader(PolicyLoader[uuid.UUID, list[ClinicalNote]]):
    """The notes of each appointment the viewer may read, oldest first (empty for anyone
    but the appointment's doctor and admins)."""

    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[list[ClinicalNote]]:
        rows = await self.visible_where_in(
            ClinicalNote,
            ClinicalNote.appointment_id,
            keys,
            ClinicalNote.created_at,
            ClinicalNote.id,
        )
        grouped: dict[uuid.UUID, list[ClinicalNote]] = defaultdict(list)
        for row in rows:
            grouped[row.appointment_id].append(row)
        return [grouped.get(key, []) for key in keys]


class ClinicalNoteByIdLoader(RowByIdLoader):
    model = ClinicalNote


# --- the payment window ----------------------------------------------------------------
# An unpaid booking (PENDING_PAYMENT) holds its time for `payment_window_minutes`. From
# its `payment_due_at` on, the time is free to others (the slots and every booking
# ignore it, and a booking or move of that doctor lapses it in its own transaction,
# under the doctor's lock); the lapse job cancels it then, as the system, and gives its
# coupon back. A payment arriving after that is refused.

LAPSE_REASON = "payment timeout"


def is_lapsed(appointment: Appointment, now: datetime) -> bool:
    """Unpaid past its payment window (cancelled, or about to be)."""
    return (
        appointment.status == "pending_payment"
        and appointment.payment_due_at is not None
        and appointment.payment_due_at <= now
    )


def refuse_if_lapsed(appointment: Appointment, now: datetime) -> None:
    if is_lapsed(appointment, now):
        assert appointment.payment_due_at is not None
        raise InvalidTransitionError(
            "This booking was not paid in time (the payment window ended at "
            f"{appointment.payment_due_at.isoformat()}); it has lapsed.",
            appointment.status,
            "cancelled",
        )


def payment_deadline(ctx: Context, now: datetime) -> datetime:
    """When the payment window of a booking that becomes PENDING_PAYMENT at `now` ends."""
    return now + timedelta(minutes=ctx.settings.payment_window_minutes)


async def queue_lapse(session: AsyncSession, appointment: Appointment) -> None:
    """An unpaid booking's lapse job, for the end of its payment window (in this
    transaction); nothing for one that is not PENDING_PAYMENT."""
    if appointment.status != "pending_payment" or appointment.payment_due_at is None:
        return
    await enqueue(
        session,
        "appointment.lapse",
        {"appointmentId": str(appointment.id)},
        at=appointment.payment_due_at,
    )


async def await_payment(
    session: AsyncSession, ctx: Context, appointment: Appointment, now: datetime
) -> None:
    """An appointment that has just become PENDING_PAYMENT: its payment window starts,
    and its lapse job is queued for the window's end (in this transaction)."""
    if appointment.status != "pending_payment":
        return
    appointment.payment_due_at = payment_deadline(ctx, now)
    await queue_lapse(session, appointment)


async def lapse(
    session: AsyncSession, ctx: Context, appointment: Appointment, now: datetime
) -> None:
    """Cancels an unpaid booking whose window ended (the caller holds its row lock)."""
    appointment.cancellation_reason = LAPSE_REASON
    appointment.cancelled_by = None
    appointment.cancelled_at = now
    if appointment.coupon_id is not None:
        await _release_coupon(session, appointment)
    await move_to(session, ctx, appointment, "cancelled", LAPSE_REASON, role="system", now=now)


_OVERDUE = select(Appointment).where(
    Appointment.status == "pending_payment",
    Appointment.payment_due_at <= bindparam("now"),
)


_OVERDUE_OF_DOCTOR = (
    select(Appointment.id.label("id"))
    .where(
        Appointment.doctor_id == bindparam("doctor_id"),
        Appointment.status == literal("pending_payment"),
        Appointment.payment_due_at <= bindparam("now"),
    )
    .with_for_update()
)


async def lapse_overdue_of_doctor(
    session: AsyncSession, ctx: Context, doctor_id: uuid.UUID, now: datetime
) -> None:
    """Under the doctor's lock, before a booking or a move: that doctor's unpaid bookings
    past their window lapse now, so their times are free to take (the unique indexes of
    live appointments included). One locked by another transaction (a payment arriving,
    the lapse job) is waited for, then seen as that transaction left it: paid in time, it
    holds its time and the slot computation that follows sees it. (Every path that locks
    an appointment and then its doctor takes the doctor first: no deadlock.)"""
    values = {"doctor_id": doctor_id, "now": now}
    overdue = [row.id for row in await run_in(session, _OVERDUE_OF_DOCTOR, values)]
    if not overdue:  # the usual case: one prepared statement
        return
    # Locked by the statement above: their rows, as they are now.
    statement = select(Appointment).where(Appointment.id.in_(overdue)).with_for_update()
    lapsed = (await session.scalars(statement)).all()
    for appointment in lapsed:
        await lapse(session, ctx, appointment, now)
    if lapsed:
        await session.flush()


@job("appointment.lapse")
async def lapse_job(jobs: JobContext, payload: dict[str, Any]) -> None:
    """At the end of an unpaid booking's window: it lapses, if it is still unpaid then."""
    now = jobs.now()
    ctx = jobs.request_context()
    async with ctx.db.transaction() as session:
        appointment = (
            await session.scalars(
                select(Appointment)
                .where(Appointment.id == uuid.UUID(payload["appointmentId"]))
                .with_for_update()
            )
        ).one_or_none()
        if appointment is None or appointment.status != "pending_payment":
            return
        if is_lapsed(appointment, now):
            await lapse(session, ctx, appointment, now)
        elif appointment.payment_due_at is not None:  # ran early (the clock, a retry)
            await enqueue(session, "appointment.lapse", payload, at=appointment.payment_due_at)


@periodic_job("appointments.lapse_overdue", "* * * * *")
async def lapse_overdue_job(jobs: JobContext, _payload: dict[str, Any]) -> None:
    """Every minute, a sweep behind the lapse jobs: unpaid bookings past their window
    (those booked before there were jobs, or whose job is still retrying)."""
    now = jobs.now()
    ctx = jobs.request_context()
    async with ctx.db.transaction() as session:
        overdue = _OVERDUE.order_by(Appointment.id).limit(500).with_for_update(skip_locked=True)
        for appointment in (await session.scalars(overdue, {"now": now})).all():
            await lapse(session, ctx, appointment, now)
