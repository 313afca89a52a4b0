"""A webhook receiver written for the tests: a real HTTP/1.1 server on 127.0.0.1
(asyncio streams, no framework) that verifies each delivery's signature with its own code,
as the README tells a clinic's receiver to, and answers as a test scripts it."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

TOLERANCE_SECONDS = 300


def verify(secret: str, header: str, body: bytes, *, now: float | None = None) -> bool:
    """A receiver's check of `Caregraph-Signature: t=<unix seconds>,v1=<hex>`: the HMAC-SHA256
    with the endpoint's secret of `<t>.<raw body>` matches one `v1`, and `t` is recent."""
    parts = [part.split("=", 1) for part in header.split(",") if "=" in part]
    timestamps = [value for key, value in parts if key.strip() == "t"]
    signatures = [value.strip() for key, value in parts if key.strip() == "v1"]
    if len(timestamps) != 1 or not timestamps[0].strip().isdigit() or not signatures:
        return False
    timestamp = int(timestamps[0])
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool


@dataclass
class Receiver:
    secret: str = ""
    answers: deque[int] = field(default_factory=deque)
    """Status codes for the next requests, in order; 200 when empty (401 when the signature
    does not verify)."""
    hold_next: bool = False
    """Keep the next request open, answering nothing, until the client goes away."""
    requests: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers: dict[str, str] = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            signed = verify(self.secret, headers.get("caregraph-signature", ""), body)
            self.requests.append(Received(headers, body, signed))
            self.arrived.set()
            if self.hold_next:
                self.hold_next = False
                await reader.read()  # until the sender's process dies
                return
            status = (self.answers.popleft() if self.answers else 200) if signed else 401
            answer = b"ok" if status < 300 else b"receiver says no"
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Length: {len(answer)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + answer
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def wait_for(self, count: int, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while len(self.requests) < count:
            assert time.monotonic() < deadline, f"{len(self.requests)} of {count} requests"
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    """A receiver listening on a free port of 127.0.0.1 (`url`), until the block ends."""
    found = Receiver()
    server = await asyncio.start_server(found._handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    found.url = f"http://127.0.0.1:{port}/hooks/caregraph"
    try:
        yield found
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 5)
