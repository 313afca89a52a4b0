"""doctors: anyone reads verified doctors; a doctor reads and updates their own row;
admins everything; verification is for admins only."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, true

from models import Doctor
from resolvers.core.identity import Viewer
from resolvers.policies.base import TablePolicy


class DoctorPolicy(TablePolicy[Doctor]):
    model = Doctor

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        if viewer.is_admin:
            return true()
        if viewer.user_id is not None:
            return or_(Doctor.verified.is_(True), Doctor.user_id == viewer.user_id)
        return Doctor.verified.is_(True)

    def can_update(self, viewer: Viewer, doctor: Doctor) -> bool:
        return (
            viewer.is_service
            or viewer.is_admin
            or (viewer.user_id is not None and doctor.user_id == viewer.user_id)
        )

    def can_verify(self, viewer: Viewer) -> bool:
        return viewer.is_service or viewer.is_admin


doctor_policy = DoctorPolicy()
