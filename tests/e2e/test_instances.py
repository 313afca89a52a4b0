"""Several instances on one database: two separate `python server.py` processes, each on
its own port (as N instances behind a load balancer are, not `--workers` of one), prove
that slot holds, persisted queries, rate limits, subscriptions and jobs behave as with one
instance, and that instances started together on a new database all come up."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from models import User, WebhookDelivery
from resolvers.core import database as database_module
from resolvers.core.database import Database
from server import ROOT, migrate
from tests.appointments.factories import at, local_day_ahead, weekday_of
from tests.community.factories import make_post
from tests.conftest import TEST_JWT_SECRET, _admin_run
from tests.e2e.test_cli import _env, _free_port, _wait_for
from tests.factories import gid, make_doctor, make_rule, make_user
from tests.realtime.support import socket, token_for
from tests.webhooks.receiver import receiver

VIEWER_BURST = 15.5
"""The viewer bucket of both instances: a small query takes 1 + cost / 1000 tokens (about
1.002), so a full bucket admits 15 of them, and the refill (0.001 a second) adds nothing
within the test."""
SMALL_QUERIES_PER_BUCKET = 15
SYNC_SECONDS = 0.05

SETTINGS = {
    "CAREGRAPH_JWT_SECRET": TEST_JWT_SECRET,
    "CAREGRAPH_RATE_LIMITS": "true",
    "CAREGRAPH_RATE_LIMIT_VIEWER_BURST": str(VIEWER_BURST),
    "CAREGRAPH_RATE_LIMIT_VIEWER_PER_SECOND": "0.001",
    # A mutation takes about one token too, so every test's viewers have room.
    "CAREGRAPH_RATE_LIMIT_MUTATION_TOKENS": "1",
    "CAREGRAPH_RATE_LIMIT_SYNC_SECONDS": str(SYNC_SECONDS),
    "CAREGRAPH_DB_POOL_SIZE": "10",
    "CAREGRAPH_DB_MAX_OVERFLOW": "10",
    "CAREGRAPH_JOBS_POLL_SECONDS": "1",
}
"""Both instances run with these (and jobs in process, the default of `python server.py`)."""


@dataclass
class Instance:
    name: str
    base: str
    process: subprocess.Popen[str]
    log: Path


def _start(name: str, env: dict[str, str], log_dir: Path) -> tuple[Instance, IO[str]]:
    port = _free_port()
    log = log_dir / f"{name}.log"
    output = log.open("w")
    # The output goes to a file: a pipe nobody reads would stall the server once full.
    process = subprocess.Popen(
        [sys.executable, "server.py", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return Instance(name, f"http://127.0.0.1:{port}", process, log), output


@contextlib.contextmanager
def _instances(env: dict[str, str], log_dir: Path) -> Iterator[list[Instance]]:
    """Two instances, A and B, started at the same moment (a deploy), stopped at the end."""
    started: list[tuple[Instance, IO[str]]] = []
    try:
        for name in ("a", "b"):
            started.append(_start(name, env, log_dir))
        for instance, _ in started:
            try:
                _wait_for(f"{instance.base}/healthz", instance.process, seconds=120)
            except AssertionError as error:
                raise AssertionError(
                    f"{instance.name}: {instance.log.read_text()[-4000:]}"
                ) from error
        yield [instance for instance, _ in started]
    finally:
        for instance, _ in started:
            if instance.process.poll() is None:
                instance.process.terminate()
        for instance, output in started:
            try:
                instance.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                instance.process.kill()
                instance.process.wait()
            output.close()


@pytest.fixture(scope="module")
def pair(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Instance]]:
    env = _env(DATABASE_URL=database_url, **SETTINGS)
    with _instances(env, tmp_path_factory.mktemp("instances")) as started:
        yield started


def _bases(pair: list[Instance]) -> tuple[str, str]:
    return pair[0].base, pair[1].base


async def _post(
    base: str,
    query: str | None,
    variables: dict[str, Any] | None = None,
    *,
    user: User | None = None,
    extensions: dict[str, Any] | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"variables": variables or {}}
    if query is not None:
        body["query"] = query
    if extensions is not None:
        body["extensions"] = extensions
    headers = {"Authorization": f"Bearer {token_for(user)}"} if user is not None else {}
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        return await http.post("/graphql", json=body, headers=headers)


async def _data(base: str, query: str, variables: dict[str, Any], user: User) -> dict[str, Any]:
    response = await _post(base, query, variables, user=user)
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return dict(body["data"])


# --- 1. slot holds and bookings ---------------------------------------------------------

HOLD = """mutation ($input: HoldSlotInput!) { holdSlot(input: $input) {
  __typename ... on SlotHeld { hold { id } } ... on UserError { code } } }"""
BOOK = """mutation ($input: BookAppointmentInput!) { bookAppointment(input: $input) {
  __typename ... on AppointmentBooked { appointment { id status } } ... on UserError { code } } }"""
SLOTS = """query ($id: ID!, $day: Date!) { doctor(id: $id) {
  availableSlots(from: $day, to: $day) { startsAt } } }"""


async def test_a_slot_held_through_one_instance_is_taken_for_the_other(
    pair: list[Instance], db: Database
) -> None:
    a, b = _bases(pair)
    doctor = await make_doctor(db, timezone="UTC")
    day = local_day_ahead("UTC", 5)
    await make_rule(db, doctor, day_of_week=weekday_of(day), start=time(9), end=time(10))
    nine, half_past = at(day, time(9), "UTC"), at(day, time(9, 30), "UTC")
    holder, other = await make_user(db), await make_user(db)
    slot = {"doctorId": gid(doctor), "startsAt": nine.isoformat()}
    listed = {"id": gid(doctor), "day": day.isoformat()}

    def starts(data: dict[str, Any]) -> list[str]:
        return [s["startsAt"] for s in data["doctor"]["availableSlots"]]

    both = [nine.isoformat(), half_past.isoformat()]
    assert starts(await _data(b, SLOTS, listed, other)) == both

    held = await _data(a, HOLD, {"input": slot}, holder)
    assert held["holdSlot"]["__typename"] == "SlotHeld", held
    # Instance B, which has never seen the hold, hides the slot from the other patient,
    # refuses to hold or book it for them, and books it for the holder.
    assert starts(await _data(b, SLOTS, listed, other)) == both[1:]
    assert starts(await _data(b, SLOTS, listed, holder)) == both
    refused = await _data(b, HOLD, {"input": slot}, other)
    assert refused["holdSlot"] == {"__typename": "SlotUnavailable", "code": "SLOT_UNAVAILABLE"}
    refused = await _data(b, BOOK, {"input": slot}, other)
    assert refused["bookAppointment"]["__typename"] == "SlotUnavailable", refused
    booked = await _data(b, BOOK, {"input": slot}, holder)
    assert booked["bookAppointment"]["__typename"] == "AppointmentBooked", booked
    assert starts(await _data(a, SLOTS, listed, other)) == both[1:]


async def test_concurrent_bookings_of_one_slot_split_across_instances_have_one_winner(
    pair: list[Instance], db: Database
) -> None:
    a, b = _bases(pair)
    doctor = await make_doctor(db, timezone="UTC")
    day = local_day_ahead("UTC", 6)
    await make_rule(db, doctor, day_of_week=weekday_of(day), start=time(9), end=time(10))
    slot = {"doctorId": gid(doctor), "startsAt": at(day, time(9), "UTC").isoformat()}
    patients = [await make_user(db) for _ in range(10)]

    async def attempt(index: int, mutation: str, patient: User) -> str:
        data = await _data(a if index % 2 else b, mutation, {"input": slot}, patient)
        return str(next(iter(data.values()))["__typename"])

    holds = await asyncio.gather(*(attempt(i, HOLD, p) for i, p in enumerate(patients)))
    assert Counter(holds) == {"SlotHeld": 1, "SlotUnavailable": 9}, holds
    async with db.transaction() as session:  # the hold goes, and bookings race for the slot
        await session.execute(text("DELETE FROM slot_holds"))
    booked = await asyncio.gather(*(attempt(i, BOOK, p) for i, p in enumerate(patients)))
    assert Counter(booked) == {"AppointmentBooked": 1, "SlotUnavailable": 9}, booked
    async with db.read() as session:
        live = await session.scalar(
            text("SELECT count(*) FROM appointments WHERE doctor_id = :d"), {"d": doctor.id}
        )
    assert live == 1


# --- 2. persisted queries ---------------------------------------------------------------

APQ_QUERY = "query InstancesDirectory { doctors(first: 2) { totalCount } }"


async def test_a_query_registered_through_one_instance_is_served_by_hash_by_the_other(
    pair: list[Instance], db: Database
) -> None:
    a, b = _bases(pair)
    user = await make_user(db)
    await make_doctor(db)
    # A text no other test registers, so neither instance can have it from before.
    query = f"{APQ_QUERY} # {uuid.uuid4().hex}"
    sha = hashlib.sha256(query.encode()).hexdigest()
    by_hash = {"persistedQuery": {"version": 1, "sha256Hash": sha}}

    unknown = (await _post(b, None, user=user, extensions=by_hash)).json()
    assert unknown["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    registered = (await _post(a, query, user=user, extensions=by_hash)).json()
    assert registered == {"data": {"doctors": {"totalCount": 1}}}
    for base in (b, a):
        served = (await _post(base, None, user=user, extensions=by_hash)).json()
        assert served == {"data": {"doctors": {"totalCount": 1}}}, base


# --- 3. rate limits ---------------------------------------------------------------------

SMALL = "{ viewer { id } }"


async def _admitted_until_refused(bases: list[str], user: User, pause: float) -> int:
    """Small queries sent in turn to `bases` until one is refused: how many were admitted.
    `pause` between requests lets each instance settle with Postgres (every
    SYNC_SECONDS) before the next request, so no view misses the other's admissions."""
    for sent in range(3 * SMALL_QUERIES_PER_BUCKET):
        response = await _post(bases[sent % len(bases)], SMALL, user=user)
        if response.status_code == 429:
            assert response.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
            assert int(response.headers["Retry-After"]) >= 1
            return sent
        assert response.status_code == 200, response.text
        await asyncio.sleep(pause)
    raise AssertionError("never refused")


