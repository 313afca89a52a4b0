"""A database that goes away (issue 13): terminated backends and a stopped Postgres.

Reads that lose their connection run once more on a fresh one (the read lane, Core
reads and read sessions); a write is never repeated and fails as SERVICE_UNAVAILABLE
(503 + Retry-After for `application/graphql-response+json`), never as
INTERNAL_SERVER_ERROR; /readyz is 503 meanwhile, and the same app answers again once the
database is back. Real Postgres throughout: backends are killed with
`pg_terminate_backend` from another connection, and a dedicated Postgres (pgserver in a
temporary directory) is stopped and started again."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from models import Appointment, User
from resolvers.core.database import Database
from resolvers.core.errors import ServiceUnavailable
from resolvers.core.settings import Settings
from server import migrate
from tests.appointments.factories import at, local_day_ahead
from tests.client import GraphQLClient, app_http
from tests.factories import gid, make_doctor, make_rule, make_user

GRAPHQL_RESPONSE = "application/graphql-response+json"
APP_NAME = "caregraph-outage-test"
PAUSE = 1.0
SLEEPER = text("SELECT pg_backend_pid() AS pid, pg_sleep(:pause) AS slept")

READ = """
query Home($id: ID!, $day: Date!) {
  viewer { id email }
  slotHolds { id }
  doctor(id: $id) { id fullName availableSlots(from: $day, to: $day) { startsAt } }
  doctors(first: 5) { totalCount edges { node { id availabilityRules { id } } } }
  appointments(first: 5) { totalCount edges { node { id status } } }
}
"""
BOOK = """
mutation ($input: BookAppointmentInput!) {
  bookAppointment(input: $input) {
    __typename
    ... on AppointmentBooked { appointment { id startsAt } }
    ... on SlotUnavailable { code }
  }
}
"""
VERIFY = """
mutation ($id: ID!) { verifyDoctor(input: {doctorId: $id, verified: true}) {
  __typename ... on DoctorVerified { doctor { id } } } }
"""


async def _terminate(admin: Database, application_name: str = APP_NAME) -> int:
    """Terminates every backend of `application_name`, from the admin's own connection."""
    async with admin.engine.connect() as conn:
        killed = await conn.execute(
            text(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = :name AND pid <> pg_backend_pid()"
            ),
            {"name": application_name},
        )
        return int(killed.scalar_one())


@pytest.fixture
async def app_db(database_url: str) -> AsyncIterator[Database]:
    """The app's own engine, told apart in pg_stat_activity by its application name."""
    database = Database(database_url, pool_size=6, max_overflow=4, application_name=APP_NAME)
    yield database
    await database.dispose()


def _codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors") or []]


# --- each read path retries once; a transaction never does --------------------------


async def _killed_midway(admin: Database, read: Any) -> tuple[int, int]:
    """Runs `read` (a statement sleeping `PAUSE` s and returning its backend pid),
    terminates the app's backends while it runs, and returns (pid killed, pid that
    answered)."""
    task = asyncio.create_task(read())
    victims: list[int] = []
    for _ in range(200):
        await asyncio.sleep(0.05)
        async with admin.engine.connect() as conn:
            victims = list(
                (
                    await conn.execute(
                        text(
                            "SELECT pid FROM pg_stat_activity WHERE application_name = :name"
                            " AND query LIKE '%pg_sleep%' AND state = 'active'"
                        ),
                        {"name": APP_NAME},
                    )
                ).scalars()
            )
        if victims:
            break
    assert len(victims) == 1
    assert await _terminate(admin) >= 1
    answered = await asyncio.wait_for(task, timeout=20)
    return victims[0], answered


async def test_a_prepared_read_that_loses_its_connection_runs_again(
    app_db: Database, db: Database
) -> None:
    async def read() -> int:
        rows = await app_db.rows(SLEEPER, {"pause": PAUSE}, reusable=True)
        return int(rows[0].pid)

    await app_db.rows(SLEEPER, {"pause": 0}, reusable=True)  # prepared: the lane runs it next
    killed, answered = await _killed_midway(db, read)
    assert answered != killed


async def test_a_core_read_that_loses_its_connection_runs_again(
    app_db: Database, db: Database
) -> None:
    async def read() -> int:
        rows = await app_db.rows(SLEEPER, {"pause": PAUSE})
        return int(rows[0].pid)

    killed, answered = await _killed_midway(db, read)
    assert answered != killed


async def test_a_read_session_statement_that_loses_its_connection_runs_again(
    app_db: Database, db: Database
) -> None:
    async def read() -> int:
        async with app_db.read() as session:
            earlier = (await session.scalars(select(User).limit(1))).first()
            pid = (await session.execute(SLEEPER, {"pause": PAUSE})).one().pid
            if earlier is not None:
                assert earlier.email  # loaded before the retry, still readable
            return int(pid)

    await make_user(db)
    killed, answered = await _killed_midway(db, read)
    assert answered != killed


