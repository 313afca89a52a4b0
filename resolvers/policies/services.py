"""services: anyone reads the active services of verified doctors; a doctor reads and
manages their own (inactive ones too); admins everything."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, and_, or_, select, true

from models import Doctor, Service
from resolvers.core.identity import Viewer
from resolvers.policies.base import TablePolicy


class ServicePolicy(TablePolicy[Service]):
    model = Service

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        if viewer.is_admin:
            return true()
        public = and_(
            Service.active.is_(True),
            select(Doctor.id)
            .where(Doctor.id == Service.doctor_id, Doctor.verified.is_(True))
            .exists(),
        )
        if viewer.doctor_id is not None:
            return or_(public, Service.doctor_id == viewer.doctor_id)
        return public

    def can_manage(self, viewer: Viewer, doctor_id: uuid.UUID) -> bool:
        return viewer.is_service or viewer.is_admin or viewer.doctor_id == doctor_id


service_policy = ServicePolicy()
