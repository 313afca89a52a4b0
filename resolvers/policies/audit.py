"""audit_log: admins read it; nobody updates or deletes (the database refuses)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, true

from models import AuditEntry
from resolvers.core.identity import Viewer
from resolvers.policies.base import TablePolicy


class AuditEntryPolicy(TablePolicy[AuditEntry]):
    model = AuditEntry

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        return true() if viewer.is_admin else false()

    @staticmethod
    def audited(viewer: Viewer) -> bool:
        """Whose writes are recorded: staff, admins, doctors, coaches (moderation, lessons)
        and service_role; a patient's own writes are not."""
        return (
            viewer.is_service
            or viewer.is_admin
            or viewer.is_staff
            or viewer.is_doctor
            or viewer.is_coach
        )


audit_policy = AuditEntryPolicy()
