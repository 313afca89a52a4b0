"""The GraphQL schema: one root assembled from the per-domain modules."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import FieldExtension, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types.base import get_object_definition

from resolvers.core.settings import Settings
from schema.accounts import AccountsMutation, AccountsQuery
from schema.appointments import (
    AppointmentsMutation,
    AppointmentsQuery,
    AppointmentsSubscription,
)
from schema.audit import AuditQuery
from schema.availability import AvailabilityMutation
from schema.coaching import CoachingMutation, CoachingQuery
from schema.community import CommunityMutation, CommunityQuery, CommunitySubscription
from schema.coupons import CouponsMutation, CouponsQuery
from schema.dashboard import DashboardQuery
from schema.doctors import DoctorsMutation, DoctorsQuery
from schema.engine.document_validation import DocumentValidationCache
from schema.engine.error_codes import ErrorCodes
from schema.engine.execution import CompiledExecutionContext
from schema.engine.hooks import HookRunner
from schema.engine.input_errors import name_input_field
from schema.engine.limits import ParsedDocuments, RequestLimits
from schema.engine.rate_limits import RateLimitCheck, rate_limits_enabled
from schema.goals import GoalsMutation, GoalsQuery, GoalsSubscription
from schema.jobs import JobsMutation, JobsQuery
from schema.lessons import LessonsMutation, LessonsQuery
from schema.node import NodeQuery
from schema.notifications import NotificationsMutation, NotificationsSubscription
from schema.payments import PaymentsMutation, PaymentsQuery
from schema.reviews import ReviewsMutation
from schema.scalars import SCALAR_OVERRIDES
from schema.services import ServicesMutation
from schema.slots import SlotsMutation, SlotsQuery, SlotsSubscription
from schema.users import UsersMutation, UsersQuery
from schema.webhooks import WebhooksMutation, WebhooksQuery


@strawberry.type(description="Read the care graph. Every field applies the row policies.")
class Query(
    DoctorsQuery,
    UsersQuery,
    AccountsQuery,
    AppointmentsQuery,
    SlotsQuery,
    CouponsQuery,
    DashboardQuery,
    GoalsQuery,
    CoachingQuery,
    LessonsQuery,
    CommunityQuery,
    AuditQuery,
    PaymentsQuery,
    JobsQuery,
    WebhooksQuery,
    NodeQuery,
):
    pass


@strawberry.type(
    description="Change the care graph. Each mutation takes one `input` and returns a union "
    "of a success type and typed errors; on error nothing is written."
)
class Mutation(
    DoctorsMutation,
    AvailabilityMutation,
    ServicesMutation,
    UsersMutation,
    AccountsMutation,
    GoalsMutation,
    CoachingMutation,
    LessonsMutation,
    CommunityMutation,
    SlotsMutation,
    AppointmentsMutation,
    PaymentsMutation,
    ReviewsMutation,
    CouponsMutation,
    NotificationsMutation,
    JobsMutation,
    WebhooksMutation,
):
    pass


@strawberry.type(
    description="Live changes, over WebSocket (graphql-transport-ws) on /graphql. Each "
    "event is delivered only to subscribers whose policies let them read it at that moment."
)
class Subscription(
    AppointmentsSubscription,
    SlotsSubscription,
    CommunitySubscription,
    GoalsSubscription,
    NotificationsSubscription,
):
    pass


class FreshLoaders(FieldExtension):
    """Each root mutation field starts with empty per-request loader caches. The fields of
    a mutation operation run one after another; without this, a later field (and its
    payload) would answer from rows cached *before* an earlier field's write changed what
    the viewer may read (e.g. a doctor's cancelled appointment ending their access to the
    patient's goals). `resolve_async` alone covers sync resolvers too: strawberry runs a
    field whose extensions are async-only through them asynchronously."""

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Any, **kwargs: Any
    ) -> Any:
        info.context.reset_loaders(with_viewer_row=False)
        return await next_(source, info, **kwargs)


for _field in get_object_definition(Mutation, strict=True).fields:
    _field.extensions.append(FreshLoaders())


class CaregraphSchema(strawberry.Schema):
    def create_extensions_runner(
        self, execution_context: Any, extensions: list[SchemaExtension]
    ) -> HookRunner:
        """Runs the extensions' hooks without strawberry's per-request lookups
        (schema/engine/hooks.py)."""
        return HookRunner(execution_context, extensions)

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Unexpected errors are logged (with tracebacks) and masked by `ErrorCodes`; here,
        parse and validation errors, which may skip extensions, get their code, and an
        input value the schema refused names its argument or input field."""
        document = getattr(execution_context, "graphql_document", None)
        for error in errors:
            if error.original_error is None and "code" not in (error.extensions or {}):
                error.extensions = {**(error.extensions or {}), "code": "BAD_USER_INPUT"}
            name_input_field(error, document)


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    settings = settings or Settings()
    return CaregraphSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(auto_camel_case=True),
        scalar_overrides=SCALAR_OVERRIDES,
        execution_context_class=CompiledExecutionContext if settings.compiled_execution else None,
        extensions=[
            ErrorCodes,
            lambda: ParsedDocuments(settings.max_tokens),
            DocumentValidationCache,
            RequestLimits,
            *([RateLimitCheck] if rate_limits_enabled(settings) else []),
        ],
    )


schema = build_schema()
