"""A real server process, and a graphql-transport-ws client over a real socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from resolvers.core.identity import mint_token
from server import ROOT
from tests.conftest import TEST_JWT_SECRET
from tests.e2e.test_cli import _env, _free_port, _wait_for

QUIET_SECONDS = 0.6
"""How long a subscriber that should get nothing is watched after the others got it."""


@contextlib.contextmanager
def server_process(database_url: str, **settings: str) -> Iterator[str]:
    """`uvicorn server:app_factory` on a free port against the test database (no demo data):
    yields its base URL."""
    port = _free_port()
    env = _env(
        DATABASE_URL=database_url,
        CAREGRAPH_JWT_SECRET=TEST_JWT_SECRET,
        CAREGRAPH_LOG_REQUESTS="false",
        CAREGRAPH_JOBS_IN_PROCESS="false",
        **{f"CAREGRAPH_{name.upper()}": value for name, value in settings.items()},
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "server:app_factory", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/healthz", process)
        yield base
    finally:
        process.terminate()
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def token_for(user: Any, *, ttl_seconds: int = 3600) -> str:
    return mint_token(TEST_JWT_SECRET, user_id=user.id, email=user.email, ttl_seconds=ttl_seconds)


class Socket:
    """A graphql-transport-ws client: `init`, `subscribe`, then read messages."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.pending: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(message))

    async def receive(self, seconds: float = 10) -> dict[str, Any]:
        while True:
            message = json.loads(await asyncio.wait_for(self.connection.recv(), seconds))
            if message["type"] == "ping":
                await self.send({"type": "pong"})
                continue
            return dict(message)

    async def init(self, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        await self.send({"type": "connection_init", "payload": payload or {}})
        return await self.receive()

    async def subscribe(
        self, operation_id: str, query: str, variables: dict[str, Any] | None = None
    ) -> None:
        await self.send(
            {
                "id": operation_id,
                "type": "subscribe",
                "payload": {"query": query, "variables": variables or {}},
            }
        )

    async def next_data(self, seconds: float = 10) -> dict[str, Any]:
        message = await self.receive(seconds)
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        return dict(message["payload"]["data"])

    async def refused(self, operation_id: str) -> list[dict[str, Any]]:
        """The errors of an operation refused at its start: an `error` message, or (an
        error raised by the subscription's resolver) a `next` with errors and `complete`."""
        message = await self.receive()
        assert message["id"] == operation_id, message
        if message["type"] == "error":
            return list(message["payload"])
        assert message["type"] == "next" and message["payload"].get("errors"), message
        assert await self.receive() == {"id": operation_id, "type": "complete"}
        return list(message["payload"]["errors"])

    async def nothing(self, seconds: float = QUIET_SECONDS) -> None:
        with contextlib.suppress(TimeoutError):
            message = await self.receive(seconds)
            raise AssertionError(f"expected nothing, got {message}")

    async def closed(self, seconds: float = 10) -> tuple[int, str]:
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(self.connection.recv(), seconds)
        assert self.connection.close_code is not None
        return self.connection.close_code, self.connection.close_reason or ""


@contextlib.asynccontextmanager
async def socket(
    base: str, user: Any = None, *, init: bool = True, **token: Any
) -> AsyncIterator[Socket]:
    url = base.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as connection:  # type: ignore[list-item]
        client = Socket(connection)
        if init:
            payload = {"token": token_for(user, **token)} if user is not None else {}
            ack = await client.init(payload)
            assert ack == {"type": "connection_ack"}, ack
        yield client
