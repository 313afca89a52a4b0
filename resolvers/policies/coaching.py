"""coach_clients: admins assign clients to coaches and read every link; a coach reads their
own links (as coach), a client theirs (as client). `coached` is the goals policy's rule: a
coach reads the goals (and milestones and check-ins) of their assigned clients only."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, false, or_, select, true

from models import CoachClient
from resolvers.core.identity import Viewer
from resolvers.policies.base import TablePolicy


def coached(coach_id: uuid.UUID, client_id: Any) -> ColumnElement[bool]:
    """The user `client_id` (a column or value) is an assigned client of this coach."""
    return (
        select(CoachClient.id)
        .where(CoachClient.client_id == client_id, CoachClient.coach_id == coach_id)
        .exists()
    )


class CoachClientPolicy(TablePolicy[CoachClient]):
    model = CoachClient

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        if viewer.is_admin:
            return true()
        if viewer.user_id is None:
            return false()
        return or_(CoachClient.coach_id == viewer.user_id, CoachClient.client_id == viewer.user_id)

    def can_manage(self, viewer: Viewer) -> bool:
        return viewer.is_service or viewer.is_admin


coach_client_policy = CoachClientPolicy()
