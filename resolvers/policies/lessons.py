"""lessons, lesson_progress and entitlements.

- lessons: anyone (anon included) reads published lessons; coaches and admins read all
  and write. Column-level: `video_id` and `chapters` of a paywalled lesson only for
  coaches, admins and users with an active `lessons` entitlement (`content`).
- lesson_progress: a user reads and writes their own rows; admins read all.
- entitlements: a user reads their own; admins read and manage all.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, false, func, not_, or_, select, true

from models import Entitlement, Lesson, LessonProgress
from models.entitlement import LESSONS_PRODUCT
from resolvers.core.identity import Viewer
from resolvers.policies.base import TablePolicy


def active_entitlement(user_id: uuid.UUID, product: str = LESSONS_PRODUCT) -> ColumnElement[bool]:
    """An unrevoked entitlement row of `user_id` for `product` that has not expired."""
    return (
        select(Entitlement.id)
        .where(
            Entitlement.user_id == user_id,
            Entitlement.product == product,
            Entitlement.revoked_at.is_(None),
            or_(Entitlement.valid_until.is_(None), Entitlement.valid_until > func.now()),
        )
        .exists()
    )


class LessonPolicy(TablePolicy[Lesson]):
    model = Lesson

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        if viewer.is_admin or viewer.is_coach:
            return true()
        return Lesson.published.is_(True)

    def content(self, viewer: Viewer, lesson: Lesson) -> bool | None:
        """Whether the viewer sees `video_id` and `chapters` of a lesson they may read:
        free lessons for everyone; paywalled ones for service_role, coaches and admins,
        never for anon. None: it depends on the user's active `lessons` entitlement
        (`active_entitlement`), which the caller looks up once per request."""
        if not lesson.paywall or viewer.is_service or viewer.is_admin or viewer.is_coach:
            return True
        if viewer.user_id is None:
            return False
        return None

    def content_predicate(self, viewer: Viewer, paywall: Any) -> ColumnElement[bool]:
        """`content` in SQL for a lesson whose `paywall` column is given: the same rule,
        with the entitlement looked up in the statement."""
        if viewer.is_service or viewer.is_admin or viewer.is_coach:
            return true()
        if viewer.user_id is None:
            return not_(paywall)
        return or_(not_(paywall), active_entitlement(viewer.user_id))

    def can_write(self, viewer: Viewer) -> bool:
        return viewer.is_service or viewer.is_admin or viewer.is_coach


class LessonProgressPolicy(TablePolicy[LessonProgress]):
    model = LessonProgress

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        if viewer.is_admin:
            return true()
        if viewer.user_id is None:
            return false()
        return LessonProgress.user_id == viewer.user_id

    def can_write(self, viewer: Viewer, user_id: uuid.UUID) -> bool:
        """Progress is written only for oneself (service_role for anyone)."""
        return viewer.is_service or (viewer.user_id is not None and viewer.user_id == user_id)


class EntitlementPolicy(TablePolicy[Entitlement]):
    model = Entitlement

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        if viewer.is_admin:
            return true()
        if viewer.user_id is None:
            return false()
        return Entitlement.user_id == viewer.user_id

    def can_manage(self, viewer: Viewer) -> bool:
        return viewer.is_service or viewer.is_admin


lesson_policy = LessonPolicy()
lesson_progress_policy = LessonProgressPolicy()
entitlement_policy = EntitlementPolicy()
