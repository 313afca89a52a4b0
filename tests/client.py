"""A small GraphQL client over the real ASGI app, with statement counting."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from resolvers.database import Database, StatementCounter, statement_counter
from resolvers.demo import user_id_for
from resolvers.identity import mint_token
from resolvers.settings import Settings


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


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient, settings: Settings) -> None:
        self.http = http
        self.settings = settings

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
        """A token for the demo account `email` (its id from `resolvers.demo.user_id_for`)."""
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
        return Response(response.status_code, response.json(), counter.count, response.headers)


def app_http(settings: Settings, db: Database, **overrides: Any) -> httpx.AsyncClient:
    """An httpx client over a new app made from `settings` (with `overrides`) and `db`."""
    from server import create_app

    app = create_app(settings.model_copy(update=overrides), db)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@asynccontextmanager
async def graphql_client(
    settings: Settings, db: Database, **overrides: Any
) -> AsyncIterator[GraphQLClient]:
    """A `GraphQLClient` over a new app made from `settings` (with `overrides`) and `db`."""
    custom = settings.model_copy(update=overrides)
    async with app_http(custom, db) as http:
        yield GraphQLClient(http, custom)
