"""Open slots, computed on request, and short holds on them.

Weekly rules are in the doctor's local time (zoneinfo, DST-correct); a date's exceptions
replace them (blocked, or custom hours that keep the weekday's slot length, buffer and
cap); live appointments and other viewers' unexpired holds are taken out, as is anything
starting before now plus the minimum lead time; the per-day cap counts live appointments
on the local date. The same computation re-validates holds and bookings inside the
per-doctor lock, so the client's idea of a slot is never trusted.
"""

from __future__ import annotations

import functools
import uuid
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Executable,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    Appointment,
    AvailabilityException,
    Doctor,
    DoctorAvailability,
    Service,
    SlotHold,
    User,
)
from models.appointment import APPOINTMENT_TYPES, LIVE_STATUSES
from resolvers import audit
from resolvers.core.context import Context
from resolvers.core.database import execute_in, run_in
from resolvers.core.errors import (
    BadUserInput,
    CaregraphError,
    Forbidden,
    NotFound,
    ValidationFailed,
)
from resolvers.core.identity import Viewer
from resolvers.core.loaders import PolicyLoader, RowByIdLoader
from resolvers.core.pagination import Page, SortKey, page_size, paginate
from resolvers.core.statement_templates import AnySelect, any_of, instances, statement_for
from resolvers.doctors import lock_doctor
from resolvers.policies import require, visible
from resolvers.policies.appointments import appointment_policy, slot_hold_policy
from resolvers.services import ServiceByIdLoader

MAX_SLOT_RANGE_DAYS = 62
DEFAULT_SLOT_RANGE_DAYS = 7
DEFAULT_SLOT_MINUTES = 30
MAX_ACTIVE_HOLDS_PER_USER = 5
# Slot maths looks a few days either side of a date; beyond these the calendar ends.
LAST_SLOT_DATE = date.max - timedelta(days=7)
LAST_SLOT_INSTANT = datetime.combine(LAST_SLOT_DATE, time(), UTC)


class SlotUnavailableError(CaregraphError):
    """The slot is not (or no longer) open: booked, held by someone else, past, or off-grid."""

    code = "SLOT_UNAVAILABLE"

    def __init__(self, message: str, starts_at: datetime | None = None) -> None:
        super().__init__(message)
        self.starts_at = starts_at


@dataclass(frozen=True)
class Rule:
    day_of_week: int
    start_time: time
    end_time: time
    slot_minutes: int
    buffer_minutes: int
    max_patients_per_day: int | None


@dataclass(frozen=True)
class DayException:
    date: date
    kind: str
    start_time: time | None
    end_time: time | None


@dataclass(frozen=True)
class Busy:
    starts_at: datetime
    ends_at: datetime
    is_appointment: bool
    service_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Offer:
    """What the slot computation needs of a service (a row of `services`)."""

    service_id: uuid.UUID
    type: str
    """The appointment type it books: its `default_for`, STANDARD for other services."""
    duration_minutes: int | None
    """None: the length of the weekly rule's slots (the default services)."""
    buffer_minutes: int | None
    price: Decimal
    currency: str
    capacity: int
    min_notice_minutes: int
    mode: str
    confirmation: str

    @classmethod
    def of(cls, service: Any) -> Offer:
        """From a `Service` row (or a row of its columns)."""
        return cls(
            service.id,
            service.default_for or "standard",
            service.duration_minutes,
            service.buffer_minutes,
            service.price,
            service.currency,
            service.capacity,
            service.min_notice_minutes,
            service.mode,
            service.confirmation,
        )


class Slot(NamedTuple):
    """An open slot (a named tuple: a directory page makes hundreds)."""

    doctor_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    local_date: date
    timezone: str
    type: str
    price: Decimal
    currency: str
    service_id: uuid.UUID | None = None
    capacity: int = 1
    seats_left: int = 1


