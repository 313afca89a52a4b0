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
:row_id`, one column per distinct viewer (built once per set of viewers and prepared),
then the row itself when someone may read it."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import time
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg
from sqlalchemy import bindparam, func, literal, select

from resolvers.core.database import Database
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
VIEWERS_PER_CHECK = 1000
"""Columns of one check statement (Postgres takes at most 1664 in a select list): more
distinct viewers of a topic than this are checked in several statements."""


@dataclass(frozen=True)
class Event:
    id: int
    topic: str
    row_id: uuid.UUID
    keys: dict[str, Any]


@dataclass(eq=False)
class Subscriber:
    """One subscription of one viewer: what it listens to, and its queue of rows."""

    viewer: Viewer
    topic: str
    model: type[Any] | None
    """The table whose policy decides delivery (its row is what the queue gets); None:
    the event itself is delivered (topics without one row, e.g. a doctor's open slots)."""
    matches: Callable[[Event], bool]
    queue: asyncio.Queue[Any] = field(default_factory=lambda: asyncio.Queue(maxsize=100))
    dropped: bool = False


def _viewer_key(viewer: Viewer) -> tuple[Any, ...]:
    return (viewer.role, viewer.user_id, viewer.app_roles, viewer.doctor_id)


class RealtimeHub:
    """Per process: one LISTEN connection, the subscribers, and delivery."""

    def __init__(self, db: Database, listen_url: str | None = None) -> None:
        self.db = db
        self.dsn = db.direct_dsn(listen_url)
        self.subscribers: dict[str, set[Subscriber]] = defaultdict(set)
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
        self._checks: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self.events = 0
        self.delivered = 0
        self.statements = 0

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            # A context of its own: it must not keep that of the request that started it
            # (with read replicas, the request's read scope; the hub reads on the primary).
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
                await self._deliver(Event(row["id"], row["topic"], row["row_id"], keys))
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
    def subscriber_count(self) -> int:
        return sum(len(subscribers) for subscribers in self.subscribers.values())

    @contextlib.asynccontextmanager
    async def subscribe(
        self,
        viewer: Viewer,
        topic: str,
        model: type[Any] | None,
        matches: Callable[[Event], bool],
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
        subscriber = Subscriber(viewer, topic, model, matches)
        self.subscribers[topic].add(subscriber)
        try:
            yield subscriber
        finally:
            self.subscribers[topic].discard(subscriber)

    async def _deliver(self, event: Event) -> None:
        interested = [s for s in self.subscribers.get(event.topic, ()) if s.matches(event)]
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
            await self._deliver_rows(event, model, subscribers)

    async def _deliver_rows(
        self, event: Event, model: type[Any], subscribers: list[Subscriber]
    ) -> None:
        """One statement decides for every distinct viewer whether its policy lets it read
        the row now; one more loads the row, when someone may."""
        viewers: dict[tuple[Any, ...], Viewer] = {}
        for subscriber in subscribers:
            viewers.setdefault(_viewer_key(subscriber.viewer), subscriber.viewer)
        keys = sorted(viewers, key=str)
        allowed: set[tuple[Any, ...]] = set()
        for start in range(0, len(keys), VIEWERS_PER_CHECK):
            chunk = keys[start : start + VIEWERS_PER_CHECK]
            statement = self._check_statement(model, chunk, viewers)
            self.statements += 1
            found = await self.db.rows(statement, {"row_id": event.row_id}, reusable=True)
            if not found:  # deleted since
                return
            allowed.update(key for key, may in zip(chunk, found[0], strict=True) if may)
        if not allowed:
            return
        self.statements += 1
        async with self.db.read() as session:
            row = await session.get(model, event.row_id)
        if row is None:
            return
        for subscriber in subscribers:
            if _viewer_key(subscriber.viewer) in allowed:
                self._put(subscriber, row)

    def _check_statement(
        self, model: type[Any], keys: list[tuple[Any, ...]], viewers: dict[tuple[Any, ...], Viewer]
    ) -> Any:
        """`SELECT <policy of viewer 1>, ... FROM <model> WHERE id = :row_id`, built once per
        set of viewers and kept (a few sets, most recent first): between subscribes and
        unsubscribes every event of a topic reuses it, prepared, without building or
        compiling a statement of hundreds of predicates again."""
        cache_key = (model, tuple(keys))
        statement = self._checks.get(cache_key)
        if statement is not None:
            self._checks.move_to_end(cache_key)
            return statement
        columns = [
            func.coalesce(readable(model, viewers[key]), literal(False)).label(f"v{index}")
            for index, key in enumerate(keys)
        ]
        statement = select(*columns).where(model.id == bindparam("row_id"))
        self._checks[cache_key] = statement
        while len(self._checks) > CHECK_STATEMENTS_KEPT:
            self._checks.popitem(last=False)
        return statement

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
    matches: Callable[[Event], bool] = lambda _event: True,
    *,
    coalesce: bool = False,
) -> AsyncIterator[Any]:
    """What a subscription resolver iterates: each row of `model` (or, without one, each
    event) on `topic` that `matches`, once the viewer's policy lets them read it, with the
    request's loaders emptied first (each event is resolved as a fresh request would be).
    `coalesce`: events waiting together are one (the last): for state recomputed whole."""
    hub = ctx.realtime
    if hub is None:
        raise BadUserInput("Subscriptions are served over WebSocket (graphql-transport-ws).")
    async with hub.subscribe(ctx.viewer, topic, model, matches) as subscriber:
        while True:
            item = await subscriber.queue.get()
            while coalesce and not subscriber.queue.empty():
                item = subscriber.queue.get_nowait()
            if subscriber.dropped:
                raise SubscriberTooSlow("Events came faster than they were read; subscribe again.")
            ctx.reset_loaders()
            yield item
