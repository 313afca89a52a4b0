"""Goals: SMART goals of one person, their milestones and check-ins, progress, and the
care team's read access (see `resolvers.policies.goals`)."""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal_column, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models import Goal, GoalCheckIn, GoalMilestone, User
from models.goal import CHECK_IN_FREQUENCIES, GOAL_STATUSES, GOAL_TYPES
from models.goal_check_in import MOODS
from resolvers.core.context import Context
from resolvers.core.errors import (
    CaregraphError,
    FieldErrors,
    Forbidden,
    InvalidTransitionError,
    NotFound,
    ValidationFailed,
)
from resolvers.core.identity import Viewer
from resolvers.core.json_reads import PageOf, RootPage
from resolvers.core.loaders import PolicyLoader, RowByIdLoader
from resolvers.core.pagination import (
    Page,
    SortKey,
    decode_cursor_for,
    page_size,
    paginate,
)
from resolvers.core.statement_templates import AnySelect
from resolvers.core.windowed_pages import counts_per_parent, pages_per_parent
from resolvers.policies import readable, require, visible
from resolvers.policies.goals import goal_policy
from resolvers.users import user_by

MAX_TITLE_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 5000
MAX_METRIC_LENGTH = 100
MAX_UNIT_LENGTH = 40
MAX_NOTE_LENGTH = 2000
MAX_REWARD_LENGTH = 500
MAX_MILESTONES_PER_GOAL = 50
# |value| < 10^9 with at most 3 decimals fits numeric(12, 3).
MAX_ABS_VALUE = Decimal("999999999.999")
VALUE_QUANTUM = Decimal("0.001")
# The furthest-ahead time zone is UTC+14: a check-in dated "today" there is still valid.
MAX_CLOCK_AHEAD = timedelta(hours=14)

CLOSED_STATUSES = ("completed", "abandoned")
# Allowed status moves; staying in the same status is not a move and always allowed.
STATUS_MOVES: dict[str, frozenset[str]] = {
    "active": frozenset({"paused", "completed", "abandoned"}),
    "paused": frozenset({"active", "completed", "abandoned"}),
    "completed": frozenset(),
    "abandoned": frozenset(),
}


def invalid_status_move(from_status: str, to_status: str) -> InvalidTransitionError:
    allowed = sorted(STATUS_MOVES[from_status])
    hint = f"allowed: {', '.join(allowed)}" if allowed else f"a {from_status} goal is closed"
    return InvalidTransitionError(
        f"A goal cannot move from {from_status} to {to_status} ({hint}).", from_status, to_status
    )


class GoalClosed(CaregraphError):
    """Milestones and check-ins of a completed or abandoned goal cannot change."""

    code = "GOAL_CLOSED"

    def __init__(self, status: str) -> None:
        super().__init__(
            f"This goal is {status}: its milestones and check-ins can no longer change."
        )
        self.status = status


# --- progress -----------------------------------------------------------------------------


def goal_progress(baseline: Decimal, target: Decimal, current: Decimal) -> float:
    """Percent of the way from baseline to target, clamped to 0..100, rounded to 0.01.

    Works in either direction (a target below the baseline, e.g. weight loss, counts
    decreases as progress). When the target equals the baseline (keep a value where it
    is) progress is 100 while the current value equals the target and 0 otherwise.
    """
    if target == baseline:
        return 100.0 if current == target else 0.0
    ratio = (current - baseline) / (target - baseline) * 100
    clamped = min(Decimal(100), max(Decimal(0), ratio))
    return float(round(clamped, 2))


@dataclass(frozen=True)
class MilestoneCompletion:
    completed: int
    total: int

    @property
    def percent(self) -> float | None:
        if self.total == 0:
            return None
        return round(self.completed * 100 / self.total, 2)


def milestone_completion(milestones: Sequence[GoalMilestone]) -> MilestoneCompletion:
    return MilestoneCompletion(
        completed=sum(1 for milestone in milestones if milestone.completed),
        total=len(milestones),
    )


# --- loaders ------------------------------------------------------------------------------


class GoalByIdLoader(RowByIdLoader[Goal]):
    model = Goal