@dataclass
class Schedule:
    """Everything the slot computation needs for one doctor."""

    doctor: Doctor
    rules: list[Rule] = field(default_factory=list)
    exceptions: list[DayException] = field(default_factory=list)
    busy: list[Busy] = field(default_factory=list)
    offers: dict[uuid.UUID, Offer] = field(default_factory=dict)
    """The doctor's active services."""
    defaults: dict[str, Offer] = field(default_factory=dict)
    """The default service of each appointment type."""

    def offer(self, service_id: uuid.UUID | None, appointment_type: str) -> Offer | None:
        """The active service asked for, or the default service of `appointment_type`."""
        if service_id is not None:
            return self.offers.get(service_id)
        return self.defaults.get(appointment_type)


def weekday_of(day: date) -> int:
    """0 = Sunday ... 6 = Saturday, as in `doctor_availability.day_of_week`."""
    return (day.weekday() + 1) % 7


def to_utc(local: datetime, zone: ZoneInfo) -> datetime | None:
    """The UTC instant of a naive local time; None when the time does not exist (the hour
    skipped when clocks go forward). Ambiguous times (clocks going back) take the first."""
    aware = local.replace(tzinfo=zone, fold=0)
    instant = aware.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != local:
        return None
    return instant


def _fixed_offset(local_start: datetime, local_end: datetime, zone: ZoneInfo) -> timedelta | None:
    """The zone's UTC offset over a window of one local day, when the window has no
    clock change (the same offset at both ends, both existing times): every start in it
    is then `local - offset`, as `to_utc` would find one by one. None otherwise."""
    first = to_utc(local_start, zone)
    last = to_utc(local_end, zone)
    if first is None or last is None:
        return None
    offset = local_start - first.replace(tzinfo=None)
    if local_end - last.replace(tzinfo=None) != offset:
        return None
    return offset


class _OverlapIndex:
    """Busy intervals sorted by start with a running maximum of their ends, so "does any
    busy interval overlap [low, high)?" is one binary search instead of a scan."""

    def __init__(self, busy: Sequence[Busy]) -> None:
        ordered = sorted(busy, key=lambda interval: interval.starts_at)
        self.starts = [interval.starts_at for interval in ordered]
        self.max_ends: list[datetime] = []
        for interval in ordered:
            latest = self.max_ends[-1] if self.max_ends else interval.ends_at
            self.max_ends.append(max(latest, interval.ends_at))

    def any_between(self, low: datetime, high: datetime) -> bool:
        # Intervals starting before `high` are the first `count`; one of them overlaps
        # exactly when the latest end among them is after `low`.
        count = bisect_left(self.starts, high)
        return count > 0 and self.max_ends[count - 1] > low


def earliest_start(now: datetime, lead_minutes: int, offer: Offer) -> datetime:
    """The first instant a slot of `offer` may start: the clinic's lead time or the
    service's minimum notice, whichever is longer."""
    return now + timedelta(minutes=max(lead_minutes, offer.min_notice_minutes))


def _seats_taken(
    busy: Sequence[Busy], offer: Offer, low: datetime, high: datetime, starts_at: datetime
) -> int | None:
    """Seats of the group session of `offer` at `starts_at` taken by appointments and
    holds; None when something else (another service, or this one at another time) uses
    the time [low, high)."""
    taken = 0
    for interval in busy:
        if interval.starts_at < high and interval.ends_at > low:
            if interval.service_id != offer.service_id or interval.starts_at != starts_at:
                return None
            taken += 1
    return taken


