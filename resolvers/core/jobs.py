"""Work between requests: jobs in Postgres, on pgqueuer.

A job is a row of pgqueuer's queue, inserted by `enqueue` in the transaction of the write
that causes it: a rolled-back write leaves no job, a committed one never loses its job.
Workers (`JobRunner`: in every server process, or alone with `python server.py worker`)
take jobs with `FOR UPDATE SKIP LOCKED`, so a job runs in one worker at a time across every
process and instance; a running job's heartbeat keeps it; a worker that dies mid-job stops
beating and another takes the job again after `jobs_heartbeat_seconds`. A job that raises
is retried with exponential backoff up to its kind's `max_attempts`, then kept as failed
(queue health lists it; `retryFailedJobs` requeues it). Periodic kinds run on a cron
schedule, once across all workers (pgqueuer's scheduler claims each run in Postgres).

Handlers re-check their subject when they run (a reminder for an appointment since
cancelled does nothing): a job may run late, and once more after a worker dies mid-job."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
from pgqueuer.adapters.drivers.asyncpg import AsyncpgDriver
from pgqueuer.adapters.persistence.queries import Queries
from pgqueuer.core.executors import DatabaseRetryEntrypointExecutor, EntrypointExecutorParameters
from pgqueuer.core.qm import QueueManager
from pgqueuer.core.sm import SchedulerManager
from pgqueuer.domain.models import Job, Schedule
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from resolvers.core.context import Context
from resolvers.core.database import Database
from resolvers.core.identity import SERVICE
from resolvers.core.settings import Settings

logger = logging.getLogger("caregraph.jobs")

Clock = Callable[[], datetime]
JobFunction = Callable[["JobContext", dict[str, Any]], Awaitable[None]]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class JobKind:
    name: str
    run: JobFunction
    max_attempts: int
    cron: str | None = None
    """Periodic kinds: when (a cron expression, UTC); they take no payload."""


JOB_KINDS: dict[str, JobKind] = {}
"""Every kind of job, by name (each registers itself with `job` or `periodic_job`)."""


def job(name: str, *, max_attempts: int = 8) -> Callable[[JobFunction], JobFunction]:
    """Registers a job kind: `enqueue(session, name, payload)` makes it run `function`."""

    def register(function: JobFunction) -> JobFunction:
        assert name not in JOB_KINDS, name
        JOB_KINDS[name] = JobKind(name, function, max_attempts)
        return function

    return register


def periodic_job(name: str, cron: str) -> Callable[[JobFunction], JobFunction]:
    """Registers a kind that runs on a schedule (`cron`, UTC), once across all workers."""

    def register(function: JobFunction) -> JobFunction:
        assert name not in JOB_KINDS, name
        JOB_KINDS[name] = JobKind(name, function, 1, cron)
        return function

    return register


@dataclass
class JobContext:
    """What a job's function gets: the database, the settings and the clock."""

    db: Database
    settings: Settings
    clock: Clock = utc_now
    job_id: int | None = None
    attempt: int = 0

    def now(self) -> datetime:
        return self.clock()

    def request_context(self) -> Context:
        """A context for domain code written for requests, acting as caregraph itself."""
        return Context(SERVICE, self.db, self.settings, f"job-{self.job_id or 0}")


async def enqueue(
    session: AsyncSession,
    name: str,
    payload: dict[str, Any],
    *,
    at: datetime | None = None,
    dedupe_key: str | None = None,
) -> None:
    """Adds a job to the queue in `session`'s transaction: it exists if and only if that
    transaction commits. `at`: not before then (UTC; a time past runs at once).
    `dedupe_key`: no second job with this key while one is waiting or running."""
    kind = JOB_KINDS.get(name)
    assert kind is not None and kind.cron is None, f"unknown job kind {name!r}"
    delay = timedelta(0)
    if at is not None:
        delay = max(at - utc_now(), timedelta(0))
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    await Queries(AsyncpgDriver(raw)).enqueue(
        name,
        orjson.dumps(payload),
        execute_after=delay,
        dedupe_key=dedupe_key,
        on_conflict="skip",
    )


