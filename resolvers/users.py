"""Users: the viewer's own account, and other users as far as the users policy allows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from models import User, UserRole
from resolvers.core.context import Context
from resolvers.core.database import Database
from resolvers.core.errors import FieldErrors, Forbidden, NotFound, ValidationFailed
from resolvers.core.identity import Viewer
from resolvers.core.input_checks import TIMEZONES, like_pattern
from resolvers.core.json_reads import RelatedRow
from resolvers.core.loaders import PolicyLoader
from resolvers.core.pagination import Page, SortKey, page_size, paginate
from resolvers.core.statement_templates import any_of, fetch_rows, instances
from resolvers.policies import readable, require, visible
from resolvers.policies.users import user_policy

MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class VisibleUser:
    """A user row as one viewer may see it: contact fields only when `contact_visible`."""

    user: User
    contact_visible: bool


def visible_users(viewer: Viewer) -> Any:
    """Users the viewer may read, each with `contact_visible` (the users policy): what
    `UserByIdLoader` reads, as a source for fields answered in SQL."""
    return select(User, user_policy.contact(viewer).label("contact_visible")).where(
        readable(User, viewer)
    )


def user_by(via: str) -> RelatedRow:
    """The user (through the users policy) whose id is the parent row's `via` column."""
    return RelatedRow(visible_users, User.id, via=via)


class UserByIdLoader(PolicyLoader[uuid.UUID, VisibleUser | None]):
    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[VisibleUser | None]:
        rows = await fetch_rows(
            self.db,
            type(self),
            self.viewer,
            lambda viewer: select(User, user_policy.contact(viewer).label("contact_visible")).where(
                readable(User, viewer), any_of(User.id)
            ),
            keys=list(keys),
        )
        found = {
            user.id: VisibleUser(user, bool(row.contact_visible))
            for user, row in zip(instances(User, rows), rows, strict=True)
        }
        return [found.get(key) for key in keys]

    def prime_from_viewer(self) -> None:
        """Serves the viewer's own row from the one the viewer statement read: the users
        policy always lets a user read their own row with its contact fields."""
        profile = self.viewer.profile
        if self.viewer.user_id is not None and profile is not None:
            self.prime(self.viewer.user_id, VisibleUser(User(**profile), contact_visible=True))


MAX_SEARCH_LENGTH = 200


def matching(users: Any, text: str) -> Any:
    """`users` narrowed to those whose name, email or phone contains `text` (any case;
    its own % and _ literal); all of them for an empty text."""
    if not text:
        return users
    pattern = like_pattern(text)
    return users.where(
        or_(
            User.full_name.ilike(pattern, escape="\\"),
            User.email.ilike(pattern, escape="\\"),
            User.phone.ilike(pattern, escape="\\"),
        )
    )


async def search_patients(
    ctx: Context, search: str | None, *, first: int | None, after: str | None
) -> Page[User]:
    """The front desk's patient lookup (staff and admins): users whose name, email or
    phone contains `search` (any case), by name. The users policy lets both read every
    row with its contact details (`found_patient`)."""
    viewer = ctx.viewer
    require(
        viewer.is_staff or viewer.is_admin or viewer.is_service,
        "Only the front desk and admins search patients.",
    )
    text = (search or "").strip()
    if len(text) > MAX_SEARCH_LENGTH:
        raise ValidationFailed.single("search", f"at most {MAX_SEARCH_LENGTH} characters")
    limit = page_size(
        first, default=ctx.settings.default_page_size, maximum=ctx.settings.max_page_size
    )

    def build(viewer: Viewer) -> Any:
        return matching(visible(User, viewer), text)

    return await paginate(
        ctx.db,
        viewer,
        None if text else "patients",  # a search text varies without bound: built per call
        User,
        build,
        SortKey((User.full_name, User.id)),  # type: ignore[arg-type]
        lambda user: (user.full_name, user.id),
        first=limit,
        after=after,
    )


def found_patient(user: User) -> VisibleUser:
    """A row of `search_patients`: only viewers whom `user_policy.contact` lets see every
    contact (staff, admins, service_role) may search."""
    return VisibleUser(user, contact_visible=True)


async def get_user(ctx: Context, user_id: uuid.UUID) -> VisibleUser | None:
    return await ctx.loaders.get(UserByIdLoader).load(user_id)


@dataclass(frozen=True)
class ProfileChanges:
    full_name: str | None = None
    phone: str | None = None
    timezone: str | None = None
    avatar_url: str | None = None


async def update_viewer_profile(ctx: Context, changes: ProfileChanges) -> VisibleUser:
    user_id = ctx.viewer.user_id
    if user_id is None:
        raise Forbidden("Sign in to update your profile.")
    require(user_policy.can_update(ctx.viewer, user_id))
    errors = FieldErrors()
    if changes.full_name is not None:
        errors.check(bool(changes.full_name.strip()), "fullName", "must not be empty")
        errors.check(
            len(changes.full_name) <= MAX_NAME_LENGTH,
            "fullName",
            f"at most {MAX_NAME_LENGTH} characters",
        )
    if changes.phone is not None and changes.phone:
        digits = changes.phone.replace(" ", "").replace("-", "")
        errors.check(
            digits.startswith("+") and digits[1:].isdigit() and 8 <= len(digits) <= 16,
            "phone",
            "must be in international format, e.g. +971501234567",
        )
    if changes.timezone is not None:
        errors.check(changes.timezone in TIMEZONES, "timezone", "must be an IANA time zone name")
    errors.raise_if_any()
    async with ctx.db.transaction() as session:
        user = await session.get(User, user_id, with_for_update=True)
        if user is None:
            raise NotFound("User not found.")
        if changes.full_name is not None:
            user.full_name = changes.full_name.strip()
        if changes.phone is not None:
            user.phone = changes.phone.strip() or None
        if changes.timezone is not None:
            user.timezone = changes.timezone
        if changes.avatar_url is not None:
            user.avatar_url = changes.avatar_url.strip() or None
        await session.flush()
    visible_user = VisibleUser(user, contact_visible=True)
    ctx.loaders.get(UserByIdLoader).replace(user_id, visible_user)
    return visible_user


async def ensure_user(
    db: Database, email: str, role: str | None = None, *, new_id: uuid.UUID | None = None
) -> uuid.UUID:
    """The id of the user with `email`, creating it (with `new_id`, else a random id) and
    granting `role` if needed. The `token` command passes the demo id of the address, so a
    token minted before the demo data is loaded stays valid after."""
    email = email.strip().lower()
    async with db.transaction() as session:
        existing = (await session.execute(select(User.id).where(User.email == email))).scalar()
        user_id = existing or new_id or uuid.uuid4()
        if existing is None:
            await session.execute(
                insert(User).values(id=user_id, email=email, full_name=email.split("@")[0])
            )
        if role is not None and role != "patient":
            await session.execute(
                pg_insert(UserRole).values(user_id=user_id, role=role).on_conflict_do_nothing()
            )
    return user_id