def compute_slots(
    schedule: Schedule,
    *,
    start: date,
    end: date,
    earliest: datetime,
    offer: Offer,
    first_day_only: bool = False,
) -> list[Slot]:
    """Open slots of one doctor's service whose local start date is in [start, end], in
    UTC order. A service with its own duration and buffer lays its grid in the weekly
    hours; a default service (none of its own) takes the rule's. A group session's slot
    stays open while it has seats left and nothing else overlaps it. `first_day_only`:
    stop after the first local date with an open slot (its slots come before any later
    date's, so the first of them is the first open slot of the range)."""
    doctor = schedule.doctor
    if not doctor.verified or not doctor.accepting_patients:
        return []
    doctor_id, timezone, currency = doctor.id, doctor.timezone, offer.currency
    zone = ZoneInfo(timezone)
    price, appointment_type, capacity = offer.price, offer.type, offer.capacity
    exceptions: dict[date, list[DayException]] = defaultdict(list)
    for exception in schedule.exceptions:
        exceptions[exception.date].append(exception)
    booked_per_day: dict[date, int] = defaultdict(int)
    for busy in schedule.busy:
        if busy.is_appointment:
            booked_per_day[busy.starts_at.astimezone(zone).date()] += 1
    overlaps = _OverlapIndex(schedule.busy)

    slots: list[Slot] = []
    day = start
    while day <= end:
        if first_day_only and slots:
            break
        current, day = day, day + timedelta(days=1)
        weekday = weekday_of(current)
        day_rules = [rule for rule in schedule.rules if rule.day_of_week == weekday]
        day_exceptions = exceptions.get(current, [])
        if any(exception.kind == "blocked" for exception in day_exceptions):
            continue
        caps = [r.max_patients_per_day for r in day_rules if r.max_patients_per_day is not None]
        cap = min(caps) if caps else None
        if cap is not None and booked_per_day[current] >= cap:
            continue
        windows: list[tuple[time, time, int, int]]
        if day_exceptions:
            template = day_rules[0] if day_rules else None
            slot_minutes = template.slot_minutes if template else DEFAULT_SLOT_MINUTES
            buffer_minutes = template.buffer_minutes if template else 0
            windows = [
                (e.start_time, e.end_time, slot_minutes, buffer_minutes)
                for e in day_exceptions
                if e.start_time is not None and e.end_time is not None
            ]
        else:
            windows = [
                (r.start_time, r.end_time, r.slot_minutes, r.buffer_minutes) for r in day_rules
            ]
        for window_start, window_end, rule_slot_minutes, rule_buffer_minutes in windows:
            slot_minutes = offer.duration_minutes or rule_slot_minutes
            buffer_minutes = (
                rule_buffer_minutes if offer.buffer_minutes is None else offer.buffer_minutes
            )
            length = timedelta(minutes=slot_minutes)
            step = timedelta(minutes=slot_minutes + buffer_minutes)
            buffer = timedelta(minutes=buffer_minutes)
            local = datetime.combine(current, window_start)
            local_end = datetime.combine(current, window_end)
            offset = _fixed_offset(local, local_end, zone)
            # Without a clock change in the window, starts step through UTC as they do
            # through local time.
            instant = (local - offset).replace(tzinfo=UTC) if offset is not None else None
            while local + length <= local_end:
                if instant is not None:
                    starts_at: datetime | None = instant
                    instant += step
                else:
                    starts_at = to_utc(local, zone)
                local += step
                if starts_at is None or starts_at < earliest:
                    continue
                ends_at = starts_at + length
                seats_left = 1
                if overlaps.any_between(starts_at - buffer, ends_at + buffer):
                    if capacity == 1:
                        continue
                    taken = _seats_taken(
                        schedule.busy, offer, starts_at - buffer, ends_at + buffer, starts_at
                    )
                    if taken is None or taken >= capacity:
                        continue
                    seats_left = capacity - taken
                elif capacity > 1:
                    seats_left = capacity
                slots.append(
                    Slot(
                        doctor_id,
                        starts_at,
                        ends_at,
                        current,
                        timezone,
                        appointment_type,
                        price,
                        currency,
                        offer.service_id,
                        capacity,
                        seats_left,
                    )
                )
    slots.sort(key=lambda slot: slot.starts_at)
    return slots