async def enqueue_many(
    session: AsyncSession, name: str, payloads: list[dict[str, Any]], dedupe_keys: list[str]
) -> None:
    """`enqueue` for several jobs of one kind, in one statement."""
    if not payloads:
        return
    assert name in JOB_KINDS and JOB_KINDS[name].cron is None, f"unknown job kind {name!r}"
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    keys: list[str | None] = list(dedupe_keys)
    await Queries(AsyncpgDriver(raw)).enqueue(
        [name] * len(payloads),
        [orjson.dumps(payload) for payload in payloads],
        priority=[0] * len(payloads),
        execute_after=[None] * len(payloads),
        dedupe_key=keys,
        on_conflict="skip",
    )


MAX_RETRY_DELAY = timedelta(minutes=30)


def retry_delay(settings: Settings, attempt: int) -> timedelta:
    """How long a failed job waits before it runs again, after the failed run number
    `attempt` (from 0): `jobs_retry_seconds`, doubling, at most `MAX_RETRY_DELAY`."""
    return min(timedelta(seconds=settings.jobs_retry_seconds * 2**attempt), MAX_RETRY_DELAY)


async def run_job(ctx: JobContext, name: str, payload: dict[str, Any]) -> None:
    """Runs one job's function now, in this process (the worker's path, and tests')."""
    await JOB_KINDS[name].run(ctx, payload)


# --- the worker ----------------------------------------------------------------------


@dataclass
class JobRunner:
    """Runs jobs until stopped: pgqueuer's queue manager and scheduler, each on a
    connection of its own, started again (after a pause) when a connection is lost."""

    db: Database
    settings: Settings
    clock: Clock = utc_now
    jobs_run: int = field(default=0, init=False)
    jobs_failed: int = field(default=0, init=False)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _managers: list[QueueManager | SchedulerManager] = field(default_factory=list, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="jobs")

    async def stop(self) -> None:
        """Takes no new job and lets the running ones finish (they are retried elsewhere
        if this process is killed before they do)."""
        self._stopping.set()
        for manager in self._managers:
            manager.shutdown.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 30)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._run_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # lost connection, database restarting
                logger.warning("job runner stopped: %r; starting again", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.settings.jobs_restart_seconds)

    async def _run_once(self) -> None:
        dsn = self.db.direct_dsn(self.settings.realtime_database_url)
        names = {"application_name": "caregraph-jobs"}
        connections: list[asyncpg.Connection] = []
        try:
            for _ in range(2):
                connections.append(await asyncpg.connect(dsn, server_settings=names))
            queue_connection, schedule_connection = connections
            queue = QueueManager(Queries(AsyncpgDriver(queue_connection)))
            scheduler = SchedulerManager(Queries(AsyncpgDriver(schedule_connection)))
            for kind in JOB_KINDS.values():
                if kind.cron is None:
                    queue.entrypoint(
                        kind.name,
                        on_failure="hold",
                        executor_factory=self._executor(kind),
                    )(self._queued(kind))
                else:
                    scheduler.schedule(kind.name, kind.cron)(self._scheduled(kind))
            self._managers = [queue, scheduler]
            if self._stopping.is_set():
                return
            heartbeat = timedelta(seconds=self.settings.jobs_heartbeat_seconds)
            await asyncio.gather(
                queue.run(
                    dequeue_timeout=timedelta(seconds=self.settings.jobs_poll_seconds),
                    batch_size=self.settings.jobs_batch_size,
                    heartbeat_timeout=heartbeat,
                    shutdown_on_listener_failure=True,
                ),
                scheduler.run(),
            )
        finally:
            for manager in self._managers:
                manager.shutdown.set()
            self._managers = []
            for connection in connections:
                with contextlib.suppress(Exception):
                    await connection.close(timeout=5)

    def _executor(
        self, kind: JobKind
    ) -> Callable[[EntrypointExecutorParameters], DatabaseRetryEntrypointExecutor]:
        settings = self.settings

        def make(parameters: EntrypointExecutorParameters) -> DatabaseRetryEntrypointExecutor:
            return DatabaseRetryEntrypointExecutor(
                parameters=parameters,
                # pgqueuer counts retries: the first run and `max_attempts - 1` more.
                max_attempts=kind.max_attempts - 1,
                initial_delay=retry_delay(settings, 0),
                max_delay=MAX_RETRY_DELAY,
            )

        return make

    def _queued(self, kind: JobKind) -> Callable[[Job], Awaitable[None]]:
        async def handle(job: Job) -> None:
            payload = orjson.loads(job.payload) if job.payload else {}
            ctx = JobContext(self.db, self.settings, self.clock, int(job.id), job.attempts)
            try:
                await kind.run(ctx, payload)
            except Exception:
                self.jobs_failed += 1
                raise
            self.jobs_run += 1

        return handle

    def _scheduled(self, kind: JobKind) -> Callable[[Schedule], Awaitable[None]]:
        async def handle(_schedule: Schedule) -> None:
            ctx = JobContext(self.db, self.settings, self.clock)
            try:
                await kind.run(ctx, {})
            except Exception:
                self.jobs_failed += 1
                logger.exception("periodic job %s failed", kind.name)
                return
            self.jobs_run += 1

        return handle


