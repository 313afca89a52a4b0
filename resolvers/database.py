"""Engine, sessions and the per-request SQL statement counter."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Executable, Row, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


@dataclass
class StatementCounter:
    count: int = 0


statement_counter: ContextVar[StatementCounter | None] = ContextVar(
    "statement_counter", default=None
)


def _count_statement(*_args: Any, **_kwargs: Any) -> None:
    counter = statement_counter.get()
    if counter is not None:
        counter.count += 1


def async_url(url: str) -> str:
    """Accept `postgresql://` / `postgres://` URLs and use the asyncpg driver."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid.uuid4()}__"


class Database:
    """One engine per process. Each unit of work gets its own session and connection,
    so concurrently resolving fields never share an `AsyncSession`."""

    def __init__(
        self, url: str, *, pgbouncer: bool = False, pool_size: int = 10, max_overflow: int = 20
    ) -> None:
        connect_args: dict[str, Any] = {}
        engine_url = make_url(async_url(url))
        if pgbouncer:
            # Transaction-mode poolers hand each transaction a different server
            # connection: named prepared statements must not outlive a statement.
            connect_args["statement_cache_size"] = 0
            connect_args["prepared_statement_name_func"] = _unique_statement_name
            engine_url = engine_url.update_query_dict({"prepared_statement_cache_size": "0"})
        self.url = engine_url
        self.engine: AsyncEngine = create_async_engine(
            engine_url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_pre_ping=False,
            connect_args=connect_args,
        )
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        # Reads run each statement on its own (autocommit): no BEGIN and ROLLBACK round
        # trips around every loader batch. Under READ COMMITTED every statement takes its
        # own snapshot inside a transaction too, so reads see exactly what they saw.
        self.autocommit_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._read_sessions = async_sessionmaker(
            self.autocommit_engine,
            expire_on_commit=False,
            autoflush=False,
        )
        event.listen(self.engine.sync_engine, "before_cursor_execute", _count_statement)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A short-lived session for reads (one loader batch, one root query)."""
        async with self._read_sessions() as session:
            yield session

    async def rows(
        self, statement: Executable, parameters: dict[str, Any]
    ) -> Sequence[Row[*tuple[Any, ...]]]:
        """Runs one read statement on a Core connection (autocommit, no ORM session)."""
        async with self.autocommit_engine.connect() as connection:
            return (await connection.execute(statement, parameters)).all()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction: commits on success, rolls back on any error."""
        async with self._sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