@functools.cache
def _schedule_statements(
    *, holds_of_others: bool, exclude_appointment: bool
) -> tuple[Executable, Executable, Executable, Executable]:
    """Rules, exceptions and busy intervals of the doctors in `:doctor_ids`, built once
    per variant with every value a named parameter (the same statement text for any
    doctors and dates): `:start`..`:end` local dates, busy intervals overlapping
    `:low`..`:high`, holds unexpired at `:now`, and when asked, not the holds of
    `:holder` and not the appointment `:excluded`."""
    rules = (
        select(
            DoctorAvailability.doctor_id,
            DoctorAvailability.day_of_week,
            DoctorAvailability.start_time,
            DoctorAvailability.end_time,
            DoctorAvailability.slot_minutes,
            DoctorAvailability.buffer_minutes,
            DoctorAvailability.max_patients_per_day,
        )
        .where(any_of(DoctorAvailability.doctor_id, "doctor_ids"))
        .where(DoctorAvailability.active.is_(True))
        .order_by(DoctorAvailability.start_time)
    )
    exceptions = select(
        AvailabilityException.doctor_id,
        AvailabilityException.date,
        AvailabilityException.kind,
        AvailabilityException.start_time,
        AvailabilityException.end_time,
    ).where(
        any_of(AvailabilityException.doctor_id, "doctor_ids"),
        AvailabilityException.date >= bindparam("start"),
        AvailabilityException.date <= bindparam("end"),
    )
    appointments = select(
        Appointment.doctor_id,
        Appointment.starts_at,
        Appointment.ends_at,
        literal(True).label("is_appointment"),
        Appointment.service_id,
    ).where(
        any_of(Appointment.doctor_id, "doctor_ids"),
        Appointment.status.in_([literal(status) for status in LIVE_STATUSES]),
        # An unpaid booking past its payment window no longer holds its time (it lapses).
        or_(
            Appointment.status != literal("pending_payment"),
            Appointment.payment_due_at.is_(None),
            Appointment.payment_due_at > bindparam("now"),
        ),
        Appointment.starts_at < bindparam("high"),
        Appointment.ends_at > bindparam("low"),
    )
    if exclude_appointment:
        appointments = appointments.where(Appointment.id != bindparam("excluded"))
    holds = select(
        SlotHold.doctor_id,
        SlotHold.starts_at,
        SlotHold.ends_at,
        literal(False).label("is_appointment"),
        SlotHold.service_id,
    ).where(
        any_of(SlotHold.doctor_id, "doctor_ids"),
        SlotHold.expires_at > bindparam("now"),
        SlotHold.starts_at < bindparam("high"),
        SlotHold.ends_at > bindparam("low"),
    )
    if holds_of_others:
        holds = holds.where(SlotHold.user_id != bindparam("holder"))
    # One row per doctor with the intervals as arrays: a week of a busy directory page
    # is over a thousand intervals, and a row each costs more to read than the arrays.
    intervals = union_all(appointments, holds).subquery("busy")
    busy = select(
        intervals.c.doctor_id,
        func.array_agg(intervals.c.starts_at),
        func.array_agg(intervals.c.ends_at),
        func.array_agg(intervals.c.is_appointment),
        func.array_agg(intervals.c.service_id),
    ).group_by(intervals.c.doctor_id)
    services = select(
        Service.id,
        Service.doctor_id,
        Service.default_for,
        Service.duration_minutes,
        Service.buffer_minutes,
        Service.price,
        Service.currency,
        Service.capacity,
        Service.min_notice_minutes,
        Service.mode,
        Service.confirmation,
    ).where(any_of(Service.doctor_id, "doctor_ids"), Service.active.is_(True))
    return rules, exceptions, busy, services


RunRows = Callable[[Executable, dict[str, Any]], Awaitable[Sequence[Any]]]