async def test_a_viewer_budget_is_one_across_instances(pair: list[Instance], db: Database) -> None:
    a, b = _bases(pair)
    alone, split = await make_user(db), await make_user(db)
    assert await _admitted_until_refused([a], alone, 0) == SMALL_QUERIES_PER_BUCKET
    # Split across both, requests taking turns: the same total, then both refuse.
    assert await _admitted_until_refused([a, b], split, 5 * SYNC_SECONDS) == (
        SMALL_QUERIES_PER_BUCKET
    )
    for base in (a, b):
        assert (await _post(base, SMALL, user=split)).status_code == 429, base
    # Each viewer has its own bucket: a third one is untouched by the others.
    assert (await _post(b, SMALL, user=await make_user(db))).status_code == 200


# --- 4. subscriptions -------------------------------------------------------------------

COMMENTS = "subscription ($post: ID!) { commentAdded(postId: $post) { body } }"
COMMENT = """mutation ($input: CreateCommentInput!) { createComment(input: $input) {
  __typename } }"""


async def test_subscribers_on_both_instances_get_an_event_written_through_one_once(
    pair: list[Instance], db: Database
) -> None:
    a, b = _bases(pair)
    author = await make_user(db)
    post = await make_post(db, author)
    readers = [await make_user(db) for _ in range(3)]
    variables = {"post": gid(post)}
    sse = {"query": COMMENTS, "variables": variables}
    headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {token_for(readers[2])}"}
    async with (
        socket(a, readers[0]) as on_a,
        socket(b, readers[1]) as on_b,
        httpx.AsyncClient(base_url=a, timeout=30) as http,
        http.stream("POST", "/graphql", json=sse, headers=headers) as stream,
    ):
        await on_a.subscribe("c", COMMENTS, variables)
        await on_b.subscribe("c", COMMENTS, variables)
        lines = stream.aiter_lines()
        await asyncio.sleep(0.5)  # the subscriptions are registered
        written = await _data(
            b, COMMENT, {"input": {"postId": gid(post), "body": "hello both"}}, author
        )
        assert written["createComment"]["__typename"] == "CommentSaved"
        expected = {"commentAdded": {"body": "hello both"}}
        assert await on_a.next_data() == expected
        assert await on_b.next_data() == expected
        event, data = await anext(lines), await anext(lines)
        assert (event, json.loads(data.removeprefix("data: "))) == (
            "event: next",
            {"data": expected},
        )
        # Once each: nothing more on either socket, nor on the stream.
        await on_a.nothing()
        await on_b.nothing()
        with contextlib.suppress(TimeoutError):
            extra = await asyncio.wait_for(anext(lines), 0.5)
            assert extra == "", extra  # the blank line that ends the event
            extra = await asyncio.wait_for(anext(lines), 0.5)
            raise AssertionError(f"expected nothing more, got {extra!r}")