class MilestonesByGoalIdLoader(PolicyLoader[uuid.UUID, list[GoalMilestone]]):
    """All milestones of each goal (at most MAX_MILESTONES_PER_GOAL), by position."""

    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[list[GoalMilestone]]:
        rows = await self.visible_where_in(
            GoalMilestone,
            GoalMilestone.goal_id,
            keys,
            GoalMilestone.goal_id,
            GoalMilestone.position,
        )
        grouped: dict[uuid.UUID, list[GoalMilestone]] = defaultdict(list)
        for milestone in rows:
            grouped[milestone.goal_id].append(milestone)
        return [grouped.get(key, []) for key in keys]


CHECK_IN_SORT = SortKey((GoalCheckIn.date, GoalCheckIn.id), descending=True)  # type: ignore[arg-type]
GOAL_SORT = SortKey((Goal.created_at, Goal.id), descending=True)  # type: ignore[arg-type]


GOAL_CHECK_INS = PageOf(
    lambda viewer: visible(GoalCheckIn, viewer), GoalCheckIn.goal_id, CHECK_IN_SORT
)
"""`Goal.checkIns` (`CheckInsByGoalIdLoader`), as a source for fields answered in SQL."""
OWNER_GOALS = PageOf(
    lambda viewer: visible(Goal, viewer),
    Goal.owner_id,
    GOAL_SORT,
    filters=(("status", lambda status: None if status is None else Goal.status == status),),
)
"""`User.goals` (`GoalsByOwnerIdLoader`), as a source for fields answered in SQL."""
GOAL_OWNER = user_by("owner_id")


def progress_sql(baseline: Any, target: Any, current: Any) -> ColumnElement[Any]:
    """`goal_progress` in SQL (numeric all the way, rounded half to even as Decimal's
    `round` does)."""
    ratio = (current - baseline) / func.nullif(target - baseline, 0) * 100
    clamped = func.least(100, func.greatest(0, ratio))
    hundredths = func.floor(clamped * 100)
    rounded = case(
        (
            clamped * 100 - hundredths == literal_column("0.5"),
            (hundredths + func.mod(hundredths, 2)) / 100,
        ),
        else_=func.round(clamped, 2),
    )
    return case(
        (target == baseline, case((current == target, 100), else_=0)),
        else_=rounded,
    )


def _check_in_key(check_in: GoalCheckIn) -> tuple[date, uuid.UUID]:
    return (check_in.date, check_in.id)


def _goal_key(goal: Goal) -> tuple[datetime, uuid.UUID]:
    return (goal.created_at, goal.id)


class CheckInCountByGoalIdLoader(PolicyLoader[uuid.UUID, int]):
    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[int]:
        counts = await counts_per_parent(
            self.db,
            self.viewer,
            type(self),
            lambda viewer: select(GoalCheckIn.goal_id, func.count()).where(
                readable(GoalCheckIn, viewer)
            ),
            GoalCheckIn.goal_id,
            keys,
        )
        return [counts[key] for key in keys]


@dataclass(frozen=True)
class CheckInPageKey:
    goal_id: uuid.UUID
    first: int
    after: str | None


class CheckInsByGoalIdLoader(PolicyLoader[CheckInPageKey, Page[GoalCheckIn]]):
    """Newest-first check-ins per goal; one windowed statement per distinct (first, after).
    Totals come from `counts`, only when a page's `count` is awaited."""

    def count(self, goal_id: Any) -> Any:
        return self.sibling(CheckInCountByGoalIdLoader).load(goal_id)

    async def batch_load_fn(self, keys: Sequence[CheckInPageKey]) -> list[Page[GoalCheckIn]]:
        by_arguments: dict[tuple[int, str | None], set[uuid.UUID]] = defaultdict(set)
        for key in keys:
            by_arguments[(key.first, key.after)].add(key.goal_id)
        pages: dict[CheckInPageKey, Page[GoalCheckIn]] = {}
        for (first, after), goal_ids in by_arguments.items():
            found = await pages_per_parent(
                self.db,
                self.viewer,
                type(self),
                GoalCheckIn,
                lambda viewer: visible(GoalCheckIn, viewer),
                GoalCheckIn.goal_id,
                goal_ids,
                CHECK_IN_SORT,
                _check_in_key,
                first=first,
                after=after,
                count=self.count,
            )
            for goal_id, page in found.items():
                pages[CheckInPageKey(goal_id, first, after)] = page
        return [pages[key] for key in keys]


@dataclass(frozen=True)
class OwnerGoalCountKey:
    owner_id: uuid.UUID
    status: str | None


