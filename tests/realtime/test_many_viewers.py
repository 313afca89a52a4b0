"""Delivery decided for more distinct viewers than one statement may check (Postgres takes
at most 1664 select-list entries): the hub checks them in chunks, on the real database,
and each viewer gets exactly what its policy lets it read."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from models import Appointment
from resolvers.core.database import Database
from resolvers.core.identity import Viewer
from resolvers.core.realtime import VIEWERS_PER_CHECK, Event, RealtimeHub, Subscriber
from tests.appointments.factories import make_appointment
from tests.factories import make_doctor, make_user


async def test_an_event_for_1700_distinct_viewers_reaches_those_who_may_read_it(
    db: Database,
) -> None:
    doctor = await make_doctor(db)
    patient = await make_user(db)
    appointment = await make_appointment(
        db, doctor=doctor, patient=patient, starts_at=datetime.now(UTC) + timedelta(days=3)
    )
    strangers = [
        Viewer(role="authenticated", user_id=uuid.uuid4(), app_roles=frozenset({"patient"}))
        for _ in range(1700)
    ]
    own = Viewer(role="authenticated", user_id=patient.id, app_roles=frozenset({"patient"}))
    # Viewers are checked in the order of their keys: these two fall in the first and the
    # last chunk whatever the random ids, so both chunks' answers must be kept.
    admin = Viewer(
        role="authenticated", user_id=uuid.UUID(int=0), app_roles=frozenset({"patient", "admin"})
    )
    treating = Viewer(
        role="authenticated",
        user_id=uuid.UUID(int=2**128 - 1),
        app_roles=frozenset({"patient", "doctor"}),
        doctor_id=doctor.id,
    )
    allowed = (own, admin, treating)
    subscribers = [
        Subscriber(viewer, "appointment", Appointment, lambda _event: True)
        for viewer in [*strangers, *allowed]
    ]
    hub = RealtimeHub(db)
    event = Event(id=1, topic="appointment", row_id=appointment.id, keys={})
    connection = await asyncpg.connect(db.direct_dsn())
    try:
        await hub._deliver_rows(event, Appointment, subscribers, connection)
        # Again, as the next event would: the two check statements are prepared once.
        await hub._deliver_rows(event, Appointment, subscribers, connection)
        prepared = await connection.fetchval(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE $1",
            "%FROM appointments%",
        )
    finally:
        await connection.close()
    assert len(strangers) + 1 > VIEWERS_PER_CHECK
    assert hub.statements == 2 * (2 + 1)  # two checks (1,000 and 703 viewers), then the row
    assert prepared == 2
    for subscriber in subscribers:
        if subscriber.viewer in allowed:
            assert subscriber.queue.qsize() == 2, subscriber.viewer
            assert subscriber.queue.get_nowait().id == appointment.id
        else:
            assert subscriber.queue.empty()


async def test_a_policy_without_a_literal_form_is_checked_through_the_whole_statement(
    db: Database,
) -> None:
    """A check is joined from each viewer's predicate compiled on its own (values inline);
    a viewer whose predicate has no such form makes the hub build that check whole, with
    bound values, and deliveries are the same."""
    doctor = await make_doctor(db)
    patient = await make_user(db)
    appointment = await make_appointment(
        db, doctor=doctor, patient=patient, starts_at=datetime.now(UTC) + timedelta(days=3)
    )
    own = Viewer(role="authenticated", user_id=patient.id, app_roles=frozenset({"patient"}))
    stranger = Viewer(role="authenticated", user_id=uuid.uuid4(), app_roles=frozenset({"patient"}))
    event = Event(id=1, topic="appointment", row_id=appointment.id, keys={})
    connection = await asyncpg.connect(db.direct_dsn())
    try:
        for uncompilable in (False, True):
            hub = RealtimeHub(db)
            subscribers = [
                Subscriber(viewer, "appointment", Appointment, lambda _event: True)
                for viewer in (own, stranger)
            ]
            if uncompilable:
                hub._predicates[(Appointment, subscribers[1].viewer_key)] = None
            await hub._deliver_rows(event, Appointment, subscribers, connection)
            check = next(iter(hub._checks.values()))
            assert (check.arguments == [None]) is not uncompilable  # joined: only the row id
            assert [s.queue.qsize() for s in subscribers] == [1, 0]
    finally:
        await connection.close()
