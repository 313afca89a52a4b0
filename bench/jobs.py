"""Job throughput: jobs per second on one `python server.py worker` process.

    python -m bench.jobs --jobs 2000 --lapses 1000

Two loads, each enqueued in one transaction while the worker waits, timed from the commit
until the queue is empty: `--jobs` no-op jobs (a lapse job for an unknown appointment: the
queue's own cost plus one read), then `--lapses` real lapses (unpaid appointments past
their window: lock, cancel as the system, history, notification, realtime event; the
minute sweep may take some of them first). The data lives in its own database,
`caregraph_bench_jobs`, made afresh each run in the embedded Postgres (or
$BENCH_DATABASE_URL's server)."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import orjson
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generate import connect_arguments  # noqa: E402
from server import embedded_postgres_uri, migrate  # noqa: E402

DATABASE = "caregraph_bench_jobs"
ENQUEUE = """
INSERT INTO pgqueuer (priority, entrypoint, payload, execute_after, status)
SELECT 0, 'appointment.lapse', payload, now(), 'queued' FROM unnest($1::bytea[]) AS payload
"""


def _database_url() -> tuple[str, str]:
    base = os.environ.get("BENCH_DATABASE_URL") or embedded_postgres_uri(
        Path(os.environ.get("CAREGRAPH_DATA_DIR", ROOT / ".data")), "postgres"
    )
    url = make_url(base).set(database=DATABASE).render_as_string(hide_password=False)
    return base, url


async def _prepare(base: str, url: str, lapses: int) -> list[uuid.UUID]:
    admin = await asyncpg.connect(**connect_arguments(base))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()
    await asyncio.to_thread(migrate, url)
    conn = await asyncpg.connect(**connect_arguments(url))
    try:
        doctor_user, patient = uuid.uuid4(), uuid.uuid4()
        await conn.executemany(
            "INSERT INTO users (id, email, full_name, timezone) VALUES ($1, $2, $3, 'UTC')",
            [(doctor_user, "d@bench.test", "Dr"), (patient, "p@bench.test", "Patient")],
        )
        doctor = uuid.uuid4()
        await conn.execute(
            "INSERT INTO doctors (id, user_id, full_name, verified) VALUES ($1, $2, 'Dr', true)",
            doctor,
            doctor_user,
        )
        appointments = [uuid.uuid4() for _ in range(lapses)]
        await conn.executemany(
            "INSERT INTO appointments (id, doctor_id, patient_id, starts_at, ends_at, status,"
            " payment_due_at) VALUES ($1, $2, $3, now() + ($4 || ' minutes')::interval,"
            " now() + ($4 || ' minutes')::interval + interval '30 minutes', 'pending_payment',"
            " now() - interval '1 second')",
            [(a, doctor, patient, str(1440 + 30 * i)) for i, a in enumerate(appointments)],
        )
    finally:
        await conn.close()
    return appointments


async def _drain(url: str, payloads: list[bytes]) -> float:
    """Enqueues `payloads` in one transaction; seconds from its commit to an empty queue."""
    conn = await asyncpg.connect(**connect_arguments(url))
    try:
        await conn.execute(ENQUEUE, payloads)
        started = time.perf_counter()
        # Polling the database is the point: the queue is emptied by another process.
        while await conn.fetchval("SELECT count(*) FROM pgqueuer"):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        return time.perf_counter() - started
    finally:
        await conn.close()


async def _count_lapsed(url: str) -> int:
    conn = await asyncpg.connect(**connect_arguments(url))
    try:
        return int(
            await conn.fetchval("SELECT count(*) FROM appointments WHERE status = 'cancelled'")
        )
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2000, help="no-op jobs")
    parser.add_argument("--lapses", type=int, default=1000, help="real lapse jobs")
    parser.add_argument("--batch", type=int, default=10, help="CAREGRAPH_JOBS_BATCH_SIZE")
    args = parser.parse_args()

    base, url = _database_url()
    appointments = asyncio.run(_prepare(base, url, args.lapses))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREGRAPH_")}
    env.update(
        DATABASE_URL=url,
        CAREGRAPH_JOBS_BATCH_SIZE=str(args.batch),
        CAREGRAPH_JOBS_POLL_SECONDS="1",
    )
    worker = subprocess.Popen(
        [sys.executable, "server.py", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert worker.stdout is not None
        while "running jobs" not in worker.stdout.readline():
            if worker.poll() is not None:
                raise SystemExit(f"worker exited: {worker.stdout.read()}")
        time.sleep(1)
        no_ops = [orjson.dumps({"appointmentId": str(uuid.uuid4())}) for _ in range(args.jobs)]
        seconds = asyncio.run(_drain(url, no_ops))
        print(f"no-op jobs: {args.jobs} in {seconds:.2f} s = {args.jobs / seconds:,.0f} jobs/s")
        lapses = [orjson.dumps({"appointmentId": str(a)}) for a in appointments]
        seconds = asyncio.run(_drain(url, lapses))
        lapsed = asyncio.run(_count_lapsed(url))
        print(
            f"lapses: {args.lapses} in {seconds:.2f} s = {args.lapses / seconds:,.0f} jobs/s "
            f"({lapsed} appointments cancelled)"
        )
    finally:
        worker.terminate()
        worker.communicate(timeout=30)


if __name__ == "__main__":
    main()
