"""Read replicas: where the reads of a query go, read-your-writes, and the monitor.

Routing (`ReplicaSet.choose`, once per operation, in memory). The reads of a GraphQL
query over HTTP (`Database.operation_scope`, schema/engine/http.py) go to a replica that
is up, at most `max_lag` seconds behind the primary, and has replayed the viewer's last
write; with several, they take turns; with none, the primary. Everything else runs on the
primary: every `Database.transaction()` (mutations, locks, slot holds), the reads of
mutations (and of a query's remaining fields once it committed something), the viewer
statement, persisted queries, idempotency keys, rate-limit buckets, the realtime listener
and its delivery checks, jobs, and operations over WebSocket or Server-Sent Events. The
service role always reads on the primary: it has no user to remember writes for.

Read-your-writes. When an operation of a signed-in viewer has committed a transaction,
`record_write` runs one statement on the primary when the operation ends (before its
answer is sent): it upserts `replica_read_marks` (user id -> `pg_current_wal_lsn()`, the
WAL written so far, which includes the commit: Postgres acknowledges a commit once its WAL
is flushed) and keeps the position in this process's memory too. The viewer statement that
every signed-in request already runs on the primary (`load_viewer`) reads the viewer's
mark in the same statement, so any process, on any instance, routes that viewer's reads to
the primary until a replica's replay position (`pg_last_wal_replay_lsn()`, polled) has
passed it. Anonymous viewers have no writes to read back.

Cost on the read path: no statement. An operation asks `choose` (a dictionary lookup and a
comparison per replica); a read asks a context variable where to run. Per writing
operation: one statement on the primary. Per process: every `poll_seconds`, one statement
on the primary (its WAL position) and one per replica (`pg_is_in_recovery()`, its replay
position). A replica's lag is how long ago the primary had written no more than the
replica has replayed (the primary's positions are kept with the time they were read), so
an idle primary does not make a caught-up replica look late. While the primary does not
answer the monitor, how far behind a replica is cannot be known: its lag keeps growing
from the last position read, and past the bound its reads go to the primary too.

Failure. A read that fails on a replica runs again on the primary, with the rest of its
operation; when the failure says the replica cannot answer (a lost or refused connection,
a server shutting down, a full pool), the replica is marked down until the monitor reaches
it again. A monitor poll that fails or times out (`poll_timeout`) marks it down too."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import math
import time
import uuid
from collections import deque
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from resolvers.core.outages import statement_timed_out, unavailable

if TYPE_CHECKING:
    from resolvers.core.database import _Server

logger = logging.getLogger("caregraph.replicas")

_PRIMARY_POSITION = text("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint")
_REPLICA_STATE = text(
    "SELECT pg_is_in_recovery() AS in_recovery,"
    " (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint AS replay_lsn"
)
_RECORD_WRITE = text(
    """
    INSERT INTO replica_read_marks AS mark (user_id, lsn)
    VALUES (:user_id, (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint)
    ON CONFLICT (user_id) DO UPDATE
       SET lsn = GREATEST(mark.lsn, excluded.lsn), written_at = now()
    RETURNING lsn
    """
)
RECORD_TIMEOUT_SECONDS = 5.0
_NOT_POLLED = "not polled yet"
# Writes this process remembers, at most (each is also in `replica_read_marks`).
_WRITES_KEPT = 100_000
# The primary's positions are kept this long (at least), to tell how far behind a replica is.
_HISTORY_SECONDS = 60.0


class Replica:
    """One streaming replica: its engines and what the monitor last saw of it."""

    def __init__(self, server: _Server) -> None:
        self.server = server
        url = server.url
        host = url.host or str(url.query.get("host", ""))
        self.name = f"{host}:{url.port or 5432}/{url.database or ''}"
        """host:port/database, for logs and metrics (no credentials)."""
        self.up = False
        self.replay_lsn = 0
        self.lag_seconds = math.inf
        self.problem: str | None = _NOT_POLLED
        self.failed_at = 0.0
        self.operations = 0
        """Operations whose reads were sent here."""

    def mark_down(self, problem: str) -> None:
        if self.up or self.problem == _NOT_POLLED:
            logger.warning("read replica %s is skipped: %s", self.name, problem)
        self.up = False
        self.problem = problem


class ReplicaSet:
    """The replicas of one `Database`, their monitor (a task of this process), and the
    WAL positions of writes this process recorded."""

    def __init__(
        self,
        replicas: list[Replica],
        primary: AsyncEngine,
        *,
        max_lag: float,
        poll_seconds: float,
    ) -> None:
        self.replicas = replicas
        self._primary = primary
        self.max_lag = max_lag
        self.poll_seconds = poll_seconds
        self.poll_timeout = max(1.0, 2 * poll_seconds)
        self.primary_operations = 0
        """Operations that could read on a replica but went to the primary (none usable,
        or none had replayed the viewer's last write)."""
        self.fallbacks = 0
        """Replica reads that failed and ran again on the primary."""
        # (time.monotonic() before asking, the primary's WAL position then)
        self._positions: deque[tuple[float, int]] = deque()
        self._written: dict[uuid.UUID, int] = {}
        # Viewers whose write could not be recorded (the primary did not answer), with
        # when: they read on the primary until a later position of the primary is known.
        self._unrecorded: dict[uuid.UUID, float] = {}
        self._turn = 0
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.polls = 0

    # --- routing -------------------------------------------------------------------------

    def choose(self, user_id: uuid.UUID | None, written_lsn: int | None) -> Replica | None:
        """The replica for the reads of one operation of the viewer `user_id` (None:
        anon), whose last write the primary had recorded at `written_lsn`; None: the
        primary."""
        if self._task is None:
            self.start()
        floor = written_lsn or 0
        if user_id is not None and (self._written or self._unrecorded):
            if user_id in self._unrecorded:
                self.primary_operations += 1
                return None
            floor = max(floor, self._written.get(user_id, 0))
        max_lag = self.max_lag
        usable = [
            replica
            for replica in self.replicas
            if replica.up and replica.lag_seconds <= max_lag and replica.replay_lsn >= floor
        ]
        if not usable:
            self.primary_operations += 1
            return None
        self._turn += 1
        replica = usable[self._turn % len(usable)]
        replica.operations += 1
        return replica

    def failed(self, replica: Replica, error: BaseException) -> None:
        """A read on `replica` failed (it runs again on the primary)."""
        self.fallbacks += 1
        if unavailable(error) is not None and not statement_timed_out(error):
            replica.failed_at = time.monotonic()
            replica.mark_down(f"a read failed: {type(error).__name__}: {error}")

    async def record_write(self, user_id: uuid.UUID) -> None:
        """After an operation of `user_id` committed: the primary's WAL position, kept in
        `replica_read_marks` (every process reads it with the viewer) and here."""
        try:
            async with (
                asyncio.timeout(RECORD_TIMEOUT_SECONDS),
                self._primary.connect() as connection,
            ):
                lsn = (await connection.execute(_RECORD_WRITE, {"user_id": user_id})).scalar_one()
        except Exception as error:
            # Written, but not recorded: this process keeps the viewer on the primary until
            # it knows a later position of the primary; other processes do not know.
            logger.warning("the WAL position of a write by %s was not recorded: %r", user_id, error)
            self._unrecorded[user_id] = time.monotonic()
            return
        self._written[user_id] = max(self._written.get(user_id, 0), int(lsn))

    # --- the monitor ---------------------------------------------------------------------

    def start(self) -> None:
        """Starts the monitor in this event loop (once; also on the first `choose`). Until
        its first poll every read goes to the primary."""
        if self._task is not None or self._closed:
            return
        # A context of its own: started from a request, it must not keep the request's.
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name="replica-monitor", context=contextvars.Context()
        )

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for replica in self.replicas:
            await replica.server.dispose()

    async def _run(self) -> None:
        while True:
            try:
                await self.poll()
            except Exception:  # never let the monitor die: replicas would stay as they were
                logger.exception("read replica monitor")
            await asyncio.sleep(self.poll_seconds)

    async def poll(self) -> None:
        """Once: the primary's WAL position, then every replica's state."""
        asked = time.monotonic()
        try:
            async with asyncio.timeout(self.poll_timeout), self._primary.connect() as connection:
                position = int((await connection.execute(_PRIMARY_POSITION)).scalar_one())
        except Exception as error:
            logger.debug("read replica monitor: the primary did not answer: %r", error)
        else:
            self._positions.append((asked, position))
            while len(self._positions) > 2 and self._positions[1][0] < asked - max(
                _HISTORY_SECONDS, 4 * self.max_lag
            ):
                self._positions.popleft()
            for user_id, since in list(self._unrecorded.items()):
                if since < asked:  # the commit came before this position was read
                    del self._unrecorded[user_id]
                    self._written[user_id] = max(self._written.get(user_id, 0), position)
        await asyncio.gather(*(self._poll_replica(replica) for replica in self.replicas))
        if self._written:
            replayed = min(replica.replay_lsn for replica in self.replicas)
            for user_id, lsn in list(self._written.items()):
                if lsn <= replayed:
                    del self._written[user_id]
            if len(self._written) > _WRITES_KEPT:  # a replica long gone: the marks remain
                self._written.clear()
        self.polls += 1

    async def _poll_replica(self, replica: Replica) -> None:
        asked = time.monotonic()
        try:
            async with (
                asyncio.timeout(self.poll_timeout),
                replica.server.autocommit_engine.connect() as connection,
            ):
                state = (await connection.execute(_REPLICA_STATE)).one()
        except Exception as error:
            replica.mark_down(f"{type(error).__name__}: {error}" if str(error) else repr(error))
            return
        if not state.in_recovery:
            replica.mark_down("not a replica (not in recovery): promoted, or the primary")
            return
        replica.replay_lsn = int(state.replay_lsn or 0)
        replica.lag_seconds = self._lag(replica.replay_lsn, time.monotonic())
        if asked < replica.failed_at:
            return  # a read failed there while this poll ran: the next poll decides
        if not replica.up:
            logger.info("read replica %s is up (%.1f s behind)", replica.name, replica.lag_seconds)
        replica.up = True
        replica.problem = None

    def _lag(self, replayed: int, now: float) -> float:
        """How far behind a replica that has replayed up to `replayed` is: the time since
        the latest position of the primary it has passed (when it has passed none kept,
        at least since the oldest; none known: infinite)."""
        for asked, position in reversed(self._positions):
            if position <= replayed:
                return max(0.0, now - asked)
        if self._positions:
            return now - self._positions[0][0]
        return math.inf
