"""Read replicas against a real streaming replica (tests/replicas/cluster.py).

Where a read ran is proven by making the replica visibly different: replay is paused on
it (`pg_wal_replay_pause()`), then a row is written on the primary behind the API's back,
so a read that sees it ran on the primary and one that does not ran on the replica."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from models import ReplicaReadMark
from resolvers.core.database import Database
from resolvers.core.replicas import Replica, ReplicaSet
from resolvers.core.settings import Settings
from server import make_database
from tests.client import GraphQLClient, Response, graphql_client
from tests.community.factories import make_post
from tests.e2e.test_cli import _env, _serve, _wait_for
from tests.factories import make_user
from tests.replicas.cluster import Cluster, free_port

FEED = "query { feed(first: 50) { edges { node { title } } } }"
UNREAD = "query { viewer { unreadNotificationCount } }"
CREATE_POST = """
mutation ($input: CreatePostInput!) {
  createPost(input: $input) { __typename ... on PostSaved { post { title } } }
}
"""


def titles(response: Response) -> set[str]:
    return {edge["node"]["title"] for edge in response.data["feed"]["edges"]}


def replicas_of(db: Database) -> ReplicaSet:
    assert db.replicas is not None
    return db.replicas


def replica_of(db: Database) -> Replica:
    return replicas_of(db).replicas[0]


@asynccontextmanager
async def replica_app(
    settings: Settings, **overrides: Any
) -> AsyncIterator[tuple[Database, GraphQLClient]]:
    """An app process of its own: its engines (primary and replica, as `python server.py`
    makes them) and an HTTP client over it."""
    custom = settings.model_copy(update=overrides)
    assert custom.database_url
    db = make_database(custom, custom.database_url)
    replicas_of(db).start()  # as the app's lifespan does (httpx does not run it)
    try:
        async with graphql_client(custom, db, differential=False) as client:
            yield db, client
    finally:
        await db.dispose()


async def primary_position(primary_db: Database) -> int:
    async with primary_db.engine.connect() as conn:
        position = await conn.scalar(text("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint"))
    return int(position)


async def until(condition: Callable[[], bool], seconds: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.05)


async def caught_up(db: Database, primary_db: Database) -> None:
    """Until this process's monitor has seen the replica up, within the lag bound, and
    replayed everything the primary has written by now (polling it here too)."""
    replicas = replicas_of(db)
    replica = replica_of(db)
    target = await primary_position(primary_db)
    deadline = time.monotonic() + 30
    while True:
        await replicas.poll()
        if replica.up and replica.lag_seconds <= replicas.max_lag and replica.replay_lsn >= target:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"replica not caught up: {replica.__dict__}, target {target}")
        await asyncio.sleep(0.05)


async def pause_replay(cluster: Cluster) -> None:
    connection = await cluster.replica.connect()
    try:
        await connection.execute("SELECT pg_wal_replay_pause()")
        for _ in range(200):
            if await connection.fetchval("SELECT pg_get_wal_replay_pause_state()") == "paused":
                return
            await asyncio.sleep(0.05)
    finally:
        await connection.close()
    raise AssertionError("replay did not pause")


async def resume_replay(cluster: Cluster) -> None:
    connection = await cluster.replica.connect()
    try:
        await connection.execute("SELECT pg_wal_replay_resume()")
    finally:
        await connection.close()


async def test_a_query_reads_on_the_replica_and_a_mutation_on_the_primary(
    cluster: Cluster, replica_settings: Settings, primary_db: Database
) -> None:
    async with replica_app(replica_settings, replica_max_lag_seconds=60) as (db, client):
        reader = await make_user(primary_db)
        writer = await make_user(primary_db)
        other = await make_user(primary_db)
        await make_post(primary_db, other, title="on both")
        await caught_up(db, primary_db)
        await pause_replay(cluster)
        await make_post(primary_db, other, title="on the primary only")

        # A signed-in viewer's query reads on the replica: the new post is not there.
        assert titles(await client.execute(FEED, as_user=reader)) == {"on both"}
        assert replica_of(db).operations == 1
        # service_role has no user to remember writes for: always the primary.
        service = await client.execute(FEED, as_user="service")
        assert titles(service) == {"on both", "on the primary only"}
        # A mutation runs on the primary (the replica is read-only and paused), and so
        # do the reads of its payload.
        created = await client.execute(
            CREATE_POST, {"input": {"title": "mine", "body": "hello"}}, as_user=writer
        )
        assert created.data["createPost"] == {"__typename": "PostSaved", "post": {"title": "mine"}}
        # The reader still reads on the replica.
        assert titles(await client.execute(FEED, as_user=reader)) == {"on both"}
        assert replica_of(db).operations == 2

        # /metrics shows the replica as this process sees it.
        metrics = (await client.http.get("/metrics")).text
        name = replica_of(db).name
        assert f'caregraph_replica_up{{replica="{name}"}} 1.0' in metrics
        assert f'caregraph_replica_operations{{replica="{name}"}} 2.0' in metrics


async def test_a_viewer_reads_its_own_writes_in_every_process_until_a_replica_has_them(
    cluster: Cluster, replica_settings: Settings, primary_db: Database
) -> None:
    async with (
        replica_app(replica_settings, replica_max_lag_seconds=60) as (db, client),
        replica_app(replica_settings, replica_max_lag_seconds=60) as (other_db, elsewhere),
    ):
        writer = await make_user(primary_db)
        reader = await make_user(primary_db)
        other = await make_user(primary_db)
        await caught_up(db, primary_db)
        await caught_up(other_db, primary_db)
        await pause_replay(cluster)

        created = await client.execute(
            CREATE_POST, {"input": {"title": "mine", "body": "hello"}}, as_user=writer
        )
        assert created.data["createPost"]["__typename"] == "PostSaved"
        async with primary_db.engine.connect() as conn:
            mark = await conn.scalar(
                select(ReplicaReadMark.lsn).where(ReplicaReadMark.user_id == writer.id)
            )
        assert mark is not None and mark > replica_of(db).replay_lsn

        # The writer sees its post at once, on this process and on another one (which
        # knows of the write only through the primary's mark, read with the viewer).
        assert titles(await client.execute(FEED, as_user=writer)) == {"mine"}
        assert titles(await elsewhere.execute(FEED, as_user=writer)) == {"mine"}
        assert replica_of(db).operations == replica_of(other_db).operations == 0
        # Another viewer reads on the paused replica, without it.
        assert titles(await elsewhere.execute(FEED, as_user=reader)) == set()
        assert replica_of(other_db).operations == 1

        # Once the replica has replayed the write, the writer's reads go back to it: with
        # replay paused again, a post written since on the primary is not seen.
        await resume_replay(cluster)
        await caught_up(db, primary_db)
        await caught_up(other_db, primary_db)
        assert replica_of(db).replay_lsn >= mark
        await pause_replay(cluster)
        await make_post(primary_db, other, title="later, on the primary only")
        assert titles(await client.execute(FEED, as_user=writer)) == {"mine"}
        assert titles(await elsewhere.execute(FEED, as_user=writer)) == {"mine"}
        assert replica_of(db).operations == 1 and replica_of(other_db).operations == 2


async def test_a_replica_further_behind_than_the_bound_is_skipped(
    cluster: Cluster, replica_settings: Settings, primary_db: Database
) -> None:
    async with replica_app(replica_settings, replica_max_lag_seconds=1) as (db, client):
        reader = await make_user(primary_db)
        other = await make_user(primary_db)
        await caught_up(db, primary_db)
        replica = replica_of(db)
        await pause_replay(cluster)
        await make_post(primary_db, other, title="written while replay is paused")
        await until(lambda: replica.lag_seconds > 1, what="the lag to pass the bound")

        # Too far behind: the reader reads on the primary, and sees the post.
        operations = replica.operations
        feed = await client.execute(FEED, as_user=reader)
        assert titles(feed) == {"written while replay is paused"}
        assert replica.operations == operations
        assert replicas_of(db).primary_operations >= 1
        metrics = (await client.http.get("/metrics")).text
        assert f'caregraph_replica_up{{replica="{replica.name}"}} 0.0' in metrics

        # Caught up again: used again.
        await resume_replay(cluster)
        await caught_up(db, primary_db)
        assert replica.lag_seconds <= 1
        assert titles(await client.execute(FEED, as_user=reader)) == {
            "written while replay is paused"
        }
        assert replica.operations == operations + 1


async def test_a_lost_replica_is_skipped_until_it_answers_again(
    cluster: Cluster, replica_settings: Settings, primary_db: Database
) -> None:
    # The monitor polls once a minute: this test polls it itself, so that the first read
    # after the replica stops is the one that finds out.
    async with replica_app(
        replica_settings, replica_max_lag_seconds=60, replica_poll_seconds=60
    ) as (db, client):
        replicas = replicas_of(db)
        replica = replica_of(db)
        reader = await make_user(primary_db)
        other = await make_user(primary_db)
        await make_post(primary_db, other, title="a post")
        await caught_up(db, primary_db)
        assert titles(await client.execute(FEED, as_user=reader)) == {"a post"}
        assert (await client.execute(UNREAD, as_user=reader)).status == 200
        assert replica.operations == 2 and replicas.fallbacks == 0

        cluster.replica.stop()
        # The next queries still answer in full: a read that fails on the replica runs
        # again on the primary (a read session's, then a Core read's on the read lane),
        # and the replica is marked down.
        unread = await client.execute(UNREAD, as_user=reader)
        assert unread.data == {"viewer": {"unreadNotificationCount": 0}}
        assert replicas.fallbacks == 1 and not replica.up
        replica.up = True  # as if the monitor had not looked since
        feed = await client.execute(FEED, as_user=reader)
        assert feed.status == 200 and titles(feed) == {"a post"}
        assert replicas.fallbacks == 2 and not replica.up
        # While it is down, queries read on the primary without trying it.
        fallbacks, on_primary = replicas.fallbacks, replicas.primary_operations
        assert titles(await client.execute(FEED, as_user=reader)) == {"a post"}
        assert replicas.fallbacks == fallbacks
        assert replicas.primary_operations == on_primary + 1
        await replicas.poll()
        assert not replica.up and replica.problem

        # Back: once the monitor reaches it, used again.
        cluster.replica.start()
        await cluster.wait_streaming()
        await caught_up(db, primary_db)
        operations = replica.operations
        assert titles(await client.execute(FEED, as_user=reader)) == {"a post"}
        assert replica.operations == operations + 1
        assert replicas.fallbacks == fallbacks


def test_the_replica_urls_come_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "CAREGRAPH_READ_REPLICA_URLS",
        "postgresql://app@replica-1:5432/caregraph, postgresql://app@replica-2/caregraph",
    )
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.read_replica_urls == [
        "postgresql://app@replica-1:5432/caregraph",
        "postgresql://app@replica-2/caregraph",
    ]
    monkeypatch.setenv("CAREGRAPH_READ_REPLICA_URLS", '["postgresql://app@replica-1/caregraph"]')
    assert Settings(_env_file=None).read_replica_urls == [  # type: ignore[call-arg]
        "postgresql://app@replica-1/caregraph"
    ]
    monkeypatch.delenv("CAREGRAPH_READ_REPLICA_URLS")
    assert Settings(_env_file=None).read_replica_urls == []  # type: ignore[call-arg]


async def _replica_has_replayed_the_primary(cluster: Cluster) -> bool:
    primary, replica = await cluster.primary.connect(), await cluster.replica.connect()
    try:
        written = await primary.fetchval("SELECT pg_current_wal_lsn()::text")
        return bool(
            await replica.fetchval("SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", written)
        )
    finally:
        await primary.close()
        await replica.close()


async def test_the_server_reads_on_its_replicas(cluster: Cluster, tmp_path: Path) -> None:
    """`python server.py` with CAREGRAPH_READ_REPLICA_URLS: the lifespan starts the monitor,
    /metrics shows the replica up, and an anonymous query is answered from it."""
    port = free_port()
    process = _serve(
        _env(
            DATABASE_URL=cluster.primary.url(cluster.database),
            CAREGRAPH_READ_REPLICA_URLS=cluster.replica.url(cluster.database),
            CAREGRAPH_REPLICA_POLL_SECONDS="0.2",
            CAREGRAPH_JOBS_IN_PROCESS="false",
            CAREGRAPH_LOG_REQUESTS="false",
            CAREGRAPH_DATA_DIR=str(tmp_path),
        ),
        "--port",
        str(port),
    )
    base = f"http://127.0.0.1:{port}"
    name = f"127.0.0.1:{cluster.replica.port}/{cluster.database}"
    try:
        await asyncio.to_thread(_wait_for, f"{base}/healthz", process)
        deadline = time.monotonic() + 30
        while not await _replica_has_replayed_the_primary(cluster) or (
            f'caregraph_replica_up{{replica="{name}"}} 1.0'
            not in (await asyncio.to_thread(httpx.get, f"{base}/metrics", timeout=5)).text
        ):
            assert time.monotonic() < deadline, "the server never saw its replica up"
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)  # a poll after the replica had replayed the demo data
        answer = await asyncio.to_thread(
            httpx.post, f"{base}/graphql", json={"query": "{ doctors { totalCount } }"}, timeout=10
        )
        assert answer.json() == {"data": {"doctors": {"totalCount": 27}}}
        metrics = (await asyncio.to_thread(httpx.get, f"{base}/metrics", timeout=5)).text
        assert f'caregraph_replica_operations{{replica="{name}"}} 1.0' in metrics
        assert "caregraph_replica_primary_operations 0.0" in metrics
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
