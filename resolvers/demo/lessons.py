"""Demo lessons: two modules (some lessons paywalled, one draft), an entitlement for the
second demo patient, and progress for both demo patients."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import Entitlement, Lesson, LessonProgress
from models.entitlement import LESSONS_PRODUCT
from resolvers.demo.ids import demo_id, user_id_for

# module, slug, title, duration (s), video id, paywall, published, tags
LESSONS: list[tuple[str, str, str, int, str, bool, bool, list[str]]] = [
    (
        "Foundations",
        "welcome-to-your-program",
        "Welcome to your program",
        420,
        "dQw4w9WgXcQ",
        False,
        True,
        ["orientation"],
    ),
    (
        "Foundations",
        "setting-smart-goals",
        "Setting SMART goals",
        780,
        "Xk3bT9fA2pQ",
        False,
        True,
        ["goals"],
    ),
    ("Foundations", "sleep-basics", "Sleep basics", 960, "pL8sN2vR4cE", False, True, ["sleep"]),
    (
        "Foundations",
        "stress-and-breathing",
        "Stress and breathing",
        1140,
        "bR7tH1nG5kY",
        True,
        True,
        ["stress", "breathing"],
    ),
    ("Building Habits", "habit-loops", "Habit loops", 900, "hB1tL0oPs9Z", False, True, ["habits"]),
    (
        "Building Habits",
        "nutrition-swaps",
        "Small nutrition swaps",
        1020,
        "nU7rSw4pS2x",
        True,
        True,
        ["nutrition", "habits"],
    ),
    (
        "Building Habits",
        "movement-snacks",
        "Movement snacks",
        660,
        "mV3sN4cK8qW",
        True,
        True,
        ["movement"],
    ),
    (
        "Building Habits",
        "keeping-momentum",
        "Keeping momentum (draft)",
        840,
        "kP2mMn7tM1a",
        True,
        False,
        ["habits"],
    ),
]


def _chapters(duration: int) -> list[dict[str, Any]]:
    third = duration // 3
    return [
        {"title": "Introduction", "startSec": 0},
        {"title": "Key ideas", "startSec": third},
        {"title": "Putting it into practice", "startSec": 2 * third},
    ]


async def load_lessons_demo(session: AsyncSession) -> None:
    now = datetime.now(UTC)
    lessons: list[dict[str, Any]] = []
    positions: dict[str, int] = {}
    for module, slug, title, duration, video_id, paywall, published, tags in LESSONS:
        positions[module] = positions.get(module, 0) + 1
        lessons.append(
            {
                "id": demo_id("lesson", slug),
                "slug": slug,
                "title": title,
                "description": f"{title}: a short, practical video lesson.",
                "module": module,
                "position": positions[module],
                "duration_sec": duration,
                "video_id": video_id,
                "chapters": _chapters(duration),
                "tags": tags,
                "published": published,
                "paywall": paywall,
            }
        )
    await session.execute(pg_insert(Lesson).values(lessons).on_conflict_do_nothing())

    patient = user_id_for("patient@caregraph.dev")
    patient2 = user_id_for("patient2@caregraph.dev")
    admin = user_id_for("admin@caregraph.dev")
    await session.execute(
        pg_insert(Entitlement)
        .values(
            id=demo_id("entitlement", "patient2@caregraph.dev"),
            user_id=patient2,
            product=LESSONS_PRODUCT,
            valid_until=now + timedelta(days=365),
            granted_by=admin,
        )
        .on_conflict_do_nothing()
    )

    # user, slug, position, completed, days ago
    progress = [
        (patient, "welcome-to-your-program", 420, True, 6),
        (patient, "setting-smart-goals", 780, True, 4),
        (patient, "sleep-basics", 300, False, 1),
        (patient2, "welcome-to-your-program", 420, True, 3),
        (patient2, "stress-and-breathing", 500, False, 2),
        (patient2, "habit-loops", 900, True, 1),
    ]
    rows = [
        {
            "id": demo_id("lesson_progress", f"{user}:{slug}"),
            "user_id": user,
            "lesson_id": demo_id("lesson", slug),
            "position_sec": position,
            "completed": completed,
            "completed_at": now - timedelta(days=days) if completed else None,
            "last_watched_at": now - timedelta(days=days),
        }
        for user, slug, position, completed, days in progress
    ]
    await session.execute(pg_insert(LessonProgress).values(rows).on_conflict_do_nothing())
