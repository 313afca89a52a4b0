"""Rate limits: a token bucket per key (a viewer, or a client address), shared by every
process and instance through one UNLOGGED Postgres table, `rate_limit_buckets`.

A bucket holds up to `burst` tokens and refills at `per_second`; a request takes some
tokens (`schema.engine.rate_limits` says how many) or is refused with the seconds until they
would be there. The hot path does no SQL: each process keeps a *view* of every key it
serves, and settles with Postgres in batches.

How one process decides, for a key:

- Its view is the bucket's count as Postgres returned it at this process's last
  settlement, refilled locally since then (monotonic clock), minus what this process
  admitted since. A request is admitted when the view has its tokens; that is a few
  dictionary and float operations, no I/O.
- What a process admits is written to Postgres within `sync_seconds`: a timer, armed
  by the first admission after a settlement, sends every key with admissions in one
  statement (`INSERT ... SELECT FROM unnest(...) ON CONFLICT (key) DO UPDATE ...
  RETURNING`). Postgres refills the row by its own clock, subtracts what was spent, and
  returns the new count, which becomes the view: one statement settles every key of the
  process and brings back what the other processes spent.
- A key the process has no view of, or whose view is older than two sync intervals
  (unused here meanwhile), is settled first: the request waits for one statement, shared
  with every other request waiting at that moment (`RateLimit.prepare`, when the request
  arrives; the decision itself comes later, once the operation's cost is known). Keys
  unused here for that long are forgotten (checked every few seconds), so memory
  follows the keys active in the last few seconds.

With `--workers N`, each worker is such a process; several instances on one database
are the same thing again: the table is the only shared state, so N workers on M hosts
behave as N x M processes on one budget. The count in Postgres is exact (every
admission of every process is in it) at most one sync interval after it was made. The
only inexactness is that interval: while one process's admissions are not yet settled,
another may admit against a view that lacks them, so a key can overspend by what the
other processes admitted in one interval (a burst spread over P processes at once: at
most (P - 1) x burst; requests spread evenly: about (P - 1) x per_second x
sync_seconds). The overspend is not forgiven: the bucket goes negative (down to
-burst) and the key is refused until the refill pays it back, so over any longer
period the admitted rate is the configured one. Refusals are always right: a view never
holds fewer tokens than Postgres will.

If Postgres cannot be reached, the limits fail open: requests are admitted on the views
the process has (and new keys on a full bucket), admissions are kept and sent with the
next settlement that succeeds. The table is UNLOGGED (no WAL): after a Postgres crash it
is empty, which is every bucket full. Rows of buckets that have refilled are deleted
now and then. The admissions of a process's last interval are lost if it stops before
its timer fires.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import math
import time
from dataclasses import dataclass

from sqlalchemy import text

from resolvers.core.database import Database

logger = logging.getLogger("caregraph.rate_limits")

# Keys with a view older than this many sync intervals are settled again before use.
VIEW_INTERVALS = 2.0
# How often a process forgets idle keys, and deletes refilled rows, at most.
LOCAL_PRUNE_SECONDS = 5.0
TABLE_PRUNE_SECONDS = 60.0

# One statement settles a batch of keys (sorted, so concurrent settlements lock rows in
# one order and cannot deadlock): a new key starts full; an existing one is refilled by
# the time since its last update (Postgres's clock), then what was spent here since the
# last settlement is taken, floored at -burst.
_SETTLE = text(
    """
    INSERT INTO rate_limit_buckets AS b (key, tokens, burst, per_second, updated_at)
    SELECT s.key, GREATEST(-s.burst, s.burst - s.spent), s.burst, s.per_second,
           clock_timestamp()
    FROM unnest(
        CAST(:keys AS text[]), CAST(:spent AS float8[]),
        CAST(:burst AS float8[]), CAST(:per_second AS float8[])
    ) AS s(key, spent, burst, per_second)
    ORDER BY s.key
    ON CONFLICT (key) DO UPDATE SET
        tokens = GREATEST(
            -EXCLUDED.burst,
            LEAST(
                EXCLUDED.burst,
                b.tokens + EXCLUDED.per_second * GREATEST(
                    0, EXTRACT(EPOCH FROM EXCLUDED.updated_at - b.updated_at)::float8
                )
            ) - (EXCLUDED.burst - EXCLUDED.tokens)
        ),
        burst = EXCLUDED.burst,
        per_second = EXCLUDED.per_second,
        updated_at = EXCLUDED.updated_at
    RETURNING key, tokens
    """
)
# In the insert row, `tokens` is `burst - spent` (floored at -burst), so the update
# recovers what was spent as `EXCLUDED.burst - EXCLUDED.tokens`. The floor cuts a spend
# above 2 x burst to 2 x burst, which leaves the (floored) result the same.

_PRUNE = text(
    """
    DELETE FROM rate_limit_buckets
    WHERE tokens + per_second * EXTRACT(EPOCH FROM clock_timestamp() - updated_at)::float8
          >= burst
    """
)


@dataclass(frozen=True)
class Budget:
    """A bucket's size and refill rate."""

    burst: float
    per_second: float


