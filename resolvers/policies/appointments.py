"""appointments, appointment_events, slot_holds, payments, coupons, coupon_usages, reviews.

- appointments: a patient reads their own, a doctor those booked with them, admins all;
  coaches (as coaches) and anon nothing.
- appointment_events: whoever may read the appointment.
- slot_holds: the holder, the held doctor, admins.
- payments: the appointment's patient and doctor, admins; written by admins and
  service_role only.
- coupons: doctors manage their own, admins all; patients never list them (a code is
  validated by the booking itself).
- reviews: anyone reads reviews of verified doctors (the author and the doctor read
  theirs regardless); admins all and feature them.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, false, literal, or_, select, true

from models import (
    Appointment,
    AppointmentEvent,
    ClinicalNote,
    Coupon,
    CouponUsage,
    Doctor,
    Payment,
    ProviderEvent,
    Refund,
    Review,
    SlotHold,
)
from resolvers.core.identity import Viewer
from resolvers.policies.base import TablePolicy

# Appointments in these statuses do not make a care relationship.
EXCLUDED_APPOINTMENT_STATUSES = ("cancelled",)


def care_relationship(doctor_id: uuid.UUID, patient_id: Any) -> ColumnElement[bool]:
    """The care relationship: the patient (`patient_id`, a column or value) has a
    non-cancelled appointment with this doctor. It opens the patient's goals (policies/goals)
    and contact details (policies/users) to the doctor. An appointment that
    was cancelled and later refunded (status `refunded`, `cancelled_at` set) is still a
    cancelled booking and does not count."""
    return (
        select(Appointment.id)
        .where(
            Appointment.patient_id == patient_id,
            Appointment.doctor_id == doctor_id,
            # One parameter per status (not an expanding list): the statement text is
            # then final, which lets a kept statement go straight to the driver.
            Appointment.status.not_in(
                [literal(status) for status in EXCLUDED_APPOINTMENT_STATUSES]
            ),
            Appointment.cancelled_at.is_(None),
        )
        .exists()
    )


def _appointment_read(viewer: Viewer) -> ColumnElement[bool]:
    if viewer.is_admin or viewer.is_staff:
        return true()
    if viewer.user_id is None:
        return false()
    own = Appointment.patient_id == viewer.user_id
    if viewer.doctor_id is not None:
        return or_(own, Appointment.doctor_id == viewer.doctor_id)
    return own


def _readable_appointment(appointment_id: Any, viewer: Viewer) -> ColumnElement[bool]:
    return (
        select(Appointment.id)
        .where(Appointment.id == appointment_id, _appointment_read(viewer))
        .exists()
    )


class AppointmentPolicy(TablePolicy[Appointment]):
    model = Appointment

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        return _appointment_read(viewer)

    @staticmethod
    def is_patient(viewer: Viewer, appointment: Appointment) -> bool:
        return viewer.user_id is not None and appointment.patient_id == viewer.user_id

    @staticmethod
    def is_doctor(viewer: Viewer, appointment: Appointment) -> bool:
        return viewer.doctor_id is not None and appointment.doctor_id == viewer.doctor_id

    @staticmethod
    def is_operator(viewer: Viewer) -> bool:
        """Admins and service_role: they run every appointment."""
        return viewer.is_service or viewer.is_admin

    @staticmethod
    def acts_for_patients(viewer: Viewer) -> bool:
        """Front desk (staff), admins and service_role act on any patient's behalf."""
        return viewer.is_service or viewer.is_admin or viewer.is_staff

    def can_book_for(self, viewer: Viewer, patient_id: uuid.UUID) -> bool:
        """Booking or holding for `patient_id`: oneself, or anyone for the front desk."""
        return viewer.user_id == patient_id or self.acts_for_patients(viewer)

    def can_book(self, viewer: Viewer) -> bool:
        """Patients book for themselves; every signed-in user is a patient."""
        return viewer.user_id is not None

    def can_book_with(self, viewer: Viewer, doctor_id: uuid.UUID) -> bool:
        """Booking and holding (its first step) a slot of this doctor: never on one's own
        schedule (a doctor is not their own patient)."""
        return viewer.doctor_id is None or viewer.doctor_id != doctor_id

    def can_run(self, viewer: Viewer, appointment: Appointment) -> bool:
        """Confirm, complete, mark a no-show: the appointment's doctor, admins."""
        return self.is_operator(viewer) or self.is_doctor(viewer, appointment)

    def can_cancel(self, viewer: Viewer, appointment: Appointment) -> bool:
        """The patient (the time window is checked by the state machine), the doctor, the
        front desk, admins."""
        return (
            self.acts_for_patients(viewer)
            or self.is_doctor(viewer, appointment)
            or self.is_patient(viewer, appointment)
        )

    can_reschedule = can_cancel


class AppointmentEventPolicy(TablePolicy[AppointmentEvent]):
    model = AppointmentEvent

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        if viewer.is_admin or viewer.is_staff:
            return true()
        if viewer.user_id is None:
            return false()
        return _readable_appointment(AppointmentEvent.appointment_id, viewer)

    def actor_visible(
        self, viewer: Viewer, event: AppointmentEvent, appointment_doctor_id: uuid.UUID
    ) -> bool:
        """Who sees the person behind a change (`actorId`) of an event they may read: the
        appointment's doctor, the front desk and admins; a patient sees the role only
        (`actorRole`), except for their own changes."""
        return (
            viewer.is_service
            or viewer.is_admin
            or viewer.is_staff
            or viewer.doctor_id == appointment_doctor_id
            or (event.actor_id is not None and event.actor_id == viewer.user_id)
        )