class GoalCountByOwnerIdLoader(PolicyLoader[OwnerGoalCountKey, int]):
    async def batch_load_fn(self, keys: Sequence[OwnerGoalCountKey]) -> list[int]:
        by_status: dict[str | None, set[uuid.UUID]] = defaultdict(set)
        for key in keys:
            by_status[key.status].add(key.owner_id)
        counts: dict[OwnerGoalCountKey, int] = {}
        for status, owner_ids in by_status.items():

            def statement(viewer: Viewer, status: str | None = status) -> AnySelect:
                counted = select(Goal.owner_id, func.count()).where(readable(Goal, viewer))
                return counted if status is None else counted.where(Goal.status == status)

            found = await counts_per_parent(
                self.db, self.viewer, (type(self), status), statement, Goal.owner_id, owner_ids
            )
            for owner_id, count in found.items():
                counts[OwnerGoalCountKey(owner_id, status)] = count
        return [counts[key] for key in keys]


@dataclass(frozen=True)
class OwnerGoalsKey:
    owner_id: uuid.UUID
    status: str | None
    first: int
    after: str | None


class GoalsByOwnerIdLoader(PolicyLoader[OwnerGoalsKey, Page[Goal]]):
    """Newest-first goals per owner that the viewer may read (for `User.goals`); one
    windowed statement per distinct (status, first, after)."""

    async def batch_load_fn(self, keys: Sequence[OwnerGoalsKey]) -> list[Page[Goal]]:
        by_arguments: dict[tuple[str | None, int, str | None], set[uuid.UUID]] = defaultdict(set)
        for key in keys:
            by_arguments[(key.status, key.first, key.after)].add(key.owner_id)
        pages: dict[OwnerGoalsKey, Page[Goal]] = {}
        for (status, first, after), owner_ids in by_arguments.items():

            def statement(viewer: Viewer, status: str | None = status) -> AnySelect:
                goals = visible(Goal, viewer)
                return goals if status is None else goals.where(Goal.status == status)

            def count(owner_id: Any, status: str | None = status) -> Any:
                return self.sibling(GoalCountByOwnerIdLoader).load(
                    OwnerGoalCountKey(owner_id, status)
                )

            found = await pages_per_parent(
                self.db,
                self.viewer,
                (type(self), status),
                Goal,
                statement,
                Goal.owner_id,
                owner_ids,
                GOAL_SORT,
                _goal_key,
                first=first,
                after=after,
                count=count,
            )
            for owner_id, page in found.items():
                pages[OwnerGoalsKey(owner_id, status, first, after)] = page
        return [pages[key] for key in keys]


# --- reads --------------------------------------------------------------------------------


@dataclass(frozen=True)
class GoalFilter:
    status: str | None = None
    type: str | None = None
    owner_id: uuid.UUID | None = None
    due_before: date | None = None


def _limit(ctx: Context, first: int | None) -> int:
    return page_size(
        first, default=ctx.settings.default_page_size, maximum=ctx.settings.max_page_size
    )


def _goals_statement(goal_filter: GoalFilter) -> Callable[[Viewer], AnySelect]:
    def statement(viewer: Viewer) -> AnySelect:
        goals = visible(Goal, viewer)
        if goal_filter.status is not None:
            goals = goals.where(Goal.status == goal_filter.status)
        if goal_filter.type is not None:
            goals = goals.where(Goal.type == goal_filter.type)
        if goal_filter.owner_id is not None:
            goals = goals.where(Goal.owner_id == goal_filter.owner_id)
        if goal_filter.due_before is not None:
            goals = goals.where(Goal.target_date < goal_filter.due_before)
        return goals

    return statement


def _goals_key(goal_filter: GoalFilter) -> object:
    # An owner or a date is a value without bound: such lists are built per call.
    unbounded = goal_filter.owner_id is not None or goal_filter.due_before is not None
    return None if unbounded else ("goals", goal_filter)


def goal_rows(
    ctx: Context, goal_filter: GoalFilter, *, first: int | None, after: str | None
) -> RootPage:
    """`list_goals` as a source for a root field answered in SQL."""
    return RootPage(
        build=_goals_statement(goal_filter),
        sort=GOAL_SORT,
        first=_limit(ctx, first),
        after=decode_cursor_for(GOAL_SORT, after) if after is not None else None,
        key=_goals_key(goal_filter),
    )


