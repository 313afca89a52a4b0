"""Realtime delivery: the process's one LISTEN connection, and the subscribers it feeds.

Writes append their events to `realtime_events` in their own transaction (database
triggers, migration 0017) and NOTIFY `caregraph_events` with the id, so an event exists
if and only if its write committed, whichever process or instance wrote it. Each process
keeps one direct connection that LISTENs (`RealtimeHub`); a notification, a reconnect or
a periodic sweep makes it read every event after the last one it delivered, in id order,
so no subscriber misses an event or gets one twice, also after the connection was lost.

Ids are drawn when a transaction inserts, not when it commits, so a later id may be seen
before an earlier one commits: the hub remembers the ids it has delivered above its
`floor` and keeps asking for the missing ones until they arrive or are older than any
transaction can be (a rolled-back transaction leaves its id unused for ever).

Delivery applies the table's policy for each subscriber at delivery time, in two
statements per event up to a thousand distinct viewers of its topic (one more per
thousand beyond): `SELECT <policy of viewer 1>, <policy of viewer 2>, ... WHERE id =
:row_id`, one column per distinct viewer, then the row itself when someone may read it.
A check statement is built once per set of viewers and prepared on the listener's own
connection (`_Check`): its text runs to hundreds of kilobytes, past what asyncpg's
statement cache keeps (15 KB), so sent as an ordinary statement it would be parsed and
planned again for every event."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import json
import logging
import re
import time
import uuid
from collections import Counter, OrderedDict, defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg
from sqlalchemy import bindparam, func, literal, select

from resolvers.core.database import Database, StatementCounter
from resolvers.core.errors import BadUserInput, CaregraphError, ServiceUnavailable
from resolvers.core.identity import Viewer
from resolvers.policies import readable

if TYPE_CHECKING:
    from resolvers.core.context import Context

logger = logging.getLogger("caregraph.realtime")

CHANNEL = "caregraph_events"
SWEEP_SECONDS = 5.0
"""How often the hub reads the outbox without a notification (a lost NOTIFY, a gap)."""
RECONNECT_SECONDS = 1.0
CONNECT_SECONDS = 10.0
"""How long a new subscription waits for the listener's connection."""
PRUNE_AFTER = "1 hour"
FETCH_LIMIT = 1000
CHECK_STATEMENTS_KEPT = 32
PREDICATES_KEPT = 50_000
TEMPLATES_KEPT = 256
VIEWERS_PER_CHECK = 1000
"""Columns of one check statement (Postgres takes at most 1664 in a select list): more
distinct viewers of a topic than this are checked in several statements."""


@dataclass(frozen=True)
class Event:
    id: int
    topic: str
    row_id: uuid.UUID
    keys: dict[str, Any]


_serials = itertools.count()


