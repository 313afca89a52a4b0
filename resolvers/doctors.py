"""Doctors: the directory (filtered, ordered, keyset-paginated), profiles, verification."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import ColumnElement, Numeric, Select, literal, or_, text
from sqlalchemy.ext.asyncio import AsyncSession

from models import Doctor
from resolvers import audit
from resolvers.core.context import Context
from resolvers.core.errors import FieldErrors, NotFound, ValidationFailed
from resolvers.core.identity import Viewer
from resolvers.core.input_checks import TIMEZONES, like_pattern, money_problem
from resolvers.core.json_reads import RelatedRow
from resolvers.core.loaders import PolicyLoader, RowByIdLoader
from resolvers.core.pagination import Page, SortKey, page_size, paginate
from resolvers.core.statement_templates import AnySelect, RelatedColumns, instances
from resolvers.policies import require, visible
from resolvers.policies.doctors import doctor_policy

CURRENCY_CODES_LENGTH = 3
MAX_NAME_LENGTH = 200
MAX_BIO_LENGTH = 5000
MAX_LIST_ITEMS = 20


class DoctorOrderField(Enum):
    NAME = "name"
    RATING = "rating"
    FEE = "fee"
    CREATED_AT = "created_at"


# The Doctor attribute each order sorts by (ties broken by id).
_SORT_ATTRIBUTES = {
    DoctorOrderField.NAME: "full_name",
    DoctorOrderField.RATING: "rating_avg",
    DoctorOrderField.FEE: "fee_standard",
    DoctorOrderField.CREATED_AT: "created_at",
}


@dataclass(frozen=True)
class DoctorFilter:
    specialty: str | None = None
    language: str | None = None
    accepting_patients: bool | None = None
    verified: bool | None = None
    search: str | None = None
    min_fee: Decimal | None = None
    max_fee: Decimal | None = None
    only_ids: frozenset[uuid.UUID] | None = None
    """Doctors computed elsewhere (open slots in a window); None: no such condition."""


@dataclass(frozen=True)
class DoctorOrder:
    field: DoctorOrderField = DoctorOrderField.NAME
    descending: bool = False


def fee_bound(value: Decimal | None, field: str) -> Decimal | None:
    """A fee bound: any finite number (compared as an unconstrained numeric, so one past
    every fee, or with more digits than a fee has, compares as numbers do)."""
    if value is not None and not value.is_finite():
        raise ValidationFailed.single(field, "must be a finite number")
    return value


def _filtered(viewer: Viewer, doctor_filter: DoctorFilter) -> Select[Doctor]:
    statement = visible(Doctor, viewer)
    if doctor_filter.specialty:
        statement = statement.where(Doctor.specialties.contains([doctor_filter.specialty]))
    if doctor_filter.language:
        statement = statement.where(Doctor.languages.contains([doctor_filter.language]))
    if doctor_filter.accepting_patients is not None:
        statement = statement.where(Doctor.accepting_patients.is_(doctor_filter.accepting_patients))
    if doctor_filter.verified is not None:
        statement = statement.where(Doctor.verified.is_(doctor_filter.verified))
    if doctor_filter.min_fee is not None:
        statement = statement.where(
            Doctor.fee_standard >= literal(doctor_filter.min_fee, Numeric())
        )
    if doctor_filter.max_fee is not None:
        statement = statement.where(
            Doctor.fee_standard <= literal(doctor_filter.max_fee, Numeric())
        )
    if doctor_filter.only_ids is not None:
        statement = statement.where(Doctor.id.in_(sorted(doctor_filter.only_ids)))
    if doctor_filter.search and doctor_filter.search.strip():
        pattern = like_pattern(doctor_filter.search.strip())
        statement = statement.where(or_(Doctor.full_name.ilike(pattern), Doctor.bio.ilike(pattern)))
    return statement


async def list_doctors(
    ctx: Context,
    doctor_filter: DoctorFilter,
    order: DoctorOrder,
    *,
    first: int | None,
    after: str | None,
) -> Page[Doctor]:
    limit = page_size(
        first, default=ctx.settings.default_page_size, maximum=ctx.settings.max_page_size
    )
    attribute = _SORT_ATTRIBUTES[order.field]
    column: ColumnElement[Any] = getattr(Doctor, attribute)
    sort = SortKey((column, Doctor.id), descending=order.descending)  # type: ignore[arg-type]
    page = await paginate(
        ctx.db,
        ctx.viewer,
        # Text filters are values without bound: such lists are built per call (a
        # template per value would grow the cache with every string a client sends).
        None
        if doctor_filter.search
        or doctor_filter.specialty
        or doctor_filter.language
        or doctor_filter.min_fee is not None
        or doctor_filter.max_fee is not None
        or doctor_filter.only_ids is not None
        else ("doctors", doctor_filter),
        Doctor,
        lambda viewer: _filtered(viewer, doctor_filter),
        sort,
        lambda doctor: (getattr(doctor, attribute), doctor.id),
        first=limit,
        after=after,
    )
    loader = ctx.loaders.get(DoctorByIdLoader)
    for doctor in page.rows:
        loader.replace(doctor.id, doctor)
    return page


MAX_AVAILABILITY_CANDIDATES = 1000
"""The most doctors an "available between" directory query looks at (after its other
conditions): their open slots are computed in one batch."""


async def directory_candidates(ctx: Context, doctor_filter: DoctorFilter) -> list[Doctor]:
    """The doctors matching `doctor_filter`'s stored conditions, for a condition computed
    in Python (open slots): one statement, at most `MAX_AVAILABILITY_CANDIDATES`."""
    statement = _filtered(ctx.viewer, doctor_filter).order_by(Doctor.id)
    async with ctx.db.read() as session:
        rows = list((await session.scalars(statement.limit(MAX_AVAILABILITY_CANDIDATES + 1))).all())
    if len(rows) > MAX_AVAILABILITY_CANDIDATES:
        raise ValidationFailed.single(
            "availableBetween",
            f"narrow the search first: more than {MAX_AVAILABILITY_CANDIDATES} doctors match",
        )
    return rows


class DoctorByIdLoader(RowByIdLoader[Doctor]):
    model = Doctor


def doctor_by(via: str) -> RelatedRow:
    """The doctor (through the doctors policy) whose id is the parent row's `via`
    column: what `DoctorByIdLoader` reads, as a source for fields answered in SQL."""
    return RelatedRow(lambda viewer: visible(Doctor, viewer), Doctor.id, via=via)


_JOINED_DOCTOR = "doctor__"


def doctors_joined(loader: DoctorByIdLoader) -> RelatedColumns:
    """The doctor of each row (its `doctor_id`) read in the rows' own statement, under the
    doctors policy, into `loader`: what `DoctorByIdLoader` would read for those ids, and
    None for a doctor the viewer may not see."""

    def join(query: AnySelect, entity: Any, viewer: Viewer) -> AnySelect:
        doctors = visible(Doctor, viewer).subquery("joined_doctor")
        return query.add_columns(
            *[column.label(_JOINED_DOCTOR + column.key) for column in doctors.c]
        ).outerjoin(doctors, doctors.c.id == entity.doctor_id)

    def read(rows: Sequence[Any]) -> None:
        seen = [row for row in rows if getattr(row, _JOINED_DOCTOR + "id") is not None]
        for doctor in instances(Doctor, seen, prefix=_JOINED_DOCTOR):
            loader.prime(doctor.id, doctor)
        for row in rows:
            if getattr(row, _JOINED_DOCTOR + "id") is None:
                loader.prime(row.doctor_id, None)

    return RelatedColumns(join, read)


class DoctorByUserIdLoader(PolicyLoader[uuid.UUID, Doctor | None]):
    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[Doctor | None]:
        rows = await self.visible_where_in(Doctor, Doctor.user_id, keys)
        found = {doctor.user_id: doctor for doctor in rows}
        return [found.get(key) for key in keys]


async def get_doctor(ctx: Context, doctor_id: uuid.UUID) -> Doctor | None:
    return await ctx.loaders.get(DoctorByIdLoader).load(doctor_id)


@dataclass(frozen=True)
class DoctorProfileChanges:
    """Fields left as None are not changed."""

    full_name: str | None = None
    specialties: list[str] | None = None
    languages: list[str] | None = None
    bio: str | None = None
    qualifications: list[Any] | None = None
    fee_standard: Decimal | None = None
    fee_followup: Decimal | None = None
    currency: str | None = None
    photo_url: str | None = None
    accepting_patients: bool | None = None
    timezone: str | None = None
    cancellation_policy_hours: int | None = None


def _validate_profile(changes: DoctorProfileChanges) -> None:
    errors = FieldErrors()
    if changes.full_name is not None:
        name = changes.full_name.strip()
        errors.check(bool(name), "fullName", "must not be empty")
        errors.check(
            len(name) <= MAX_NAME_LENGTH, "fullName", f"at most {MAX_NAME_LENGTH} characters"
        )
    for field_name, values in (
        ("specialties", changes.specialties),
        ("languages", changes.languages),
    ):
        if values is not None:
            errors.check(
                len(values) <= MAX_LIST_ITEMS, field_name, f"at most {MAX_LIST_ITEMS} items"
            )
            errors.check(all(v.strip() for v in values), field_name, "items must not be empty")
    if changes.bio is not None:
        errors.check(
            len(changes.bio) <= MAX_BIO_LENGTH, "bio", f"at most {MAX_BIO_LENGTH} characters"
        )
    for field_name, fee in (
        ("feeStandard", changes.fee_standard),
        ("feeFollowup", changes.fee_followup),
    ):
        problem = None if fee is None else money_problem(fee)
        if problem is not None:
            errors.add(field_name, problem)
    if changes.currency is not None:
        errors.check(
            len(changes.currency) == CURRENCY_CODES_LENGTH
            and changes.currency.isascii()
            and changes.currency.isalpha()
            and changes.currency.isupper(),
            "currency",
            "must be an ISO 4217 code such as USD",
        )
    if changes.timezone is not None:
        errors.check(changes.timezone in TIMEZONES, "timezone", "must be an IANA time zone name")
    if changes.cancellation_policy_hours is not None:
        errors.check(
            0 <= changes.cancellation_policy_hours <= 720,
            "cancellationPolicyHours",
            "must be between 0 and 720",
        )
    if changes.photo_url is not None and changes.photo_url:
        errors.check(
            changes.photo_url.startswith(("https://", "http://")),
            "photoUrl",
            "must be an http(s) URL",
        )
    errors.raise_if_any()


async def lock_doctor(session: AsyncSession, viewer: Viewer, doctor_id: uuid.UUID) -> Doctor:
    """Locks a doctor row the viewer may read (SELECT ... FOR UPDATE, held until commit):
    writes to one doctor's profile, schedule and bookings run one after another."""
    statement = visible(Doctor, viewer).where(Doctor.id == doctor_id).with_for_update()
    doctor = (await session.scalars(statement)).one_or_none()
    if doctor is None:
        raise NotFound("Doctor not found.")
    return doctor


