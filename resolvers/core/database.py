"""Engine, sessions and the per-request SQL statement counter.

When the database goes away (a restart, a terminated backend), a read that lost its
connection runs once more on a fresh one (`_read_again`; reads only: a write's
transaction is never repeated), and what still fails for lack of a database is raised as
`ServiceUnavailable` (`resolvers.core.outages`). The pool replaces a connection the server
closed before handing it out, and every connection carries `statement_timeout`.

With read replicas configured (`resolvers.core.replicas`), the reads of a query request
(`Database.operation_scope`) run on a replica the monitor found current enough for the
viewer; everything else (every transaction, locks, holds, and any read outside such a
scope) runs on the primary. Without replicas nothing here changes."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections import deque, namedtuple
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg
from sqlalchemy import Executable, event
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from resolvers.core.outages import connection_lost, raise_unavailable

if TYPE_CHECKING:
    from resolvers.core.replicas import Replica, ReplicaSet

T = TypeVar("T")
MAX_PREPARED_STATEMENT_BYTES = 256 * 1024


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
class _Compiled:
    """A statement's SQL text for the driver, the order of its parameters with their
    bound defaults and bind processors, and the parameter names a run must supply."""

    sql: str
    names: tuple[str, ...]
    defaults: dict[str, Any]
    bind_processors: tuple[tuple[int, Callable[[Any], Any]], ...]
    supplied: frozenset[str]

    @staticmethod
    def fields_of(compiled: Any, parameters: dict[str, Any]) -> dict[str, Any] | None:
        """The `_Compiled` fields of a compiled statement; None when a parameter is not a
        plain positional one (IN lists or literals rendered per execution)."""
        if (
            compiled.post_compile_params
            or compiled.literal_execute_params
            or compiled.escaped_bind_names
        ):
            return None
        names = tuple(compiled.positiontup or ())
        bind_processors = compiled._bind_processors
        return {
            "sql": str(compiled),
            "names": names,
            "defaults": compiled.construct_params(_check=False),
            "bind_processors": tuple(
                (index, bind_processors[name])
                for index, name in enumerate(names)
                if name in bind_processors
            ),
            "supplied": frozenset(parameters),
        }

    def accepts(self, parameters: dict[str, Any]) -> bool:
        return parameters.keys() == self.supplied

    def arguments(self, parameters: dict[str, Any]) -> list[Any]:
        values = [
            parameters[name] if name in parameters else self.defaults[name] for name in self.names
        ]
        for index, processor in self.bind_processors:
            values[index] = processor(values[index])
        return values


@dataclass(frozen=True)
class _PreparedRead(_Compiled):
    """A read statement compiled once for the driver (`_Compiled`), and how its rows are
    built (the column names and SQLAlchemy's result processors, taken from the first
    run). Only statements whose every parameter is a plain positional one (no IN lists
    or literals rendered per execution) and whose columns have unique names qualify;
    the others keep running through SQLAlchemy."""

    row_type: type[tuple[Any, ...]]
    result_processors: tuple[tuple[int, Callable[[Any], Any]], ...]

    @classmethod
    def of(
        cls, statement: Executable, result: Any, parameters: dict[str, Any], dialect: Any
    ) -> _PreparedRead | None:
        fields = tuple(result.keys())
        processors = getattr(result._metadata, "_processors", None)
        if (
            processors is None
            or len(processors) != len(fields)
            or len(set(fields)) != len(fields)
            or not all(name.isidentifier() and not name.startswith("_") for name in fields)
        ):
            return None
        compiled = cls.fields_of(
            statement.compile(dialect=dialect),  # type: ignore[attr-defined]
            parameters,
        )
        if compiled is None:
            return None
        return cls(
            **compiled,
            row_type=namedtuple("Row", fields),
            result_processors=tuple(
                (index, processor)
                for index, processor in enumerate(processors)
                if processor is not None
            ),
        )

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
REPLICA_CONNECT_TIMEOUT_SECONDS = 3.0


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


class ReadScope:
    """Where the reads of one operation go (`Database.operation_scope`): `replica`, or
    None for the primary. A transaction committed in the operation counts in `commits` and
    moves its remaining reads to the primary (they must see what it wrote); a failed
    replica read does too. Shared by the operation's tasks (each holds this object)."""

    __slots__ = ("commits", "replica")

    def __init__(self, replica: Replica | None) -> None:
        self.replica = replica
        self.commits = 0


