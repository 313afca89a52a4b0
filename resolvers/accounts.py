"""Accounts, for admins (and service_role): app roles granted and revoked, accounts
deactivated, doctors onboarded, users listed. The users policy says who may
(`user_policy.can_manage_accounts`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import Doctor, User, UserRole
from resolvers import audit
from resolvers.core.context import Context
from resolvers.core.errors import FieldErrors, NotFound, ValidationFailed
from resolvers.core.identity import Viewer
from resolvers.core.input_checks import TIMEZONES, money_problem
from resolvers.core.pagination import Page, SortKey, page_size, paginate
from resolvers.doctors import DoctorByIdLoader
from resolvers.policies import require, visible
from resolvers.policies.users import user_policy
from resolvers.users import MAX_SEARCH_LENGTH, UserByIdLoader, matching

GRANTABLE_ROLES = ("coach", "staff", "admin")
"""Every user is a patient; a doctor is a user with a doctor profile (`createDoctor`)."""


def _require_manager(ctx: Context) -> None:
    require(user_policy.can_manage_accounts(ctx.viewer), "Only admins manage accounts.")


def _check_role(role: str) -> None:
    if role not in GRANTABLE_ROLES:
        raise ValidationFailed.single(
            "role", "grant COACH, STAFF or ADMIN (doctors come with a doctor profile)"
        )


async def _user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("User not found.")
    return user


async def roles_of(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    roles = await session.scalars(select(UserRole.role).where(UserRole.user_id == user_id))
    return sorted({"patient", *roles})


@dataclass(frozen=True)
class AccountRoles:
    user: User
    roles: list[str]


async def grant_role(ctx: Context, user_id: uuid.UUID, role: str) -> AccountRoles:
    """Takes effect on the user's next request (roles are read per request)."""
    _require_manager(ctx)
    _check_role(role)
    async with ctx.db.transaction() as session:
        user = await _user(session, user_id)
        before = await roles_of(session, user_id)
        await session.execute(
            pg_insert(UserRole).values(user_id=user_id, role=role).on_conflict_do_nothing()
        )
        roles = sorted({*before, role})
        audit.record(
            session,
            ctx,
            "role.grant",
            "User",
            user_id,
            before={"roles": before},
            after={"roles": roles},
        )
    _forget(ctx, user_id)
    return AccountRoles(user, roles)


async def _lock_admins(session: AsyncSession) -> set[uuid.UUID]:
    """The active admins, their role rows locked: two admins removing each other at once
    run one after the other, and the second sees the first's change."""
    rows = await session.scalars(
        select(UserRole.user_id)
        .join(User, User.id == UserRole.user_id)
        .where(UserRole.role == "admin", User.deactivated_at.is_(None))
        .with_for_update(of=UserRole)
    )
    return set(rows)


async def revoke_role(ctx: Context, user_id: uuid.UUID, role: str) -> AccountRoles:
    """The last active admin keeps the role."""
    _require_manager(ctx)
    _check_role(role)
    async with ctx.db.transaction() as session:
        user = await _user(session, user_id)
        if role == "admin" and await _lock_admins(session) == {user_id}:
            raise ValidationFailed.single("role", "the last admin cannot be removed")
        before = await roles_of(session, user_id)
        await session.execute(
            delete(UserRole).where(UserRole.user_id == user_id, UserRole.role == role)
        )
        roles = sorted(set(before) - {role})
        audit.record(
            session,
            ctx,
            "role.revoke",
            "User",
            user_id,
            before={"roles": before},
            after={"roles": roles},
        )
    _forget(ctx, user_id)
    return AccountRoles(user, roles)


async def deactivate_user(ctx: Context, user_id: uuid.UUID) -> User:
    """From now on the user's tokens get 401; their rows and history stay. The last
    active admin cannot be deactivated."""
    _require_manager(ctx)
    async with ctx.db.transaction() as session:
        user = await _user(session, user_id)
        if await _lock_admins(session) == {user_id}:
            raise ValidationFailed.single("userId", "the last admin cannot be deactivated")
        if user.deactivated_at is None:
            user.deactivated_at = datetime.now(UTC)
            audit.record(
                session,
                ctx,
                "user.deactivate",
                "User",
                user.id,
                after=audit.snapshot(user, "deactivated_at"),
            )
        await session.flush()
    _forget(ctx, user_id)
    return user


