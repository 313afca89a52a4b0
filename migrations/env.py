"""Alembic environment, async (asyncpg). The URL comes from `sqlalchemy.url` set by the
caller (server.py, tests) or from DATABASE_URL."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from models import Base
from resolvers.core.database import Database, async_url

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("No database URL: set DATABASE_URL or use `python server.py migrate`.")
    return async_url(url)


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


MIGRATION_LOCK = 0x6361726567726170
"""Key of the advisory lock the migrations run under ("caregrap" in ASCII)."""


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        # Several instances started at once on a new database (a deploy) each migrate at
        # start: one takes the lock and migrates, the others wait for its commit, then read
        # the version it left and find nothing to do. Without it they raced to create the
        # same tables and all but one died. A transaction-level lock: it works through a
        # transaction pooler too, and goes with the migrations' one transaction.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        context.run_migrations()


async def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    # The server's own engine settings: behind a transaction pooler (`pgbouncer`, passed
    # by server.migrate from CAREGRAPH_DB_PGBOUNCER) no named prepared statement outlives
    # its statement, or the next process to get that server connection (every instance
    # migrates at start) fails with "prepared statement ... already exists".
    database = Database(_url(), pgbouncer=bool(config.attributes.get("pgbouncer", False)))
    async with database.engine.connect() as async_connection:
        await async_connection.run_sync(_run)
    await database.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
