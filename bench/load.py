"""The load generator: concurrent keep-alive HTTP/1.1 clients (httpx.AsyncClient, or a
minimal raw client) sending prepared request bodies for a fixed duration. Runs in its own
process (see bench.run), so its CPU does not come out of the servers' event loops."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class LoadResult:
    requests: int
    failures: int
    seconds: float
    latencies_ms: list[float]
    response_bytes: int
    first_failure: str | None
    client_cpu_seconds: float = 0.0
    """CPU time the load process spent in the measured window (all its clients)."""


def percentile(latencies_ms: list[float], fraction: float) -> float:
    """The latency below which `fraction` of the requests finished (nan when none)."""
    if not latencies_ms:
        return float("nan")
    ordered = sorted(latencies_ms)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


Send = Callable[[int], Awaitable[tuple[int, bytes]]]


class RawConnection:
    """One keep-alive HTTP/1.1 connection with prebuilt requests: a minimal client whose
    own CPU per request is a small fraction of httpx's (for ratios against a fast
    baseline that the load process would otherwise cap)."""

    def __init__(self, host: str, port: int, requests: list[bytes]) -> None:
        self.host = host
        self.port = port
        self.requests = requests
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, index: int) -> tuple[int, bytes]:
        return await self.send_bytes(self.requests[index])

    async def send_bytes(self, request: bytes) -> tuple[int, bytes]:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _raw_request(host: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = ["POST /graphql HTTP/1.1", f"host: {host}", f"content-length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _raw_requests(base_url: str, requests: list[tuple[bytes, dict[str, str]]]) -> list[bytes]:
    host = base_url.split("://", 1)[1]
    return [_raw_request(host, body, headers) for body, headers in requests]


async def _drive(
    base_url: str,
    requests: list[tuple[bytes, dict[str, str]]],
    concurrency: int,
    warmup: float,
    duration: float,
    client_kind: str,
) -> LoadResult:
    latencies: list[float] = []
    counters = {"failures": 0, "bytes": 0}
    last_done = [0.0]
    first_failure: list[str] = []
    senders: list[Send] = []
    closers: list[Callable[[], Awaitable[None] | None]] = []
    if client_kind == "httpx":
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        client = httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60)

        async def send_httpx(index: int) -> tuple[int, bytes]:
            body, headers = requests[index]
            response = await client.post("/graphql", content=body, headers=headers)
            return response.status_code, response.content

        senders = [send_httpx] * concurrency
        closers.append(client.aclose)
    else:
        host, port = base_url.split("://", 1)[1].rsplit(":", 1)
        raw = _raw_requests(base_url, requests)
        connections = [RawConnection(host, int(port), raw) for _ in range(concurrency)]
        senders = [connection.send for connection in connections]
        closers += [connection.close for connection in connections]

    started = time.perf_counter()
    measure_from = started + warmup
    stop_at = measure_from + duration
    cpu_at = [0.0]

    async def mark_cpu() -> None:
        await asyncio.sleep(warmup)
        cpu_at[0] = time.process_time()

    async def worker(offset: int) -> None:
        send = senders[offset]
        index = offset
        clock = time.perf_counter
        while True:
            sent = clock()
            if sent >= stop_at:
                return
            status, content = await send(index % len(requests))
            index += concurrency
            done = clock()
            if sent < measure_from:
                continue
            if status != 200 or b'"errors"' in content:
                counters["failures"] += 1
                if not first_failure:
                    first_failure.append(f"{status} {content[:300]!r}")
            latencies.append((done - sent) * 1000)
            counters["bytes"] += len(content)
            last_done[0] = max(last_done[0], done)

    try:
        await asyncio.gather(mark_cpu(), *(worker(i) for i in range(concurrency)))
    finally:
        client_cpu = time.process_time() - cpu_at[0]
        for close in closers:
            result = close()
            if result is not None:
                await result
    return LoadResult(
        requests=len(latencies),
        failures=counters["failures"],
        seconds=max(duration, last_done[0] - measure_from),
        latencies_ms=latencies,
        response_bytes=counters["bytes"],
        first_failure=first_failure[0] if first_failure else None,
        client_cpu_seconds=client_cpu,
    )


def drive(
    base_url: str,
    requests: list[tuple[bytes, dict[str, str]]],
    concurrency: int,
    warmup: float,
    duration: float,
    client_kind: str = "httpx",
) -> LoadResult:
    """Runs in the load process: `concurrency` clients round-robin over `requests`, with
    httpx.AsyncClient (`httpx`) or one raw keep-alive connection each (`raw`)."""
    return asyncio.run(_drive(base_url, requests, concurrency, warmup, duration, client_kind))


@dataclass(frozen=True)
class MixScript:
    """One mix client: its patient's headers, the three documents and their operation
    names, the `__typename`s that mean success, and its own open slots to cycle over."""

    headers: dict[str, str]
    documents: tuple[str, str, str]
    names: tuple[str, str, str]
    succeeded: tuple[str, str, str]
    slots: list[tuple[str, str]]


async def _drive_mix(
    base_url: str, scripts: list[MixScript], warmup: float, duration: float, client_kind: str
) -> LoadResult:
    import orjson

    latencies: list[float] = []
    counters = {"failures": 0, "bytes": 0}
    first_failure: list[str] = []
    host = base_url.split("://", 1)[1]
    hostname, port = host.rsplit(":", 1)
    client = httpx.AsyncClient(base_url=base_url, timeout=60) if client_kind == "httpx" else None
    started = time.perf_counter()
    measure_from = started + warmup
    stop_at = measure_from + duration
    cpu_at = [0.0]
    last_done = [0.0]

    async def mark_cpu() -> None:
        await asyncio.sleep(warmup)
        cpu_at[0] = time.process_time()

    async def worker(script: MixScript) -> None:
        connection = RawConnection(hostname, int(port), [])

        async def post(step: int, variables: dict[str, str]) -> dict[str, object] | None:
            body = orjson.dumps(
                {
                    "query": script.documents[step],
                    "operationName": script.names[step],
                    "variables": variables,
                }
            )
            sent = time.perf_counter()
            if client is not None:
                response = await client.post("/graphql", content=body, headers=script.headers)
                status, content = response.status_code, response.content
            else:
                status, content = await connection.send_bytes(
                    _raw_request(host, body, script.headers)
                )
            done = time.perf_counter()
            result: dict[str, object] | None = None
            if status == 200:
                data = orjson.loads(content).get("data") or {}
                result = next(iter(data.values()), None) if data else None
            ok = isinstance(result, dict) and result.get("__typename") == script.succeeded[step]
            if sent >= measure_from:
                latencies.append((done - sent) * 1000)
                counters["bytes"] += len(content)
                last_done[0] = max(last_done[0], done)
                if not ok:
                    counters["failures"] += 1
                    if not first_failure:
                        first_failure.append(f"{script.names[step]}: {status} {content[:300]!r}")
            return result if ok else None

        cycle = 0
        try:
            while script.slots and time.perf_counter() < stop_at:
                doctor_id, starts_at = script.slots[cycle % len(script.slots)]
                cycle += 1
                slot = {"doctorId": doctor_id, "startsAt": starts_at}
                if await post(0, slot) is None:
                    continue
                booked = await post(1, slot)
                if booked is None:
                    continue
                appointment = booked["appointment"]
                assert isinstance(appointment, dict)
                await post(2, {"id": str(appointment["id"])})
        finally:
            connection.close()

    try:
        await asyncio.gather(mark_cpu(), *(worker(script) for script in scripts))
    finally:
        client_cpu = time.process_time() - cpu_at[0]
        if client is not None:
            await client.aclose()
    return LoadResult(
        requests=len(latencies),
        failures=counters["failures"],
        seconds=max(duration, last_done[0] - measure_from),
        latencies_ms=latencies,
        response_bytes=counters["bytes"],
        first_failure=first_failure[0] if first_failure else None,
        client_cpu_seconds=client_cpu,
    )


def drive_mix(
    base_url: str,
    scripts: list[MixScript],
    warmup: float,
    duration: float,
    client_kind: str = "httpx",
) -> LoadResult:
    """Runs in the load process: one client per script, each cycling hold -> book ->
    cancel over its own slots; every request is measured, a step that does not answer
    with its success type counts as a failure (and ends that cycle)."""
    return asyncio.run(_drive_mix(base_url, scripts, warmup, duration, client_kind))