@dataclass(eq=False)
class Subscriber:
    """One subscription of one viewer: what it listens to, and its queue of rows."""

    viewer: Viewer
    topic: str
    model: type[Any] | None
    """The table whose policy decides delivery (its row is what the queue gets); None:
    the event itself is delivered (topics without one row, e.g. a doctor's open slots)."""
    where: tuple[str, str] | None = None
    """Only events whose `row_id` (`("row_id", id)`) or key (`("post_id", id)`) has this
    value; None: every event of the topic. The hub finds them by this index, not by
    asking every subscriber of the topic."""
    queue: asyncio.Queue[Any] = field(default_factory=lambda: asyncio.Queue(maxsize=100))
    dropped: bool = False
    serial: int = field(default_factory=lambda: next(_serials))
    """Unique in the process (unlike `id()`, never reused): names the subscriber in the
    hub's delivery plans."""

    viewer_key: tuple[Any, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.viewer_key = viewer_key(self.viewer)


@dataclass
class _Plan:
    """How an event reaching one set of subscribers is checked: per check statement (a
    thousand distinct viewers each), the subscribers each of its columns stands for."""

    checks: list[tuple[_Check, list[list[Subscriber]]]]


@dataclass
class _Check:
    """A check statement compiled for asyncpg: its SQL, its arguments (the viewers'
    values, fixed) with the row id's places, and its prepared statement on the
    connection it was last run on."""

    sql: str
    arguments: list[Any]
    row_id_at: tuple[int, ...]
    prepared: Any = None
    prepared_on: asyncpg.Connection | None = None

    @classmethod
    def of(cls, statement: Any, dialect: Any) -> _Check:
        compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        names = tuple(compiled.positiontup or ())
        values = compiled.construct_params(_check=False)
        processors = compiled._bind_processors
        arguments = [
            processors[name](values[name]) if name in processors else values[name] for name in names
        ]
        row_id_at = tuple(index for index, name in enumerate(names) if name == "row_id")
        return cls(str(compiled), arguments, row_id_at)

    async def run(self, connection: asyncpg.Connection, row_id: uuid.UUID) -> Any:
        if self.prepared_on is not connection:
            self.prepared = await connection.prepare(self.sql)
            self.prepared_on = connection
        arguments = list(self.arguments)
        for index in self.row_id_at:
            arguments[index] = row_id
        return await self.prepared.fetchrow(*arguments)


class _NoTemplate(Exception):
    """A predicate that cannot be written with its values inline."""


@dataclass
class _Template:
    """A check column's statement compiled once per shape: its SQL split at the
    parameters, and how each parameter's value is written as a literal."""

    compiled: Any
    names: tuple[str, ...]
    literals: tuple[Callable[[Any], str] | None, ...]
    """Per parameter, its type's literal processor; None for the row id (stays `$1`)."""
    pieces: list[str]
    """The SQL split at `$n`: text, number, text, number, ..., text."""

    @classmethod
    def of(cls, statement: Any, shape: Any, dialect: Any) -> _Template:
        compiled = dialect.statement_compiler(dialect, statement, cache_key=shape)
        if compiled.post_compile_params or compiled.literal_execute_params:
            raise _NoTemplate(statement)
        names = tuple(compiled.positiontup or ())
        literals: list[Callable[[Any], str] | None] = []
        for name in names:
            if name == "row_id":
                literals.append(None)
                continue
            processor = compiled.binds[name].type.literal_processor(dialect)
            if processor is None:
                raise _NoTemplate(statement)
            literals.append(processor)
        return cls(compiled, names, tuple(literals), re.split(r"\$(\d+)", str(compiled)))

    def render(self, shape: Any) -> str:
        values = self.compiled.construct_params(extracted_parameters=shape.bindparams, _check=False)
        out = [self.pieces[0]]
        for at in range(1, len(self.pieces), 2):
            index = int(self.pieces[at]) - 1
            processor = self.literals[index]
            out.append("$1" if processor is None else processor(values[self.names[index]]))
            out.append(self.pieces[at + 1])
        return "".join(out)


def viewer_key(viewer: Viewer) -> tuple[Any, ...]:
    return (viewer.role, viewer.user_id, viewer.app_roles, viewer.doctor_id)


class RealtimeHub:
    """Per process: one LISTEN connection, the subscribers, and delivery."""

    def __init__(self, db: Database, listen_url: str | None = None) -> None:
        self.db = db
        self.dsn = db.direct_dsn(listen_url)
        self._unrouted: dict[str, set[Subscriber]] = defaultdict(set)
        self._routes: dict[tuple[str, str, str], set[Subscriber]] = defaultdict(set)
        self._route_fields: dict[str, Counter[str]] = defaultdict(Counter)
        self.floor: int | None = None
        """Every event id up to here is delivered (or was never committed)."""
        self.seen: set[int] = set()
        """Delivered ids above the floor."""
        self.gaps: dict[int, float] = {}
        """Missing ids above the floor, with when they were first missed."""
        self.gap_seconds = 60.0
        self.connected = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._checks: OrderedDict[tuple[Any, ...], _Check] = OrderedDict()
        self._plans: OrderedDict[tuple[Any, ...], _Plan] = OrderedDict()
        self._predicates: dict[tuple[Any, ...], str | None] = {}
        """Each viewer's policy predicate per table as SQL text (`_joined_check`)."""
        self._tails: dict[type[Any], str] = {}
        self._templates: dict[Any, _Template] = {}
        self.events = 0
        self.delivered = 0
        self.statements = 0
        self.payloads: OrderedDict[Any, Any] = OrderedDict()
        """Resolved payloads of recent events, shared by the subscribers they answer alike
        (schema/engine/subscription_events.py)."""
        self.payloads_resolved = 0
        self.payloads_shared = 0
        self.payload_statements = StatementCounter()
        """Statements run by subscription operations: their setup and their payloads."""

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            # A context of its own: it must not keep that of the request that started it
            # (its statement counter; with read replicas, its read scope: the hub reads on
            # the primary).
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="realtime", context=contextvars.Context()
            )

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # lost connection, database restarting
                logger.warning("realtime listener lost its connection: %r", error)
            self.connected.clear()
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _listen(self) -> None:
        connection = await asyncpg.connect(
            self.dsn, server_settings={"application_name": "caregraph-realtime"}
        )
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        try:
            await connection.add_listener(CHANNEL, self._notified)
            if self.floor is None:
                self.floor = await connection.fetchval(
                    "SELECT coalesce(max(id), 0) FROM realtime_events"
                )
            self.connected.set()
            # Whatever was committed while the connection was down is read now.
            await self._drain(connection)
            last_prune = time.monotonic()
            while not lost.is_set():
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), SWEEP_SECONDS)
                if connection.is_closed():
                    break
                await self._drain(connection)
                if time.monotonic() - last_prune > 600:
                    last_prune = time.monotonic()
                    await connection.execute(
                        f"DELETE FROM realtime_events WHERE created_at < now() - interval "
                        f"'{PRUNE_AFTER}'"
                    )
        finally:
            with contextlib.suppress(Exception):
                await connection.close()

    def _notified(self, *_args: Any) -> None:
        self._wake.set()

    async def _drain(self, connection: asyncpg.Connection) -> None:
        """Reads and delivers every event after the floor not delivered yet, a page at a
        time (a page after the last one read: ids held above the floor by a gap are not
        read again)."""
        assert self.floor is not None
        after = self.floor
        while True:
            rows = await connection.fetch(
                "SELECT id, topic, row_id, keys FROM realtime_events WHERE id > $1 "
                "ORDER BY id LIMIT $2",
                after,
                FETCH_LIMIT,
            )
            fresh = [row for row in rows if row["id"] not in self.seen]
            for row in fresh:
                keys = row["keys"]
                if isinstance(keys, str):
                    keys = json.loads(keys)
                event = Event(row["id"], row["topic"], row["row_id"], keys)
                await self._deliver(event, connection)
                self.seen.add(row["id"])
                self.events += 1
            self._advance(rows)
            if len(rows) < FETCH_LIMIT:
                return
            after = rows[-1]["id"]

    def _advance(self, rows: list[Any]) -> None:
        """Moves the floor over delivered ids; a missing id holds it until it arrives or
        is older than any transaction (then it was rolled back)."""
        assert self.floor is not None
        now = time.monotonic()
        highest = max([row["id"] for row in rows], default=self.floor)
        for missing in range(self.floor + 1, highest):
            if missing not in self.seen:
                self.gaps.setdefault(missing, now)
        while True:
            following = self.floor + 1
            if following in self.seen:
                self.seen.discard(following)
            elif following in self.gaps and now - self.gaps[following] > self.gap_seconds:
                del self.gaps[following]
            else:
                break
            self.gaps.pop(following, None)
            self.floor = following

    # --- subscribers --------------------------------------------------------------------

    @property
    def payload_statement_count(self) -> int:
        return self.payload_statements.count

    @property
    def subscriber_count(self) -> int:
        return sum(len(group) for group in self._unrouted.values()) + sum(
            len(group) for group in self._routes.values()
        )

    @contextlib.asynccontextmanager
    async def subscribe(
        self,
        viewer: Viewer,
        topic: str,
        model: type[Any] | None,
        where: tuple[str, str] | None = None,
    ) -> AsyncIterator[Subscriber]:
        """Registers a subscriber for the block (its queue gets what it may read)."""
        self.start()
        try:
            async with asyncio.timeout(CONNECT_SECONDS):
                await self.connected.wait()
        except TimeoutError:
            raise ServiceUnavailable(
                "Live updates are unavailable: the database does not answer; try again."
            ) from None
        subscriber = Subscriber(viewer, topic, model, where)
        self._add(subscriber)
        try:
            yield subscriber
        finally:
            self._remove(subscriber)
            self._plans.clear()  # none keeps a subscriber that has gone

    def _add(self, subscriber: Subscriber) -> None:
        if subscriber.where is None:
            self._unrouted[subscriber.topic].add(subscriber)
        else:
            self._routes[(subscriber.topic, *subscriber.where)].add(subscriber)
            self._route_fields[subscriber.topic][subscriber.where[0]] += 1

    def _remove(self, subscriber: Subscriber) -> None:
        topic = subscriber.topic
        if subscriber.where is None:
            self._unrouted[topic].discard(subscriber)
            return
        route = (topic, *subscriber.where)
        self._routes[route].discard(subscriber)
        if not self._routes[route]:
            del self._routes[route]
        fields = self._route_fields[topic]
        fields[subscriber.where[0]] -= 1
        if fields[subscriber.where[0]] <= 0:
            del fields[subscriber.where[0]]

    def _interested(self, event: Event) -> list[Subscriber]:
        """The subscribers an event is for: those of its topic without a filter, and those
        indexed under its row id or one of its keys."""
        topic = event.topic
        found = list(self._unrouted.get(topic, ()))
        for name in self._route_fields.get(topic, ()):
            value = str(event.row_id) if name == "row_id" else event.keys.get(name)
            if value is not None:
                found.extend(self._routes.get((topic, name, str(value)), ()))
        return found

    async def _deliver(self, event: Event, connection: asyncpg.Connection) -> None:
        interested = self._interested(event)
        if not interested:
            return
        with_rows = [s for s in interested if s.model is not None]
        for subscriber in interested:
            if subscriber.model is None:
                self._put(subscriber, event)
        by_model: dict[type[Any], list[Subscriber]] = defaultdict(list)
        for subscriber in with_rows:
            assert subscriber.model is not None
            by_model[subscriber.model].append(subscriber)
        for model, subscribers in by_model.items():
            await self._deliver_rows(event, model, subscribers, connection)

    async def _deliver_rows(
        self,
        event: Event,
        model: type[Any],
        subscribers: list[Subscriber],
        connection: asyncpg.Connection,
    ) -> None:
        """One statement (on `connection`, the listener's) decides for every distinct viewer
        whether its policy lets it read the row now; one more loads the row, when someone
        may."""
        plan = self._plan(model, subscribers)
        allowed: list[Subscriber] = []
        for check, columns in plan.checks:
            self.statements += 1
            found = await check.run(connection, event.row_id)
            if found is None:  # deleted since
                return
            for may, readers in zip(found, columns, strict=True):
                if may:
                    allowed.extend(readers)
        if not allowed:
            return
        self.statements += 1
        async with self.db.read() as session:
            row = await session.get(model, event.row_id)
        if row is None:
            return
        for subscriber in allowed:
            self._put(subscriber, row)

    def _plan(self, model: type[Any], subscribers: list[Subscriber]) -> _Plan:
        """The subscribers' distinct viewers in a stable order, chunked into check
        statements; kept for the next event reaching the same subscribers, so an event
        costs Python work per reader, not per subscriber of its topic."""
        plan_key = (model, tuple(subscriber.serial for subscriber in subscribers))
        plan = self._plans.get(plan_key)
        if plan is not None:
            self._plans.move_to_end(plan_key)
            return plan
        viewers: dict[tuple[Any, ...], Viewer] = {}
        readers: dict[tuple[Any, ...], list[Subscriber]] = defaultdict(list)
        for subscriber in subscribers:
            viewers.setdefault(subscriber.viewer_key, subscriber.viewer)
            readers[subscriber.viewer_key].append(subscriber)
        keys = sorted(viewers, key=str)
        checks = []
        for start in range(0, len(keys), VIEWERS_PER_CHECK):
            chunk = keys[start : start + VIEWERS_PER_CHECK]
            checks.append((self._check(model, chunk, viewers), [readers[key] for key in chunk]))
        plan = _Plan(checks)
        self._plans[plan_key] = plan
        while len(self._plans) > CHECK_STATEMENTS_KEPT:
            self._plans.popitem(last=False)
        return plan

    def _check(
        self, model: type[Any], keys: list[tuple[Any, ...]], viewers: dict[tuple[Any, ...], Viewer]
    ) -> _Check:
        """`SELECT <policy of viewer 1>, ... FROM <model> WHERE id = :row_id`, built once per
        set of viewers and kept (a few sets, most recent first): between subscribes and
        unsubscribes every event of a topic reuses it, prepared, without building,
        compiling or planning a statement of hundreds of predicates again."""
        cache_key = (model, tuple(keys))
        check = self._checks.get(cache_key)
        if check is not None:
            self._checks.move_to_end(cache_key)
            return check
        check = self._joined_check(model, keys, viewers)
        if check is None:
            columns = [
                func.coalesce(readable(model, viewers[key]), literal(False)).label(f"v{index}")
                for index, key in enumerate(keys)
            ]
            statement = select(*columns).where(model.id == bindparam("row_id"))
            check = _Check.of(statement, self.db.engine.dialect)
        self._checks[cache_key] = check
        while len(self._checks) > CHECK_STATEMENTS_KEPT:
            self._checks.popitem(last=False)  # its prepared statement goes with it
        return check

    def _joined_check(
        self, model: type[Any], keys: list[tuple[Any, ...]], viewers: dict[tuple[Any, ...], Viewer]
    ) -> _Check | None:
        """The check statement joined from each viewer's predicate as SQL text, compiled
        once per viewer (values inline) and kept: a subscriber joining or leaving then
        costs a string join and a prepare, not compiling every viewer's policy again
        (500 doctors' appointment policies: 245 ms of the event loop). None when a
        predicate does not compile to a select-list entry of its own (the caller builds
        the statement whole)."""
        fragments = []
        for key in keys:
            fragment = self._predicate(model, key, viewers[key])
            if fragment is None:
                return None
            fragments.append(fragment)
        tail = self._predicate_tail(model)
        columns = ", ".join(f"{fragment} AS v{index}" for index, fragment in enumerate(fragments))
        return _Check(f"SELECT {columns}{tail}", [None], (0,))

    def _predicate_tail(self, model: type[Any]) -> str:
        """What follows the select list: ` FROM <table> WHERE <table>.id = $1::UUID`."""
        tail = self._tails.get(model)
        if tail is None:
            sql = self._render(model, literal(False))
            tail = sql[sql.index(" AS v ") + len(" AS v") :]
            self._tails[model] = tail
        return tail

    def _predicate(self, model: type[Any], key: tuple[Any, ...], viewer: Viewer) -> str | None:
        cache_key = (model, key)
        if cache_key in self._predicates:
            return self._predicates[cache_key]
        fragment: str | None = None
        try:
            sql = self._render(model, readable(model, viewer))
        except Exception:  # a value that has no literal form: the whole statement binds it
            logger.debug("policy of %r on %s renders with parameters only", key, model)
        else:
            closing = " AS v" + self._predicate_tail(model)
            if sql.startswith("SELECT ") and sql.endswith(closing):
                fragment = sql[len("SELECT ") : -len(closing)]
        if len(self._predicates) >= PREDICATES_KEPT:
            self._predicates.clear()
        self._predicates[cache_key] = fragment
        return fragment

    def _render(self, model: type[Any], predicate: Any) -> str:
        """`SELECT coalesce(<predicate>, false) AS v FROM <table> WHERE id = $1`, its values
        inline. Written in the statement it will be part of, so its subqueries correlate
        with the table as they do there; compiled once per shape of policy (SQLAlchemy's
        cache key: the same predicate for other values), the values then rendered into
        that text by their types' literal processors."""
        statement = select(func.coalesce(predicate, literal(False)).label("v")).where(
            model.id == bindparam("row_id")
        )
        shape = statement._generate_cache_key()
        if shape is None:
            raise _NoTemplate(statement)
        template = self._templates.get(shape.key)
        if template is None:
            template = _Template.of(statement, shape, self.db.engine.dialect)
            if len(self._templates) >= TEMPLATES_KEPT:
                self._templates.clear()
            self._templates[shape.key] = template
        return template.render(shape)

    def _put(self, subscriber: Subscriber, item: Any) -> None:
        try:
            subscriber.queue.put_nowait(item)
            self.delivered += 1
        except asyncio.QueueFull:
            # A client that does not read its events is ended, not buffered for.
            subscriber.dropped = True


