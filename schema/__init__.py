"""The GraphQL schema: one root assembled from the per-domain modules."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig

from resolvers.settings import Settings
from schema.appointments import AppointmentsMutation, AppointmentsQuery
from schema.availability import AvailabilityMutation
from schema.common import ErrorCodes
from schema.doctors import DoctorsMutation, DoctorsQuery
from schema.users import UsersMutation, UsersQuery


@strawberry.type(description="Read the care graph. Every field applies the row policies.")
class Query(DoctorsQuery, UsersQuery, AppointmentsQuery):
    pass


@strawberry.type(
    description="Change the care graph. Each mutation takes one `input` and returns a union "
    "of a success type and typed errors; on error nothing is written."
)
class Mutation(DoctorsMutation, AvailabilityMutation, UsersMutation, AppointmentsMutation):
    pass


class CaregraphSchema(strawberry.Schema):
    def process_errors(self, errors: Any, execution_context: Any = None) -> None:
        """Errors are logged (unexpected ones with tracebacks) by `ErrorCodes`."""


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    settings = settings or Settings()
    return CaregraphSchema(
        query=Query,
        mutation=Mutation,
        config=StrawberryConfig(auto_camel_case=True),
        extensions=[
            ErrorCodes,
            lambda: ParserCache(maxsize=512),
            lambda: ValidationCache(maxsize=512),
            lambda: QueryDepthLimiter(max_depth=settings.max_query_depth),
            lambda: MaxAliasesLimiter(max_alias_count=settings.max_aliases),
            lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        ],
    )


schema = build_schema()
