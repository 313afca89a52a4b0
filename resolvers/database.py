"""Engine, sessions and the per-request SQL statement counter."""

from __future__ import annotations

import uuid
from collections import namedtuple
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Executable, event
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


_MAX_PREPARED = 4096


@dataclass(frozen=True)
class _PreparedRead:
    """A read statement compiled once for the driver: its SQL text, the order of its
    parameters with their bound defaults and bind processors, and how its rows are
    built (the column names and SQLAlchemy's result processors, taken from the first
    run). Only statements whose every parameter is a plain positional one (no IN lists
    or literals rendered per execution) and whose columns have unique names qualify;
    the others keep running through SQLAlchemy."""

    sql: str
    names: tuple[str, ...]
    defaults: dict[str, Any]
    bind_processors: tuple[tuple[int, Callable[[Any], Any]], ...]
    row_type: type[tuple[Any, ...]]
    result_processors: tuple[tuple[int, Callable[[Any], Any]], ...]
    supplied: frozenset[str]

    @classmethod
    def of(
        cls, statement: Executable, result: Any, parameters: dict[str, Any], dialect: Any
    ) -> _PreparedRead | None:
        compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        names = tuple(compiled.positiontup or ())
        fields = tuple(result.keys())
        processors = getattr(result._metadata, "_processors", None)
        if (
            compiled.post_compile_params
            or compiled.literal_execute_params
            or compiled.escaped_bind_names
            or processors is None
            or len(processors) != len(fields)
            or len(set(fields)) != len(fields)
            or not all(name.isidentifier() and not name.startswith("_") for name in fields)
        ):
            return None
        bind_processors = compiled._bind_processors
        return cls(
            sql=str(compiled),
            names=names,
            defaults=compiled.construct_params(_check=False),
            bind_processors=tuple(
                (index, bind_processors[name])
                for index, name in enumerate(names)
                if name in bind_processors
            ),
            row_type=namedtuple("Row", fields),
            result_processors=tuple(
                (index, processor)
                for index, processor in enumerate(processors)
                if processor is not None
            ),
            supplied=frozenset(parameters),
        )

    def accepts(self, parameters: dict[str, Any]) -> bool:
        return parameters.keys() == self.supplied

    def arguments(self, parameters: dict[str, Any]) -> list[Any]:
        values = [
            parameters[name] if name in parameters else self.defaults[name] for name in self.names
        ]
        for index, processor in self.bind_processors:
            values[index] = processor(values[index])
        return values

    def rows(self, records: Sequence[Any]) -> list[tuple[Any, ...]]:
        make = self.row_type._make  # type: ignore[attr-defined]
        if not self.result_processors:
            return [make(record) for record in records]
        built = []
        for record in records:
            values = list(record)
            for index, processor in self.result_processors:
                values[index] = processor(values[index])
            built.append(make(values))
        return built


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
        # Kept templates by identity, with the statement (an id outlives its object).
        self._prepared: dict[int, tuple[Executable, _PreparedRead | None]] = {}

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A short-lived session for reads (one loader batch, one root query)."""
        async with self._read_sessions() as session:
            yield session

    async def rows(
        self, statement: Executable, parameters: dict[str, Any], *, reusable: bool = False
    ) -> Sequence[Any]:
        """Runs one read statement on a Core connection (autocommit, no ORM session);
        rows are tuples with their columns also as attributes (`_fields`).

        A `reusable` statement (a template kept for many requests) is prepared from its
        first run (`_PreparedRead`): later runs send its SQL text straight to the
        driver, skipping SQLAlchemy's per-execution work."""
        entry = self._prepared.get(id(statement)) if reusable else None
        known = entry is not None and entry[0] is statement
        prepared = entry[1] if entry is not None and known else None
        if prepared is not None and prepared.accepts(parameters):
            return await self._run_prepared(prepared, parameters)
        async with self.autocommit_engine.connect() as connection:
            result = await connection.execute(statement, parameters)
            rows = result.all()
        if reusable and not known:
            if len(self._prepared) >= _MAX_PREPARED:
                self._prepared.clear()
            self._prepared[id(statement)] = (
                statement,
                _PreparedRead.of(statement, result, parameters, self.engine.dialect),
            )
        return rows

    async def _run_prepared(self, prepared: _PreparedRead, parameters: dict[str, Any]) -> Any:
        arguments = prepared.arguments(parameters)
        counter = statement_counter.get()
        if counter is not None:
            counter.count += 1
        async with self.autocommit_engine.connect() as connection:
            raw = await connection.get_raw_connection()
            records = await raw.driver_connection.fetch(prepared.sql, *arguments)  # type: ignore[union-attr]
        return prepared.rows(records)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction: commits on success, rolls back on any error."""
        async with self._sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
