"""doctor_availability and availability_exceptions: anyone reads the active rules and the
exceptions of verified doctors; a doctor reads and manages their own; admins everything."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, true

from models import AvailabilityException, Doctor, DoctorAvailability
from resolvers.core.identity import Viewer
from resolvers.policies.base import TablePolicy


def _doctor_is_verified(doctor_id: Any) -> ColumnElement[bool]:
    return select(Doctor.id).where(Doctor.id == doctor_id, Doctor.verified.is_(True)).exists()


def can_manage_schedule(viewer: Viewer, doctor_id: uuid.UUID) -> bool:
    return viewer.is_service or viewer.is_admin or viewer.doctor_id == doctor_id


class DoctorAvailabilityPolicy(TablePolicy[DoctorAvailability]):
    model = DoctorAvailability

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        if viewer.is_admin:
            return true()
        public = and_(
            DoctorAvailability.active.is_(True),
            _doctor_is_verified(DoctorAvailability.doctor_id),
        )
        if viewer.doctor_id is not None:
            return or_(public, DoctorAvailability.doctor_id == viewer.doctor_id)
        return public


class AvailabilityExceptionPolicy(TablePolicy[AvailabilityException]):
    model = AvailabilityException

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        if viewer.is_admin:
            return true()
        public = _doctor_is_verified(AvailabilityException.doctor_id)
        if viewer.doctor_id is not None:
            return or_(public, AvailabilityException.doctor_id == viewer.doctor_id)
        return public


availability_policy = DoctorAvailabilityPolicy()
exception_policy = AvailabilityExceptionPolicy()