async def list_goals(
    ctx: Context, goal_filter: GoalFilter, *, first: int | None, after: str | None
) -> Page[Goal]:
    """Goals the viewer may read, newest first, keyset-paginated."""
    limit = _limit(ctx, first)
    page = await paginate(
        ctx.db,
        ctx.viewer,
        _goals_key(goal_filter),
        Goal,
        _goals_statement(goal_filter),
        GOAL_SORT,
        _goal_key,
        first=limit,
        after=after,
    )
    loader = ctx.loaders.get(GoalByIdLoader)
    for goal in page.rows:
        loader.replace(goal.id, goal)
    return page


async def get_goal(ctx: Context, goal_id: uuid.UUID) -> Goal | None:
    return await ctx.loaders.get(GoalByIdLoader).load(goal_id)


async def goal_milestones(ctx: Context, goal_id: uuid.UUID) -> list[GoalMilestone]:
    return await ctx.loaders.get(MilestonesByGoalIdLoader).load(goal_id)


async def goal_check_ins(
    ctx: Context, goal_id: uuid.UUID, *, first: int | None, after: str | None
) -> Page[GoalCheckIn]:
    """A goal's check-ins, newest date first; batched across goals with a window function."""
    limit = _limit(ctx, first)
    if after is not None:
        decode_cursor_for(CHECK_IN_SORT, after)  # a bad cursor is the caller's error
    return await ctx.loaders.get(CheckInsByGoalIdLoader).load(CheckInPageKey(goal_id, limit, after))


async def owner_goals(
    ctx: Context,
    owner_id: uuid.UUID,
    *,
    status: str | None,
    first: int | None,
    after: str | None,
) -> Page[Goal]:
    """`User.goals`: that user's goals the viewer may read, newest first."""
    limit = _limit(ctx, first)
    if after is not None:
        decode_cursor_for(GOAL_SORT, after)
    page = await ctx.loaders.get(GoalsByOwnerIdLoader).load(
        OwnerGoalsKey(owner_id, status, limit, after)
    )
    loader = ctx.loaders.get(GoalByIdLoader)
    for goal in page.rows:
        loader.replace(goal.id, goal)
    return page


# --- validation helpers -------------------------------------------------------------------


def _measured(errors: FieldErrors, field: str, value: float | None) -> Decimal | None:
    """A measured value as numeric(12, 3), or a field error."""
    if value is None:
        return None
    if not math.isfinite(value):
        errors.add(field, "must be a finite number")
        return None
    try:
        number = Decimal(repr(value))
    except InvalidOperation:
        errors.add(field, "must be a number")
        return None
    if abs(number) > MAX_ABS_VALUE:
        errors.add(field, f"must be between -{MAX_ABS_VALUE} and {MAX_ABS_VALUE}")
        return None
    if number != number.quantize(VALUE_QUANTUM):
        errors.add(field, "at most 3 decimal places")
        return None
    return number.quantize(VALUE_QUANTUM)


def _text(
    errors: FieldErrors,
    field: str,
    value: str | None,
    maximum: int,
    *,
    required: bool = False,
) -> str | None:
    if value is None:
        return None
    cleaned = value.strip()
    if required and not cleaned:
        errors.add(field, "must not be empty")
    if len(cleaned) > maximum:
        errors.add(field, f"at most {maximum} characters")
    return cleaned


def _importance(errors: FieldErrors, value: int | None) -> None:
    if value is not None:
        errors.check(1 <= value <= 5, "importance", "must be between 1 and 5")


def _dates(errors: FieldErrors, start: date, target: date | None) -> None:
    if target is not None and target < start:
        errors.add("targetDate", "must not be before startDate")


def _choice(errors: FieldErrors, field: str, value: str | None, allowed: Sequence[str]) -> None:
    if value is not None and value not in allowed:
        errors.add(field, f"must be one of {', '.join(allowed)}")


def _utc_today() -> date:
    return datetime.now(UTC).date()


# --- goal writes --------------------------------------------------------------------------


@dataclass(frozen=True)
class GoalSpec:
    title: str
    type: str
    baseline_value: float
    target_value: float
    description: str = ""
    metric: str = ""
    unit: str = ""
    current_value: float | None = None
    start_date: date | None = None
    target_date: date | None = None
    check_in_frequency: str = "weekly"
    importance: int = 3