class SubscriberTooSlow(CaregraphError):
    """The client did not read its events: the subscription ends instead of buffering."""

    code = "SUBSCRIPTION_OVERFLOW"


async def stream(
    ctx: Context,
    topic: str,
    model: type[Any] | None,
    where: tuple[str, Any] | None = None,
    *,
    coalesce: bool = False,
) -> AsyncIterator[Any]:
    """What a subscription resolver iterates: each row of `model` (or, without one, each
    event) on `topic` whose row id or key `where` names has that value (`("row_id", id)`,
    `("post_id", id)`; None: all), once the viewer's policy lets them read it, with the
    request's loaders emptied first (each event is resolved as a fresh request would be).
    `coalesce`: events waiting together are one (the last): for state recomputed whole."""
    hub = ctx.realtime
    if hub is None:
        raise BadUserInput("Subscriptions are served over WebSocket (graphql-transport-ws).")
    route = None if where is None else (where[0], str(where[1]))
    async with hub.subscribe(ctx.viewer, topic, model, route) as subscriber:
        while True:
            item = await subscriber.queue.get()
            while coalesce and not subscriber.queue.empty():
                item = subscriber.queue.get_nowait()
            if subscriber.dropped:
                raise SubscriberTooSlow("Events came faster than they were read; subscribe again.")
            ctx.reset_loaders()
            # The same row object for every reader of the event: its payload may be
            # resolved once for all of them that would get the same answer.
            ctx.delivering = item if model is not None else None
            yield item
