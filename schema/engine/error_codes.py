"""Every error leaves with an `extensions.code`; unexpected ones are logged and masked."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import (
    GraphQLError,
)
from strawberry.extensions import SchemaExtension

from resolvers.core import errors
from resolvers.core.outages import unavailable

logger = logging.getLogger("caregraph.errors")


class ErrorCodes(SchemaExtension):
    """Gives every error an `extensions.code`. Expected errors keep their message; a
    database that cannot answer is SERVICE_UNAVAILABLE (retryable); anything else is
    logged with its traceback and masked with the request id."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        request_id = getattr(self.execution_context.context, "request_id", None)
        result.errors = [coded(error, request_id) for error in result.errors]


def coded(error: GraphQLError, request_id: str | None) -> GraphQLError:
    """`error` with its code (also for each event of a subscription, which the
    operation hook above does not see)."""
    original = error.original_error
    if isinstance(original, errors.CaregraphError):
        return _with_code(error, original.code)
    if original is None or isinstance(original, GraphQLError):
        code = (error.extensions or {}).get("code", "BAD_USER_INPUT")
        return _with_code(error, str(code))
    outage = unavailable(original)
    if outage is not None:
        logger.warning(
            "database unavailable in request %s at %s: %r", request_id, error.path, original
        )
        return GraphQLError(
            message=outage.message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=outage,
            extensions={"code": outage.code, "retryable": True},
        )
    logger.error(
        "unexpected error in request %s at %s",
        request_id,
        error.path,
        exc_info=(type(original), original, original.__traceback__),
    )
    return GraphQLError(
        message=f"Internal server error (request id {request_id}).",
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
    )


def _with_code(error: GraphQLError, code: str) -> GraphQLError:
    extensions: dict[str, Any] = dict(error.extensions or {})
    extensions["code"] = code
    error.extensions = extensions
    return error
