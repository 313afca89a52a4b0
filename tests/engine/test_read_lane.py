"""The read lane (resolvers/core/database.py): prepared reads run on a few connections kept out
of the pool. A lost, cancelled or failed statement must not break the next read, and no
more connections than the lane's size are ever used."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text

from resolvers.core.database import Database

BACKEND = text("SELECT pg_backend_pid() AS pid, pg_sleep(:pause) AS slept")
DIVIDE = text("SELECT pg_backend_pid() AS pid, 1 / :divisor AS quotient")


@pytest.fixture
async def small_db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, pool_size=2, max_overflow=0)  # a lane of one
    yield database
    await database.dispose()


async def _pid(db: Database, pause: float = 0.0) -> int:
    rows = await db.rows(BACKEND, {"pause": pause}, reusable=True)
    return int(rows[0].pid)


async def test_reads_beyond_the_lane_wait_their_turn(small_db: Database) -> None:
    await _pid(small_db)  # the first run goes through SQLAlchemy and prepares the statement
    pids = await asyncio.gather(*(_pid(small_db, 0.01) for _ in range(12)))
    assert len(set(pids)) == 1


async def test_a_connection_lost_while_idle_is_replaced(small_db: Database, db: Database) -> None:
    await _pid(small_db)
    lost = await _pid(small_db)
    async with db.engine.connect() as admin:
        await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": lost})
    await asyncio.sleep(0.2)  # the driver notices the closed socket
    assert await _pid(small_db) != lost


async def test_a_cancelled_read_leaves_the_lane_usable(small_db: Database) -> None:
    await _pid(small_db)
    first = await _pid(small_db)
    slow = asyncio.create_task(_pid(small_db, 30))
    await asyncio.sleep(0.2)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    # The cancelled statement's connection was dropped, not handed to the next read.
    after = await asyncio.wait_for(_pid(small_db), timeout=5)
    assert after != first


async def test_an_error_from_postgres_keeps_the_connection(small_db: Database) -> None:
    await small_db.rows(DIVIDE, {"divisor": 1}, reusable=True)
    before = (await small_db.rows(DIVIDE, {"divisor": 1}, reusable=True))[0].pid
    with pytest.raises(asyncpg.DivisionByZeroError):
        await small_db.rows(DIVIDE, {"divisor": 0}, reusable=True)
    after = (await small_db.rows(DIVIDE, {"divisor": 1}, reusable=True))[0].pid
    assert after == before
