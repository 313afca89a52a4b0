"""Notifications: each user's inbox. `notify` writes one in the transaction of the change
it tells about (so there is one if and only if that change committed); jobs write the
time-based ones (appointment reminders, check-ins due). Reads are the viewer's own inbox;
a notification's subject is resolved through the subject's table policy (schema side)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import Appointment, Comment, Goal, GoalCheckIn, Notification, Payment, Post, Report
from resolvers.core.context import Context
from resolvers.core.database import run_in
from resolvers.core.errors import ValidationFailed
from resolvers.core.identity import Viewer
from resolvers.core.jobs import JobContext, enqueue, job, periodic_job
from resolvers.core.json_reads import CountOf, NodeOf, PageOf
from resolvers.core.loaders import RowByIdLoader
from resolvers.core.pagination import Page, SortKey, page_size, paginate
from resolvers.core.settings import Settings
from resolvers.policies import readable, require, visible
from resolvers.webhooks import on_notification

MAX_MARK_IDS = 100


@dataclass(frozen=True)
class Subject:
    """What a notification is about: a GraphQL type name and the row's id."""

    type: str
    id: uuid.UUID


def member_role(viewer: Viewer) -> str:
    """In which capacity a viewer acted, as a notification names it (no person)."""
    if viewer.is_service:
        return "system"
    for role, holds in (
        ("admin", viewer.is_admin),
        ("staff", viewer.is_staff),
        ("coach", viewer.is_coach),
        ("doctor", viewer.is_doctor),
    ):
        if holds:
            return role
    return "patient"


_NOTIFICATION_GIVEN = (
    "id",
    "user_id",
    "kind",
    "subject_type",
    "subject_id",
    "actor_role",
    "data",
    "dedupe_key",
)
# Built once (run prepared in the write's transaction); the database dates it.
_NEW_NOTIFICATION = (
    insert(Notification)
    .values({name: bindparam(name) for name in _NOTIFICATION_GIVEN})
    .on_conflict_do_nothing(
        index_elements=[Notification.user_id, Notification.dedupe_key],
        index_where=Notification.dedupe_key.is_not(None),
    )
    .returning(Notification.created_at.label("created_at"))
)


