"""Real Postgres for every test: the embedded server (or TEST_DATABASE_URL), a fresh
database per session with migrations applied, and all tables emptied after each test."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from models import Base
from resolvers.core.database import Database
from resolvers.core.settings import Settings
from server import embedded_postgres_uri, migrate
from tests.client import GraphQLClient, graphql_client

ROOT = Path(__file__).resolve().parent.parent
TEST_JWT_SECRET = "test-secret-for-caregraph-tests-0123456789abcdef"


def _admin_run(admin_url: str, statement: str) -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        url = make_url(admin_url)
        conn = await asyncpg.connect(
            user=url.username,
            password=url.password,
            host=url.query.get("host") or url.host,
            port=url.port,
            database=url.database,
        )
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    base_url = os.environ.get("TEST_DATABASE_URL") or embedded_postgres_uri(
        Path(os.environ.get("CAREGRAPH_DATA_DIR", ROOT / ".data")), "postgres"
    )
    name = f"caregraph_test_{uuid.uuid4().hex[:12]}"
    _admin_run(base_url, f'CREATE DATABASE "{name}"')
    url = make_url(base_url).set(database=name).render_as_string(hide_password=False)
    migrate(url)
    yield url
    _admin_run(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def settings_for(database_url: str, **overrides: Any) -> Settings:
    """The tests' settings for the database at `database_url` (no .env file read)."""
    return Settings(
        database_url=database_url,
        jwt_secret=TEST_JWT_SECRET,
        jwt_audience="authenticated",
        env="development",
        # Tests run jobs themselves (tests/jobs): no app started here takes them.
        jobs_in_process=False,
        _env_file=None,  # type: ignore[call-arg]
        **overrides,
    )


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return settings_for(database_url)


@pytest.fixture(scope="session")
async def db(settings: Settings) -> AsyncIterator[Database]:
    assert settings.database_url
    database = Database(settings.database_url, pool_size=20, max_overflow=40)
    yield database
    await database.dispose()


JOB_TABLES = ("pgqueuer", "pgqueuer_log", "pgqueuer_schedules", "pgqueuer_statistics")
"""pgqueuer's tables (migration 0018), not among the models."""


# Children first, so each DELETE leaves no row pointing at a deleted one. DELETE, not
# TRUNCATE: a test leaves a few rows, and TRUNCATE makes Postgres create and sync new files
# for every table after every test. The audit log refuses DELETE by design (a trigger), so
# it alone is truncated, when a test wrote to it.
_DELETES = [
    f'DELETE FROM "{table.name}"'
    for table in reversed(Base.metadata.sorted_tables)
    if table.name not in ("audit_log", "realtime_events")
] + [
    'DELETE FROM "realtime_events"',  # after the others: their DELETEs append events
    *(f'DELETE FROM "{table}"' for table in JOB_TABLES),
]


async def empty_tables(db: Database) -> None:
    """Every table of `db` emptied (see `_DELETES`)."""
    async with db.engine.begin() as conn:
        for statement in _DELETES:
            await conn.execute(text(statement))
        if await conn.scalar(text('SELECT EXISTS (SELECT 1 FROM "audit_log")')):
            await conn.execute(text('TRUNCATE "audit_log"'))


@pytest.fixture(autouse=True)
async def _empty_tables(db: Database) -> AsyncIterator[None]:
    yield
    await empty_tables(db)


@pytest.fixture
async def client(settings: Settings, db: Database) -> AsyncIterator[GraphQLClient]:
    async with graphql_client(settings, db) as client:
        yield client