async def test_a_transaction_that_loses_its_connection_is_not_repeated(
    app_db: Database, db: Database
) -> None:
    user_id = uuid.uuid4()

    async def write() -> int:
        async with app_db.transaction() as session:
            session.add(User(id=user_id, email=f"{user_id}@example.test", full_name="Lost"))
            await session.flush()
            return int((await session.execute(SLEEPER, {"pause": PAUSE})).one().pid)

    with pytest.raises(ServiceUnavailable):
        await _killed_midway(db, write)
    async with db.read() as session:
        assert await session.scalar(select(func.count()).where(User.id == user_id)) == 0
    # The engine recovers by itself: the next write commits.
    async with app_db.transaction() as session:
        session.add(User(id=user_id, email=f"{user_id}@example.test", full_name="Kept"))
    async with db.read() as session:
        assert await session.scalar(select(func.count()).where(User.id == user_id)) == 1


async def test_reads_against_no_database_raise_service_unavailable() -> None:
    down = Database("postgresql://nobody@127.0.0.1:1/nowhere")
    try:
        for reusable in (False, True):
            with pytest.raises(ServiceUnavailable):
                await down.rows(SLEEPER, {"pause": 0}, reusable=reusable)
        with pytest.raises(ServiceUnavailable):
            async with down.read() as session:
                await session.execute(SLEEPER, {"pause": 0})
        with pytest.raises(ServiceUnavailable):
            async with down.transaction() as session:
                await session.execute(SLEEPER, {"pause": 0})
    finally:
        await down.dispose()


# --- terminated backends under load ---------------------------------------------------

KILLS = 5
KILL_EVERY = 0.4


async def _bookable(db: Database, patients: int) -> tuple[Any, list[Any], list[datetime]]:
    doctor = await make_doctor(db, timezone="Europe/London")
    for weekday in range(7):
        await make_rule(db, doctor, day_of_week=weekday, start=time(8), end=time(20))
    first_day = local_day_ahead("Europe/London", 10)
    starts = [
        at(first_day + timedelta(days=day), time(8), "Europe/London") + timedelta(minutes=30 * n)
        for day in range(10)
        for n in range(24)
    ]
    return doctor, [await make_user(db) for _ in range(patients)], starts


async def test_terminated_backends_under_load_answer_no_internal_errors(
    settings: Settings, db: Database, app_db: Database
) -> None:
    doctor, patients, starts = await _bookable(db, patients=4)
    day = local_day_ahead("Europe/London", 10).isoformat()
    reads: list[tuple[int, dict[str, Any]]] = []
    writes: list[tuple[int, httpx.Headers, dict[str, Any]]] = []
    killed: list[int] = []
    stop = asyncio.Event()

    async with app_http(settings, app_db) as http:
        client = GraphQLClient(http, settings)

        def headers(patient: Any) -> dict[str, str]:
            token = client.token(patient.id, patient.email)
            return {"Authorization": f"Bearer {token}", "Accept": GRAPHQL_RESPONSE}

        async def reader(patient: Any) -> None:
            variables = {"id": gid(doctor), "day": day}
            while not stop.is_set():
                response = await http.post(
                    "/graphql",
                    json={"query": READ, "variables": variables},
                    headers=headers(patient),
                )
                reads.append((response.status_code, response.json()))

        async def writer(patient: Any, mine: list[datetime]) -> None:
            for starts_at in mine:
                if stop.is_set():
                    return
                variables = {"input": {"doctorId": gid(doctor), "startsAt": starts_at.isoformat()}}
                response = await http.post(
                    "/graphql",
                    json={"query": BOOK, "variables": variables},
                    headers=headers(patient),
                )
                writes.append((response.status_code, response.headers, response.json()))

        async def killer() -> None:
            await asyncio.sleep(KILL_EVERY)
            for _ in range(KILLS):
                # On a loaded machine the app may not have reconnected yet: wait for it
                # (up to 10 s), so that every kill has backends to terminate.
                for _attempt in range(100):
                    found = await _terminate(db)
                    if found:
                        break
                    await asyncio.sleep(0.1)
                killed.append(found)
                await asyncio.sleep(KILL_EVERY)
            stop.set()

        await asyncio.gather(
            killer(),
            reader(patients[0]),
            reader(patients[1]),
            writer(patients[2], starts[0::2]),
            writer(patients[3], starts[1::2]),
        )
        assert all(killed), killed  # every kill found backends of the app to terminate

        # Reads survived every kill through their retry.
        assert reads and all(status == 200 and not body.get("errors") for status, body in reads), [
            body for _status, body in reads if body.get("errors")
        ]
        # Writes were booked, or refused as retryable; never an internal error.
        outcomes: Counter[str] = Counter()
        for status, response_headers, body in writes:
            if body.get("errors"):
                assert _codes(body) == ["SERVICE_UNAVAILABLE"], body
                assert status == 503 and response_headers["retry-after"] == "1"
                outcomes["SERVICE_UNAVAILABLE"] += 1
            else:
                assert status == 200
                outcomes[body["data"]["bookAppointment"]["__typename"]] += 1
        assert set(outcomes) <= {"AppointmentBooked", "SERVICE_UNAVAILABLE"}, outcomes
        booked = outcomes["AppointmentBooked"]
        assert booked > 0

        # No restart needed: the same app answers a read and a write right away.
        response = await http.post(
            "/graphql",
            json={"query": READ, "variables": {"id": gid(doctor), "day": day}},
            headers=headers(patients[0]),
        )
        assert response.status_code == 200 and not response.json().get("errors")

    async with db.read() as session:
        stored = await session.scalar(select(func.count()).select_from(Appointment))
    # A booking whose connection died during COMMIT may have committed: at most those extra.
    assert booked <= (stored or 0) <= booked + outcomes["SERVICE_UNAVAILABLE"]


