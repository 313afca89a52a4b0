"""Outbound webhooks, for admins: endpoints per notification kind, their signing secrets,
and the delivery log (read and replay). See README, "Webhooks", for verifying a delivery."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, cast

import strawberry
from strawberry.scalars import JSON

from models import WebhookDelivery as WebhookDeliveryModel
from models import WebhookEndpoint as WebhookEndpointModel
from resolvers import webhooks as webhook_resolvers
from resolvers.webhooks import WebhookDeliveryByIdLoader, WebhookEndpointByIdLoader
from schema.connections import After, Connection, First, connection_from_page
from schema.engine.look_ahead import GraphQLInfo
from schema.enums import NotificationKind, WebhookDeliveryStatus
from schema.ids import format_id, parse_id, parse_optional_id
from schema.mutation_results import NotAllowed, NotFoundError, ValidationError, mutation_result
from schema.node import Node, register_node


@strawberry.type(
    description="Where a provider (SMS, e-mail, push) receives events: each notification of "
    "one of `kinds` is POSTed to `url` as JSON, signed with the endpoint's secret "
    '(header `Caregraph-Signature`; see the README, "Webhooks").'
)
class WebhookEndpoint(Node):
    id: strawberry.ID = strawberry.field(description="Webhook endpoint id.")
    url: str = strawberry.field(description="Where deliveries are POSTed (https://).")
    description: str = strawberry.field(description="What it is for, for people.")
    kinds: list[NotificationKind] = strawberry.field(
        description="The notification kinds sent to it."
    )
    active: bool = strawberry.field(description="Inactive endpoints get nothing.")
    created_at: datetime = strawberry.field(description="When it was made.")
    updated_at: datetime = strawberry.field(description="When it last changed.")

    @classmethod
    def from_model(cls, row: WebhookEndpointModel) -> WebhookEndpoint:
        return cls(
            id=format_id("WebhookEndpoint", row.id),
            url=row.url,
            description=row.description,
            kinds=[NotificationKind(kind) for kind in row.kinds],
            active=row.active,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(
    description="One event sent (or to send) to one endpoint, and what became of it. The "
    "receiver gets its id in the `Caregraph-Delivery` header: the same on every attempt "
    "and replay, so receivers dedupe by it."
)
class WebhookDelivery(Node):
    id: strawberry.ID = strawberry.field(description="Webhook delivery id.")
    event_kind: NotificationKind = strawberry.field(
        description="The event's kind (header `Caregraph-Event`)."
    )
    event_id: strawberry.ID = strawberry.field(
        description="The notification it carries (the body's `id`)."
    )
    payload: JSON = strawberry.field(description="The JSON body each attempt sends.")
    status: WebhookDeliveryStatus = strawberry.field(description="Where it stands.")
    attempts: int = strawberry.field(description="Requests started so far (a replay adds to them).")
    last_status_code: int | None = strawberry.field(
        description="The HTTP status of the last answer; null when there was none."
    )
    last_error: str | None = strawberry.field(
        description="What went wrong last (status and start of the answer, or the network "
        "error); null after a success."
    )
    last_attempt_at: datetime | None = strawberry.field(description="When it was last sent.")
    next_attempt_at: datetime | None = strawberry.field(
        description="Not sent again before then (while PENDING after a failure)."
    )
    delivered_at: datetime | None = strawberry.field(description="When it got a 2xx answer.")
    created_at: datetime = strawberry.field(description="When the event was queued.")
    row: strawberry.Private[WebhookDeliveryModel]

    @classmethod
    def from_model(cls, row: WebhookDeliveryModel) -> WebhookDelivery:
        return cls(
            row=row,
            id=format_id("WebhookDelivery", row.id),
            event_kind=NotificationKind(row.event_kind),
            event_id=format_id("Notification", row.event_id),
            payload=cast(JSON, row.payload),
            status=WebhookDeliveryStatus(row.status),
            attempts=row.attempts,
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            last_attempt_at=row.last_attempt_at,
            next_attempt_at=row.next_attempt_at,
            delivered_at=row.delivered_at,
            created_at=row.created_at,
        )

    @strawberry.field(description="The endpoint it goes to.")
    async def endpoint(self, info: GraphQLInfo) -> WebhookEndpoint | None:
        row = await info.context.loaders.get(WebhookEndpointByIdLoader).load(self.row.endpoint_id)
        return None if row is None else WebhookEndpoint.from_model(row)


@strawberry.input(description="Narrow the delivery log; all given conditions must hold.")
class WebhookDeliveryFilter:
    endpoint_id: strawberry.ID | None = strawberry.field(
        default=None, description="To this endpoint."
    )
    status: WebhookDeliveryStatus | None = strawberry.field(
        default=None, description="In this status."
    )


@strawberry.input(description="A new webhook endpoint.")
class CreateWebhookEndpointInput:
    url: str = strawberry.field(
        description="https:// URL (http:// only in development), at most 2000 characters."
    )
    kinds: list[NotificationKind] = strawberry.field(
        description="The notification kinds to send to it (at least one)."
    )
    description: str = strawberry.field(
        default="", description="What it is for (at most 200 characters)."
    )


@strawberry.input(description="Change a webhook endpoint; omitted fields stay.")
class UpdateWebhookEndpointInput:
    id: strawberry.ID = strawberry.field(description="The endpoint.")
    url: str | None = strawberry.field(default=None, description="A new https:// URL.")
    kinds: list[NotificationKind] | None = strawberry.field(
        default=None, description="The kinds to send (at least one)."
    )
    active: bool | None = strawberry.field(
        default=None, description="false: send nothing until it is true again."
    )
    description: str | None = strawberry.field(default=None, description="What it is for.")


@strawberry.input(description="Which webhook endpoint.")
class WebhookEndpointInput:
    id: strawberry.ID = strawberry.field(description="The endpoint.")


@strawberry.input(description="Which webhook delivery to send again.")
class ReplayWebhookDeliveryInput:
    id: strawberry.ID = strawberry.field(description="The delivery.")


@strawberry.type(
    description="The endpoint was made. Its `secret` is shown here only: keep it in the "
    "receiver's configuration (rotate it if it is lost)."
)
class WebhookEndpointCreated:
    endpoint: WebhookEndpoint = strawberry.field(description="The endpoint.")
    secret: str = strawberry.field(description="The signing secret (HMAC-SHA256 key).")


@strawberry.type(
    description="The endpoint has a new secret, shown here only; deliveries sent from now "
    "on are signed with it."
)
class WebhookSecretRotated:
    endpoint: WebhookEndpoint = strawberry.field(description="The endpoint.")
    secret: str = strawberry.field(description="The new signing secret.")


@strawberry.type(description="The endpoint was saved.")
class WebhookEndpointSaved:
    endpoint: WebhookEndpoint = strawberry.field(description="The endpoint now.")


@strawberry.type(description="The endpoint was deleted, with its delivery log.")
class WebhookEndpointDeleted:
    deleted_id: strawberry.ID = strawberry.field(description="Id of the deleted endpoint.")


@strawberry.type(description="The delivery is queued to be sent again, with fresh attempts.")
class WebhookDeliveryQueued:
    delivery: WebhookDelivery = strawberry.field(description="The delivery now.")


CreateWebhookEndpointResult = Annotated[
    WebhookEndpointCreated | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("CreateWebhookEndpointResult", description="Result of createWebhookEndpoint."),
]
RotateWebhookSecretResult = Annotated[
    WebhookSecretRotated | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("RotateWebhookSecretResult", description="Result of rotateWebhookSecret."),
]
UpdateWebhookEndpointResult = Annotated[
    WebhookEndpointSaved | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("UpdateWebhookEndpointResult", description="Result of updateWebhookEndpoint."),
]
DeleteWebhookEndpointResult = Annotated[
    WebhookEndpointDeleted | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("DeleteWebhookEndpointResult", description="Result of deleteWebhookEndpoint."),
]
ReplayWebhookDeliveryResult = Annotated[
    WebhookDeliveryQueued | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("ReplayWebhookDeliveryResult", description="Result of replayWebhookDelivery."),
]


@strawberry.type
class WebhooksQuery:
    @strawberry.field(
        description="Admins: the webhook endpoints, newest first. Others get FORBIDDEN."
    )
    async def webhook_endpoints(
        self, info: GraphQLInfo, first: First = None, after: After = None
    ) -> Connection[WebhookEndpoint]:
        page = await webhook_resolvers.list_endpoints(info.context, first=first, after=after)
        return connection_from_page(page, WebhookEndpoint.from_model)

    @strawberry.field(
        description="Admins: the webhook delivery log, newest first. Others get FORBIDDEN."
    )
    async def webhook_deliveries(
        self,
        info: GraphQLInfo,
        first: First = None,
        after: After = None,
        filter: Annotated[
            WebhookDeliveryFilter | None, strawberry.argument(description="Conditions.")
        ] = None,
    ) -> Connection[WebhookDelivery]:
        conditions = filter or WebhookDeliveryFilter()
        page = await webhook_resolvers.list_deliveries(
            info.context,
            webhook_resolvers.DeliveryFilter(
                endpoint_id=parse_optional_id(
                    conditions.endpoint_id, "endpointId", of="WebhookEndpoint"
                ),
                status=None if conditions.status is None else conditions.status.value,
            ),
            first=first,
            after=after,
        )
        return connection_from_page(page, WebhookDelivery.from_model)


@strawberry.type
class WebhooksMutation:
    @strawberry.mutation(
        description="Admins: a new webhook endpoint, active at once; its secret is returned "
        "this once."
    )
    async def create_webhook_endpoint(
        self,
        info: GraphQLInfo,
        input: Annotated[CreateWebhookEndpointInput, strawberry.argument(description="The input.")],
    ) -> CreateWebhookEndpointResult:
        return await mutation_result(
            lambda: webhook_resolvers.create_endpoint(
                info.context,
                webhook_resolvers.EndpointSpec(
                    url=input.url,
                    kinds=[kind.value for kind in input.kinds],
                    description=input.description,
                ),
            ),
            lambda made: WebhookEndpointCreated(
                endpoint=WebhookEndpoint.from_model(made.endpoint), secret=made.secret
            ),
        )

    @strawberry.mutation(
        description="Admins: change a webhook endpoint's URL, kinds, description or whether "
        "it is active."
    )
    async def update_webhook_endpoint(
        self,
        info: GraphQLInfo,
        input: Annotated[UpdateWebhookEndpointInput, strawberry.argument(description="The input.")],
    ) -> UpdateWebhookEndpointResult:
        return await mutation_result(
            lambda: webhook_resolvers.update_endpoint(
                info.context,
                parse_id(input.id, of="WebhookEndpoint"),
                webhook_resolvers.EndpointChanges(
                    url=input.url,
                    kinds=None if input.kinds is None else [kind.value for kind in input.kinds],
                    active=input.active,
                    description=input.description,
                ),
            ),
            lambda row: WebhookEndpointSaved(endpoint=WebhookEndpoint.from_model(row)),
        )

    @strawberry.mutation(
        description="Admins: a new signing secret for a webhook endpoint, returned this once; "
        "the old one stops signing at once."
    )
    async def rotate_webhook_secret(
        self,
        info: GraphQLInfo,
        input: Annotated[WebhookEndpointInput, strawberry.argument(description="The input.")],
    ) -> RotateWebhookSecretResult:
        return await mutation_result(
            lambda: webhook_resolvers.rotate_secret(
                info.context, parse_id(input.id, of="WebhookEndpoint")
            ),
            lambda made: WebhookSecretRotated(
                endpoint=WebhookEndpoint.from_model(made.endpoint), secret=made.secret
            ),
        )

    @strawberry.mutation(
        description="Admins: delete a webhook endpoint with its delivery log; nothing more is "
        "sent to it."
    )
    async def delete_webhook_endpoint(
        self,
        info: GraphQLInfo,
        input: Annotated[WebhookEndpointInput, strawberry.argument(description="The input.")],
    ) -> DeleteWebhookEndpointResult:
        return await mutation_result(
            lambda: webhook_resolvers.delete_endpoint(
                info.context, parse_id(input.id, of="WebhookEndpoint")
            ),
            lambda deleted: WebhookEndpointDeleted(
                deleted_id=format_id("WebhookEndpoint", deleted)
            ),
        )

    @strawberry.mutation(
        description="Admins: send a delivery again (same delivery id and body, a fresh "
        "signature and a full set of attempts); refused while its endpoint is inactive."
    )
    async def replay_webhook_delivery(
        self,
        info: GraphQLInfo,
        input: Annotated[ReplayWebhookDeliveryInput, strawberry.argument(description="The input.")],
    ) -> ReplayWebhookDeliveryResult:
        return await mutation_result(
            lambda: webhook_resolvers.replay_delivery(
                info.context, parse_id(input.id, of="WebhookDelivery")
            ),
            lambda row: WebhookDeliveryQueued(delivery=WebhookDelivery.from_model(row)),
        )


register_node(
    "WebhookEndpoint",
    WebhookEndpointByIdLoader,
    lambda _info, row: WebhookEndpoint.from_model(row),
)
register_node(
    "WebhookDelivery",
    WebhookDeliveryByIdLoader,
    lambda _info, row: WebhookDelivery.from_model(row),
)
