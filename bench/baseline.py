"""The raw-SQL baseline: a plain asyncpg handler per bench operation.

It answers `POST /graphql` for the bench operations only (chosen by `operationName`),
verifies the same HS256 bearer token, runs one hand-written statement that applies the
same policies and builds the whole `data` object as JSON in Postgres, and returns
`{"data": ...}`: the same JSON the GraphQL server returns for that operation (the
differential test in tests/project/test_bench_smoke.py checks it).

    python -m bench.baseline --port 8100 --database-url URL
"""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import jwt
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.generate import connect_arguments
from bench.operations import BY_NAME
from resolvers.core.settings import DEV_JWT_SECRET


async def create_pool(database_url: str, size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        **connect_arguments(database_url),
        min_size=size,
        max_size=size,
        server_settings={"TimeZone": "UTC"},
    )
    assert pool is not None
    return pool


async def run_operation(
    conn: asyncpg.Connection | asyncpg.Pool,
    name: str,
    user_id: uuid.UUID,
    variables: dict[str, Any] | None = None,
) -> str:
    """The `data` of operation `name` for viewer `user_id`, as JSON text."""
    operation = BY_NAME[name]
    arguments = operation.baseline_arguments(variables or {})
    return str(await conn.fetchval(operation.baseline_sql, user_id, *arguments))


def create_app(database_url: str, secret: str, audience: str = "authenticated") -> Starlette:
    state: dict[str, asyncpg.Pool] = {}

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        state["pool"] = await create_pool(database_url)
        try:
            yield
        finally:
            await state["pool"].close()

    def error(status: int, message: str) -> Response:
        return JSONResponse({"errors": [{"message": message}]}, status_code=status)

    async def graphql(request: Request) -> Response:
        body = orjson.loads(await request.body())
        name = body.get("operationName")
        if name not in BY_NAME:
            return error(400, f"unknown operation {name!r}")
        authorization = request.headers.get("authorization", "")
        if not authorization.startswith("Bearer "):
            return error(401, "sign in")
        try:
            claims = jwt.decode(authorization[7:], secret, algorithms=["HS256"], audience=audience)
            user_id = uuid.UUID(claims["sub"])
        except (jwt.PyJWTError, KeyError, ValueError):
            return error(401, "bad token")
        data = await run_operation(state["pool"], name, user_id, body.get("variables"))
        return Response(b'{"data":' + data.encode() + b"}", media_type="application/json")

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok", "pid": os.getpid()})

    return Starlette(
        routes=[Route("/graphql", graphql, methods=["POST"]), Route("/healthz", healthz)],
        lifespan=lifespan,
    )


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__)
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    args = parser.parse_args(argv)
    options: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": args.port,
        "log_level": "warning",
        "access_log": False,
    }
    if args.workers > 1:
        # Workers are separate processes: they build the app from the environment.
        os.environ[_DATABASE_URL] = args.database_url
        uvicorn.run(
            "bench.baseline:app_from_environment", factory=True, workers=args.workers, **options
        )
    else:
        uvicorn.run(create_app(args.database_url, _secret()), **options)
    return 0


_DATABASE_URL = "BENCH_BASELINE_DATABASE_URL"


def _secret() -> str:
    return os.environ.get("CAREGRAPH_JWT_SECRET") or DEV_JWT_SECRET


def app_from_environment() -> Starlette:
    """For `--workers`: each worker process makes its own app (and pool)."""
    return create_app(os.environ[_DATABASE_URL], _secret())


if __name__ == "__main__":
    raise SystemExit(main())