# --- 5. jobs ----------------------------------------------------------------------------

CREATE_ENDPOINT = """mutation ($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { __typename ... on WebhookEndpointCreated { secret } } }"""


async def _job_connections(db: Database) -> int:
    async with db.read() as session:
        return int(
            await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name = 'caregraph-jobs'"
                )
            )
            or 0
        )


async def _eventually(check: Any, seconds: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "never happened"
        await asyncio.sleep(0.1)


async def test_jobs_enqueued_through_one_instance_run_once_across_both(
    pair: list[Instance], db: Database
) -> None:
    a, b = _bases(pair)

    # Both instances run workers (two connections each): they compete for every job.
    async def both_workers() -> bool:
        return await _job_connections(db) == 4

    await _eventually(both_workers)
    admin = await make_user(db, roles=("admin",))
    doctor = await make_doctor(db, timezone="UTC", fee_standard=Decimal("0.00"))
    day = local_day_ahead("UTC", 7)
    await make_rule(db, doctor, day_of_week=weekday_of(day), start=time(9), end=time(13))
    patients = [await make_user(db) for _ in range(8)]
    async with receiver() as hook:
        made = await _data(
            b,
            CREATE_ENDPOINT,
            {"input": {"url": hook.url, "kinds": ["BOOKING_CONFIRMED"]}},
            admin,
        )
        hook.secret = made["createWebhookEndpoint"]["secret"]

        async def book(index: int, patient: User) -> None:
            starts = at(day, time(9 + index // 2, 30 * (index % 2)), "UTC")
            data = await _data(
                a,
                BOOK,
                {"input": {"doctorId": gid(doctor), "startsAt": starts.isoformat()}},
                patient,
            )
            booked = data["bookAppointment"]
            assert booked["__typename"] == "AppointmentBooked", booked
            assert booked["appointment"]["status"] == "CONFIRMED"  # free: a notification

        # Eight free bookings through A: eight notifications, each with a delivery job.
        await asyncio.gather(*(book(i, p) for i, p in enumerate(patients)))
        await hook.wait_for(len(patients))
        await asyncio.sleep(2)  # time for any job to run a second time (poll: 1 s)
    assert all(request.verified for request in hook.requests)
    sent = Counter(request.headers["caregraph-delivery"] for request in hook.requests)
    assert len(sent) == len(patients) and set(sent.values()) == {1}, sent
    async with db.read() as session:
        deliveries = (await session.scalars(select(WebhookDelivery))).all()
        log = (
            await session.execute(
                text(
                    "SELECT job_id, status::text FROM pgqueuer_log "
                    "WHERE entrypoint = 'webhook.deliver'"
                )
            )
        ).all()
        waiting = await session.scalar(
            text("SELECT count(*) FROM pgqueuer WHERE entrypoint = 'webhook.deliver'")
        )
    assert {gid(d) for d in deliveries} == set(sent)
    assert {(d.status, d.attempts) for d in deliveries} == {("delivered", 1)}
    picked = Counter(job for job, status in log if status == "picked")
    done = Counter(job for job, status in log if status == "successful")
    assert len(picked) == len(patients) and set(picked.values()) == {1}, log
    assert done == picked, log
    assert waiting == 0


# --- starting together ------------------------------------------------------------------


def test_instances_started_together_on_a_new_database_all_come_up(
    database_url: str, tmp_path: Path
) -> None:
    """A deploy of several instances on an empty database: each runs the migrations and
    loads the demo data at start; one migrates while the others wait, then find it done."""
    admin_url = (
        make_url(database_url).set(database="postgres").render_as_string(hide_password=False)
    )
    name = f"caregraph_instances_{uuid.uuid4().hex[:8]}"
    _admin_run(admin_url, f'CREATE DATABASE "{name}"')
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    try:
        env = _env(DATABASE_URL=url, CAREGRAPH_DB_POOL_SIZE="4", CAREGRAPH_JOBS_IN_PROCESS="false")
        with _instances(env, tmp_path) as started:
            for instance in started:
                ready = httpx.get(f"{instance.base}/readyz", timeout=30)
                assert ready.status_code == 200, (instance.name, ready.text)
                answer = httpx.post(
                    f"{instance.base}/graphql",
                    json={"query": "{ doctors { totalCount } }"},
                    timeout=30,
                )
                assert answer.json() == {"data": {"doctors": {"totalCount": 27}}}
    finally:
        _admin_run(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrations_through_a_transaction_pooler_name_no_statements(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every instance migrates at start through `DATABASE_URL`. Behind PgBouncer in
    transaction mode (checked by hand with PgBouncer 1.18), the migrations' engine used
    asyncpg's named statement cache: a restarted instance whose server connection still
    held `__asyncpg_stmt_1__` from an earlier start died with "prepared statement ...
    already exists". With `CAREGRAPH_DB_PGBOUNCER` they run on the server's own pooler
    settings."""
    engines: list[Database] = []

    class Recorded(Database):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            engines.append(self)

    monkeypatch.setattr(database_module, "Database", Recorded)
    for pgbouncer in (True, False):
        migrate(database_url, pgbouncer=pgbouncer)
    pooled, direct = engines
    assert pooled.url.query.get("prepared_statement_cache_size") == "0"
    assert "prepared_statement_cache_size" not in direct.url.query
