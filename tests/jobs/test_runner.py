"""The job runner on a real Postgres: jobs run when due, failures retry with backoff and
are kept for admins (queue health in GraphQL and /metrics, `retryFailedJobs`), and two
worker processes (`python server.py worker`) run each of many jobs exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from models import Appointment, AppointmentEvent
from resolvers.core.database import Database
from resolvers.core.jobs import JobRunner, enqueue
from resolvers.core.settings import Settings
from server import ROOT
from tests.appointments.factories import fetch, make_appointment
from tests.client import GraphQLClient, graphql_client
from tests.e2e.test_cli import _env
from tests.factories import make_doctor, make_user

QUEUE = """
{ jobQueue { counts { kind state count } oldestWaitingSeconds failuresLastDay
    failed { jobId kind attempts error failedAt } } }
"""
RETRY = """
mutation ($input: RetryFailedJobsInput!) { retryFailedJobs(input: $input) {
  __typename ... on FailedJobsRetried { count } ... on NotAllowed { code } } }
"""
FAST = {
    "jobs_in_process": False,
    "jobs_poll_seconds": 0.2,
    "jobs_retry_seconds": 0.05,
    "jobs_heartbeat_seconds": 2,
}


async def _eventually(check: Callable[[], Awaitable[bool]], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def _runner(db: Database, settings: Settings) -> AsyncIterator[JobRunner]:
    runner = JobRunner(db, settings.model_copy(update=FAST))
    runner.start()
    try:
        yield runner
    finally:
        await runner.stop()


async def _queue(db: Database, *names: str, payloads: list[dict[str, Any]]) -> None:
    async with db.transaction() as session:
        await session.execute(text("SELECT 1"))
        for name, payload in zip(names, payloads, strict=True):
            await enqueue(session, name, payload)


async def _overdue(db: Database, count: int) -> list[Appointment]:
    doctor = await make_doctor(db)
    start = datetime.now(UTC) + timedelta(days=3)
    appointments = []
    for number in range(count):
        appointment = await make_appointment(
            db,
            doctor=doctor,
            patient=await make_user(db),
            starts_at=start + timedelta(minutes=30 * number),
            status="pending_payment",
        )
        appointments.append(appointment)
    async with db.transaction() as session:
        await session.execute(
            update(Appointment)
            .where(Appointment.id.in_([a.id for a in appointments]))
            .values(payment_due_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    return appointments


async def _status(db: Database, appointment: Appointment) -> str:
    return str((await fetch(db, Appointment, appointment.id)).status)


async def test_a_due_job_runs_in_the_runner(db: Database, settings: Settings) -> None:
    [appointment] = await _overdue(db, 1)
    async with _runner(db, settings) as runner:
        await _queue(db, "appointment.lapse", payloads=[{"appointmentId": str(appointment.id)}])

        async def lapsed() -> bool:
            return await _status(db, appointment) == "cancelled"

        await _eventually(lapsed)
    assert runner.jobs_run == 1 and runner.jobs_failed == 0


@pytest.fixture
async def client(settings: Settings, db: Database) -> AsyncIterator[GraphQLClient]:
    """Queue health changes by the millisecond: no second executor to compare with."""
    async with graphql_client(settings, db, differential=False) as client:
        yield client


async def test_failures_retry_with_backoff_then_wait_for_an_admin(
    client: GraphQLClient, db: Database, settings: Settings
) -> None:
    admin = await make_user(db, roles=("admin",))
    patient = await make_user(db)
    async with _runner(db, settings) as runner:
        await _queue(db, "appointment.lapse", payloads=[{"appointmentId": "not-a-uuid"}])

        async def kept() -> bool:
            health = (await client.execute(QUEUE, as_user=admin)).data["jobQueue"]
            return bool(health["failed"])

        started = time.monotonic()
        await _eventually(kept, 30)
        elapsed = time.monotonic() - started
    # 8 attempts, the retries 0.05 s apart and doubling: 0.05 * (2^7 - 1) = 6.35 s at least.
    assert runner.jobs_failed == 8
    assert elapsed >= 6.3
    health = (await client.execute(QUEUE, as_user=admin)).data["jobQueue"]
    [failed] = health["failed"]
    assert failed["kind"] == "appointment.lapse" and failed["attempts"] == 8
    assert "badly formed hexadecimal UUID string" in failed["error"]
    assert {"kind": "appointment.lapse", "state": "failed", "count": 1} in health["counts"]
    assert health["failuresLastDay"] >= 1

    refused = await client.execute(QUEUE, as_user=patient)
    assert refused.errors[0]["extensions"]["code"] == "FORBIDDEN"
    not_allowed = await client.execute(RETRY, {"input": {}}, as_user=patient)
    assert not_allowed.data["retryFailedJobs"]["__typename"] == "NotAllowed"

    retried = await client.execute(RETRY, {"input": {"jobIds": [failed["jobId"]]}}, as_user=admin)
    assert retried.data["retryFailedJobs"] == {"__typename": "FailedJobsRetried", "count": 1}
    health = (await client.execute(QUEUE, as_user=admin)).data["jobQueue"]
    assert health["failed"] == []
    assert {"kind": "appointment.lapse", "state": "waiting", "count": 1} in health["counts"]
    assert health["oldestWaitingSeconds"] is not None


async def test_queue_health_in_metrics(client: GraphQLClient, db: Database) -> None:
    await _queue(
        db,
        "appointment.lapse",
        "appointment.lapse",
        payloads=[{"appointmentId": str(uuid.uuid4())}, {"appointmentId": str(uuid.uuid4())}],
    )
    body = (await client.http.get("/metrics")).text
    assert 'caregraph_jobs{kind="appointment.lapse",state="waiting"} 2.0' in body
    assert "caregraph_jobs_oldest_waiting_seconds" in body
    assert "caregraph_job_failures_last_day 0.0" in body


@contextlib.contextmanager
def _workers(database_url: str, count: int) -> Iterator[list[subprocess.Popen[str]]]:
    env = _env(
        DATABASE_URL=database_url,
        CAREGRAPH_JOBS_POLL_SECONDS="0.2",
        CAREGRAPH_JOBS_BATCH_SIZE="5",
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "server.py", "worker"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(count)
    ]
    try:
        # Each is running jobs before the test goes on: a worker still starting when the
        # test stops them (a loaded machine) exits 143, "stopped before serving".
        for process in processes:
            assert process.stdout is not None
            started = ""
            while "running jobs" not in started:
                line = process.stdout.readline()
                assert line, f"the worker exited while starting: {started}"
                started += line
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()


async def test_two_worker_processes_run_each_job_once(
    db: Database, settings: Settings, database_url: str
) -> None:
    appointments = await _overdue(db, 40)
    no_ops = [{"appointmentId": str(uuid.uuid4())} for _ in range(260)]
    payloads = [{"appointmentId": str(a.id)} for a in appointments] + no_ops
    with _workers(database_url, 2) as processes:
        await _queue(db, *["appointment.lapse"] * len(payloads), payloads=payloads)

        async def drained() -> bool:
            async with db.read() as session:
                left = await session.scalar(text("SELECT count(*) FROM pgqueuer"))
            return left == 0

        await _eventually(drained, 60)
        for process in processes:
            assert process.poll() is None, process.communicate()[0]
    async with db.read() as session:
        runs = (
            await session.execute(
                text(
                    "SELECT job_id, count(*) FROM pgqueuer_log WHERE status = 'successful' "
                    "GROUP BY job_id"
                )
            )
        ).all()
        lapses = (
            await session.execute(
                select(AppointmentEvent.appointment_id, func.count())
                .where(AppointmentEvent.actor_role == "system")
                .group_by(AppointmentEvent.appointment_id)
            )
        ).all()
    assert len(runs) == len(payloads)
    assert {count for _job, count in runs} == {1}
    assert sorted(str(row[0]) for row in lapses) == sorted(str(a.id) for a in appointments)
    assert {count for _id, count in lapses} == {1}
    # Stopped by SIGTERM, each finished its running jobs and exited cleanly.
    assert [process.returncode for process in processes] == [0, 0]


async def test_periodic_jobs_are_scheduled_once_across_runners(
    db: Database, settings: Settings
) -> None:
    async with _runner(db, settings), _runner(db, settings):

        async def scheduled() -> bool:
            async with db.read() as session:
                rows = (
                    await session.execute(
                        text("SELECT entrypoint, expression FROM pgqueuer_schedules")
                    )
                ).all()
            return len(rows) >= 2

        await _eventually(scheduled)
        async with db.read() as session:
            rows = (
                await session.execute(
                    text("SELECT entrypoint, expression FROM pgqueuer_schedules ORDER BY 1")
                )
            ).all()
    assert [tuple(row) for row in rows] == [
        ("appointments.lapse_overdue", "* * * * *"),
        ("goals.check_in_due", "7 * * * *"),
    ]