class ClinicalNotePolicy(TablePolicy[ClinicalNote]):
    """Clinical notes: the appointment's doctor and admins read them; never the patient,
    the front desk or a coach. The doctor writes them; the author edits their own."""

    model = ClinicalNote

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        if viewer.is_admin:
            return true()
        if viewer.doctor_id is None:
            return false()
        return (
            select(Appointment.id)
            .where(
                Appointment.id == ClinicalNote.appointment_id,
                Appointment.doctor_id == viewer.doctor_id,
            )
            .exists()
        )

    def can_write_on(self, viewer: Viewer, appointment: Appointment) -> bool:
        return viewer.doctor_id is not None and appointment.doctor_id == viewer.doctor_id

    def can_edit(self, viewer: Viewer, note: ClinicalNote) -> bool:
        return note.author_id is not None and note.author_id == viewer.user_id


class SlotHoldPolicy(TablePolicy[SlotHold]):
    model = SlotHold

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        if viewer.is_admin or viewer.is_staff:
            return true()
        if viewer.user_id is None:
            return false()
        own = SlotHold.user_id == viewer.user_id
        if viewer.doctor_id is not None:
            return or_(own, SlotHold.doctor_id == viewer.doctor_id)
        return own

    def can_release(self, viewer: Viewer, hold: SlotHold) -> bool:
        return (
            viewer.is_service
            or viewer.is_admin
            or viewer.is_staff
            or hold.user_id == viewer.user_id
        )


class PaymentPolicy(TablePolicy[Payment]):
    model = Payment

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        if viewer.is_admin or viewer.is_staff:
            return true()
        if viewer.user_id is None:
            return false()
        return _readable_appointment(Payment.appointment_id, viewer)

    def can_write(self, viewer: Viewer) -> bool:
        """Payments are recorded and refunded by admins and the provider (service_role)."""
        return viewer.is_service or viewer.is_admin

    def can_record_at_desk(self, viewer: Viewer) -> bool:
        """The front desk records what is paid there (cash, card, transfer)."""
        return self.can_write(viewer) or viewer.is_staff

    def can_refund(self, viewer: Viewer) -> bool:
        """Refunds in part or in full: the front desk, admins, the provider."""
        return self.can_write(viewer) or viewer.is_staff

    def can_check_out(self, viewer: Viewer, appointment: Appointment) -> bool:
        """Opening a checkout: the appointment's patient, the front desk, admins."""
        return (
            viewer.is_service
            or viewer.is_admin
            or viewer.is_staff
            or (viewer.user_id is not None and appointment.patient_id == viewer.user_id)
        )


class RefundPolicy(TablePolicy[Refund]):
    """refunds: readable with their payment."""

    model = Refund

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        if viewer.is_admin or viewer.is_staff:
            return true()
        if viewer.user_id is None:
            return false()
        return (
            select(Payment.id)
            .where(Payment.id == Refund.payment_id, payment_policy.read(viewer))
            .exists()
        )


class ProviderEventPolicy(TablePolicy[ProviderEvent]):
    """provider_events: the webhook log, for admins."""

    model = ProviderEvent

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        return true() if viewer.is_admin else false()


class CouponPolicy(TablePolicy[Coupon]):
    model = Coupon

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        if viewer.is_admin:
            return true()
        if viewer.doctor_id is not None:
            return Coupon.doctor_id == viewer.doctor_id
        return false()

    def can_manage(self, viewer: Viewer, doctor_id: uuid.UUID | None) -> bool:
        """Doctors manage their own coupons; admins any, including platform-wide ones."""
        if viewer.is_service or viewer.is_admin:
            return True
        return doctor_id is not None and viewer.doctor_id == doctor_id


class CouponUsagePolicy(TablePolicy[CouponUsage]):
    model = CouponUsage

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        if viewer.is_admin:
            return true()
        if viewer.user_id is None:
            return false()
        own = CouponUsage.user_id == viewer.user_id
        if viewer.doctor_id is not None:
            doctors_coupon = (
                select(Coupon.id)
                .where(Coupon.id == CouponUsage.coupon_id, Coupon.doctor_id == viewer.doctor_id)
                .exists()
            )
            return or_(own, doctors_coupon)
        return own


class ReviewPolicy(TablePolicy[Review]):
    model = Review

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        if viewer.is_admin:
            return true()
        public = (
            select(Doctor.id)
            .where(Doctor.id == Review.doctor_id, Doctor.verified.is_(True))
            .exists()
        )
        conditions: list[ColumnElement[bool]] = [public]
        if viewer.user_id is not None:
            conditions.append(Review.patient_id == viewer.user_id)
        if viewer.doctor_id is not None:
            conditions.append(Review.doctor_id == viewer.doctor_id)
        return or_(*conditions)

    def can_feature(self, viewer: Viewer) -> bool:
        return viewer.is_service or viewer.is_admin


appointment_policy = AppointmentPolicy()
appointment_event_policy = AppointmentEventPolicy()
clinical_note_policy = ClinicalNotePolicy()
slot_hold_policy = SlotHoldPolicy()
payment_policy = PaymentPolicy()
refund_policy = RefundPolicy()
provider_event_policy = ProviderEventPolicy()
coupon_policy = CouponPolicy()
coupon_usage_policy = CouponUsagePolicy()
review_policy = ReviewPolicy()