async def _locked_goal(
    ctx: Context,
    session: AsyncSession,
    goal_id: uuid.UUID | ColumnElement[Any],
    not_found: str = "Goal not found.",
) -> Goal:
    """The goal, locked for this transaction: NOT_FOUND when the viewer cannot read it,
    FORBIDDEN when they can read but not write it. `goal_id` may be a scalar subquery."""
    statement = visible(Goal, ctx.viewer).where(Goal.id == goal_id).with_for_update(of=Goal)
    goal = (await session.scalars(statement)).one_or_none()
    if goal is None:
        raise NotFound(not_found)
    require(
        goal_policy.can_write(ctx.viewer, goal),
        "Only the goal's owner or an admin may change this goal.",
    )
    return goal


def _open_goal(goal: Goal) -> None:
    if goal.status in CLOSED_STATUSES:
        raise GoalClosed(goal.status)


async def create_goal(ctx: Context, owner_id: uuid.UUID | None, spec: GoalSpec) -> Goal:
    viewer = ctx.viewer
    owner = owner_id or viewer.user_id
    if owner is None:
        if viewer.is_service:
            raise ValidationFailed.single("ownerId", "is required for service calls")
        raise Forbidden("Sign in to create goals.")
    require(
        goal_policy.can_create_for(viewer, owner),
        "You may only create goals for yourself.",
    )
    errors = FieldErrors()
    title = _text(errors, "title", spec.title, MAX_TITLE_LENGTH, required=True)
    description = _text(errors, "description", spec.description, MAX_DESCRIPTION_LENGTH)
    metric = _text(errors, "metric", spec.metric, MAX_METRIC_LENGTH)
    unit = _text(errors, "unit", spec.unit, MAX_UNIT_LENGTH)
    _choice(errors, "type", spec.type, GOAL_TYPES)
    _choice(errors, "checkInFrequency", spec.check_in_frequency, CHECK_IN_FREQUENCIES)
    baseline = _measured(errors, "baselineValue", spec.baseline_value)
    target = _measured(errors, "targetValue", spec.target_value)
    current = _measured(errors, "currentValue", spec.current_value)
    _importance(errors, spec.importance)
    start = spec.start_date or _utc_today()
    _dates(errors, start, spec.target_date)
    errors.raise_if_any()
    assert title is not None and baseline is not None and target is not None
    async with ctx.db.transaction() as session:
        if await session.get(User, owner) is None:
            raise NotFound("Owner not found.")
        goal = Goal(
            owner_id=owner,
            title=title,
            description=description or "",
            type=spec.type,
            status="active",
            metric=metric or "",
            unit=unit or "",
            baseline_value=baseline,
            target_value=target,
            current_value=current if current is not None else baseline,
            start_date=start,
            target_date=spec.target_date,
            check_in_frequency=spec.check_in_frequency,
            importance=spec.importance,
        )
        session.add(goal)
        try:
            await session.flush()
        except IntegrityError as exc:  # the owner was deleted meanwhile
            raise NotFound("Owner not found.") from exc
    ctx.loaders.get(GoalByIdLoader).replace(goal.id, goal)
    return goal


@dataclass(frozen=True)
class GoalChanges:
    """Fields left as None are not changed; `clear_target_date` removes the target date."""

    title: str | None = None
    description: str | None = None
    type: str | None = None
    status: str | None = None
    metric: str | None = None
    unit: str | None = None
    baseline_value: float | None = None
    target_value: float | None = None
    start_date: date | None = None
    target_date: date | None = None
    clear_target_date: bool = False
    check_in_frequency: str | None = None
    importance: int | None = None


def _validate_changes(changes: GoalChanges) -> dict[str, Any]:
    """The validated column values to set (input problems raise ValidationFailed)."""
    errors = FieldErrors()
    values: dict[str, Any] = {}
    for name, field, maximum, required in (
        ("title", "title", MAX_TITLE_LENGTH, True),
        ("description", "description", MAX_DESCRIPTION_LENGTH, False),
        ("metric", "metric", MAX_METRIC_LENGTH, False),
        ("unit", "unit", MAX_UNIT_LENGTH, False),
    ):
        cleaned = _text(errors, field, getattr(changes, name), maximum, required=required)
        if cleaned is not None:
            values[name] = cleaned
    _choice(errors, "type", changes.type, GOAL_TYPES)
    _choice(errors, "status", changes.status, GOAL_STATUSES)
    _choice(errors, "checkInFrequency", changes.check_in_frequency, CHECK_IN_FREQUENCIES)
    _importance(errors, changes.importance)
    if changes.clear_target_date and changes.target_date is not None:
        errors.add("targetDate", "cannot both set and clear the target date")
    for name, field in (("baseline_value", "baselineValue"), ("target_value", "targetValue")):
        number = _measured(errors, field, getattr(changes, name))
        if number is not None:
            values[name] = number
    errors.raise_if_any()
    for name in ("type", "check_in_frequency", "importance", "start_date", "target_date"):
        value = getattr(changes, name)
        if value is not None:
            values[name] = value
    if changes.clear_target_date:
        values["target_date"] = None
    return values


