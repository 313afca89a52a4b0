"""Idempotency-Key (DESIGN.md §13, resolvers/core/idempotency.py): a mutation sent again with
the same key by the same viewer gets the first answer and writes nothing again; another
viewer's key is another key; the same key with another request is refused; a request
that failed for lack of a database gives its key back; queries ignore the header."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from models import Appointment, Doctor, IdempotencyKey, User
from resolvers.core import idempotency
from resolvers.core.database import Database
from resolvers.core.settings import Settings
from tests.appointments.factories import at, local_day_ahead, weekday_of
from tests.client import GraphQLClient, app_http
from tests.factories import gid, make_doctor, make_rule, make_user

GRAPHQL_RESPONSE = "application/graphql-response+json"
BOOK = """
mutation Book($input: BookAppointmentInput!) {
  bookAppointment(input: $input) {
    __typename
    ... on AppointmentBooked { appointment { id startsAt status } }
    ... on SlotUnavailable { code message }
  }
}
"""
VIEWER = "{ viewer { id } }"


@pytest.fixture
async def http(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with app_http(settings, db) as client:
        yield client


async def _schedule(db: Database) -> tuple[Doctor, datetime]:
    doctor = await make_doctor(db, timezone="Europe/London")
    day = local_day_ahead("Europe/London", 10)
    await make_rule(db, doctor, day_of_week=weekday_of(day), start=time(9), end=time(12))
    return doctor, at(day, time(9), "Europe/London")


def _variables(doctor: Doctor, starts_at: datetime) -> dict[str, Any]:
    return {"input": {"doctorId": gid(doctor), "startsAt": starts_at.isoformat()}}


async def _send(
    http: httpx.AsyncClient,
    settings: Settings,
    user: User,
    variables: dict[str, Any],
    key: str | None,
    query: str = BOOK,
) -> httpx.Response:
    token = GraphQLClient(http, settings).token(user.id, user.email)
    headers = {"Authorization": f"Bearer {token}", "Accept": GRAPHQL_RESPONSE}
    if key is not None:
        headers["Idempotency-Key"] = key
    return await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )


async def _appointments(db: Database) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(Appointment)) or 0)


async def _keys(db: Database) -> list[IdempotencyKey]:
    async with db.read() as session:
        return list((await session.scalars(select(IdempotencyKey))).all())


async def test_a_retry_after_a_dropped_response_gets_the_first_answer_and_books_once(
    settings: Settings, db: Database, http: httpx.AsyncClient
) -> None:
    doctor, starts_at = await _schedule(db)
    patient = await make_user(db)
    variables = _variables(doctor, starts_at)

    # The client gives up on the first request (its answer is lost to it); the server
    # carries on with it.
    first = asyncio.create_task(_send(http, settings, patient, variables, "book-1"))
    # The retry goes out once the first request has claimed its key (on a loaded
    # machine the retry could otherwise overtake it and be the one that runs).
    while not await _keys(db):  # noqa: ASYNC110 - polling the database, not an event
        await asyncio.sleep(0.001)
    retried = await _send(http, settings, patient, variables, "book-1")
    original = await first

    assert original.status_code == 200
    assert original.json()["data"]["bookAppointment"]["__typename"] == "AppointmentBooked"
    assert retried.status_code == 200
    assert retried.json() == original.json()
    assert retried.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in original.headers
    assert await _appointments(db) == 1

    # Later retries too, without a write.
    again = await _send(http, settings, patient, variables, "book-1")
    assert again.json() == original.json() and await _appointments(db) == 1
    [kept] = await _keys(db)
    assert kept.viewer == str(patient.id) and kept.key == "book-1"
    assert kept.status_code == 200 and kept.response is not None
    assert kept.expires_at - kept.created_at == timedelta(hours=settings.idempotency_key_hours)


async def test_concurrent_duplicates_run_once(
    settings: Settings, db: Database, http: httpx.AsyncClient
) -> None:
    doctor, starts_at = await _schedule(db)
    patient = await make_user(db)
    variables = _variables(doctor, starts_at)
    answers = await asyncio.gather(
        *(_send(http, settings, patient, variables, "same-time") for _ in range(6))
    )
    bodies = {response.text for response in answers}
    assert len(bodies) == 1, bodies
    assert answers[0].json()["data"]["bookAppointment"]["__typename"] == "AppointmentBooked"
    assert sum("idempotent-replayed" not in response.headers for response in answers) == 1
    assert await _appointments(db) == 1


async def test_another_viewer_with_the_same_key_runs_separately(
    settings: Settings, db: Database, http: httpx.AsyncClient
) -> None:
    doctor, starts_at = await _schedule(db)
    first, second = await make_user(db), await make_user(db)
    variables = _variables(doctor, starts_at)
    booked = await _send(http, settings, first, variables, "shared-key")
    # The second patient's request runs: the slot is taken, not the first patient's answer.
    refused = await _send(http, settings, second, variables, "shared-key")
    assert booked.json()["data"]["bookAppointment"]["__typename"] == "AppointmentBooked"
    assert refused.json()["data"]["bookAppointment"]["__typename"] == "SlotUnavailable"
    assert "idempotent-replayed" not in refused.headers
    later = _variables(doctor, starts_at + timedelta(minutes=30))
    own = await _send(http, settings, second, later, "another-key")
    assert own.json()["data"]["bookAppointment"]["__typename"] == "AppointmentBooked"
    assert await _appointments(db) == 2
    assert sorted(k.viewer for k in await _keys(db)) == sorted(
        [str(first.id), str(second.id), str(second.id)]
    )


async def test_the_same_key_with_another_request_is_refused(
    settings: Settings, db: Database, http: httpx.AsyncClient
) -> None:
    doctor, starts_at = await _schedule(db)
    patient = await make_user(db)
    booked = await _send(http, settings, patient, _variables(doctor, starts_at), "k-1")
    assert booked.json()["data"]["bookAppointment"]["__typename"] == "AppointmentBooked"
    later = _variables(doctor, starts_at + timedelta(minutes=30))
    refused = await _send(http, settings, patient, later, "k-1")
    assert refused.status_code == 422
    assert [e["extensions"]["code"] for e in refused.json()["errors"]] == ["BAD_USER_INPUT"]
    assert "another request" in refused.json()["errors"][0]["message"]
    assert await _appointments(db) == 1
    # The same variables in another key order are the same request.
    swapped = {"input": dict(reversed(list(_variables(doctor, starts_at)["input"].items())))}
    replayed = await _send(http, settings, patient, swapped, "k-1")
    assert replayed.json() == booked.json()


async def test_queries_ignore_the_header(
    settings: Settings, db: Database, http: httpx.AsyncClient
) -> None:
    patient = await make_user(db)
    for _ in range(2):
        response = await _send(http, settings, patient, {}, "query-key", query=VIEWER)
        assert response.status_code == 200
        assert response.json()["data"]["viewer"]["id"]
        assert "idempotent-replayed" not in response.headers
    assert await _keys(db) == []


async def test_a_malformed_key_is_a_400(
    settings: Settings, db: Database, http: httpx.AsyncClient
) -> None:
    doctor, starts_at = await _schedule(db)
    patient = await make_user(db)
    response = await _send(http, settings, patient, _variables(doctor, starts_at), "x" * 256)
    assert response.status_code == 400
    assert await _appointments(db) == 0 and await _keys(db) == []


async def test_a_mutation_that_failed_for_lack_of_a_database_runs_again_on_retry(
    settings: Settings, db: Database, database_url: str
) -> None:
    """The booking waits on a doctor row locked elsewhere until the statement timeout:
    503, nothing written, the key given back; the retry, once the lock is gone, books."""
    doctor, starts_at = await _schedule(db)
    patient = await make_user(db)
    variables = _variables(doctor, starts_at)
    impatient = Database(database_url, statement_timeout=0.5)
    try:
        async with app_http(settings, impatient) as http:
            async with db.engine.connect() as admin, admin.begin():
                await admin.execute(
                    text("SELECT 1 FROM doctors WHERE id = :id FOR UPDATE"), {"id": doctor.id}
                )
                failed = await _send(http, settings, patient, variables, "lock-1")
            assert failed.status_code == 503
            assert [e["extensions"]["code"] for e in failed.json()["errors"]] == [
                "SERVICE_UNAVAILABLE"
            ]
            assert await _appointments(db) == 0 and await _keys(db) == []
            retried = await _send(http, settings, patient, variables, "lock-1")
            assert "idempotent-replayed" not in retried.headers
            assert retried.json()["data"]["bookAppointment"]["__typename"] == "AppointmentBooked"
            assert await _appointments(db) == 1
    finally:
        await impatient.dispose()


async def _insert_key(
    db: Database,
    patient: User,
    key: str,
    hashed: str,
    *,
    locked_for: timedelta,
    expires_in: timedelta,
    response: str | None = None,
) -> None:
    now = datetime.now(UTC)
    async with db.transaction() as session:
        session.add(
            IdempotencyKey(
                viewer=str(patient.id),
                key=key,
                request_hash=hashed,
                response=response,
                status_code=200 if response else None,
                locked_until=now + locked_for,
                expires_at=now + expires_in,
            )
        )


async def test_expired_keys_are_reused_and_pruned(
    settings: Settings, db: Database, http: httpx.AsyncClient
) -> None:
    doctor, starts_at = await _schedule(db)
    patient = await make_user(db)
    variables = _variables(doctor, starts_at)
    other = "0" * 64  # another request's hash
    old = timedelta(hours=-1)
    await _insert_key(db, patient, "old", other, locked_for=old, expires_in=old, response="{}")
    # An expired key is free again, even for another request.
    booked = await _send(http, settings, patient, variables, "old")
    assert booked.json()["data"]["bookAppointment"]["__typename"] == "AppointmentBooked"
    await _insert_key(db, patient, "gone", other, locked_for=old, expires_in=old, response="{}")
    store = idempotency.IdempotencyStore(
        db, ttl=timedelta(hours=1), lease=timedelta(seconds=30), wait_seconds=0
    )
    assert await store.prune() == 1
    assert [k.key for k in await _keys(db)] == ["old"]


async def test_a_claim_still_running_waits_and_an_abandoned_one_is_taken_over(
    settings: Settings, db: Database
) -> None:
    doctor, starts_at = await _schedule(db)
    patient = await make_user(db)
    variables = _variables(doctor, starts_at)
    hashed = idempotency.request_hash(BOOK, variables, None)
    day = timedelta(days=1)
    await _insert_key(db, patient, "running", hashed, locked_for=timedelta(hours=1), expires_in=day)
    await _insert_key(db, patient, "abandoned", hashed, locked_for=-day / 24, expires_in=day)
    async with app_http(settings, db, request_timeout_seconds=1.0) as http:
        busy = await _send(http, settings, patient, variables, "running")
        assert busy.status_code == 409
        assert busy.headers["retry-after"] == "1"
        assert [e["extensions"]["code"] for e in busy.json()["errors"]] == [
            "IDEMPOTENCY_KEY_IN_USE"
        ]
        assert await _appointments(db) == 0
        taken = await _send(http, settings, patient, variables, "abandoned")
        assert taken.json()["data"]["bookAppointment"]["__typename"] == "AppointmentBooked"
    assert await _appointments(db) == 1
