"""The load generator: concurrent keep-alive HTTP/1.1 clients (httpx.AsyncClient) sending
prepared request bodies for a fixed duration. Runs in its own process (see bench.run), so
its CPU does not come out of the servers' event loops."""

from __future__ import annotations

import asyncio
import time
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

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    @property
    def bytes_per_response(self) -> float:
        return self.response_bytes / self.requests if self.requests else 0.0


async def _drive(
    base_url: str,
    requests: list[tuple[bytes, dict[str, str]]],
    concurrency: int,
    warmup: float,
    duration: float,
) -> LoadResult:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    counters = {"failures": 0, "bytes": 0}
    last_done = [0.0]
    first_failure: list[str] = []
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:
        started = time.perf_counter()
        measure_from = started + warmup
        stop_at = measure_from + duration

        async def worker(offset: int) -> None:
            index = offset
            clock = time.perf_counter
            while True:
                body, headers = requests[index % len(requests)]
                index += concurrency
                sent = clock()
                if sent >= stop_at:
                    return
                response = await client.post("/graphql", content=body, headers=headers)
                done = clock()
                content = response.content
                if sent < measure_from:
                    continue
                if response.status_code != 200 or b'"errors"' in content:
                    counters["failures"] += 1
                    if not first_failure:
                        first_failure.append(f"{response.status_code} {content[:300]!r}")
                latencies.append((done - sent) * 1000)
                counters["bytes"] += len(content)
                last_done[0] = max(last_done[0], done)

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return LoadResult(
        requests=len(latencies),
        failures=counters["failures"],
        seconds=max(duration, last_done[0] - measure_from),
        latencies_ms=latencies,
        response_bytes=counters["bytes"],
        first_failure=first_failure[0] if first_failure else None,
    )


def drive(
    base_url: str,
    requests: list[tuple[bytes, dict[str, str]]],
    concurrency: int,
    warmup: float,
    duration: float,
) -> LoadResult:
    """Runs in the load process: `concurrency` clients round-robin over `requests`."""
    return asyncio.run(_drive(base_url, requests, concurrency, warmup, duration))
