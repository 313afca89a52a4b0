"""Factories for lessons, progress and entitlements."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from models import Entitlement, Lesson, LessonProgress, User
from models.entitlement import LESSONS_PRODUCT
from resolvers.core.database import Database

_sequence = itertools.count(1)


async def make_lesson(
    db: Database,
    *,
    module: str = "Foundations",
    position: int | None = None,
    published: bool = True,
    paywall: bool = False,
    **fields: Any,
) -> Lesson:
    number = next(_sequence)
    values: dict[str, Any] = {
        "slug": f"lesson-{number}",
        "title": f"Lesson {number}",
        "description": f"About lesson {number}",
        "module": module,
        "position": number if position is None else position,
        "duration_sec": 600,
        "video_id": f"vid{number}",
        "chapters": [{"title": "Intro", "startSec": 0}, {"title": "Main", "startSec": 60}],
        "tags": ["sleep"],
        "published": published,
        "paywall": paywall,
    }
    values.update(fields)
    lesson = Lesson(**values)
    async with db.transaction() as session:
        session.add(lesson)
        await session.flush()
    return lesson


async def make_progress(
    db: Database, user: User, lesson: Lesson, *, position_sec: int = 30, completed: bool = False
) -> LessonProgress:
    row = LessonProgress(
        user_id=user.id,
        lesson_id=lesson.id,
        position_sec=position_sec,
        completed=completed,
        completed_at=datetime.now(UTC) if completed else None,
    )
    async with db.transaction() as session:
        session.add(row)
        await session.flush()
    return row


async def make_entitlement(
    db: Database,
    user: User,
    *,
    product: str = LESSONS_PRODUCT,
    valid_for: timedelta | None = timedelta(days=30),
    revoked: bool = False,
) -> Entitlement:
    now = datetime.now(UTC)
    row = Entitlement(
        user_id=user.id,
        product=product,
        valid_until=None if valid_for is None else now + valid_for,
        revoked_at=now if revoked else None,
    )
    async with db.transaction() as session:
        session.add(row)
        await session.flush()
    return row