# --- queue health --------------------------------------------------------------------


@dataclass(frozen=True)
class JobCount:
    kind: str
    state: str
    count: int


@dataclass(frozen=True)
class FailedJob:
    id: int
    kind: str
    failed_at: datetime
    attempts: int
    error: str


@dataclass(frozen=True)
class QueueHealth:
    counts: list[JobCount]
    oldest_waiting_seconds: float | None
    """How long the longest-waiting due job has waited (None: none is due)."""
    failures_last_day: int
    failed: list[FailedJob] = dataclasses.field(default_factory=list)


_COUNTS = text(
    """SELECT entrypoint, CASE
             WHEN status = 'queued' AND execute_after > now() THEN 'scheduled'
             WHEN status = 'queued' THEN 'waiting'
             WHEN status = 'picked' THEN 'running'
             ELSE status::text END AS state, count(*)
       FROM pgqueuer GROUP BY 1, 2 ORDER BY 1, 2"""
)
_OLDEST = text(
    """SELECT extract(epoch FROM now() - min(execute_after))
       FROM pgqueuer WHERE status = 'queued' AND execute_after <= now()"""
)
_FAILURES = text(
    """SELECT count(*) FROM pgqueuer_log
       WHERE status IN ('exception', 'failed') AND created > now() - interval '1 day'"""
)
_FAILED = text(
    """SELECT q.id, q.entrypoint, q.updated, q.attempts + 1 AS attempts,
              coalesce(l.traceback ->> 'exception_message', '') AS error
       FROM pgqueuer q
       LEFT JOIN LATERAL (
           SELECT traceback FROM pgqueuer_log
           WHERE job_id = q.id AND traceback IS NOT NULL ORDER BY created DESC LIMIT 1
       ) l ON true
       WHERE q.status = 'failed' ORDER BY q.updated DESC LIMIT :limit"""
)


async def queue_health(db: Database, *, failed_limit: int = 20) -> QueueHealth:
    async with db.read() as session:
        counts = [
            JobCount(kind, state, count) for kind, state, count in await session.execute(_COUNTS)
        ]
        oldest = await session.scalar(_OLDEST)
        failures = await session.scalar(_FAILURES)
        failed = [
            FailedJob(int(row.id), row.entrypoint, row.updated, row.attempts, row.error)
            for row in await session.execute(_FAILED, {"limit": failed_limit})
        ]
    return QueueHealth(
        counts, None if oldest is None else float(oldest), int(failures or 0), failed
    )


async def retry_failed_jobs(session: AsyncSession, ids: list[int] | None) -> int:
    """Queues failed jobs again (all, or those of `ids`), with their attempts reset."""
    statement = (
        "UPDATE pgqueuer SET status = 'queued', attempts = 0, execute_after = now(), "
        "updated = now() WHERE status = 'failed'"
    )
    if ids is not None:
        result = await session.execute(text(statement + " AND id = ANY(:ids)"), {"ids": ids})
    else:
        result = await session.execute(text(statement))
    return int(getattr(result, "rowcount", 0) or 0)
