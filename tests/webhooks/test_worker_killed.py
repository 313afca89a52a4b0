"""A worker killed mid-delivery (kill -9 while the receiver holds the request open) leaves
the job to be retried: another `python server.py worker` takes it once the dead one's
heartbeat is silent, sends the same delivery again, and the log marks it delivered."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

from sqlalchemy import select, text

from models import WebhookDelivery
from resolvers.core.database import Database
from schema.ids import format_id
from server import ROOT
from tests.client import GraphQLClient
from tests.e2e.test_cli import _env
from tests.factories import make_user
from tests.webhooks.factories import deliveries, make_endpoint, notify
from tests.webhooks.receiver import receiver


@contextlib.contextmanager
def _worker(database_url: str) -> Iterator[subprocess.Popen[str]]:
    env = _env(
        DATABASE_URL=database_url,
        CAREGRAPH_JOBS_POLL_SECONDS="0.2",
        CAREGRAPH_JOBS_HEARTBEAT_SECONDS="2",
        CAREGRAPH_JOBS_RETRY_SECONDS="0.05",
    )
    process = subprocess.Popen(
        [sys.executable, "server.py", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


async def test_a_worker_killed_mid_delivery_leaves_it_to_another(
    client: GraphQLClient, db: Database, database_url: str
) -> None:
    admin = await make_user(db, roles=("admin",))
    async with receiver() as hook:
        _endpoint_id, hook.secret = await make_endpoint(client, admin, hook.url)
        hook.hold_next = True
        with _worker(database_url) as first:
            await notify(db, await make_user(db))
            [delivery] = await deliveries(db)
            await hook.wait_for(1, seconds=60)
            # The first worker is inside the request: the job is taken, nothing recorded.
            async with db.read() as session:
                picked = await session.scalar(
                    text("SELECT count(*) FROM pgqueuer WHERE status = 'picked'")
                )
            assert picked == 1
            first.send_signal(signal.SIGKILL)
            await asyncio.to_thread(first.wait, 30)
            assert first.returncode == -signal.SIGKILL
        [held] = await deliveries(db)
        assert held.status == "pending" and held.attempts == 1 and held.delivered_at is None

        with _worker(database_url) as second:
            await hook.wait_for(2, seconds=60)
            deadline = time.monotonic() + 30
            while True:
                async with db.read() as session:
                    status = await session.scalar(
                        select(WebhookDelivery.status).where(WebhookDelivery.id == delivery.id)
                    )
                if status == "delivered":
                    break
                assert time.monotonic() < deadline, status
                await asyncio.sleep(0.05)
            assert second.poll() is None
    first_try, second_try = hook.requests
    assert first_try.verified and second_try.verified
    assert first_try.body == second_try.body
    assert (
        first_try.headers["caregraph-delivery"]
        == second_try.headers["caregraph-delivery"]
        == format_id("WebhookDelivery", delivery.id)
    )
    [done] = await deliveries(db)
    assert done.status == "delivered" and done.attempts == 2 and done.last_status_code == 200
    async with db.read() as session:
        left = await session.scalar(text("SELECT count(*) FROM pgqueuer"))
        successes = await session.scalar(
            text("SELECT count(*) FROM pgqueuer_log WHERE status = 'successful'")
        )
    assert left == 0 and successes == 1
