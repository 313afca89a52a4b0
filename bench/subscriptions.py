"""Subscription benchmark: N WebSocket subscribers on one server process under a steady
write load.

    python -m bench.subscriptions --subscribers 1000 --rate 20 --duration 20

Half the subscribers are doctors watching their appointments (`appointmentChanged`), half
are members watching a post's comments (`commentAdded(postId)`). A writer commits `--rate`
changes a second straight to Postgres (appointment notes, new comments), each carrying its
commit time; every subscriber that may read the row gets it, and the event-to-delivery
latency is measured there. Also reported: server memory per idle subscriber (RSS before and
after subscribing), statements per event (the server's /metrics), and an HTTP query's
throughput before and during the load. The data lives in its own database,
`caregraph_bench_realtime`, made afresh each run in the embedded Postgres (or
$BENCH_DATABASE_URL's server)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
import websockets
from sqlalchemy.engine import make_url
from websockets.typing import Subprotocol

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generate import connect_arguments  # noqa: E402
from bench.run import _free_port  # noqa: E402
from resolvers.core.identity import mint_token  # noqa: E402
from server import embedded_postgres_uri, migrate  # noqa: E402

SECRET = "bench-realtime-secret-0123456789abcdef-0123456789"
DATABASE = "caregraph_bench_realtime"
POSTS = 20


def _database_url() -> tuple[str, str]:
    base = os.environ.get("BENCH_DATABASE_URL") or embedded_postgres_uri(
        Path(os.environ.get("CAREGRAPH_DATA_DIR", ROOT / ".data")), "postgres"
    )
    url = make_url(base).set(database=DATABASE).render_as_string(hide_password=False)
    return base, url


async def _prepare(base: str, url: str, doctors: int, members: int) -> dict[str, Any]:
    admin = await asyncpg.connect(**connect_arguments(base))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()
    await asyncio.to_thread(migrate, url)
    conn = await asyncpg.connect(**connect_arguments(url))
    try:
        doctor_users = [uuid.uuid4() for _ in range(doctors)]
        member_users = [uuid.uuid4() for _ in range(members + 1)]
        rows = [(u, f"d{i}@bench.test", f"Dr {i}") for i, u in enumerate(doctor_users)]
        rows += [(u, f"m{i}@bench.test", f"Member {i}") for i, u in enumerate(member_users)]
        await conn.executemany(
            "INSERT INTO users (id, email, full_name, timezone) VALUES ($1, $2, $3, 'UTC')", rows
        )
        await conn.executemany(
            "INSERT INTO user_roles (user_id, role) VALUES ($1, 'doctor')",
            [(u,) for u in doctor_users],
        )
        doctor_ids = [uuid.uuid4() for _ in range(doctors)]
        await conn.executemany(
            "INSERT INTO doctors (id, user_id, full_name, verified) VALUES ($1, $2, $3, true)",
            [
                (d, u, f"Dr {i}")
                for i, (d, u) in enumerate(zip(doctor_ids, doctor_users, strict=True))
            ],
        )
        patient = member_users[-1]
        appointments = []
        for i, doctor in enumerate(doctor_ids):
            appointment = uuid.uuid4()
            appointments.append(appointment)
            await conn.execute(
                "INSERT INTO appointments (id, doctor_id, patient_id, starts_at, ends_at, status)"
                " VALUES ($1, $2, $3, now() + ($4 || ' days')::interval,"
                " now() + ($4 || ' days')::interval + interval '30 minutes', 'confirmed')",
                appointment,
                doctor,
                patient,
                str(1 + i),
            )
        posts = [uuid.uuid4() for _ in range(POSTS)]
        await conn.executemany(
            "INSERT INTO posts (id, author_id, title, body, published)"
            " VALUES ($1, $2, $3, 'b', true)",
            [(p, patient, f"Post {i}") for i, p in enumerate(posts)],
        )
        await conn.execute("DELETE FROM realtime_events")
    finally:
        await conn.close()
    return {
        "doctor_users": doctor_users,
        "member_users": member_users[:-1],
        "patient": patient,
        "appointments": appointments,
        "posts": posts,
    }


def _token(user: uuid.UUID) -> str:
    return mint_token(SECRET, user_id=user, email=None)


class Subscriber:
    def __init__(self) -> None:
        self.latencies: list[float] = []


async def _subscribe(
    ws_url: str, user: uuid.UUID, query: str, variables: dict[str, Any], sink: Subscriber
) -> Any:
    connection = await websockets.connect(
        ws_url,
        subprotocols=[Subprotocol("graphql-transport-ws")],
        max_queue=None,
    )
    await connection.send(
        json.dumps({"type": "connection_init", "payload": {"token": _token(user)}})
    )
    ack = json.loads(await connection.recv())
    assert ack["type"] == "connection_ack", ack
    await connection.send(
        json.dumps(
            {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )
    )

    async def read() -> None:
        async for raw in connection:
            message = json.loads(raw)
            if message["type"] == "ping":
                await connection.send('{"type":"pong"}')
            elif message["type"] == "next":
                data = message["payload"]["data"]
                stamp = (data.get("appointmentChanged") or {}).get("notes") or (
                    data.get("commentAdded") or {}
                ).get("body")
                if stamp:
                    sink.latencies.append(time.time() - float(stamp))

    return connection, asyncio.create_task(read())


async def _http_rate(base: str, seconds: float, token: str) -> float:
    done = 0
    deadline = time.monotonic() + seconds
    query = {"query": "{ doctors(first: 5) { totalCount edges { node { fullName } } } }"}
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                response = await http.post(
                    "/graphql", json=query, headers={"Authorization": f"Bearer {token}"}
                )
                response.raise_for_status()
                done += 1

        await asyncio.gather(*(worker() for _ in range(4)))
    return done / seconds


async def _get(url: str) -> str:
    async with httpx.AsyncClient(timeout=30) as http:
        return (await http.get(url)).text


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


async def run(args: argparse.Namespace) -> None:
    doctors = args.subscribers // 2
    members = args.subscribers - doctors
    base, url = _database_url()
    data = await _prepare(base, url, doctors, members)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAREGRAPH_", "DATABASE_"))}
    env.update(
        DATABASE_URL=url,
        CAREGRAPH_JWT_SECRET=SECRET,
        CAREGRAPH_LOG_REQUESTS="false",
        CAREGRAPH_WS_MAX_CONNECTIONS_PER_VIEWER="10000",
        CAREGRAPH_JOBS_IN_PROCESS=os.environ.get("CAREGRAPH_JOBS_IN_PROCESS", "true"),
    )
    server = subprocess.Popen(  # noqa: ASYNC220 (started once, before anything runs)
        [sys.executable, "-m", "uvicorn", "--factory", "server:app_factory", "--port", str(port),
         "--log-level", "warning", "--ws-max-queue", "1000",
         # As `python server.py` runs it by default (CAREGRAPH_WS_COMPRESSION=false).
         "--ws-per-message-deflate", os.environ.get("CAREGRAPH_WS_COMPRESSION", "false")],
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    http_base, ws_url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/graphql"
    try:
        async with httpx.AsyncClient(base_url=http_base, timeout=1) as probe:
            for _ in range(200):
                try:
                    if (await probe.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        process = psutil.Process(server.pid)
        reader_token = _token(data["patient"])
        idle_rate = await _http_rate(http_base, 5, reader_token)
        rss_before = process.memory_info().rss
        sinks: list[Subscriber] = []
        connections = []
        appointment_query = "subscription { appointmentChanged { id notes } }"
        comment_query = "subscription ($post: ID!) { commentAdded(postId: $post) { body } }"
        from schema.ids import format_id

        for user in data["doctor_users"]:
            sink = Subscriber()
            sinks.append(sink)
            connections.append(await _subscribe(ws_url, user, appointment_query, {}, sink))
        for i, user in enumerate(data["member_users"]):
            sink = Subscriber()
            sinks.append(sink)
            post = data["posts"][i % POSTS]
            variables = {"post": str(format_id("Post", post))}
            connections.append(await _subscribe(ws_url, user, comment_query, variables, sink))
        await asyncio.sleep(3)
        rss_after = process.memory_info().rss
        # The client's own full collections walked its thousands of sockets for 200-375 ms
        # (traced with gc.callbacks), delaying what it received and inflating the measured
        # latency; frozen as the server freezes its startup heap, they are not walked again.
        gc.collect()
        gc.freeze()
        metrics_before = await _get(f"{http_base}/metrics")

        writer = await asyncpg.connect(**connect_arguments(url))
        stop = time.monotonic() + args.duration
        written = 0

        async def write() -> None:
            nonlocal written
            interval = 1 / args.rate
            next_at = time.monotonic()
            while time.monotonic() < stop:
                stamp = repr(time.time())
                if written % 2 == 0:
                    appointment = data["appointments"][written // 2 % len(data["appointments"])]
                    await writer.execute(
                        "UPDATE appointments SET notes = $1 WHERE id = $2", stamp, appointment
                    )
                else:
                    post = data["posts"][written // 2 % POSTS]
                    await writer.execute(
                        "INSERT INTO comments (post_id, author_id, body) VALUES ($1, $2, $3)",
                        post,
                        data["patient"],
                        stamp,
                    )
                written += 1
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

        writing = asyncio.create_task(write())
        await asyncio.sleep(2)
        busy_rate = await _http_rate(http_base, max(1.0, args.duration - 4), reader_token)
        await writing
        await asyncio.sleep(2)
        metrics_after = await _get(f"{http_base}/metrics")
        await writer.close()
        latencies = sorted(x for sink in sinks for x in sink.latencies)
        events = _metric(metrics_after, "caregraph_realtime_events") - _metric(
            metrics_before, "caregraph_realtime_events"
        )
        statements = _metric(metrics_after, "caregraph_realtime_statements") - _metric(
            metrics_before, "caregraph_realtime_statements"
        )
        # An appointment reaches its doctor; a comment, every member watching its post.
        expected = (written - written // 2) + (written // 2) * (members / POSTS)
        p50 = statistics.median(latencies) * 1000 if latencies else float("nan")
        p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else float("nan")
        print(
            f"\nsubscribers {args.subscribers} ({doctors} doctors on appointmentChanged, "
            f"{members} members on commentAdded over {POSTS} posts); {written} writes in "
            f"{args.duration:.0f} s ({written / args.duration:.1f}/s)\n"
        )
        print("| measure | value |\n|---|---|")
        print(f"| deliveries received / expected | {len(latencies)} / {expected:.0f} |")
        print(f"| event-to-delivery latency p50 | {p50:.1f} ms |")
        print(f"| event-to-delivery latency p99 | {p99:.1f} ms |")
        per_event = statements / events if events else float("nan")
        print(
            f"| statements per event (server) | {per_event:.2f} ({statements:.0f} / {events:.0f}) |"
        )
        per_subscriber = (rss_after - rss_before) / args.subscribers / 1024
        print(f"| server memory per idle subscriber | {per_subscriber:.1f} KB |")
        print(f"| server RSS with subscribers | {rss_after / 2**20:.0f} MB |")
        print(
            f"| HTTP query throughput, during / before | {busy_rate:.0f} / {idle_rate:.0f} req/s "
            f"({busy_rate / idle_rate:.2f}) |"
        )
        for connection, reading in connections:
            reading.cancel()
            await connection.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.subscriptions", description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="writes per second")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    asyncio.run(run(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
