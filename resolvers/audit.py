"""The audit log: every write by staff, admins, doctors, coaches and service_role appends an entry
in the write's own transaction (so an entry exists exactly when its write committed), and
admins read the log."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from models import AuditEntry
from resolvers.core.context import Context
from resolvers.core.errors import ValidationFailed
from resolvers.core.identity import Viewer
from resolvers.core.json_reads import RootPage
from resolvers.core.loaders import RowByIdLoader
from resolvers.core.pagination import Page, SortKey, decode_cursor_for, page_size, paginate
from resolvers.policies import require, visible
from resolvers.policies.audit import audit_policy
from resolvers.users import user_by

REDACTED = "[redacted]"
_SECRET_KEYS = ("email", "phone", "password", "token", "secret", "body")
"""Keys whose values never reach the log: contact details, secrets, note texts."""


def _role(viewer: Viewer) -> str:
    if viewer.is_service:
        return "service"
    if viewer.is_admin:
        return "admin"
    if viewer.is_staff:
        return "staff"
    if viewer.is_doctor:
        return "doctor"
    return "coach"


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID | Decimal | datetime | date | time):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    return value


def redact(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {
        key: REDACTED if any(secret in key.lower() for secret in _SECRET_KEYS) else _plain(value)
        for key, value in values.items()
    }


def snapshot(row: Any, *fields: str) -> dict[str, Any]:
    """The `fields` of a model row, for `before` / `after`."""
    return {field: getattr(row, field) for field in fields}


def record(
    session: AsyncSession,
    ctx: Context,
    action: str,
    target_type: str,
    target_id: uuid.UUID | None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Appends an entry for a write by an audited viewer, in `session`'s transaction.
    Writes by patients (and coaches, for their own content) are not audited."""
    viewer = ctx.viewer
    if not audit_policy.audited(viewer):
        return
    changes: dict[str, Any] = {}
    if before is not None:
        changes["before"] = redact(before)
    if after is not None:
        changes["after"] = redact(after)
    session.add(
        AuditEntry(
            actor_id=viewer.user_id,
            actor_role=_role(viewer),
            action=action,
            target_type=target_type,
            target_id=target_id,
            changes=changes,
            request_id=ctx.request_id,
        )
    )


@dataclass(frozen=True)
class AuditFilter:
    actor_id: uuid.UUID | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: uuid.UUID | None = None
    start: datetime | None = None
    end: datetime | None = None


AUDIT_SORT = SortKey((AuditEntry.created_at, AuditEntry.id), descending=True)  # type: ignore[arg-type]
ACTOR = user_by("actor_id")
"""An entry's actor, through the users policy (a source for fields answered in SQL)."""


def audit_rows(
    ctx: Context, conditions: AuditFilter, *, first: int | None, after: str | None
) -> RootPage:
    """Admins: the log, newest first, narrowed by `conditions`."""
    require(ctx.viewer.is_admin or ctx.viewer.is_service, "Only admins read the audit log.")
    for name, instant in (("from", conditions.start), ("to", conditions.end)):
        if instant is not None and instant.tzinfo is None:
            raise ValidationFailed.single(name, "must include a UTC offset")

    def build(viewer: Viewer) -> Any:
        entries = visible(AuditEntry, viewer)
        if conditions.actor_id is not None:
            entries = entries.where(AuditEntry.actor_id == conditions.actor_id)
        if conditions.action is not None:
            entries = entries.where(AuditEntry.action == conditions.action)
        if conditions.target_type is not None:
            entries = entries.where(AuditEntry.target_type == conditions.target_type)
        if conditions.target_id is not None:
            entries = entries.where(AuditEntry.target_id == conditions.target_id)
        if conditions.start is not None:
            entries = entries.where(AuditEntry.created_at >= conditions.start)
        if conditions.end is not None:
            entries = entries.where(AuditEntry.created_at < conditions.end)
        return entries

    return RootPage(
        build=build,
        sort=AUDIT_SORT,
        first=page_size(
            first, default=ctx.settings.default_page_size, maximum=ctx.settings.max_page_size
        ),
        after=decode_cursor_for(AUDIT_SORT, after) if after is not None else None,
        # Filter values vary without bound: such logs are built per call.
        key="audit_log" if conditions == AuditFilter() else None,
    )


async def audit_log(
    ctx: Context, conditions: AuditFilter, *, first: int | None, after: str | None
) -> Page[AuditEntry]:
    """Admins: the log, newest first, narrowed by `conditions`."""
    rows = audit_rows(ctx, conditions, first=first, after=after)
    return await paginate(
        ctx.db,
        ctx.viewer,
        rows.key,
        AuditEntry,
        rows.build,
        AUDIT_SORT,
        lambda entry: (entry.created_at, entry.id),
        first=rows.first,
        after=after,
    )


class AuditEntryByIdLoader(RowByIdLoader):
    model = AuditEntry