class _Bucket:
    __slots__ = ("budget", "inflight", "pending", "view", "viewed_at", "wanted")

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.view: float | None = None
        """Tokens Postgres returned at the last settlement; None: not read yet."""
        self.viewed_at = 0.0
        self.pending = 0.0
        """Admitted here, not sent yet."""
        self.inflight = 0.0
        """Admitted here, sent with the settlement under way."""
        self.wanted = False
        """A request waits for this key's view."""

    def available(self, now: float) -> float:
        assert self.view is not None
        refilled = self.view + self.budget.per_second * (now - self.viewed_at)
        return min(self.budget.burst, refilled) - self.inflight - self.pending


class RateLimiter:
    """This process's views of the buckets, settled with Postgres in batches (see the
    module docstring). One per process and database; not thread-safe (one event loop)."""

    def __init__(self, db: Database, *, sync_seconds: float = 0.5) -> None:
        self.db = db
        self.sync_seconds = sync_seconds
        self._buckets: dict[str, _Bucket] = {}
        self._dirty: set[str] = set()
        self._running: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._pruned_at = time.monotonic()
        self._table_pruned_at = time.monotonic()
        self._failing = False
        self.settlements = 0
        """Statements sent so far (tests and diagnostics)."""

    def needs_view(self, key: str) -> bool:
        """Whether `key` must be settled before a decision: never seen here, or its view is
        older than `VIEW_INTERVALS` sync intervals."""
        bucket = self._buckets.get(key)
        return (
            bucket is None
            or bucket.view is None
            or time.monotonic() - bucket.viewed_at > VIEW_INTERVALS * self.sync_seconds
        )

    async def refresh(self, key: str, budget: Budget) -> None:
        """Settles `key` now, with every other key waiting at that moment."""
        self._bucket(key, budget).wanted = True
        self._dirty.add(key)
        await asyncio.shield(self._settle_now())

    def take_now(self, key: str, budget: Budget, tokens: float) -> float | None:
        """Takes `tokens` (at most a full bucket) from `key`'s bucket, on the view this
        process has (no I/O): None when admitted, else the seconds until the bucket would
        have them. Without a view (the settlement failed) it admits: the limits fail open."""
        tokens = min(tokens, budget.burst)
        bucket = self._bucket(key, budget)
        if bucket.view is not None:
            available = bucket.available(time.monotonic())
            if available < tokens:
                return (tokens - available) / budget.per_second
        bucket.pending += tokens
        self._dirty.add(key)
        if self._timer is None:
            self._arm()
        return None

    async def take(self, key: str, budget: Budget, tokens: float) -> float | None:
        """`take_now`, after settling the key first when `needs_view` says so."""
        if self.needs_view(key):
            await self.refresh(key, budget)
        return self.take_now(key, budget, tokens)

    def _bucket(self, key: str, budget: Budget) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(budget)
        else:
            bucket.budget = budget
        return bucket

    async def close(self) -> None:
        """Sends what is pending and stops the timer (on shutdown; tests)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._running is not None:
            await asyncio.shield(self._running)
        if self._dirty:
            await self._settle_batch()

    # --- settling -----------------------------------------------------------------

    def _arm(self) -> None:
        """Admissions are sent within one sync interval."""
        if self._timer is None:
            loop = asyncio.get_running_loop()
            # A fresh context: the settlement is nobody's request (its statement is not
            # counted in the request that happened to arm the timer).
            self._timer = loop.call_later(
                self.sync_seconds, self._on_timer, context=contextvars.Context()
            )

    def _on_timer(self) -> None:
        self._timer = None
        self._settle_now()

    def _settle_now(self) -> asyncio.Task[None]:
        """The settlement under way (it settles the keys wanted while it runs too), or a
        new one."""
        if self._running is None:
            loop = asyncio.get_running_loop()
            self._running = loop.create_task(self._run(), context=contextvars.Context())
        return self._running

    async def _run(self) -> None:
        try:
            while self._dirty:
                if not await self._settle_batch():
                    break
                # Keys that became wanted while the statement ran: results_or_none them now;
                # mere admissions wait for the timer.
                if not any(self._buckets[key].wanted for key in self._dirty):
                    break
        finally:
            self._running = None
            for key in self._dirty:
                self._buckets[key].wanted = False
            if self._dirty:
                self._arm()
            self._prune()

    async def _settle_batch(self) -> bool:
        keys = sorted(self._dirty)
        self._dirty.clear()
        buckets = [self._buckets[key] for key in keys]
        for bucket in buckets:
            bucket.inflight, bucket.pending = bucket.pending, 0.0
        try:
            async with self.db.autocommit_engine.connect() as connection:
                result = await connection.execute(
                    _SETTLE,
                    {
                        "keys": keys,
                        "spent": [bucket.inflight for bucket in buckets],
                        "burst": [bucket.budget.burst for bucket in buckets],
                        "per_second": [bucket.budget.per_second for bucket in buckets],
                    },
                )
                rows = result.all()
                if time.monotonic() - self._table_pruned_at > TABLE_PRUNE_SECONDS:
                    self._table_pruned_at = time.monotonic()
                    await connection.execute(_PRUNE)
        except Exception:
            if not self._failing:
                logger.warning("rate limits: settling with Postgres failed", exc_info=True)
            self._failing = True
            for key, bucket in zip(keys, buckets, strict=True):
                bucket.pending += bucket.inflight
                bucket.inflight = 0.0
                bucket.wanted = False
                self._dirty.add(key)
            return False
        if self._failing:
            logger.warning("rate limits: settling with Postgres works again")
        self._failing = False
        self.settlements += 1
        now = time.monotonic()
        for key, tokens in rows:
            settled = self._buckets.get(key)
            if settled is None:
                continue
            settled.view = float(tokens)
            settled.viewed_at = now
            settled.inflight = 0.0
            settled.wanted = False
        return True

    def _prune(self) -> None:
        """Forgets keys unused here for longer than a view lasts."""
        now = time.monotonic()
        if now - self._pruned_at < LOCAL_PRUNE_SECONDS:
            return
        self._pruned_at = now
        stale = VIEW_INTERVALS * self.sync_seconds
        idle = [
            key
            for key, bucket in self._buckets.items()
            if key not in self._dirty
            and not bucket.inflight
            and (bucket.view is None or now - bucket.viewed_at > stale)
        ]
        for key in idle:
            del self._buckets[key]


@dataclass
class RateLimit:
    """One request's bucket: the limiter, the key and its budget. `prepare` when the
    request arrives (the only step that may wait for Postgres), `take` when its operation
    is known; `retry_after` is set (seconds) when the request was refused."""

    limiter: RateLimiter
    key: str
    budget: Budget
    retry_after: float | None = None

    async def prepare(self) -> None:
        """Makes sure the process has a recent view of the key (see `needs_view`)."""
        if self.limiter.needs_view(self.key):
            await self.limiter.refresh(self.key, self.budget)

    def take(self, tokens: float) -> bool:
        """Takes `tokens` on the process's view, without I/O (after `prepare`)."""
        self.retry_after = self.limiter.take_now(self.key, self.budget, tokens)
        return self.retry_after is None

    @property
    def retry_after_seconds(self) -> int:
        """`Retry-After` in whole seconds (at least 1)."""
        return max(1, math.ceil(self.retry_after or 0))
