"""The audit log, for admins: who changed what, when, from which request."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, cast

import strawberry
from strawberry.scalars import JSON

from models import AuditEntry as AuditEntryModel
from resolvers import audit as audit_resolvers
from resolvers.core.errors import ValidationFailed
from resolvers.core.json_reads import global_id_of
from resolvers.users import UserByIdLoader
from schema.connections import After, Connection, First, connection_from_page
from schema.engine.look_ahead import GraphQLInfo
from schema.engine.sql_json import sql_field, sql_root, sql_row
from schema.ids import decode_id, format_id, format_optional_id, parse_optional_id
from schema.node import Node, register_node
from schema.users import User


@strawberry.type(
    description="One write by staff, an admin, a doctor or a coach: append-only (the "
    "database refuses to change or delete it)."
)
class AuditEntry(Node):
    id: strawberry.ID = strawberry.field(description="Entry id.")
    actor_role: str = strawberry.field(
        description="In which capacity: staff, admin, doctor, coach or service."
    )
    action: str = strawberry.field(description="What was done, e.g. `coupon.update`.")
    target_type: str = strawberry.field(description="The GraphQL type of the changed object.")
    target_id: strawberry.ID | None = strawberry.field(
        description="Global id of the changed object (it may be gone since)."
    )
    changes: JSON = strawberry.field(
        description="`before` and `after` of the changed fields; contact details and "
        "secrets read `[redacted]`."
    )
    request_id: str | None = strawberry.field(description="The request that made the change.")
    created_at: datetime = strawberry.field(description="When.")
    row: strawberry.Private[AuditEntryModel]

    @classmethod
    def from_model(cls, row: AuditEntryModel) -> AuditEntry:
        return cls(
            row=row,
            id=format_id("AuditEntry", row.id),
            actor_role=row.actor_role,
            action=row.action,
            target_type=row.target_type,
            target_id=format_optional_id(row.target_type, row.target_id),
            changes=cast(JSON, row.changes),
            request_id=row.request_id,
            created_at=row.created_at,
        )

    @strawberry.field(
        description="Who made the change (null for service calls).",
        metadata=sql_field(audit_resolvers.ACTOR),
    )
    async def actor(self, info: GraphQLInfo) -> User | None:
        if self.row.actor_id is None:
            return None
        visible = await info.context.loaders.get(UserByIdLoader).load(self.row.actor_id)
        return User.from_visible(visible) if visible is not None else None


@strawberry.input(description="Narrow the audit log; all given conditions must hold.")
class AuditFilter:
    actor_id: strawberry.ID | None = strawberry.field(default=None, description="By this user.")
    action: str | None = strawberry.field(default=None, description="This action, exactly.")
    target_type: str | None = strawberry.field(default=None, description="On this type.")
    target_id: strawberry.ID | None = strawberry.field(
        default=None, description="On this object (a global id of any type)."
    )
    from_: datetime | None = strawberry.field(
        default=None, name="from", description="At or after this instant."
    )
    to: datetime | None = strawberry.field(default=None, description="Before this instant.")


def _audit_filter(conditions: AuditFilter | None) -> audit_resolvers.AuditFilter:
    conditions = conditions or AuditFilter()
    target = decode_id(conditions.target_id) if conditions.target_id is not None else None
    if conditions.target_id is not None and target is None:
        raise ValidationFailed.single("targetId", "not a valid id")
    return audit_resolvers.AuditFilter(
        actor_id=parse_optional_id(conditions.actor_id, "actorId", of="User"),
        action=conditions.action,
        target_type=target[0] if target else conditions.target_type,
        target_id=target[1] if target else None,
        start=conditions.from_,
        end=conditions.to,
    )


@strawberry.type
class AuditQuery:
    @strawberry.field(
        description="Admins: the audit log, newest first. Others get FORBIDDEN.",
        metadata=sql_root(
            lambda ctx, first=None, after=None, filter=None: audit_resolvers.audit_rows(
                ctx, _audit_filter(filter), first=first, after=after
            )
        ),
    )
    async def audit_log(
        self,
        info: GraphQLInfo,
        first: First = None,
        after: After = None,
        filter: Annotated[
            AuditFilter | None, strawberry.argument(description="Conditions.")
        ] = None,
    ) -> Connection[AuditEntry]:
        page = await audit_resolvers.audit_log(
            info.context, _audit_filter(filter), first=first, after=after
        )
        return connection_from_page(page, AuditEntry.from_model)


register_node(
    "AuditEntry",
    audit_resolvers.AuditEntryByIdLoader,
    lambda _info, row: AuditEntry.from_model(row),
)

sql_row(
    AuditEntry,
    AuditEntryModel,
    ids={"id": ("AuditEntry", "id")},
    computed={"target_id": lambda row: global_id_of(row.target_type, row.target_id)},
)
