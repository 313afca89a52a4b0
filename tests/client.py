"""A small GraphQL client over the real ASGI app, with statement counting."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from graphql import GraphQLError, OperationType, get_operation_ast, parse

from resolvers.core.database import Database, StatementCounter, statement_counter
from resolvers.core.identity import mint_token
from resolvers.core.settings import Settings
from resolvers.demo.ids import user_id_for


@dataclass
class Response:
    status: int
    body: dict[str, Any]
    statements: int
    headers: httpx.Headers = field(default_factory=httpx.Headers)

    @property
    def data(self) -> Any:
        assert self.body.get("errors") is None, self.body["errors"]
        return self.body["data"]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return list(self.body.get("errors") or [])

    @property
    def codes(self) -> list[str]:
        return [error.get("extensions", {}).get("code") for error in self.errors]


_REQUEST_ID = re.compile(r"request id [^)]*")


def _is_query(query: str, operation_name: str | None) -> bool:
    try:
        operation = get_operation_ast(parse(query), operation_name)
    except GraphQLError:
        return False
    return operation is not None and operation.operation == OperationType.QUERY


def _comparable(body: Any) -> Any:
    """The body without what differs between any two requests: request ids, and the
    order of errors (that of the fields failing, which run side by side on graphql-core
    too and finish in no fixed order)."""
    if not isinstance(body, dict) or not body.get("errors"):
        return body
    for error in body["errors"]:
        error["message"] = _REQUEST_ID.sub("request id <id>", error.get("message", ""))
        (error.get("extensions") or {}).pop("requestId", None)
    if body.get("data") is None:
        # A non-null root field failed and nulled the whole result: its siblings were
        # cancelled, and which one failed first (the one reported) is a race on either
        # executor. Two root fields with the same arguments (the fuzz suite's `again`
        # alias) fail alike: compare the failures, not which of them won.
        failures = {
            orjson.dumps(
                {**error, "path": (error.get("path") or [None])[1:], "locations": None},
                option=orjson.OPT_SORT_KEYS,
            )
            for error in body["errors"]
        }
        body["errors"] = [orjson.loads(failure) for failure in sorted(failures)]
        return body
    body["errors"].sort(key=lambda error: orjson.dumps(error))
    return body


class GraphQLClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        settings: Settings,
        reference: httpx.AsyncClient | None = None,
    ) -> None:
        self.http = http
        self.settings = settings
        self.reference = reference
        """An app on graphql-core's executor: every query is sent to it too, and its
        response must be the same, keys in the same order, errors in any order (a
        differential test of `schema.engine.execution` over the whole suite)."""

    def token(
        self, user_id: uuid.UUID | None, email: str | None = None, role: str = "authenticated"
    ) -> str:
        assert self.settings.jwt_secret
        return mint_token(
            self.settings.jwt_secret,
            user_id=user_id,
            email=email,
            role=role,  # type: ignore[arg-type]
            audience=self.settings.jwt_audience,
        )

    def demo_token(self, email: str) -> str:
        """A token for the demo account `email` (its id from `resolvers.demo.ids.user_id_for`)."""
        return self.token(user_id_for(email), email)

    async def execute(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        as_user: Any = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        operation_name: str | None = None,
    ) -> Response:
        """Runs `query` (the operation `operation_name` of it, when given) as anon, as a
        user (`as_user` with `.id` and `.email`), as `"service"`, or with an explicit
        `token`."""
        all_headers = dict(headers or {})
        if as_user == "service":
            token = self.token(None, role="service_role")
        elif as_user is not None:
            token = self.token(as_user.id, as_user.email)
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        payload: dict[str, Any] = {"query": query, "variables": variables or {}}
        if operation_name is not None:
            payload["operationName"] = operation_name
        counter = StatementCounter()
        reset = statement_counter.set(counter)
        try:
            response = await self.http.post("/graphql", json=payload, headers=all_headers)
        finally:
            statement_counter.reset(reset)
        if self.reference is not None and _is_query(query, operation_name):
            expected = await self.reference.post("/graphql", json=payload, headers=all_headers)
            assert response.status_code == expected.status_code
            ours, theirs = _comparable(response.json()), _comparable(expected.json())
            assert ours == theirs, (query, ours, theirs)
            assert json.dumps(ours) == json.dumps(theirs), f"keys in another order: {query}"
        return Response(response.status_code, response.json(), counter.count, response.headers)


def app_http(settings: Settings, db: Database, **overrides: Any) -> httpx.AsyncClient:
    """An httpx client over a new app made from `settings` (with `overrides`) and `db`."""
    from server import create_app

    app = create_app(settings.model_copy(update=overrides), db)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@asynccontextmanager
async def graphql_client(
    settings: Settings, db: Database, *, differential: bool = True, **overrides: Any
) -> AsyncIterator[GraphQLClient]:
    """A `GraphQLClient` over a new app made from `settings` (with `overrides`) and `db`.
    `differential`: also send every query to an app on graphql-core's executor (pass
    False where the test counts what the app does, e.g. key-set fetches)."""
    custom = settings.model_copy(update=overrides)
    if not custom.compiled_execution or not differential:
        async with app_http(custom, db) as http:
            yield GraphQLClient(http, custom)
        return
    async with (
        app_http(custom, db) as http,
        app_http(custom, db, compiled_execution=False) as reference,
    ):
        yield GraphQLClient(http, custom, reference)