async def update_goal(ctx: Context, goal_id: uuid.UUID, changes: GoalChanges) -> Goal:
    values = _validate_changes(changes)
    async with ctx.db.transaction() as session:
        goal = await _locked_goal(ctx, session, goal_id)
        errors = FieldErrors()
        _dates(
            errors,
            values.get("start_date", goal.start_date),
            values.get("target_date", goal.target_date),
        )
        errors.raise_if_any()
        if changes.status is not None and changes.status != goal.status:
            if changes.status not in STATUS_MOVES[goal.status]:
                raise invalid_status_move(goal.status, changes.status)
            goal.status = changes.status
            goal.completed_at = datetime.now(UTC) if changes.status == "completed" else None
        for name, value in values.items():
            setattr(goal, name, value)
        await session.flush()
    ctx.loaders.get(GoalByIdLoader).replace(goal.id, goal)
    return goal


async def delete_goal(ctx: Context, goal_id: uuid.UUID) -> uuid.UUID:
    """Deletes the goal with its milestones and check-ins."""
    async with ctx.db.transaction() as session:
        goal = await _locked_goal(ctx, session, goal_id)
        await session.delete(goal)
    ctx.loaders.get(GoalByIdLoader).clear(goal_id)
    return goal_id


# --- milestone writes ---------------------------------------------------------------------


@dataclass(frozen=True)
class MilestoneSpec:
    title: str
    description: str = ""
    target_date: date | None = None
    target_value: float | None = None
    reward: str = ""
    position: int | None = None


def _milestone_date(errors: FieldErrors, goal: Goal, target_date: date | None) -> None:
    if target_date is None:
        return
    if target_date < goal.start_date:
        errors.add("targetDate", "must not be before the goal's start date")
    if goal.target_date is not None and target_date > goal.target_date:
        errors.add("targetDate", "must not be after the goal's target date")


async def _milestones_of(session: AsyncSession, goal_id: uuid.UUID) -> list[GoalMilestone]:
    statement = (
        select(GoalMilestone)
        .where(GoalMilestone.goal_id == goal_id)
        .order_by(GoalMilestone.position)
        .with_for_update()
    )
    return list((await session.scalars(statement)).all())