async def notify(
    session: AsyncSession,
    *,
    user_id: uuid.UUID | None,
    kind: str,
    subject: Subject,
    actor_role: str | None = None,
    data: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> Notification | None:
    """Adds a notification to `user_id`'s inbox in `session`'s transaction. With a
    `dedupe_key`, a second one with the same key for the same user is not added (None)."""
    if user_id is None:
        return None
    notification = Notification(
        id=uuid.uuid4(),
        user_id=user_id,
        kind=kind,
        subject_type=subject.type,
        subject_id=subject.id,
        actor_role=actor_role,
        data=data or {},
        dedupe_key=dedupe_key,
        read_at=None,
    )
    rows = await run_in(
        session,
        _NEW_NOTIFICATION,
        {name: getattr(notification, name) for name in _NOTIFICATION_GIVEN},
    )
    if not rows:  # its dedupe key was taken
        return None
    notification.created_at = rows[0].created_at
    # The clinic's webhook endpoints for this kind: a delivery each, in this transaction.
    await on_notification(session, notification)
    return notification


async def notify_each(
    session: AsyncSession,
    user_ids: list[uuid.UUID | None],
    *,
    except_user: uuid.UUID | None,
    kind: str,
    subject: Subject,
    actor_role: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """The same notification to each of `user_ids` (once each), except the one who acted."""
    seen: set[uuid.UUID] = set()
    for user_id in user_ids:
        if user_id is None or user_id == except_user or user_id in seen:
            continue
        seen.add(user_id)
        await notify(
            session,
            user_id=user_id,
            kind=kind,
            subject=subject,
            actor_role=actor_role,
            data=data,
        )


# --- the inbox -----------------------------------------------------------------------


NOTIFICATION_SORT = SortKey((Notification.created_at, Notification.id), descending=True)  # type: ignore[arg-type]
VIEWER_NOTIFICATIONS = PageOf(
    lambda viewer: visible(Notification, viewer),
    Notification.user_id,
    NOTIFICATION_SORT,
    via="user_id",
    filters=(("unreadOnly", lambda only: Notification.read_at.is_(None) if only else None),),
)
"""`inbox` (the viewer's own: the parent is the viewer), as a source answered in SQL."""
UNREAD_NOTIFICATIONS = CountOf(
    lambda viewer: select(Notification).where(
        readable(Notification, viewer), Notification.read_at.is_(None)
    ),
    Notification.user_id,
    via="user_id",
)
"""`unread_count` (the parent is the viewer), as a source answered in SQL."""
SUBJECT = NodeOf(
    "subject_type",
    "subject_id",
    tuple(
        (model.__name__, partial(visible, model), model.id)
        for model in (Appointment, Payment, Post, Comment, Report, Goal)
    ),
)
"""A notification's subject as `node(id)` resolves it, as a source answered in SQL."""


async def inbox(
    ctx: Context, *, first: int | None, after: str | None, unread_only: bool
) -> Page[Notification]:
    """The viewer's notifications, newest first."""
    limit = page_size(
        first, default=ctx.settings.default_page_size, maximum=ctx.settings.max_page_size
    )

    def build(viewer: Any) -> Any:
        rows = visible(Notification, viewer).where(Notification.user_id == viewer.user_id)
        if unread_only:
            rows = rows.where(Notification.read_at.is_(None))
        return rows

    return await paginate(
        ctx.db,
        ctx.viewer,
        ("inbox", unread_only),
        Notification,
        build,
        NOTIFICATION_SORT,
        lambda row: (row.created_at, row.id),
        first=limit,
        after=after,
    )


async def unread_count(ctx: Context) -> int:
    """How many of the viewer's notifications are unread."""
    if ctx.viewer.user_id is None:
        return 0
    unread = visible(Notification, ctx.viewer).where(
        Notification.user_id == ctx.viewer.user_id, Notification.read_at.is_(None)
    )
    async with ctx.db.read() as session:
        count = await session.scalar(select(func.count()).select_from(unread.subquery()))
    return int(count or 0)


async def mark_read(
    ctx: Context, ids: list[uuid.UUID] | None, *, everything: bool, now: datetime
) -> int:
    """Marks the viewer's notifications read: those of `ids`, or all; how many changed."""
    require(ctx.viewer.user_id is not None, "Sign in to read notifications.")
    if everything == (ids is not None):
        raise ValidationFailed.single("ids", "give `ids` or `all: true`, not both")
    if ids is not None and len(ids) > MAX_MARK_IDS:
        raise ValidationFailed.single("ids", f"at most {MAX_MARK_IDS}")
    statement = (
        update(Notification)
        .where(Notification.user_id == ctx.viewer.user_id, Notification.read_at.is_(None))
        .values(read_at=now)
    )
    if ids is not None:
        statement = statement.where(Notification.id.in_(ids))
    async with ctx.db.transaction() as session:
        result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)


# --- appointment reminders -----------------------------------------------------------


def reminder_times(starts_at: datetime, settings: Settings) -> list[tuple[int, datetime]]:
    """(minutes before, when) of each reminder of an appointment starting at `starts_at`:
    absolute durations before the start (UTC), so a DST change in between moves nothing."""
    return [
        (minutes, starts_at - timedelta(minutes=minutes))
        for minutes in sorted(settings.reminder_minutes_before, reverse=True)
    ]


async def schedule_reminders(
    session: AsyncSession, settings: Settings, appointment: Appointment, now: datetime
) -> None:
    """Queues the reminders of a confirmed appointment at its current start (those still
    ahead). A job for an earlier start finds the appointment moved and does nothing."""
    for minutes, at in reminder_times(appointment.starts_at, settings):
        if at <= now:
            continue
        await enqueue(
            session,
            "appointment.remind",
            {
                "appointmentId": str(appointment.id),
                "startsAt": appointment.starts_at.isoformat(),
                "minutesBefore": minutes,
            },
            at=at,
            dedupe_key=f"remind:{appointment.id}:{appointment.starts_at.isoformat()}:{minutes}",
        )


@job("appointment.remind")
async def remind_job(jobs: JobContext, payload: dict[str, Any]) -> None:
    """A reminder, if the appointment is still confirmed and still starts when it was
    scheduled for (moved: the move queued new ones), and has not started."""
    starts_at = datetime.fromisoformat(payload["startsAt"])
    minutes = int(payload["minutesBefore"])
    async with jobs.db.transaction() as session:
        appointment = await session.get(Appointment, uuid.UUID(payload["appointmentId"]))
        if (
            appointment is None
            or appointment.status != "confirmed"
            or appointment.starts_at != starts_at
            or jobs.now() >= starts_at
        ):
            return
        await notify(
            session,
            user_id=appointment.patient_id,
            kind="appointment_reminder",
            subject=Subject("Appointment", appointment.id),
            actor_role="system",
            data={"startsAt": starts_at.isoformat(), "minutesBefore": minutes},
            dedupe_key=f"reminder:{appointment.id}:{starts_at.isoformat()}:{minutes}",
        )


# --- goal check-ins due --------------------------------------------------------------

CHECK_IN_DAYS = {"daily": 1, "weekly": 7, "biweekly": 14, "monthly": 30}


def check_in_due(
    frequency: str, start: date, last_check_in: date | None, now: datetime
) -> datetime | None:
    """The latest due date of a goal's check-in at or before `now` (None: not due): a
    period after the date of its last check-in (or its start date, when it has none;
    midnight UTC), then every period after that (one per period missed)."""
    period = timedelta(days=CHECK_IN_DAYS.get(frequency, 7))
    due = datetime.combine(last_check_in or start, time(0), tzinfo=UTC) + period
    if due > now:
        return None
    return due + (now - due) // period * period


def _check_in_key(goal_id: uuid.UUID, due: datetime) -> str:
    return f"check-in:{goal_id}:{due.isoformat()}"


@periodic_job("goals.check_in_due", "7 * * * *")
async def check_in_due_job(jobs: JobContext, _payload: dict[str, Any]) -> None:
    """Hourly: the owner of each active goal whose check-in is due gets one notification
    per period missed (the due date is the dedupe key), however often this runs; goals
    already told for their due date are skipped in one statement."""
    now = jobs.now()
    last = (
        select(GoalCheckIn.goal_id, func.max(GoalCheckIn.date).label("last"))
        .group_by(GoalCheckIn.goal_id)
        .subquery()
    )
    async with jobs.db.transaction() as session:
        rows = (
            await session.execute(
                select(
                    Goal.id, Goal.owner_id, Goal.check_in_frequency, Goal.start_date, last.c.last
                )
                .outerjoin(last, last.c.goal_id == Goal.id)
                .where(Goal.status == "active", Goal.start_date <= now.date())
            )
        ).all()
        due_goals = [
            (goal_id, owner_id, frequency, due)
            for goal_id, owner_id, frequency, start, last_check_in in rows
            if (due := check_in_due(frequency, start, last_check_in, now)) is not None
        ]
        keys = [_check_in_key(goal_id, due) for goal_id, _owner, _frequency, due in due_goals]
        told = set(
            (
                await session.scalars(
                    select(Notification.dedupe_key).where(Notification.dedupe_key.in_(keys))
                )
            ).all()
            if keys
            else ()
        )
        for (goal_id, owner_id, frequency, due), key in zip(due_goals, keys, strict=True):
            if key in told:
                continue
            await notify(
                session,
                user_id=owner_id,
                kind="check_in_due",
                subject=Subject("Goal", goal_id),
                actor_role="system",
                data={"dueAt": due.isoformat(), "frequency": frequency},
                dedupe_key=key,
            )


class NotificationByIdLoader(RowByIdLoader):
    model = Notification