# --- a stopped Postgres -------------------------------------------------------------


class DedicatedPostgres:
    """A Postgres of this test's own (pgserver in a temporary directory), to stop and
    start without touching the one the other tests share."""

    def __init__(self) -> None:
        import pgserver

        self.base = Path(tempfile.mkdtemp(prefix="caregraph-outage-"))
        self.server = pgserver.get_server(self.base / "pgdata", cleanup_mode="delete")
        self.url = str(self.server.get_uri("postgres"))

    def stop(self) -> None:
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

        pg_ctl(
            ["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata, user=self.server.system_user
        )

    def start(self) -> None:
        with self.server._lock:
            self.server.ensure_postgres_running()

    def remove(self) -> None:
        self.server.cleanup()
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def dedicated_postgres() -> Iterator[DedicatedPostgres]:
    postgres = DedicatedPostgres()
    try:
        yield postgres
    finally:
        postgres.remove()


async def test_a_stopped_database_is_503_and_the_app_recovers_when_it_is_back(
    settings: Settings, dedicated_postgres: DedicatedPostgres
) -> None:
    url = make_url(dedicated_postgres.url).render_as_string(hide_password=False)
    await asyncio.to_thread(migrate, url)
    own = Database(url, application_name=APP_NAME)
    user = await make_user(own)
    doctor = await make_doctor(own)
    async with app_http(settings, own) as http:
        client = GraphQLClient(http, settings)
        as_user = {"Authorization": f"Bearer {client.token(user.id, user.email)}"}
        as_service = {"Authorization": f"Bearer {client.token(None, role='service_role')}"}
        viewer = {"query": "{ viewer { id } }"}
        verify = {"query": VERIFY, "variables": {"id": gid(doctor)}}
        directory = {"query": "{ doctors(first: 1) { totalCount } }"}

        async def answers() -> dict[str, httpx.Response]:
            return {
                # The viewer's row cannot be loaded: the request cannot run at all.
                "viewer": await http.post("/graphql", json=viewer, headers=as_user),
                # A write inside execution, for a client of either media type.
                "write": await http.post(
                    "/graphql", json=verify, headers={**as_service, "Accept": GRAPHQL_RESPONSE}
                ),
                "write-json": await http.post("/graphql", json=verify, headers=as_service),
                "read": await http.post(
                    "/graphql", json=directory, headers={"Accept": GRAPHQL_RESPONSE}
                ),
                "readyz": await http.get("/readyz"),
            }

        before = await answers()
        assert {name: r.status_code for name, r in before.items()} == dict.fromkeys(before, 200)

        dedicated_postgres.stop()
        during = await answers()
        assert {name: r.status_code for name, r in during.items()} == {
            "viewer": 503,
            "write": 503,
            "write-json": 200,  # application/json keeps 200 for a field error, with the code
            "read": 503,
            "readyz": 503,
        }
        for name in ("viewer", "write", "write-json", "read"):
            body = during[name].json()
            assert _codes(body) == ["SERVICE_UNAVAILABLE"], body
            assert body["errors"][0]["extensions"]["retryable"] is True
            assert during[name].headers["retry-after"] == "1"
        assert during["write"].headers["content-type"].startswith(GRAPHQL_RESPONSE)
        assert during["readyz"].json()["reason"].startswith("database unavailable")

        dedicated_postgres.start()
        after = await answers()
        assert {name: r.status_code for name, r in after.items()} == dict.fromkeys(after, 200)
        assert not any(r.json().get("errors") for r in after.values())
    await own.dispose()
