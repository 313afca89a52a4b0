"""The per-request deadline (issue 13): `request_timeout_seconds` is Postgres'
statement_timeout on every connection of the server and the limit of a request. Past it
the client gets SERVICE_UNAVAILABLE (503 with Retry-After for
`application/graphql-response+json`), nothing is written, and no connection is left
waiting or inside a transaction. A real wait: the doctor's row is locked from another
connection, so a booking (which locks it too) blocks."""

from __future__ import annotations

import asyncio
import time as clock
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, time
from typing import Any

import httpx
from sqlalchemy import func, select, text

from models import Appointment, AppointmentEvent, Doctor, User
from resolvers.core.database import Database
from resolvers.core.settings import Settings
from server import make_database
from tests.appointments.factories import at, local_day_ahead, weekday_of
from tests.client import GraphQLClient, app_http
from tests.factories import gid, make_doctor, make_rule, make_user

GRAPHQL_RESPONSE = "application/graphql-response+json"
APP_NAME = "caregraph-deadline-test"
BOOK = """
mutation ($input: BookAppointmentInput!) {
  bookAppointment(input: $input) { __typename ... on AppointmentBooked { appointment { id } } }
}
"""
SHOW = text("SELECT current_setting('statement_timeout') AS timeout")


async def _schedule(db: Database) -> tuple[Doctor, User, datetime]:
    doctor = await make_doctor(db, timezone="Europe/London")
    day = local_day_ahead("Europe/London", 10)
    await make_rule(db, doctor, day_of_week=weekday_of(day), start=time(9), end=time(12))
    return doctor, await make_user(db), at(day, time(9), "Europe/London")


async def _book(
    http: httpx.AsyncClient,
    settings: Settings,
    patient: User,
    doctor: Doctor,
    starts_at: datetime,
    accept: str = GRAPHQL_RESPONSE,
) -> httpx.Response:
    token = GraphQLClient(http, settings).token(patient.id, patient.email)
    variables = {"input": {"doctorId": gid(doctor), "startsAt": starts_at.isoformat()}}
    return await http.post(
        "/graphql",
        json={"query": BOOK, "variables": variables},
        headers={"Authorization": f"Bearer {token}", "Accept": accept},
    )


@asynccontextmanager
async def _doctor_locked(db: Database, doctor: Doctor) -> AsyncIterator[Any]:
    """Holds the doctor's row lock in a transaction of another connection."""
    async with db.engine.connect() as admin, admin.begin():
        await admin.execute(
            text("SELECT 1 FROM doctors WHERE id = :id FOR UPDATE"), {"id": doctor.id}
        )
        yield admin


async def _app_backends(admin: Any) -> list[tuple[str, str | None]]:
    """(state, wait_event_type) of the app's backends, as the admin sees them now (not
    as of the snapshot its transaction took at its first look)."""
    await admin.execute(text("SELECT pg_stat_clear_snapshot()"))
    rows = await admin.execute(
        text("SELECT state, wait_event_type FROM pg_stat_activity WHERE application_name = :name"),
        {"name": APP_NAME},
    )
    return [(row.state, row.wait_event_type) for row in rows]


async def _written(db: Database) -> tuple[int, int]:
    async with db.read() as session:
        appointments = await session.scalar(select(func.count()).select_from(Appointment))
        events = await session.scalar(select(func.count()).select_from(AppointmentEvent))
    return int(appointments or 0), int(events or 0)


async def test_statement_timeout_is_set_on_every_connection(
    settings: Settings, database_url: str
) -> None:
    server_db = make_database(
        settings.model_copy(update={"request_timeout_seconds": 2.5}), database_url
    )
    try:
        assert server_db.statement_timeout == 2.5
        seen = {(await server_db.rows(SHOW, {}))[0].timeout}  # Core
        for _ in range(2):  # prepared on the first run, then on the read lane
            seen.add((await server_db.rows(SHOW, {}, reusable=True))[0].timeout)
        async with server_db.read() as session:
            seen.add((await session.execute(SHOW)).one().timeout)
        async with server_db.transaction() as session:
            seen.add((await session.execute(SHOW)).one().timeout)
        assert seen == {"2500ms"}
    finally:
        await server_db.dispose()