def _forget(ctx: Context, user_id: uuid.UUID) -> None:
    ctx.loaders.get(UserByIdLoader).clear(user_id)


@dataclass(frozen=True)
class DoctorProfile:
    full_name: str
    specialties: list[str]
    languages: list[str]
    timezone: str
    currency: str
    fee_standard: Decimal
    fee_followup: Decimal


async def create_doctor(
    ctx: Context, user_id: uuid.UUID | None, email: str | None, profile: DoctorProfile
) -> Doctor:
    """A doctor profile for an existing user (`user_id`) or a new one (`email`), not
    verified (not in the public directory) until `verifyDoctor`. The user is a doctor
    from their next request."""
    _require_manager(ctx)
    errors = FieldErrors()
    errors.check((user_id is None) != (email is None), "userId", "give either userId or email")
    name = profile.full_name.strip()
    errors.check(0 < len(name) <= 200, "fullName", "1 to 200 characters")
    errors.check(profile.timezone in TIMEZONES, "timezone", "not an IANA time zone")
    errors.check(
        len(profile.currency) == 3 and profile.currency.isalpha() and profile.currency.isupper(),
        "currency",
        "an ISO 4217 code such as USD",
    )
    for field, fee in (
        ("feeStandard", profile.fee_standard),
        ("feeFollowup", profile.fee_followup),
    ):
        problem = money_problem(fee)
        errors.check(problem is None, field, problem or "")
    address = (email or "").strip().lower()
    if email is not None:
        errors.check("@" in address and len(address) <= 320, "email", "not an email address")
    errors.raise_if_any()
    async with ctx.db.transaction() as session:
        if user_id is None:
            existing = await session.scalar(select(User.id).where(User.email == address))
            user_id = existing or uuid.uuid4()
            if existing is None:
                session.add(User(id=user_id, email=address, full_name=name))
                await session.flush()
        else:
            await _user(session, user_id)
        taken = await session.scalar(select(Doctor.id).where(Doctor.user_id == user_id))
        if taken is not None:
            raise ValidationFailed.single("userId", "this user already has a doctor profile")
        doctor = Doctor(
            user_id=user_id,
            full_name=name,
            specialties=[s.strip() for s in profile.specialties if s.strip()],
            languages=[s.strip() for s in profile.languages if s.strip()],
            timezone=profile.timezone,
            currency=profile.currency,
            fee_standard=profile.fee_standard,
            fee_followup=profile.fee_followup,
            verified=False,
        )
        session.add(doctor)
        await session.flush()
        audit.record(
            session,
            ctx,
            "doctor.create",
            "Doctor",
            doctor.id,
            after=audit.snapshot(doctor, "user_id", "full_name", "verified", "currency"),
        )
    ctx.loaders.get(DoctorByIdLoader).replace(doctor.id, doctor)
    return doctor


async def list_users(
    ctx: Context,
    search: str | None,
    role: str | None,
    *,
    first: int | None,
    after: str | None,
) -> Page[User]:
    """Admins: every account, by name; `search` matches name, email or phone (any part,
    any case); `role` keeps holders of that role (PATIENT: everyone, DOCTOR: those with
    a doctor profile)."""
    _require_manager(ctx)
    text = (search or "").strip()
    if len(text) > MAX_SEARCH_LENGTH:
        raise ValidationFailed.single("search", f"at most {MAX_SEARCH_LENGTH} characters")
    limit = page_size(
        first, default=ctx.settings.default_page_size, maximum=ctx.settings.max_page_size
    )

    def build(viewer: Viewer) -> object:
        users = matching(visible(User, viewer), text)
        if role == "doctor":
            users = users.where(select(Doctor.id).where(Doctor.user_id == User.id).exists())
        elif role is not None and role != "patient":
            users = users.where(
                select(UserRole.user_id)
                .where(UserRole.user_id == User.id, UserRole.role == role)
                .exists()
            )
        return users

    return await paginate(
        ctx.db,
        ctx.viewer,
        None,  # search texts vary without bound: built per call
        User,
        build,  # type: ignore[arg-type]
        SortKey((User.full_name, User.id)),  # type: ignore[arg-type]
        lambda user: (user.full_name, user.id),
        first=limit,
        after=after,
    )