async def load_schedules(
    run: RunRows,
    doctors: Iterable[Doctor],
    *,
    start: date,
    end: date,
    now: datetime,
    holds_visible_to: uuid.UUID | None,
    exclude_appointment_id: uuid.UUID | None = None,
) -> dict[uuid.UUID, Schedule]:
    """Rules, exceptions, busy intervals and active services of many doctors: four
    statements in all, each run by `run` (`in_session` inside a transaction, or
    `Database.rows`).

    Busy intervals are appointments and holds of everyone (slots are public, derived
    data; the rows themselves stay behind their policies). The viewer's own holds do not
    block the viewer."""
    schedules = {doctor.id: Schedule(doctor) for doctor in doctors}
    if not schedules:
        return schedules
    rules, exceptions, busy, services = _schedule_statements(
        holds_of_others=holds_visible_to is not None,
        exclude_appointment=exclude_appointment_id is not None,
    )
    # A local date spans at most UTC-14..UTC+14 around its UTC date.
    values: dict[str, Any] = {
        "doctor_ids": list(schedules),
        "start": start,
        "end": end,
        "low": datetime.combine(start - timedelta(days=2), time(), UTC),
        "high": datetime.combine(end + timedelta(days=2), time(), UTC),
        "now": now,
    }
    if holds_visible_to is not None:
        values["holder"] = holds_visible_to
    if exclude_appointment_id is not None:
        values["excluded"] = exclude_appointment_id
    for rule in await run(rules, {"doctor_ids": values["doctor_ids"]}):
        schedules[rule.doctor_id].rules.append(Rule(*rule[1:]))
    exception_values = {name: values[name] for name in ("doctor_ids", "start", "end")}
    for exception in await run(exceptions, exception_values):
        schedules[exception.doctor_id].exceptions.append(DayException(*exception[1:]))
    busy_values = {name: value for name, value in values.items() if name not in ("start", "end")}
    for doctor_id, starts, ends, appointment_flags, service_ids in await run(busy, busy_values):
        schedules[doctor_id].busy.extend(map(Busy, starts, ends, appointment_flags, service_ids))
    for service in await run(services, {"doctor_ids": values["doctor_ids"]}):
        schedule = schedules[service.doctor_id]
        offer = Offer.of(service)
        schedule.offers[service.id] = offer
        if service.default_for is not None:
            schedule.defaults[service.default_for] = offer
    return schedules


def in_session(session: AsyncSession) -> RunRows:
    """Runs schedule statements in `session` (and its transaction), prepared for the
    driver (`run_in`: each is a template built once per variant)."""

    async def run(statement: Executable, values: dict[str, Any]) -> Sequence[Any]:
        return await run_in(session, statement, values)

    return run