async def test_a_statement_past_the_deadline_is_a_typed_503_and_writes_nothing(
    settings: Settings, db: Database, database_url: str
) -> None:
    doctor, patient, starts_at = await _schedule(db)
    quick = settings.model_copy(update={"request_timeout_seconds": 1.0})
    app_db = Database(database_url, statement_timeout=1.0, application_name=APP_NAME)
    try:
        async with app_http(quick, app_db) as http:
            async with _doctor_locked(db, doctor) as admin:
                started = clock.monotonic()
                blocked = await _book(http, quick, patient, doctor, starts_at)
                elapsed = clock.monotonic() - started
                as_json = await _book(http, quick, patient, doctor, starts_at, "application/json")
                # Postgres cancelled the statement and the transaction rolled back: the
                # connections are back, idle, none waiting on the lock.
                backends = await _app_backends(admin)
            assert 0.9 <= elapsed < 1.9, elapsed
            assert blocked.status_code == 503
            assert blocked.headers["retry-after"] == "1"
            assert blocked.headers["content-type"].startswith(GRAPHQL_RESPONSE)
            [error] = blocked.json()["errors"]
            assert error["extensions"] == {"code": "SERVICE_UNAVAILABLE", "retryable": True}
            assert "deadline" in error["message"]
            assert error["path"] == ["bookAppointment"]
            assert as_json.status_code == 200
            assert [e["extensions"]["code"] for e in as_json.json()["errors"]] == [
                "SERVICE_UNAVAILABLE"
            ]
            assert backends and all(state == "idle" for state, _wait in backends), backends
            assert await _written(db) == (0, 0)

            # The same app, on the same pool, books once the lock is gone.
            booked = await _book(http, quick, patient, doctor, starts_at)
            assert booked.json()["data"]["bookAppointment"]["__typename"] == "AppointmentBooked"
            assert await _written(db) == (1, 1)
    finally:
        await app_db.dispose()


async def test_the_request_deadline_stops_what_postgres_does_not(
    settings: Settings, db: Database, database_url: str
) -> None:
    """Without a statement timeout (e.g. behind PgBouncer), the request's own deadline
    (plus `DEADLINE_GRACE_SECONDS`) answers, and the statement it abandons is cancelled
    or its connection closed: it does not wait on the lock holding a connection."""
    doctor, patient, starts_at = await _schedule(db)
    quick = settings.model_copy(update={"request_timeout_seconds": 1.0})
    app_db = Database(database_url, statement_timeout=None, application_name=APP_NAME)
    try:
        async with app_http(quick, app_db) as http:
            async with _doctor_locked(db, doctor) as admin:
                started = clock.monotonic()
                task = asyncio.create_task(_book(http, quick, patient, doctor, starts_at))
                await asyncio.sleep(0.5)
                assert ("active", "Lock") in await _app_backends(admin)
                blocked = await task
                elapsed = clock.monotonic() - started
                for _ in range(40):  # the cancellation reaches the server shortly after
                    backends = await _app_backends(admin)
                    if all(state == "idle" for state, _wait in backends):
                        break
                    await asyncio.sleep(0.05)
            assert 1.9 <= elapsed < 3.0, elapsed
            assert blocked.status_code == 503
            assert blocked.headers["retry-after"] == "1"
            assert blocked.json()["errors"] == [
                {
                    "message": "The request did not finish within its deadline of 1 s; try again.",
                    "extensions": {"code": "SERVICE_UNAVAILABLE", "retryable": True},
                }
            ]
            assert all(state == "idle" for state, _wait in backends), backends
            assert await _written(db) == (0, 0)

            booked = await _book(http, quick, patient, doctor, starts_at)
            assert booked.json()["data"]["bookAppointment"]["__typename"] == "AppointmentBooked"
            assert await _written(db) == (1, 1)
    finally:
        await app_db.dispose()
