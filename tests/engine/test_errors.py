"""Error codes and masking: expected errors keep their message and code; unexpected
ones reach the client as INTERNAL_SERVER_ERROR with a request id, logged with a traceback."""

from __future__ import annotations

import logging

import pytest
import strawberry

from resolvers.core.context import Context
from resolvers.core.database import Database
from resolvers.core.errors import NotFound
from resolvers.core.identity import ANON
from resolvers.core.settings import Settings
from schema.engine.error_codes import ErrorCodes
from schema.engine.look_ahead import GraphQLInfo
from tests.client import GraphQLClient


@strawberry.type
class BrokenQuery:
    @strawberry.field
    def explode(self, info: GraphQLInfo) -> int | None:
        raise RuntimeError("database password is hunter2")

    @strawberry.field
    def missing(self, info: GraphQLInfo) -> int | None:
        raise NotFound("No such thing.")


async def test_unexpected_errors_are_masked_and_logged_with_the_request_id(
    db: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    broken = strawberry.Schema(query=BrokenQuery, extensions=[ErrorCodes])
    context = Context(viewer=ANON, db=db, settings=settings, request_id="req-42")
    with caplog.at_level(logging.ERROR, logger="caregraph.errors"):
        result = await broken.execute("{ explode missing }", context_value=context)
    assert result.errors is not None
    by_path = {tuple(error.path or ()): error for error in result.errors}
    masked = by_path[("explode",)]
    assert masked.message == "Internal server error (request id req-42)."
    assert masked.extensions == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-42"}
    assert "hunter2" not in str(result.errors)
    expected = by_path[("missing",)]
    assert expected.message == "No such thing."
    assert expected.extensions == {"code": "NOT_FOUND"}
    logged = [r for r in caplog.records if "req-42" in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert "hunter2" in str(logged[0].exc_info[1])


async def test_request_id_header_is_honoured_and_returned(client: GraphQLClient) -> None:
    response = await client.execute("{ viewer { id } }", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    generated = await client.execute("{ viewer { id } }", headers={"X-Request-ID": "bad id\n"})
    assert generated.headers["x-request-id"] != "bad id\n"
    assert len(generated.headers["x-request-id"]) == 32


async def test_query_errors_carry_codes(client: GraphQLClient) -> None:
    invalid_id = await client.execute('{ doctor(id: "not-a-uuid") { id } }')
    assert invalid_id.codes == ["BAD_USER_INPUT"]
    unknown_field = await client.execute("{ doctors { nope } }")
    assert unknown_field.codes == ["BAD_USER_INPUT"]
    syntax = await client.execute("{ doctors { ")
    assert syntax.codes == ["BAD_USER_INPUT"]
