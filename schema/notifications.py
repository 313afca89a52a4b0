"""The viewer's inbox: notifications, the unread count, marking them read, and new ones
live (`notificationReceived`)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Annotated, cast

import strawberry
from strawberry.scalars import JSON

from models import Notification as NotificationModel
from resolvers import notifications as notification_resolvers
from resolvers.core import realtime
from resolvers.core.errors import Unauthenticated
from resolvers.core.json_reads import Computed
from resolvers.notifications import NotificationByIdLoader
from schema.connections import Connection, connection_from_page
from schema.engine.look_ahead import GraphQLInfo
from schema.engine.sql_json import sql_field, sql_row
from schema.enums import NotificationKind
from schema.ids import format_id, parse_id
from schema.mutation_results import NotAllowed, NotFoundError, ValidationError, mutation_result
from schema.node import Node, register_node, resolve_nodes


@strawberry.type(description="One entry of the viewer's inbox.")
class Notification(Node):
    id: strawberry.ID = strawberry.field(description="Notification id.")
    kind: NotificationKind = strawberry.field(description="What it tells.")
    actor_role: str | None = strawberry.field(
        description="Who caused it, as a role (patient, doctor, staff, admin, coach, system), "
        "never the person."
    )
    details: JSON = strawberry.field(
        description="Details kept with it: `startsAt` and `reference` of a booking "
        "(`previousStartsAt` when moved, `reason` when cancelled), `amount` and `currency` "
        "of a payment, `minutesBefore` of a reminder, `action` of a resolved report, "
        "`dueAt` of a check-in."
    )
    created_at: datetime = strawberry.field(description="When it happened.")
    read_at: datetime | None = strawberry.field(description="When the viewer marked it read.")
    row: strawberry.Private[NotificationModel]

    @classmethod
    def from_model(cls, row: NotificationModel) -> Notification:
        return cls(
            row=row,
            id=format_id("Notification", row.id),
            kind=NotificationKind(row.kind),
            actor_role=row.actor_role,
            details=cast(JSON, row.data),
            created_at=row.created_at,
            read_at=row.read_at,
        )

    @strawberry.field(
        description="Whether the viewer has marked it read.",
        metadata=sql_field(Computed(lambda row: row.read_at.is_not(None))),
    )
    def read(self) -> bool:
        return self.read_at is not None

    @strawberry.field(
        description="What it is about (an Appointment, Payment, Post, Comment, Report or "
        "Goal), through that table's policy: null when the viewer may no longer read it.",
        metadata=sql_field(notification_resolvers.SUBJECT),
    )
    async def subject(self, info: GraphQLInfo) -> Node | None:
        global_id = format_id(self.row.subject_type, self.row.subject_id)
        return (await resolve_nodes(info, [global_id]))[0]


async def inbox(
    info: GraphQLInfo, first: int | None, after: str | None, unread_only: bool
) -> Connection[Notification]:
    page = await notification_resolvers.inbox(
        info.context, first=first, after=after, unread_only=unread_only
    )
    return connection_from_page(page, Notification.from_model)


async def unread_count(info: GraphQLInfo) -> int:
    return await notification_resolvers.unread_count(info.context)


@strawberry.input(description="Which notifications to mark read: `ids`, or `all: true`.")
class MarkNotificationsReadInput:
    ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="These notifications of the viewer (at most 100)."
    )
    all: bool = strawberry.field(default=False, description="Every unread one of the viewer.")


@strawberry.type(description="Notifications were marked read.")
class NotificationsMarkedRead:
    count: int = strawberry.field(description="How many were unread and are now read.")
    unread_count: int = strawberry.field(description="The viewer's unread count now.")


MarkNotificationsReadResult = Annotated[
    NotificationsMarkedRead | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("MarkNotificationsReadResult", description="Result of markNotificationsRead."),
]


@strawberry.type
class NotificationsMutation:
    @strawberry.mutation(
        description="Marks the viewer's notifications read (others' ids change nothing)."
    )
    async def mark_notifications_read(
        self,
        info: GraphQLInfo,
        input: Annotated[MarkNotificationsReadInput, strawberry.argument(description="The input.")],
    ) -> MarkNotificationsReadResult:
        async def mark() -> tuple[int, int]:
            ids: list[uuid.UUID] | None = None
            if input.ids is not None:
                ids = [parse_id(value, of="Notification", field="ids") for value in input.ids]
            count = await notification_resolvers.mark_read(
                info.context, ids, everything=input.all, now=datetime.now(UTC)
            )
            return count, await notification_resolvers.unread_count(info.context)

        return await mutation_result(
            mark, lambda counts: NotificationsMarkedRead(count=counts[0], unread_count=counts[1])
        )


@strawberry.type
class NotificationsSubscription:
    @strawberry.subscription(
        description="The viewer's new notifications, as they are written. Signed-in only."
    )
    async def notification_received(self, info: GraphQLInfo) -> AsyncGenerator[Notification, None]:
        user_id = info.context.viewer.user_id
        if user_id is None:
            raise Unauthenticated("Sign in to receive notifications.")
        wanted = str(user_id)
        async for row in realtime.stream(
            info.context,
            "notification",
            NotificationModel,
            ("user_id", wanted),
        ):
            yield Notification.from_model(row)


register_node(
    "Notification",
    NotificationByIdLoader,
    lambda _info, row: Notification.from_model(row),
)

sql_row(
    Notification,
    NotificationModel,
    ids={"id": ("Notification", "id")},
    attributes={"details": "data"},
)