def slot_range(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    """The local date range asked for: defaults to a week from today (or from `start`,
    up to the calendar's end); capped."""
    start = start or today
    if end is None:
        if start > LAST_SLOT_DATE:
            raise BadUserInput(f"`from` must be on or before {LAST_SLOT_DATE.isoformat()}.")
        end = min(start + timedelta(days=DEFAULT_SLOT_RANGE_DAYS - 1), LAST_SLOT_DATE)
    if end < start:
        raise BadUserInput("`to` must not be before `from`.")
    if (end - start).days + 1 > MAX_SLOT_RANGE_DAYS:
        raise BadUserInput(
            f"`to` must be at most {MAX_SLOT_RANGE_DAYS - 1} days after `from`: the slot "
            f"range may span at most {MAX_SLOT_RANGE_DAYS} days."
        )
    if end > LAST_SLOT_DATE:
        raise BadUserInput(f"`to` must be on or before {LAST_SLOT_DATE.isoformat()}.")
    # No slot opens before today: past dates need no computing (and may be near date.min).
    return max(start, today - timedelta(days=1)), end


def check_type(appointment_type: str) -> None:
    if appointment_type not in APPOINTMENT_TYPES:
        raise BadUserInput(f"Unknown appointment type {appointment_type!r}.")


@dataclass(frozen=True)
class SlotKey:
    doctor_id: uuid.UUID
    doctor: Doctor = field(compare=False, hash=False, repr=False)
    """The row as the viewer read it (through the doctors policy) in this request."""
    start: date
    end: date
    type: str
    """The appointment type whose default service to compute, when `service_id` is None."""
    now: datetime
    lead_minutes: int
    service_id: uuid.UUID | None = None
    first_day_only: bool = False
    """Only the first date with open slots (`next_available_slot`)."""


class SlotsByDoctorIdLoader(PolicyLoader[SlotKey, list[Slot]]):
    """Open slots for many doctors, services and ranges: four statements per batch,
    whatever the number of doctors (rules, exceptions, busy intervals, services), for the
    doctors' rows the request has read already."""

    async def batch_load_fn(self, keys: Sequence[SlotKey]) -> list[list[Slot]]:
        doctors = list({key.doctor_id: key.doctor for key in keys}.values())
        start = min(key.start for key in keys)
        end = max(key.end for key in keys)
        now = min(key.now for key in keys)
        db = self.db
        schedules = await load_schedules(
            lambda statement, values: db.rows(statement, values, reusable=True),
            doctors,
            start=start,
            end=end,
            now=now,
            holds_visible_to=self.viewer.user_id,
        )
        results: list[list[Slot]] = []
        for key in keys:
            schedule = schedules[key.doctor_id]
            offer = schedule.offer(key.service_id, key.type)
            if offer is None:  # deactivated since the request read it
                results.append([])
                continue
            results.append(
                compute_slots(
                    schedule,
                    start=key.start,
                    end=key.end,
                    earliest=earliest_start(key.now, key.lead_minutes, offer),
                    offer=offer,
                    first_day_only=key.first_day_only,
                )
            )
        return results


async def check_offered(ctx: Context, doctor: Doctor, service_id: uuid.UUID) -> Service:
    """The active service `service_id` of `doctor` the viewer may read, or
    `BadUserInput` naming `serviceId`."""
    service = await ctx.loaders.get(ServiceByIdLoader).load(service_id)
    if service is None or service.doctor_id != doctor.id or not service.active:
        raise BadUserInput("`serviceId` is not a service this doctor offers.")
    return service


async def available_slots(
    ctx: Context,
    doctor: Doctor,
    start: date | None,
    end: date | None,
    appointment_type: str = "standard",
    *,
    service_id: uuid.UUID | None = None,
    now: datetime | None = None,
    first_day_only: bool = False,
) -> list[Slot]:
    """`Doctor.availableSlots` of a service (by default the default service of
    `appointment_type`): dates are the doctor's local dates. `first_day_only`: the slots
    of the first date that has any (what `nextAvailableSlot` needs)."""
    check_type(appointment_type)
    if service_id is not None:
        await check_offered(ctx, doctor, service_id)
    now = now or datetime.now(UTC)
    today = now.astimezone(ZoneInfo(doctor.timezone)).date()
    first, last = slot_range(start, end, today)
    if first > last:
        return []
    return await ctx.loaders.get(SlotsByDoctorIdLoader).load(
        SlotKey(
            doctor.id,
            doctor,
            first,
            last,
            appointment_type,
            now,
            ctx.settings.min_lead_minutes,
            service_id,
            first_day_only,
        )
    )


MAX_AVAILABILITY_WINDOW = timedelta(days=14)


async def open_between(
    ctx: Context, doctors: Sequence[Doctor], start: datetime, end: datetime
) -> set[uuid.UUID]:
    """Which of `doctors` have an open slot of their default (standard) service starting
    in [start, end): one batch of the slots loader, so four statements whatever the
    number of doctors."""
    if start.tzinfo is None or end.tzinfo is None:
        raise BadUserInput("`availableBetween` instants must include a UTC offset.")
    if not start < end <= start + MAX_AVAILABILITY_WINDOW:
        raise BadUserInput(
            "`availableBetween.to` must be after `from`, at most "
            f"{MAX_AVAILABILITY_WINDOW.days} days later."
        )
    now = datetime.now(UTC)
    if end <= now or start >= LAST_SLOT_INSTANT:
        return set()
    loader = ctx.loaders.get(SlotsByDoctorIdLoader)
    waits = []
    for doctor in doctors:
        zone = ZoneInfo(doctor.timezone)
        first = start.astimezone(zone).date()
        last = min((end - timedelta(microseconds=1)).astimezone(zone).date(), LAST_SLOT_DATE)
        key = SlotKey(
            doctor.id, doctor, first, last, "standard", now, ctx.settings.min_lead_minutes
        )
        waits.append((doctor.id, loader.load(key)))
    found: set[uuid.UUID] = set()
    for doctor_id, wait in waits:
        if any(start <= slot.starts_at < end for slot in await wait):
            found.add(doctor_id)
    return found


class ServiceNotOfferedError(ValidationFailed):
    """The service named is not one the doctor offers (now)."""

    def __init__(self) -> None:
        super().__init__({"serviceId": ["is not a service this doctor offers"]})


async def find_open_slot(
    session: AsyncSession,
    viewer: Viewer,
    doctor: Doctor,
    starts_at: datetime,
    *,
    now: datetime,
    lead_minutes: int,
    appointment_type: str = "standard",
    service_id: uuid.UUID | None = None,
    exclude_appointment_id: uuid.UUID | None = None,
    holder_id: uuid.UUID | None = None,
) -> tuple[Slot, Offer]:
    """Re-computes the open slots of the doctor's service (`service_id`, or the default
    service of `appointment_type`) around `starts_at`, under the doctor lock, and returns
    the one starting then with the service's terms, or raises `SlotUnavailableError`
    (`ServiceNotOfferedError` for a service the doctor does not offer)."""
    if starts_at.tzinfo is None:
        raise BadUserInput("`startsAt` must include a UTC offset.")
    if not doctor.verified or not doctor.accepting_patients:
        raise SlotUnavailableError("This doctor is not accepting bookings.", starts_at)
    if starts_at < now:
        raise SlotUnavailableError("This slot is in the past or starts too soon.", starts_at)
    if starts_at >= LAST_SLOT_INSTANT:
        raise SlotUnavailableError("This slot is beyond the calendar.", starts_at)
    local_date = starts_at.astimezone(ZoneInfo(doctor.timezone)).date()
    schedules = await load_schedules(
        in_session(session),
        [doctor],
        start=local_date,
        end=local_date,
        now=now,
        holds_visible_to=holder_id or viewer.user_id,
        exclude_appointment_id=exclude_appointment_id,
    )
    schedule = schedules[doctor.id]
    offer = schedule.offer(service_id, appointment_type)
    if offer is None:
        raise ServiceNotOfferedError()
    earliest = earliest_start(now, lead_minutes, offer)
    for slot in compute_slots(
        schedule,
        start=local_date,
        end=local_date,
        earliest=earliest,
        offer=offer,
    ):
        if slot.starts_at == starts_at:
            return slot, offer
    if starts_at < earliest:
        raise SlotUnavailableError("This slot is in the past or starts too soon.", starts_at)
    raise SlotUnavailableError(
        "This slot is not open: it is taken, held or off the schedule.", starts_at
    )


# --- holds ---------------------------------------------------------------------------


# The statements of a hold, built once (run prepared in the hold's transaction): the
# holder's previous hold on this doctor and expired holds on it go; the holder's holds
# still active; the new hold (every column given: nothing to read back).
_REPLACED_HOLDS = delete(SlotHold).where(
    SlotHold.doctor_id == bindparam("doctor_id"),
    (SlotHold.user_id == bindparam("user_id")) | (SlotHold.expires_at <= bindparam("now")),
)
_ACTIVE_HOLDS = (
    select(func.count().label("active"))
    .select_from(SlotHold)
    .where(SlotHold.user_id == bindparam("user_id"), SlotHold.expires_at > bindparam("now"))
)
_HOLD_COLUMNS = (
    "id",
    "doctor_id",
    "user_id",
    "service_id",
    "starts_at",
    "ends_at",
    "expires_at",
    "created_at",
)
_NEW_HOLD = insert(SlotHold).values({name: bindparam(name) for name in _HOLD_COLUMNS})


def _doctor_to_book(viewer: Viewer) -> AnySelect:
    return visible(Doctor, viewer).where(Doctor.id == bindparam("doctor_id")).with_for_update()


async def lock_doctor_to_book(
    session: AsyncSession, viewer: Viewer, doctor_id: uuid.UUID
) -> Doctor:
    """`lock_doctor` for a hold or a booking, which only read the doctor: the same
    statement (the doctors policy, FOR UPDATE), kept as a template per viewer shape and
    run prepared; the row comes back as a read-only `Doctor`, outside the session."""
    statement, values, reusable = statement_for("slots.lock_doctor", viewer, _doctor_to_book)
    if not reusable:
        return await lock_doctor(session, viewer, doctor_id)
    rows = await run_in(session, statement, {**values, "doctor_id": doctor_id})
    if not rows:
        raise NotFound("Doctor not found.")
    return instances(Doctor, rows)[0]


async def hold_slot(
    ctx: Context,
    doctor_id: uuid.UUID,
    starts_at: datetime,
    *,
    patient_id: uuid.UUID | None = None,
    service_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> SlotHold:
    """Holds an open slot of a service (by default the doctor's standard one) for the
    viewer (or, for the front desk, for `patient_id`) for `hold_minutes`; it disappears
    for others (a group session's hold takes one seat). A patient keeps one hold per
    doctor (a new hold replaces the previous one)."""
    viewer = ctx.viewer
    if viewer.user_id is None:
        raise Forbidden("Sign in to hold a slot.")
    holder_id = patient_id or viewer.user_id
    require(
        appointment_policy.can_book_for(viewer, holder_id),
        "Only the front desk holds slots for someone else.",
    )
    require(
        appointment_policy.can_book_with(viewer, doctor_id),
        "Doctors cannot hold slots on their own schedule.",
    )
    now = now or datetime.now(UTC)
    async with ctx.db.transaction() as session:
        doctor = await lock_doctor_to_book(session, viewer, doctor_id)
        if holder_id != viewer.user_id and await session.get(User, holder_id) is None:
            raise NotFound("Patient not found.")
        slot, _offer = await find_open_slot(
            session,
            viewer,
            doctor,
            starts_at,
            now=now,
            lead_minutes=ctx.settings.min_lead_minutes,
            service_id=service_id,
            holder_id=holder_id,
        )
        values = {"doctor_id": doctor_id, "user_id": holder_id, "now": now}
        await execute_in(session, _REPLACED_HOLDS, values)
        (active,) = (await run_in(session, _ACTIVE_HOLDS, values))[0]
        if active >= MAX_ACTIVE_HOLDS_PER_USER:
            raise ValidationFailed.single(
                "startsAt",
                f"you already hold {MAX_ACTIVE_HOLDS_PER_USER} slots; release one or book",
            )
        hold = SlotHold(
            id=uuid.uuid4(),
            doctor_id=doctor_id,
            user_id=holder_id,
            service_id=slot.service_id,
            starts_at=slot.starts_at,
            ends_at=slot.ends_at,
            expires_at=now + timedelta(minutes=ctx.settings.hold_minutes),
            created_at=now,
        )
        await execute_in(session, _NEW_HOLD, {name: getattr(hold, name) for name in _HOLD_COLUMNS})
        if holder_id != viewer.user_id:  # a hold on someone's behalf
            audit.record(
                session,
                ctx,
                "slot.hold_for",
                "SlotHold",
                hold.id,
                after=audit.snapshot(hold, "user_id", "doctor_id", "service_id", "starts_at"),
            )
    return hold


async def release_hold(ctx: Context, hold_id: uuid.UUID) -> uuid.UUID:
    async with ctx.db.transaction() as session:
        hold = (
            await session.scalars(
                visible(SlotHold, ctx.viewer).where(SlotHold.id == hold_id).with_for_update()
            )
        ).one_or_none()
        if hold is None:
            raise NotFound("Hold not found.")
        require(slot_hold_policy.can_release(ctx.viewer, hold), "Only the holder may release it.")
        await session.delete(hold)
    return hold_id


async def list_active_holds(ctx: Context, *, now: datetime | None = None) -> list[SlotHold]:
    """The unexpired holds the viewer may see (own; a doctor's also those on them)."""
    now = now or datetime.now(UTC)
    statement = (
        visible(SlotHold, ctx.viewer)
        .where(SlotHold.expires_at > now)
        .order_by(SlotHold.starts_at, SlotHold.id)
        .limit(100)
    )
    async with ctx.db.read() as session:
        return list((await session.scalars(statement)).all())


async def page_active_holds(
    ctx: Context, *, first: int | None, after: str | None
) -> Page[SlotHold]:
    """A page of the unexpired holds the viewer may see, by start (then id)."""
    limit = page_size(
        first, default=ctx.settings.default_page_size, maximum=ctx.settings.max_page_size
    )
    return await paginate(
        ctx.db,
        ctx.viewer,
        "active_holds",
        SlotHold,
        lambda viewer: visible(SlotHold, viewer).where(SlotHold.expires_at > func.now()),
        SortKey((SlotHold.starts_at, SlotHold.id)),  # type: ignore[arg-type]
        lambda hold: (hold.starts_at, hold.id),
        first=limit,
        after=after,
    )


class SlotHoldByIdLoader(RowByIdLoader):
    model = SlotHold
