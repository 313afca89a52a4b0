"""Fixtures of the read-replica tests: a primary and a streaming replica of their own
(tests/replicas/cluster.py), the app's settings pointing at both, and a clean slate after
each test (rows deleted on the primary, the replica running and replaying again)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from resolvers.core.database import Database
from resolvers.core.settings import Settings
from server import migrate
from tests.conftest import empty_tables, settings_for
from tests.replicas.cluster import Cluster, _bin


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    if not (_bin() / "pg_basebackup").exists():
        pytest.skip("the embedded Postgres has no pg_basebackup")
    cluster = Cluster()
    try:
        cluster.start_primary()

        async def create_database() -> None:
            connection = await cluster.primary.connect()
            try:
                await connection.execute(f'CREATE DATABASE "{cluster.database}"')
            finally:
                await connection.close()

        asyncio.run(create_database())
        migrate(cluster.primary.url(cluster.database))
        cluster.start_replica()
        asyncio.run(cluster.wait_streaming())
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture(scope="session")
def replica_settings(cluster: Cluster) -> Settings:
    return settings_for(
        cluster.primary.url(cluster.database),
        read_replica_urls=[cluster.replica.url(cluster.database)],
        replica_max_lag_seconds=3,
        replica_poll_seconds=0.1,
    )


@pytest.fixture(scope="session")
async def primary_db(replica_settings: Settings) -> AsyncIterator[Database]:
    """The primary alone (no replicas): factories write here, checks read here."""
    assert replica_settings.database_url
    database = Database(replica_settings.database_url, pool_size=4, max_overflow=4)
    yield database
    await database.dispose()


@pytest.fixture(autouse=True)
async def _empty_tables(primary_db: Database, cluster: Cluster) -> AsyncIterator[None]:
    """Overrides the suite's: this directory's rows live on its own primary."""
    yield
    if not (cluster.replica.data / "postmaster.pid").exists():
        cluster.replica.start()
    replica = await cluster.replica.connect()
    try:
        if await replica.fetchval("SELECT pg_is_wal_replay_paused()"):
            await replica.execute("SELECT pg_wal_replay_resume()")
    finally:
        await replica.close()
    await empty_tables(primary_db)
