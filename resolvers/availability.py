"""Weekly availability rules and dated exceptions of doctors."""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import AvailabilityException, Doctor, DoctorAvailability
from resolvers import audit
from resolvers.core.context import Context
from resolvers.core.errors import BadUserInput, FieldErrors, NotFound
from resolvers.core.loaders import PolicyLoader, RowByIdLoader
from resolvers.doctors import lock_doctor, target_doctor_id
from resolvers.policies import require, visible
from resolvers.policies.availability import can_manage_schedule

MAX_RULES_PER_DOCTOR = 50
MAX_EXCEPTION_RANGE_DAYS = 366
MAX_REASON_LENGTH = 500


class RulesByDoctorIdLoader(PolicyLoader[uuid.UUID, list[DoctorAvailability]]):
    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[list[DoctorAvailability]]:
        rows = await self.visible_where_in(
            DoctorAvailability,
            DoctorAvailability.doctor_id,
            keys,
            DoctorAvailability.doctor_id,
            DoctorAvailability.day_of_week,
            DoctorAvailability.start_time,
        )
        grouped: dict[uuid.UUID, list[DoctorAvailability]] = defaultdict(list)
        for rule in rows:
            grouped[rule.doctor_id].append(rule)
        return [grouped.get(key, []) for key in keys]


@dataclass(frozen=True)
class ExceptionKey:
    doctor_id: uuid.UUID
    start: date
    end: date


class ExceptionsByDoctorIdLoader(PolicyLoader[ExceptionKey, list[AvailabilityException]]):
    """Keyed by doctor and date range; one query per distinct range in the batch."""

    async def batch_load_fn(
        self, keys: Sequence[ExceptionKey]
    ) -> list[list[AvailabilityException]]:
        by_range: dict[tuple[date, date], set[uuid.UUID]] = defaultdict(set)
        for key in keys:
            by_range[(key.start, key.end)].add(key.doctor_id)
        grouped: dict[ExceptionKey, list[AvailabilityException]] = defaultdict(list)
        async with self.db.read() as session:
            for (start, end), doctor_ids in by_range.items():
                statement = (
                    visible(AvailabilityException, self.viewer)
                    .where(
                        AvailabilityException.doctor_id.in_(doctor_ids),
                        AvailabilityException.date >= start,
                        AvailabilityException.date <= end,
                    )
                    .order_by(AvailabilityException.date, AvailabilityException.start_time)
                )
                for exception in (await session.scalars(statement)).all():
                    grouped[ExceptionKey(exception.doctor_id, start, end)].append(exception)
        return [grouped.get(key, []) for key in keys]


