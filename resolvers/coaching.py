"""Coach-client links: admins assign clients to coaches; coaches and clients read their
own links. The goals policy reads them (`resolvers.policies.coaching.coached`)."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from models import CoachClient, User, UserRole
from resolvers import audit
from resolvers.core.context import Context
from resolvers.core.errors import FieldErrors, NotFound
from resolvers.core.loaders import RowByIdLoader
from resolvers.core.pagination import Page, SortKey, page_size, paginate
from resolvers.policies import require, visible
from resolvers.policies.coaching import coach_client_policy


async def assign_coach(ctx: Context, coach_id: uuid.UUID, client_id: uuid.UUID) -> CoachClient:
    """Admins: makes `client_id` a client of `coach_id` (who must hold the coach role).
    Assigning an existing pair returns the existing link and writes nothing."""
    require(coach_client_policy.can_manage(ctx.viewer), "Only admins assign coaches.")
    errors = FieldErrors()
    errors.check(coach_id != client_id, "clientId", "a coach cannot be their own client")
    errors.raise_if_any()
    async with ctx.db.transaction() as session:
        found = set(
            await session.scalars(select(User.id).where(User.id.in_([coach_id, client_id])))
        )
        if coach_id not in found:
            raise NotFound("Coach not found.")
        if client_id not in found:
            raise NotFound("Client not found.")
        is_coach = await session.scalar(
            select(UserRole.user_id).where(UserRole.user_id == coach_id, UserRole.role == "coach")
        )
        errors.check(is_coach is not None, "coachId", "this user does not have the coach role")
        errors.raise_if_any()
        await session.execute(
            pg_insert(CoachClient)
            .values(coach_id=coach_id, client_id=client_id, assigned_by=ctx.viewer.user_id)
            .on_conflict_do_nothing(index_elements=[CoachClient.coach_id, CoachClient.client_id])
        )
        link = (
            await session.scalars(
                select(CoachClient).where(
                    CoachClient.coach_id == coach_id, CoachClient.client_id == client_id
                )
            )
        ).one()
        audit.record(
            session,
            ctx,
            "coach.assign",
            "CoachClient",
            link.id,
            after={"coach_id": coach_id, "client_id": client_id},
        )
    return link


async def unassign_coach(ctx: Context, coach_id: uuid.UUID, client_id: uuid.UUID) -> uuid.UUID:
    """Admins: ends the link; the coach stops reading the client's goals at once. Returns
    the id of the removed link."""
    require(coach_client_policy.can_manage(ctx.viewer), "Only admins assign coaches.")
    async with ctx.db.transaction() as session:
        removed = await session.scalar(
            delete(CoachClient)
            .where(CoachClient.coach_id == coach_id, CoachClient.client_id == client_id)
            .returning(CoachClient.id)
        )
        if removed is None:
            raise NotFound("This client is not assigned to this coach.")
        audit.record(
            session,
            ctx,
            "coach.unassign",
            "CoachClient",
            removed,
            before={"coach_id": coach_id, "client_id": client_id},
        )
    return removed


async def coaching_links(
    ctx: Context, *, first: int | None, after: str | None
) -> Page[CoachClient]:
    """The links the viewer may read (an admin all; a coach theirs; a client theirs),
    newest first."""
    limit = page_size(
        first, default=ctx.settings.default_page_size, maximum=ctx.settings.max_page_size
    )
    return await paginate(
        ctx.db,
        ctx.viewer,
        "coaching_links",
        CoachClient,
        lambda viewer: visible(CoachClient, viewer),
        SortKey((CoachClient.created_at, CoachClient.id), descending=True),  # type: ignore[arg-type]
        lambda link: (link.created_at, link.id),
        first=limit,
        after=after,
    )


class CoachClientByIdLoader(RowByIdLoader):
    model = CoachClient