read_scope: ContextVar[ReadScope | None] = ContextVar("read_scope", default=None)


class _ReadSession(AsyncSession):
    """The session of `Database.read`: on autocommit connections, so a statement that
    lost its connection can run again on a fresh one (the session is closed first: rows
    it returned stay loaded, detached).

    On a replica (`fallback` set), a statement runs there once; if it fails for any
    reason, `fallback` is told (it marks the replica, and hands back the primary's
    engine), the session moves to the primary and the statement runs there."""

    fallback: Callable[[BaseException], AsyncEngine] | None = None

    async def _to_primary(self, error: BaseException) -> None:
        assert self.fallback is not None
        primary = self.fallback(error)
        self.fallback = None
        await self.close()
        self.sync_session.bind = primary.sync_engine

    async def execute(self, statement: Any, params: Any = None, **kw: Any) -> Any:
        if self.fallback is not None:
            try:
                return await super().execute(statement, params, **kw)
            except Exception as error:
                await self._to_primary(error)
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

    async def get(self, *args: Any, **kw: Any) -> Any:
        if self.fallback is not None:
            try:
                return await super().get(*args, **kw)
            except Exception as error:
                await self._to_primary(error)
        return await super().get(*args, **kw)


def _engine_url(url: str, pgbouncer: bool) -> URL:
    engine_url = make_url(async_url(url))
    if pgbouncer:
        engine_url = engine_url.update_query_dict({"prepared_statement_cache_size": "0"})
    return engine_url