async def _locked_milestone(
    ctx: Context, session: AsyncSession, milestone_id: uuid.UUID
) -> tuple[GoalMilestone, Goal]:
    """The milestone and its goal (locked): NOT_FOUND / FORBIDDEN / GOAL_CLOSED."""
    goal_id = (
        visible(GoalMilestone, ctx.viewer)
        .where(GoalMilestone.id == milestone_id)
        .with_only_columns(GoalMilestone.goal_id)
        .scalar_subquery()
    )
    goal = await _locked_goal(ctx, session, goal_id, "Milestone not found.")
    _open_goal(goal)
    # Read under the goal's lock: milestone writes of one goal run one after another.
    milestone = (
        await session.scalars(
            select(GoalMilestone)
            .where(GoalMilestone.id == milestone_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one_or_none()
    if milestone is None:
        raise NotFound("Milestone not found.")
    return milestone, goal


def _after_milestone_write(ctx: Context, goal: Goal) -> None:
    ctx.loaders.get(MilestonesByGoalIdLoader).clear(goal.id)
    ctx.loaders.get(GoalByIdLoader).replace(goal.id, goal)


async def add_milestone(
    ctx: Context, goal_id: uuid.UUID, spec: MilestoneSpec
) -> tuple[GoalMilestone, Goal]:
    errors = FieldErrors()
    title = _text(errors, "title", spec.title, MAX_TITLE_LENGTH, required=True)
    description = _text(errors, "description", spec.description, MAX_DESCRIPTION_LENGTH)
    reward = _text(errors, "reward", spec.reward, MAX_REWARD_LENGTH)
    target_value = _measured(errors, "targetValue", spec.target_value)
    if spec.position is not None:
        errors.check(spec.position >= 0, "position", "must not be negative")
    errors.raise_if_any()
    async with ctx.db.transaction() as session:
        goal = await _locked_goal(ctx, session, goal_id)
        _open_goal(goal)
        existing = await _milestones_of(session, goal.id)
        _milestone_date(errors, goal, spec.target_date)
        errors.check(
            len(existing) < MAX_MILESTONES_PER_GOAL,
            "goalId",
            f"a goal has at most {MAX_MILESTONES_PER_GOAL} milestones",
        )
        position = len(existing) if spec.position is None else spec.position
        errors.check(
            position <= len(existing), "position", f"must be between 0 and {len(existing)}"
        )
        errors.raise_if_any()
        if position < len(existing):
            await session.execute(
                update(GoalMilestone)
                .where(GoalMilestone.goal_id == goal.id, GoalMilestone.position >= position)
                .values(position=GoalMilestone.position + 1)
                .execution_options(synchronize_session=False)
            )
        milestone = GoalMilestone(
            goal_id=goal.id,
            title=title or "",
            description=description or "",
            target_date=spec.target_date,
            target_value=target_value,
            reward=reward or "",
            position=position,
            completed=False,
            completed_at=None,
        )
        session.add(milestone)
        await session.flush()
    _after_milestone_write(ctx, goal)
    return milestone, goal


@dataclass(frozen=True)
class MilestoneChanges:
    """Fields left as None are not changed; the `clear_*` flags remove optional values."""

    title: str | None = None
    description: str | None = None
    target_date: date | None = None
    clear_target_date: bool = False
    target_value: float | None = None
    clear_target_value: bool = False
    reward: str | None = None


async def update_milestone(
    ctx: Context, milestone_id: uuid.UUID, changes: MilestoneChanges
) -> tuple[GoalMilestone, Goal]:
    errors = FieldErrors()
    values: dict[str, Any] = {}
    for name, maximum, required in (
        ("title", MAX_TITLE_LENGTH, True),
        ("description", MAX_DESCRIPTION_LENGTH, False),
        ("reward", MAX_REWARD_LENGTH, False),
    ):
        cleaned = _text(errors, name, getattr(changes, name), maximum, required=required)
        if cleaned is not None:
            values[name] = cleaned
    target_value = _measured(errors, "targetValue", changes.target_value)
    if target_value is not None:
        values["target_value"] = target_value
    if changes.clear_target_value:
        values["target_value"] = None
    if changes.target_date is not None:
        values["target_date"] = changes.target_date
    if changes.clear_target_date:
        values["target_date"] = None
    errors.raise_if_any()
    async with ctx.db.transaction() as session:
        milestone, goal = await _locked_milestone(ctx, session, milestone_id)
        _milestone_date(errors, goal, changes.target_date)
        errors.raise_if_any()
        for name, value in values.items():
            setattr(milestone, name, value)
        await session.flush()
    _after_milestone_write(ctx, goal)
    return milestone, goal


async def complete_milestone(
    ctx: Context, milestone_id: uuid.UUID, completed: bool
) -> tuple[GoalMilestone, Goal]:
    """Marks a milestone done (or, with `completed=False`, not done)."""
    async with ctx.db.transaction() as session:
        milestone, goal = await _locked_milestone(ctx, session, milestone_id)
        if milestone.completed != completed:
            milestone.completed = completed
            milestone.completed_at = datetime.now(UTC) if completed else None
            await session.flush()
    _after_milestone_write(ctx, goal)
    return milestone, goal


async def reorder_milestones(
    ctx: Context, goal_id: uuid.UUID, milestone_ids: Sequence[uuid.UUID]
) -> tuple[list[GoalMilestone], Goal]:
    """Puts the goal's milestones in the given order; the list must name each exactly once."""
    async with ctx.db.transaction() as session:
        goal = await _locked_goal(ctx, session, goal_id)
        _open_goal(goal)
        existing = {milestone.id: milestone for milestone in await _milestones_of(session, goal.id)}
        errors = FieldErrors()
        if len(set(milestone_ids)) != len(milestone_ids):
            errors.add("milestoneIds", "must not repeat a milestone")
        unknown = [str(mid) for mid in milestone_ids if mid not in existing]
        if unknown:
            errors.add("milestoneIds", f"not milestones of this goal: {', '.join(unknown)}")
        missing = [str(mid) for mid in existing if mid not in set(milestone_ids)]
        if missing:
            errors.add("milestoneIds", f"must list every milestone; missing {', '.join(missing)}")
        errors.raise_if_any()
        ordered = [existing[mid] for mid in milestone_ids]
        for position, milestone in enumerate(ordered):
            milestone.position = position
        await session.flush()
    _after_milestone_write(ctx, goal)
    return ordered, goal


async def delete_milestone(ctx: Context, milestone_id: uuid.UUID) -> tuple[uuid.UUID, Goal]:
    """Deletes a milestone and closes the gap in the positions after it."""
    async with ctx.db.transaction() as session:
        milestone, goal = await _locked_milestone(ctx, session, milestone_id)
        position = milestone.position
        await session.delete(milestone)
        await session.flush()
        await session.execute(
            update(GoalMilestone)
            .where(GoalMilestone.goal_id == goal.id, GoalMilestone.position > position)
            .values(position=GoalMilestone.position - 1)
            .execution_options(synchronize_session=False)
        )
    _after_milestone_write(ctx, goal)
    return milestone_id, goal


# --- check-ins ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckInSpec:
    goal_id: uuid.UUID
    date: date
    value: float
    note: str = ""
    mood: str | None = None
    adherence: int | None = None


@dataclass(frozen=True)
class CheckInResult:
    check_in: GoalCheckIn
    goal: Goal
    replaced: bool


async def check_in(ctx: Context, spec: CheckInSpec) -> CheckInResult:
    """Records the value of the goal's metric on a date, one check-in per goal and date: a
    second check-in for the same date replaces the first (`replaced`). The goal's current
    value becomes the value of its newest-dated check-in, in the same transaction."""
    errors = FieldErrors()
    value = _measured(errors, "value", spec.value)
    note = _text(errors, "note", spec.note, MAX_NOTE_LENGTH)
    _choice(errors, "mood", spec.mood, MOODS)
    if spec.adherence is not None:
        errors.check(0 <= spec.adherence <= 100, "adherence", "must be between 0 and 100")
    latest_today = (datetime.now(UTC) + MAX_CLOCK_AHEAD).date()
    errors.check(spec.date <= latest_today, "date", "must not be in the future")
    errors.raise_if_any()
    assert value is not None
    async with ctx.db.transaction() as session:
        goal = await _locked_goal(ctx, session, spec.goal_id)
        _open_goal(goal)
        errors.check(spec.date >= goal.start_date, "date", "must not be before the goal's start")
        errors.raise_if_any()
        # The check-in of that date (if any) and the newest-dated one, in one read.
        newest_date = (
            select(func.max(GoalCheckIn.date))
            .where(GoalCheckIn.goal_id == goal.id)
            .scalar_subquery()
        )
        nearby = (
            await session.scalars(
                select(GoalCheckIn).where(
                    GoalCheckIn.goal_id == goal.id,
                    or_(GoalCheckIn.date == spec.date, GoalCheckIn.date == newest_date),
                )
            )
        ).all()
        existing = next((row for row in nearby if row.date == spec.date), None)
        newest = max(nearby, key=lambda row: row.date, default=None)
        if existing is None:
            row = GoalCheckIn(
                goal_id=goal.id,
                date=spec.date,
                value=value,
                note=note or "",
                mood=spec.mood,
                adherence=spec.adherence,
            )
            session.add(row)
        else:
            row = existing
            row.value = value
            row.note = note or ""
            row.mood = spec.mood
            row.adherence = spec.adherence
        # The goal's current value is the value of its newest-dated check-in.
        current = value if newest is None or spec.date >= newest.date else newest.value
        if goal.current_value != current:
            goal.current_value = current
        await session.flush()
    ctx.loaders.get(GoalByIdLoader).replace(goal.id, goal)
    ctx.loaders.get(CheckInsByGoalIdLoader).clear_all()
    ctx.loaders.get(CheckInCountByGoalIdLoader).clear(goal.id)
    return CheckInResult(check_in=row, goal=goal, replaced=existing is not None)


class GoalMilestoneByIdLoader(RowByIdLoader):
    model = GoalMilestone


class GoalCheckInByIdLoader(RowByIdLoader):
    model = GoalCheckIn
