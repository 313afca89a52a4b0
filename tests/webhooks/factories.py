"""Notifications with their webhook deliveries, endpoints made through the API, and the
delivery log read from the database."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, text

from models import Notification, User, WebhookDelivery, WebhookEndpoint
from resolvers.core.database import Database
from resolvers.notifications import Subject
from resolvers.notifications import notify as notify_user
from tests.client import GraphQLClient

CREATE = """
mutation ($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) {
  __typename
  ... on WebhookEndpointCreated { secret endpoint { id url kinds active description } }
  ... on ValidationError { code fields { field messages } }
  ... on NotAllowed { code message } } }
"""


async def make_endpoint(
    client: GraphQLClient,
    admin: User,
    url: str,
    kinds: tuple[str, ...] = ("BOOKING_CONFIRMED",),
    description: str = "SMS provider",
) -> tuple[str, str]:
    """(global id, secret) of a new endpoint made by `admin` through the API."""
    answer = await client.execute(
        CREATE,
        {"input": {"url": url, "kinds": list(kinds), "description": description}},
        as_user=admin,
    )
    made = answer.data["createWebhookEndpoint"]
    assert made["__typename"] == "WebhookEndpointCreated", made
    return made["endpoint"]["id"], made["secret"]


async def notify(
    db: Database,
    user: User,
    kind: str = "booking_confirmed",
    *,
    data: dict[str, Any] | None = None,
) -> Notification:
    """A notification written by the product's own `notify()` (which hands it to
    `on_notification` in its transaction)."""
    async with db.transaction() as session:
        notification = await notify_user(
            session,
            user_id=user.id,
            kind=kind,
            subject=Subject("Appointment", uuid.uuid4()),
            actor_role="patient",
            data=data if data is not None else {"startsAt": "2031-01-06T09:00:00+00:00"},
        )
    assert notification is not None
    return notification


async def deliveries(db: Database) -> list[WebhookDelivery]:
    async with db.read() as session:
        return list(await session.scalars(select(WebhookDelivery)))


async def endpoints(db: Database) -> list[WebhookEndpoint]:
    async with db.read() as session:
        return list(await session.scalars(select(WebhookEndpoint)))


async def queued_jobs(db: Database) -> int:
    async with db.read() as session:
        return int(
            await session.scalar(
                text("SELECT count(*) FROM pgqueuer WHERE entrypoint = 'webhook.deliver'")
            )
            or 0
        )


async def count(db: Database, model: type[Any]) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)
