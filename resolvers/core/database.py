"""Engine, sessions and the per-request SQL statement counter.

When the database goes away (a restart, a terminated backend), a read that lost its
connection runs once more on a fresh one (`_read_again`; reads only: a write's
transaction is never repeated), and what still fails for lack of a database is raised as
`ServiceUnavailable` (`resolvers.core.outages`). The pool replaces a connection the server
closed before handing it out, and every connection carries `statement_timeout`."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque, namedtuple
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import Executable, event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from resolvers.core.outages import connection_lost, raise_unavailable

T = TypeVar("T")


@dataclass
class StatementCounter:
    count: int = 0


statement_counter: ContextVar[StatementCounter | None] = ContextVar(
    "statement_counter", default=None
)


@dataclass
class CommitCounter:
    """Transactions committed by `Database.transaction` while it is set: whether a
    request wrote anything (an idempotent mutation keeps its answer once it has)."""

    count: int = 0


commit_counter: ContextVar[CommitCounter | None] = ContextVar("commit_counter", default=None)


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


class _Generation:
    """When a connection was last found lost. The server that closed one has usually
    closed them all (a restart, `pg_terminate_backend` of the app's backends), so
    connections opened before then are not handed out again, by the pool or the read
    lane: a read retried after a loss gets a fresh one. The driver cannot tell: an idle
    connection that got the server's FATAL message before its socket's end is neither
    closed nor usable ("another operation is in progress")."""

    def __init__(self) -> None:
        self.lost_at = 0.0

    def lost(self) -> None:
        self.lost_at = time.monotonic()

    def stale(self, opened_at: float) -> bool:
        return opened_at <= self.lost_at


_OPENED_AT = "caregraph_opened_at"  # in a pool entry's `info`: time.monotonic() at connect

# A connection, its asyncpg connection, and when it was opened.
_LaneEntry = tuple[AsyncConnection, Any, float]


class _ReadLane:
    """Up to `size` connections of the engine's pool, kept checked out for prepared reads.

    Taking one is a list pop instead of a SQLAlchemy checkout (a greenlet switch, the
    `Connection` object, pool events and the reset on return: about 50 µs a statement).
    The connections come from the autocommit engine, so SQLAlchemy has set them up as
    usual (codecs, isolation level). A connection whose statement fails for any reason
    other than an error reported by Postgres (a lost connection, a cancelled request)
    is closed and given back to the pool invalidated, and the lane opens another when
    it needs one. A lost connection also retires the idle ones opened before it
    (`_Generation`)."""

    def __init__(self, engine: AsyncEngine, size: int, generation: _Generation) -> None:
        self._engine = engine
        self._size = size
        self._generation = generation
        self._open = 0  # connections taken from the pool, or being taken
        self._held: set[AsyncConnection] = set()
        self._idle: list[_LaneEntry] = []
        # Each waiter gets a connection, or None: a place was freed, open one.
        self._waiters: deque[asyncio.Future[_LaneEntry | None]] = deque()
        self._closing: set[asyncio.Task[None]] = set()
        self._closed = False

    async def fetch(self, sql: str, arguments: Sequence[Any]) -> list[Any]:
        entry = await self._acquire()
        try:
            records: list[Any] = await entry[1].fetch(sql, *arguments)
        except asyncpg.PostgresError as error:
            # The statement failed, the connection may still be good (not after a
            # server shutdown or a fatal error, which close it).
            if connection_lost(error):
                self._generation.lost()
            self._release(entry)
            raise
        except BaseException as error:
            if isinstance(error, Exception) and connection_lost(error):
                self._generation.lost()
            self._discard(entry)
            raise
        self._release(entry)
        return records

    async def _acquire(self) -> _LaneEntry:
        while True:
            while self._idle:
                idle = self._idle.pop()
                if not idle[1].is_closed() and not self._generation.stale(idle[2]):
                    return idle
                self._discard(idle)  # the server closed it (or others) while it was idle
            if self._closed:
                raise RuntimeError("The database is closed.")
            if self._open < self._size:
                return await self._take_from_pool()
            waiter: asyncio.Future[_LaneEntry | None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                handed = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    given = waiter.result()
                    if given is None:
                        self._wake()
                    else:
                        self._release(given)
                raise
            if handed is not None:
                return handed

    async def _take_from_pool(self) -> _LaneEntry:
        self._open += 1
        try:
            connection = await self._engine.connect()
            try:
                raw = await connection.get_raw_connection()
            except BaseException:
                await connection.close()
                raise
        except BaseException:
            self._open -= 1
            self._wake()
            raise
        self._held.add(connection)
        return connection, raw.driver_connection, connection.info[_OPENED_AT]

    def _release(self, entry: _LaneEntry) -> None:
        if self._closed or entry[1].is_closed() or self._generation.stale(entry[2]):
            self._discard(entry)
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(entry)
                return
        self._idle.append(entry)

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _discard(self, entry: _LaneEntry) -> None:
        connection, driver, _opened_at = entry
        if connection not in self._held:
            return  # closed already
        self._held.discard(connection)
        self._open -= 1
        driver.terminate()
        task = asyncio.get_running_loop().create_task(self._close(connection))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        self._wake()

    @staticmethod
    async def _close(connection: AsyncConnection) -> None:
        await connection.invalidate()
        await connection.close()

    async def close(self) -> None:
        """Closes the idle connections and refuses new reads; a read in flight closes its
        own connection when it ends, and a read waiting for one is told the lane closed."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection, _driver, _opened_at in idle:
            self._held.discard(connection)
            self._open -= 1
            await connection.close()
        while self._waiters:
            self._wake()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


def async_url(url: str) -> str:
    """Accept `postgresql://` / `postgres://` URLs and use the asyncpg driver."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid.uuid4()}__"


CONNECT_TIMEOUT_SECONDS = 10.0


def _stamp_opened(_dbapi_connection: Any, record: Any) -> None:
    record.info[_OPENED_AT] = time.monotonic()


async def _read_again(run: Callable[[], Awaitable[T]]) -> T:
    """Runs a read; once more (on a fresh connection) when it lost its connection. A
    failure for lack of a database is raised as `ServiceUnavailable`."""
    try:
        return await run()
    except Exception as error:
        if not connection_lost(error):
            raise_unavailable(error)
            raise
    try:
        return await run()
    except Exception as error:
        raise_unavailable(error)
        raise


class _ReadSession(AsyncSession):
    """The session of `Database.read`: on autocommit connections, so a statement that
    lost its connection can run again on a fresh one (the session is closed first: rows
    it returned stay loaded, detached)."""

    async def execute(self, statement: Any, params: Any = None, **kw: Any) -> Any:
        first = True

        async def run() -> Any:
            nonlocal first
            if not first:
                await self.close()
            first = False
            return await super(_ReadSession, self).execute(statement, params, **kw)

        return await _read_again(run)

    async def scalar(self, statement: Any, params: Any = None, **kw: Any) -> Any:
        return (await self.execute(statement, params, **kw)).scalar()


class Database:
    """One engine per process. Each unit of work gets its own session and connection,
    so concurrently resolving fields never share an `AsyncSession`."""

    def __init__(
        self,
        url: str,
        *,
        pgbouncer: bool = False,
        pool_size: int = 10,
        max_overflow: int = 20,
        statement_timeout: float | None = None,
        application_name: str = "caregraph",
    ) -> None:
        """`statement_timeout` (seconds): Postgres cancels a statement running longer
        (the request deadline, `Settings.request_timeout_seconds`); sent as a startup
        setting of every connection, except behind a transaction pooler (PgBouncer
        refuses unknown startup settings: set it on the database role there)."""
        server_settings = {"application_name": application_name}
        connect_args: dict[str, Any] = {
            "timeout": CONNECT_TIMEOUT_SECONDS,
            "server_settings": server_settings,
        }
        engine_url = make_url(async_url(url))
        if pgbouncer:
            # Transaction-mode poolers hand each transaction a different server
            # connection: named prepared statements must not outlive a statement.
            connect_args["statement_cache_size"] = 0
            connect_args["prepared_statement_name_func"] = _unique_statement_name
            engine_url = engine_url.update_query_dict({"prepared_statement_cache_size": "0"})
        elif statement_timeout is not None:
            server_settings["statement_timeout"] = str(max(1, round(statement_timeout * 1000)))
        self.url = engine_url
        self.statement_timeout = statement_timeout
        self.engine: AsyncEngine = create_async_engine(
            engine_url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_pre_ping=False,
            connect_args=connect_args,
        )
        self._generation = _Generation()
        event.listen(self.engine.sync_engine.pool, "connect", _stamp_opened)
        event.listen(self.engine.sync_engine.pool, "checkout", self._replace_lost)
        event.listen(self.engine.sync_engine, "handle_error", self._on_error)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        # Reads run each statement on its own (autocommit): no BEGIN and ROLLBACK round
        # trips around every loader batch. Under READ COMMITTED every statement takes its
        # own snapshot inside a transaction too, so reads see exactly what they saw.
        self.autocommit_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._read_sessions = async_sessionmaker(
            self.autocommit_engine,
            class_=_ReadSession,
            expire_on_commit=False,
            autoflush=False,
        )
        event.listen(self.engine.sync_engine, "before_cursor_execute", _count_statement)
        # Kept templates by identity, with the statement (an id outlives its object).
        self._prepared: dict[int, tuple[Executable, _PreparedRead | None]] = {}
        self._lane = _ReadLane(self.autocommit_engine, max(1, pool_size // 2), self._generation)

    def _replace_lost(self, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        """Pool checkout: a connection the server has closed (a restart, a terminated
        backend), or opened before a connection was found lost, is replaced before it is
        handed out. No round trip, unlike `pool_pre_ping`."""
        driver = getattr(dbapi_connection, "driver_connection", None)
        if (driver is not None and driver.is_closed()) or self._generation.stale(
            record.info.get(_OPENED_AT, 0.0)
        ):
            raise DisconnectionError("The server closed this connection.")

    def _on_error(self, context: ExceptionContext) -> None:
        """A statement that failed because its connection is gone: SQLAlchemy invalidates
        that connection and the pool's older ones (the driver does not always say it is a
        disconnect), and the read lane retires its older ones."""
        if not isinstance(context.original_exception, Exception):
            return  # a cancelled statement: SQLAlchemy invalidates that connection only
        if context.is_disconnect or connection_lost(context.original_exception):
            context.is_disconnect = True
            self._generation.lost()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A short-lived session for reads (one loader batch, one root query). Each of
        its statements runs once more when it lost its connection (`_ReadSession`)."""
        async with self._read_sessions() as session:
            yield session

    async def rows(
        self, statement: Executable, parameters: dict[str, Any], *, reusable: bool = False
    ) -> Sequence[Any]:
        """Runs one read statement on a Core connection (autocommit, no ORM session);
        rows are tuples with their columns also as attributes (`_fields`).

        A `reusable` statement (a template kept for many requests) is prepared from its
        first run (`_PreparedRead`): later runs send its SQL text straight to the
        driver, skipping SQLAlchemy's per-execution work. Either way a statement that
        lost its connection runs once more on a fresh one."""
        entry = self._prepared.get(id(statement)) if reusable else None
        # The entry holds its statement, so while it is there no other object has its id.
        prepared = entry[1] if entry is not None else None
        if prepared is not None and prepared.accepts(parameters):
            return await self._run_prepared(prepared, parameters)

        async def run() -> tuple[Any, Sequence[Any]]:
            async with self.autocommit_engine.connect() as connection:
                result = await connection.execute(statement, parameters)
                return result, result.all()

        result, rows = await _read_again(run)
        if reusable and entry is None:
            if len(self._prepared) >= _MAX_PREPARED:
                self._prepared.clear()
            self._prepared[id(statement)] = (
                statement,
                _PreparedRead.of(statement, result, parameters, self.engine.dialect),
            )
        return rows

    async def _run_prepared(self, prepared: _PreparedRead, parameters: dict[str, Any]) -> Any:
        arguments = prepared.arguments(parameters)
        _count_statement()  # the driver path has no SQLAlchemy event to count it
        records = await _read_again(lambda: self._lane.fetch(prepared.sql, arguments))
        return prepared.rows(records)

    def direct_dsn(self, url: str | None = None) -> str:
        """A libpq URL for a connection of our own, outside the pool (LISTEN needs a
        session: behind PgBouncer in transaction mode, pass Postgres' own address as
        `url`). Its query keeps what libpq understands (a socket `host`), not
        SQLAlchemy's own settings."""
        parsed = make_url(url) if url else self.url
        query = {k: v for k, v in parsed.query.items() if k != "prepared_statement_cache_size"}
        return parsed.set(drivername="postgresql", query=query).render_as_string(
            hide_password=False
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction: commits on success, rolls back on any error.
        Never run again here: a failure for lack of a database (the connection lost,
        even during COMMIT) is raised as `ServiceUnavailable` for the client to retry."""
        try:
            async with self._sessions() as session, session.begin():
                yield session
        except Exception as error:
            raise_unavailable(error)
            raise
        commits = commit_counter.get()
        if commits is not None:
            commits.count += 1

    async def dispose(self) -> None:
        await self._lane.close()
        await self.engine.dispose()