def target_doctor_id(ctx: Context, doctor_id: uuid.UUID | None) -> uuid.UUID:
    """The doctor a write is about: the one given, else the viewer's own profile."""
    target = doctor_id or ctx.viewer.doctor_id
    if target is None:
        raise NotFound("You have no doctor profile; pass `doctorId`.")
    return target


_postgres_zone_names: frozenset[str] | None = None


async def _postgres_zones(session: AsyncSession) -> frozenset[str]:
    """The time zone names Postgres knows (its tz database may be older than Python's, and
    Postgres reads a doctor's zone: the dashboard's local hours), read once per process
    (the view reads every zone file, ~20 ms)."""
    global _postgres_zone_names
    if _postgres_zone_names is None:
        names = await session.scalars(text("SELECT name FROM pg_timezone_names"))
        _postgres_zone_names = frozenset(names)
    return _postgres_zone_names


async def update_doctor_profile(
    ctx: Context, doctor_id: uuid.UUID | None, changes: DoctorProfileChanges
) -> Doctor:
    """Updates a profile: the doctor's own (default) or, for admins, any."""
    target = target_doctor_id(ctx, doctor_id)
    _validate_profile(changes)
    async with ctx.db.transaction() as session:
        doctor = await lock_doctor(session, ctx.viewer, target)
        require(
            doctor_policy.can_update(ctx.viewer, doctor),
            "Only the doctor or an admin may update this profile.",
        )
        if changes.timezone is not None and changes.timezone not in await _postgres_zones(session):
            raise ValidationFailed.single("timezone", "is not a time zone the database knows")
        changed = [name for name, value in vars(changes).items() if value is not None]
        before = audit.snapshot(doctor, *changed)
        for name, value in vars(changes).items():
            if value is None:
                continue
            if isinstance(value, str) and name != "bio":
                value = value.strip()
            if name in ("specialties", "languages"):
                value = sorted({item.strip() for item in value})
            setattr(doctor, name, value)
        audit.record(
            session,
            ctx,
            "doctor.update",
            "Doctor",
            doctor.id,
            before=before,
            after=audit.snapshot(doctor, *changed),
        )
        await session.flush()
    ctx.loaders.get(DoctorByIdLoader).replace(doctor.id, doctor)
    return doctor


async def verify_doctor(ctx: Context, doctor_id: uuid.UUID, verified: bool) -> Doctor:
    require(
        doctor_policy.can_verify(ctx.viewer),
        "Only admins may verify doctors.",
    )
    async with ctx.db.transaction() as session:
        doctor = await lock_doctor(session, ctx.viewer, doctor_id)
        before = audit.snapshot(doctor, "verified")
        doctor.verified = verified
        audit.record(
            session,
            ctx,
            "doctor.verify",
            "Doctor",
            doctor.id,
            before=before,
            after=audit.snapshot(doctor, "verified"),
        )
        await session.flush()
    ctx.loaders.get(DoctorByIdLoader).replace(doctor.id, doctor)
    return doctor