def exception_range(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    start = start or today
    # Ninety days on, or to the calendar's end (`date.max` has no day after it).
    end = end or start + timedelta(days=min(90, (date.max - start).days))
    if end < start:
        raise BadUserInput("`to` must not be before `from`.")
    if (end - start).days > MAX_EXCEPTION_RANGE_DAYS:
        raise BadUserInput(
            f"`to` must be at most {MAX_EXCEPTION_RANGE_DAYS} days after `from`: the date "
            f"range may span at most {MAX_EXCEPTION_RANGE_DAYS} days."
        )
    return start, end


@dataclass(frozen=True)
class RuleSpec:
    day_of_week: int
    start_time: time
    end_time: time
    slot_minutes: int = 30
    buffer_minutes: int = 0
    max_patients_per_day: int | None = None
    active: bool = True


def _minutes(value: time) -> int:
    return value.hour * 60 + value.minute


def _validate_rules(rules: Sequence[RuleSpec]) -> None:
    errors = FieldErrors()
    errors.check(
        len(rules) <= MAX_RULES_PER_DOCTOR, "rules", f"at most {MAX_RULES_PER_DOCTOR} rules"
    )
    for index, rule in enumerate(rules):
        prefix = f"rules[{index}]"
        errors.check(
            0 <= rule.day_of_week <= 6, f"{prefix}.dayOfWeek", "must be 0 (Sunday) to 6 (Saturday)"
        )
        if rule.start_time >= rule.end_time:
            errors.add(f"{prefix}.endTime", "must be after startTime")
        elif rule.slot_minutes > _minutes(rule.end_time) - _minutes(rule.start_time):
            errors.add(f"{prefix}.slotMinutes", "is longer than the time range")
        errors.check(5 <= rule.slot_minutes <= 480, f"{prefix}.slotMinutes", "must be 5 to 480")
        errors.check(0 <= rule.buffer_minutes <= 240, f"{prefix}.bufferMinutes", "must be 0 to 240")
        if rule.max_patients_per_day is not None:
            errors.check(
                1 <= rule.max_patients_per_day <= 200,
                f"{prefix}.maxPatientsPerDay",
                "must be 1 to 200",
            )
    active = sorted(
        (
            (rule.day_of_week, rule.start_time, rule.end_time, index)
            for index, rule in enumerate(rules)
            if rule.active and rule.start_time < rule.end_time
        ),
    )
    for previous, current in itertools.pairwise(active):
        if previous[0] == current[0] and current[1] < previous[2]:
            errors.add(
                f"rules[{current[3]}].startTime",
                f"overlaps rules[{previous[3]}] on the same day",
            )
    errors.raise_if_any()


async def _lock_schedule(ctx: Context, session: AsyncSession, doctor_id: uuid.UUID) -> Doctor:
    """Locks the doctor row so schedule writes of one doctor run one after another."""
    doctor = await lock_doctor(session, ctx.viewer, doctor_id)
    require(
        can_manage_schedule(ctx.viewer, doctor_id),
        "Only the doctor or an admin may change this schedule.",
    )
    return doctor


def _rule_summary(rule: RuleSpec) -> dict[str, Any]:
    return {
        "day_of_week": rule.day_of_week,
        "start_time": rule.start_time,
        "end_time": rule.end_time,
        "active": rule.active,
    }


async def set_availability_rules(
    ctx: Context, doctor_id: uuid.UUID | None, rules: Sequence[RuleSpec]
) -> list[DoctorAvailability]:
    """Replaces the doctor's weekly rules with `rules`, all or nothing."""
    target = target_doctor_id(ctx, doctor_id)
    _validate_rules(rules)
    async with ctx.db.transaction() as session:
        await _lock_schedule(ctx, session, target)
        await session.execute(
            delete(DoctorAvailability).where(DoctorAvailability.doctor_id == target)
        )
        created = [
            DoctorAvailability(
                doctor_id=target,
                day_of_week=rule.day_of_week,
                start_time=rule.start_time,
                end_time=rule.end_time,
                slot_minutes=rule.slot_minutes,
                buffer_minutes=rule.buffer_minutes,
                max_patients_per_day=rule.max_patients_per_day,
                active=rule.active,
            )
            for rule in rules
        ]
        session.add_all(created)
        audit.record(
            session,
            ctx,
            "availability.set_rules",
            "Doctor",
            target,
            after={"rules": [_rule_summary(rule) for rule in rules]},
        )
        await session.flush()
    created.sort(key=lambda rule: (rule.day_of_week, rule.start_time))
    ctx.loaders.get(RulesByDoctorIdLoader).clear(target)
    return created


@dataclass(frozen=True)
class ExceptionSpec:
    date: date
    kind: str
    start_time: time | None = None
    end_time: time | None = None
    reason: str = ""


def _validate_exception(spec: ExceptionSpec) -> None:
    errors = FieldErrors()
    if spec.kind == "custom_hours":
        if spec.start_time is None:
            errors.add("startTime", "is required for custom hours")
        if spec.end_time is None:
            errors.add("endTime", "is required for custom hours")
        if spec.start_time and spec.end_time and spec.start_time >= spec.end_time:
            errors.add("endTime", "must be after startTime")
    else:
        errors.check(spec.start_time is None, "startTime", "must be empty for a blocked day")
        errors.check(spec.end_time is None, "endTime", "must be empty for a blocked day")
    errors.check(
        len(spec.reason) <= MAX_REASON_LENGTH, "reason", f"at most {MAX_REASON_LENGTH} characters"
    )
    errors.raise_if_any()


async def add_availability_exception(
    ctx: Context, doctor_id: uuid.UUID | None, spec: ExceptionSpec
) -> AvailabilityException:
    target = target_doctor_id(ctx, doctor_id)
    _validate_exception(spec)
    async with ctx.db.transaction() as session:
        await _lock_schedule(ctx, session, target)
        same_day = (
            await session.scalars(
                select(AvailabilityException).where(
                    AvailabilityException.doctor_id == target,
                    AvailabilityException.date == spec.date,
                )
            )
        ).all()
        errors = FieldErrors()
        for existing in same_day:
            if existing.kind == "blocked":
                errors.add("date", "this day is already blocked")
            elif spec.kind == "blocked":
                errors.add("kind", "this day has custom hours; remove them before blocking it")
            elif (
                spec.start_time is not None
                and spec.end_time is not None
                and existing.start_time is not None
                and existing.end_time is not None
                and spec.start_time < existing.end_time
                and existing.start_time < spec.end_time
            ):
                errors.add(
                    "startTime",
                    f"overlaps custom hours {existing.start_time:%H:%M}-{existing.end_time:%H:%M}",
                )
        errors.raise_if_any()
        exception = AvailabilityException(
            doctor_id=target,
            date=spec.date,
            kind=spec.kind,
            start_time=spec.start_time,
            end_time=spec.end_time,
            reason=spec.reason.strip(),
        )
        session.add(exception)
        await session.flush()
        audit.record(
            session,
            ctx,
            "availability.add_exception",
            "AvailabilityException",
            exception.id,
            after=audit.snapshot(exception, "doctor_id", "date", "kind", "start_time", "end_time"),
        )
    return exception


async def remove_availability_exception(ctx: Context, exception_id: uuid.UUID) -> uuid.UUID:
    async with ctx.db.transaction() as session:
        exception = (
            await session.scalars(
                visible(AvailabilityException, ctx.viewer).where(
                    AvailabilityException.id == exception_id
                )
            )
        ).one_or_none()
        if exception is None:
            raise NotFound("Availability exception not found.")
        await _lock_schedule(ctx, session, exception.doctor_id)
        audit.record(
            session,
            ctx,
            "availability.remove_exception",
            "AvailabilityException",
            exception.id,
            before=audit.snapshot(exception, "doctor_id", "date", "kind", "start_time", "end_time"),
        )
        await session.delete(exception)
    return exception_id


class AvailabilityRuleByIdLoader(RowByIdLoader):
    model = DoctorAvailability


class AvailabilityExceptionByIdLoader(RowByIdLoader):
    model = AvailabilityException
