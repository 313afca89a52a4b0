"""Demo inboxes: a few notifications for each demo account, as the rules in
resolvers/notifications.py would have written them for the demo's appointments, goals and
community threads (some already read)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import Notification
from resolvers.demo.ids import demo_id, user_id_for

# key, recipient, kind, subject type, subject kind and key, actor role, hours ago, read, data
INBOXES: list[tuple[str, str, str, str, str, str, int, bool, dict[str, Any]]] = [
    (
        "pat-video-confirmed",
        "patient@caregraph.dev",
        "booking_confirmed",
        "Appointment",
        "appointment:pat-video",
        "service",
        6,
        False,
        {},
    ),
    (
        "pat-reply-coach",
        "patient@caregraph.dev",
        "reply",
        "Comment",
        "comment:w1r1",
        "coach",
        228,
        True,
        {"toComment": True},
    ),
    (
        "pat-reply-robin",
        "patient@caregraph.dev",
        "reply",
        "Comment",
        "comment:s1",
        "patient",
        40,
        False,
        {"toComment": False},
    ),
    (
        "pat-refunded",
        "patient@caregraph.dev",
        "payment_refunded",
        "Payment",
        "payment:pat-refunded",
        "admin",
        300,
        True,
        {"amount": "200.00", "currency": "USD"},
    ),
    (
        "robin-confirmed",
        "patient2@caregraph.dev",
        "booking_confirmed",
        "Appointment",
        "appointment:pat2-confirmed",
        "service",
        20,
        False,
        {},
    ),
    (
        "robin-reply",
        "patient2@caregraph.dev",
        "reply",
        "Comment",
        "comment:s1r1",
        "patient",
        38,
        False,
        {"toComment": True},
    ),
    (
        "robin-check-in",
        "patient2@caregraph.dev",
        "check_in_due",
        "Goal",
        "goal:robin-meditation",
        "system",
        3,
        False,
        {"frequency": "weekly"},
    ),
    (
        "doctor-cancelled",
        "doctor@caregraph.dev",
        "booking_cancelled",
        "Appointment",
        "appointment:pat-cancelled",
        "patient",
        26,
        False,
        {"reason": "Feeling better"},
    ),
    (
        "doctor-omar-cancelled",
        "doctor@caregraph.dev",
        "booking_cancelled",
        "Appointment",
        "appointment:omar-cancelled",
        "patient",
        250,
        True,
        {},
    ),
    (
        "coach-reply-alex",
        "coach@caregraph.dev",
        "reply",
        "Comment",
        "comment:w1",
        "patient",
        230,
        True,
        {"toComment": False},
    ),
    (
        "coach-reply-robin",
        "coach@caregraph.dev",
        "reply",
        "Comment",
        "comment:w2",
        "patient",
        220,
        False,
        {"toComment": False},
    ),
    (
        "staff-reply",
        "staff@caregraph.dev",
        "reply",
        "Comment",
        "comment:m2r1",
        "patient",
        10,
        False,
        {"toComment": True},
    ),
    (
        "admin-report",
        "admin@caregraph.dev",
        "report_resolved",
        "Post",
        "post:spam",
        "coach",
        4,
        False,
        {"action": "hide_content", "status": "actioned"},
    ),
]


async def load_notifications_demo(session: AsyncSession) -> None:
    now = datetime.now(UTC)
    rows = []
    for key, email, kind, subject_type, subject, role, hours, read, data in INBOXES:
        subject_kind, subject_key = subject.split(":", 1)
        created_at = now - timedelta(hours=hours)
        rows.append(
            {
                "id": demo_id("notification", key),
                "user_id": user_id_for(email),
                "kind": kind,
                "subject_type": subject_type,
                "subject_id": demo_id(subject_kind, subject_key),
                "actor_role": role,
                "data": data,
                "created_at": created_at,
                "read_at": created_at + timedelta(minutes=30) if read else None,
            }
        )
    await session.execute(pg_insert(Notification).values(rows).on_conflict_do_nothing())