class _Server:
    """The engines of one Postgres server, the primary or a replica: its pool, the
    autocommit view of it that reads use, their sessions, and the read lane."""

    def __init__(
        self, url: URL, connect_args: dict[str, Any], pool_size: int, max_overflow: int
    ) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_pre_ping=False,
            connect_args=connect_args,
        )
        self.generation = _Generation()
        event.listen(self.engine.sync_engine.pool, "connect", _stamp_opened)
        event.listen(self.engine.sync_engine.pool, "checkout", self._replace_lost)
        event.listen(self.engine.sync_engine, "handle_error", self._on_error)
        event.listen(self.engine.sync_engine, "before_cursor_execute", _count_statement)
        # Reads run each statement on its own (autocommit): no BEGIN and ROLLBACK round
        # trips around every loader batch. Under READ COMMITTED every statement takes its
        # own snapshot inside a transaction too, so reads see exactly what they saw.
        self.autocommit_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.read_sessions = async_sessionmaker(
            self.autocommit_engine,
            class_=_ReadSession,
            expire_on_commit=False,
            autoflush=False,
        )
        self.lane = _ReadLane(self.autocommit_engine, max(1, pool_size // 2), self.generation)

    def _replace_lost(self, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        """Pool checkout: a connection the server has closed (a restart, a terminated
        backend), or opened before a connection was found lost, is replaced before it is
        handed out. No round trip, unlike `pool_pre_ping`."""
        driver = getattr(dbapi_connection, "driver_connection", None)
        if (driver is not None and driver.is_closed()) or self.generation.stale(
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
            self.generation.lost()

    async def dispose(self) -> None:
        await self.lane.close()
        await self.engine.dispose()


class _OperationScope:
    """`Database.operation_scope` with replicas: picks where the operation reads, and
    after it, when it committed anything for a signed-in viewer, records the primary's
    WAL position for that viewer (`ReplicaSet.record_write`)."""

    __slots__ = ("_replica_reads", "_replicas", "_scope", "_token", "_user_id", "_written_lsn")

    def __init__(
        self,
        replicas: ReplicaSet,
        user_id: uuid.UUID | None,
        written_lsn: int | None,
        replica_reads: bool,
    ) -> None:
        self._replicas = replicas
        self._user_id = user_id
        self._written_lsn = written_lsn
        self._replica_reads = replica_reads

    async def __aenter__(self) -> ReadScope:
        replica = (
            self._replicas.choose(self._user_id, self._written_lsn) if self._replica_reads else None
        )
        self._scope = ReadScope(replica)
        self._token = read_scope.set(self._scope)
        return self._scope

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _error: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        read_scope.reset(self._token)
        if self._scope.commits and self._user_id is not None:
            await self._replicas.record_write(self._user_id)


_NO_SCOPE: AbstractAsyncContextManager[ReadScope | None] = nullcontext()


class Database:
    """One engine per process (and one per read replica). Each unit of work gets its own
    session and connection, so concurrently resolving fields never share an
    `AsyncSession`."""

    def __init__(
        self,
        url: str,
        *,
        pgbouncer: bool = False,
        pool_size: int = 10,
        max_overflow: int = 20,
        statement_timeout: float | None = None,
        application_name: str = "caregraph",
        replica_urls: Sequence[str] = (),
        replica_max_lag: float = 5.0,
        replica_poll_seconds: float = 1.0,
    ) -> None:
        """`statement_timeout` (seconds): Postgres cancels a statement running longer
        (the request deadline, `Settings.request_timeout_seconds`); sent as a startup
        setting of every connection, except behind a transaction pooler (PgBouncer
        refuses unknown startup settings: set it on the database role there).

        `replica_urls`: streaming replicas of this database for the reads of queries
        (`resolvers.core.replicas`), each with a pool like the primary's; skipped while
        more than `replica_max_lag` seconds behind or not answering, as polled every
        `replica_poll_seconds`."""
        server_settings = {"application_name": application_name}
        connect_args: dict[str, Any] = {
            "timeout": CONNECT_TIMEOUT_SECONDS,
            "server_settings": server_settings,
        }
        if pgbouncer:
            # Transaction-mode poolers hand each transaction a different server
            # connection: named prepared statements must not outlive a statement.
            connect_args["statement_cache_size"] = 0
            connect_args["prepared_statement_name_func"] = _unique_statement_name
        else:
            # A query answered as JSON in one statement (schema/engine/sql_json.py) can be
            # past asyncpg's 15 KB default: it would be parsed and planned anew on every
            # run instead of kept prepared.
            connect_args["max_cacheable_statement_size"] = MAX_PREPARED_STATEMENT_BYTES
            if statement_timeout is not None:
                server_settings["statement_timeout"] = str(max(1, round(statement_timeout * 1000)))
        self.url = _engine_url(url, pgbouncer)
        self.statement_timeout = statement_timeout
        pool = (pool_size, max_overflow)
        self._primary = _Server(self.url, connect_args, *pool)
        self.engine: AsyncEngine = self._primary.engine
        self.autocommit_engine = self._primary.autocommit_engine
        self._generation = self._primary.generation
        self._read_sessions = self._primary.read_sessions
        self._lane = self._primary.lane
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        # Kept templates by identity, with the statement (an id outlives its object).
        self._prepared: dict[int, tuple[Executable, _PreparedRead | None]] = {}
        self.replicas: ReplicaSet | None = None
        """The read replicas and their monitor; None: every statement runs on the primary."""
        if replica_urls:
            from resolvers.core.replicas import Replica, ReplicaSet

            # A replica that does not answer is given up on sooner: its reads go elsewhere.
            replica_args = {**connect_args, "timeout": REPLICA_CONNECT_TIMEOUT_SECONDS}
            replicas = [
                Replica(_Server(_engine_url(replica_url, pgbouncer), replica_args, *pool))
                for replica_url in replica_urls
            ]
            self.replicas = ReplicaSet(
                replicas,
                self.autocommit_engine,
                max_lag=replica_max_lag,
                poll_seconds=replica_poll_seconds,
            )

    def operation_scope(
        self, user_id: uuid.UUID | None, written_lsn: int | None, *, replica_reads: bool
    ) -> AbstractAsyncContextManager[ReadScope | None]:
        """Around one GraphQL operation of a viewer (`user_id`; None: anon or
        service_role). `replica_reads`: a query, whose reads may go to a replica that has
        replayed the viewer's last write (`written_lsn`, from `load_viewer`, or this
        process's memory); otherwise they stay on the primary. A commit inside it is
        recorded for the viewer when it ends. Without replicas: nothing at all."""
        if self.replicas is None:
            return _NO_SCOPE
        return _OperationScope(self.replicas, user_id, written_lsn, replica_reads)

    def _replica_failed(
        self, scope: ReadScope, replica: Replica, error: BaseException
    ) -> AsyncEngine:
        """A read on `replica` failed: the rest of the operation reads on the primary,
        and the replica is marked down when the failure says it cannot answer."""
        assert self.replicas is not None
        scope.replica = None
        self.replicas.failed(replica, error)
        return self.autocommit_engine

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A short-lived session for reads (one loader batch, one root query). Each of
        its statements runs once more when it lost its connection (`_ReadSession`). In an
        operation reading on a replica, the session is the replica's, and a failure there
        moves it to the primary."""
        scope = read_scope.get()
        replica = scope.replica if scope is not None else None
        if scope is None or replica is None:
            async with self._read_sessions() as session:
                yield session
            return
        async with replica.server.read_sessions() as session:
            session.fallback = functools.partial(self._replica_failed, scope, replica)
            yield session

    async def rows(
        self, statement: Executable, parameters: dict[str, Any], *, reusable: bool = False
    ) -> Sequence[Any]:
        """Runs one read statement on a Core connection (autocommit, no ORM session);
        rows are tuples with their columns also as attributes (`_fields`).

        A `reusable` statement (a template kept for many requests) is prepared from its
        first run (`_PreparedRead`): later runs send its SQL text straight to the
        driver, skipping SQLAlchemy's per-execution work. Either way a statement that
        lost its connection runs once more on a fresh one. In an operation reading on a
        replica it runs there once, and on the primary if that fails."""
        scope = read_scope.get()
        if scope is not None and scope.replica is not None:
            replica = scope.replica
            try:
                return await self._rows(replica.server, statement, parameters, reusable, False)
            except Exception as error:
                self._replica_failed(scope, replica, error)
        return await self._rows(self._primary, statement, parameters, reusable, True)

    async def _rows(
        self,
        server: _Server,
        statement: Executable,
        parameters: dict[str, Any],
        reusable: bool,
        again: bool,
    ) -> Sequence[Any]:
        entry = self._prepared.get(id(statement)) if reusable else None
        # The entry holds its statement, so while it is there no other object has its id.
        prepared = entry[1] if entry is not None else None
        if prepared is not None and prepared.accepts(parameters):
            arguments = prepared.arguments(parameters)
            _count_statement()  # the driver path has no SQLAlchemy event to count it
            lane = server.lane
            if again:
                records = await _read_again(lambda: lane.fetch(prepared.sql, arguments))
            else:
                records = await lane.fetch(prepared.sql, arguments)
            return prepared.rows(records)

        async def run() -> tuple[Any, Sequence[Any]]:
            async with server.autocommit_engine.connect() as connection:
                result = await connection.execute(statement, parameters)
                return result, result.all()

        result, rows = await (_read_again(run) if again else run())
        if reusable and entry is None:
            if len(self._prepared) >= _MAX_PREPARED:
                self._prepared.clear()
            self._prepared[id(statement)] = (
                statement,
                _PreparedRead.of(statement, result, parameters, self.engine.dialect),
            )
        return rows

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
        """A session in one transaction, always on the primary: commits on success, rolls
        back on any error. Never run again here: a failure for lack of a database (the
        connection lost, even during COMMIT) is raised as `ServiceUnavailable` for the
        client to retry."""
        try:
            async with self._sessions() as session, session.begin():
                yield session
        except Exception as error:
            raise_unavailable(error)
            raise
        commits = commit_counter.get()
        if commits is not None:
            commits.count += 1
        scope = read_scope.get()
        if scope is not None:
            scope.commits += 1
            scope.replica = None  # the operation's later reads must see what it wrote

    async def dispose(self) -> None:
        if self.replicas is not None:
            await self.replicas.close()
        await self._primary.dispose()


# --- statements on a transaction's own driver connection -------------------------------


@dataclass(frozen=True)
class _PreparedWrite(_Compiled):
    """A statement without result rows (INSERT, UPDATE, DELETE without RETURNING),
    compiled once for the driver: its SQL text and the order of its parameters."""

    @classmethod
    def of(
        cls, statement: Executable, parameters: dict[str, Any], dialect: Any
    ) -> _PreparedWrite | None:
        compiled = cls.fields_of(
            statement.compile(dialect=dialect),  # type: ignore[attr-defined]
            parameters,
        )
        return None if compiled is None else cls(**compiled)


# Templates by identity, with the statement (an id outlives its object).
_in_transaction: dict[int, tuple[Executable, _PreparedRead | _PreparedWrite | None]] = {}
_DRIVER = "caregraph_driver"  # in a session's `info`: its transaction's asyncpg connection


async def _driver(session: AsyncSession) -> Any:
    """The asyncpg connection of the session's transaction, with the transaction begun
    (SQLAlchemy's adapter sends BEGIN lazily, before its first statement; the COMMIT or
    ROLLBACK of the session ends it)."""
    driver = session.info.get(_DRIVER)
    if driver is None:
        connection = await session.connection()
        adapted = (await connection.get_raw_connection()).dbapi_connection
        if adapted._transaction is None:  # type: ignore[union-attr]
            await adapted._start_transaction()  # type: ignore[union-attr]
        driver = adapted._connection  # type: ignore[union-attr]
        session.info[_DRIVER] = driver
    return driver


def _integrity(error: asyncpg.IntegrityConstraintViolationError, sql: str) -> Exception:
    """A constraint violation as SQLAlchemy raises it (callers map `IntegrityError`
    by the constraint's name in `str(error.orig)`)."""
    from sqlalchemy.exc import IntegrityError

    return IntegrityError(sql, None, error)


async def run_in(
    session: AsyncSession, statement: Executable, parameters: dict[str, Any]
) -> Sequence[Any]:
    """Runs a Core statement kept as a template (a module constant, or built once per
    variant) in the session's transaction and returns its rows, tuples with their columns
    also as attributes. Its first run in the process goes through SQLAlchemy; later runs
    send its SQL text straight to the transaction's asyncpg connection, skipping
    SQLAlchemy's per-execution work (counted like any other statement). A statement whose
    parameters cannot be sent that way (IN lists, literals rendered per execution) always
    runs through SQLAlchemy. Constraint violations raise `IntegrityError` either way."""
    entry = _in_transaction.get(id(statement))
    prepared = entry[1] if entry is not None else None
    if isinstance(prepared, _PreparedRead) and prepared.accepts(parameters):
        driver = session.info.get(_DRIVER) or await _driver(session)
        _count_statement()
        try:
            records = await driver.fetch(prepared.sql, *prepared.arguments(parameters))
        except asyncpg.IntegrityConstraintViolationError as error:
            raise _integrity(error, prepared.sql) from error
        return prepared.rows(records)
    # A Core execution (no ORM result handling), whose result describes its columns.
    result = await (await session.connection()).execute(statement, parameters)
    rows = result.all()
    if entry is None:
        if len(_in_transaction) >= _MAX_PREPARED:
            _in_transaction.clear()
        _in_transaction[id(statement)] = (
            statement,
            _PreparedRead.of(statement, result, parameters, session.get_bind().dialect),
        )
    return rows


async def execute_in(
    session: AsyncSession, statement: Executable, parameters: dict[str, Any]
) -> int:
    """`run_in` for a statement that returns no rows (INSERT, UPDATE or DELETE without
    RETURNING): runs it in the session's transaction and returns how many rows it
    changed."""
    entry = _in_transaction.get(id(statement))
    prepared = entry[1] if entry is not None else None
    if isinstance(prepared, _PreparedWrite) and prepared.accepts(parameters):
        driver = session.info.get(_DRIVER) or await _driver(session)
        _count_statement()
        try:
            status = await driver.execute(prepared.sql, *prepared.arguments(parameters))
        except asyncpg.IntegrityConstraintViolationError as error:
            raise _integrity(error, prepared.sql) from error
        count = status.rpartition(" ")[2]
        return int(count) if count.isdigit() else 0
    result = await (await session.connection()).execute(statement, parameters)
    if entry is None:
        if len(_in_transaction) >= _MAX_PREPARED:
            _in_transaction.clear()
        _in_transaction[id(statement)] = (
            statement,
            _PreparedWrite.of(statement, parameters, session.get_bind().dialect),
        )
    return int(getattr(result, "rowcount", 0) or 0)
