"""users: a user reads and updates their own row; coaches read names, avatars and time
zones; the front desk (staff) reads names and contact details; a doctor reads the names of
their patients (any appointment) and their contact details while a non-cancelled
appointment links them; admins everything.

Column-level: `contact` says who sees email and phone; others get `null`.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, false, or_, select, true

from models import Appointment, User
from resolvers.core.identity import Viewer
from resolvers.policies.appointments import care_relationship
from resolvers.policies.base import TablePolicy


def _patients_of(doctor_id: uuid.UUID) -> ColumnElement[bool]:
    """Users who have booked this doctor (any appointment, any status)."""
    return (
        select(Appointment.id)
        .where(Appointment.patient_id == User.id, Appointment.doctor_id == doctor_id)
        .exists()
    )


def _own_or_patients(viewer: Viewer) -> ColumnElement[bool]:
    """The viewer's own row, and for a doctor the rows of their patients."""
    if viewer.user_id is None:
        return false()
    own = User.id == viewer.user_id
    if viewer.doctor_id is not None:
        return or_(own, _patients_of(viewer.doctor_id))
    return own


class UserPolicy(TablePolicy[User]):
    model = User

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        if viewer.is_admin or viewer.is_coach or viewer.is_staff:
            return true()
        return _own_or_patients(viewer)

    def contact(self, viewer: Viewer) -> ColumnElement[bool]:
        """Who sees `email` and `phone` of a row they may read: the user, admins, and a
        doctor while a non-cancelled appointment links the patient to them (the care
        relationship), and the front desk (staff). Coaches see name, avatar and time zone
        only."""
        if viewer.is_service or viewer.is_admin or viewer.is_staff:
            return true()
        if viewer.user_id is None:
            return false()
        own = User.id == viewer.user_id
        if viewer.doctor_id is not None:
            return or_(own, care_relationship(viewer.doctor_id, User.id))
        return own

    def can_manage_accounts(self, viewer: Viewer) -> bool:
        """Roles, deactivation, doctor onboarding, the full user list: admins."""
        return viewer.is_service or viewer.is_admin

    def can_update(self, viewer: Viewer, user_id: uuid.UUID) -> bool:
        return viewer.is_service or viewer.is_admin or viewer.user_id == user_id


user_policy = UserPolicy()
