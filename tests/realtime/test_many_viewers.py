"""Delivery decided for more distinct viewers than one statement may check (Postgres takes
at most 1664 select-list entries): the hub checks them in chunks, on the real database,
and each viewer gets exactly what its policy lets it read."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from models import Appointment, Comment, GoalCheckIn, Post, Report
from resolvers.core.database import Database
from resolvers.core.identity import ANON, Viewer, load_viewer
from resolvers.core.realtime import VIEWERS_PER_CHECK, Event, RealtimeHub, Subscriber, viewer_key
from tests.appointments.factories import make_appointment
from tests.community.factories import make_comment, make_post, make_report
from tests.factories import make_doctor, make_user, user_of
from tests.goals.factories import make_check_in, make_coach_of, make_goal


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
        Subscriber(viewer, "appointment", Appointment) for viewer in [*strangers, *allowed]
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
                Subscriber(viewer, "appointment", Appointment) for viewer in (own, stranger)
            ]
            if uncompilable:
                hub._predicates[(Appointment, subscribers[1].viewer_key)] = None
            await hub._deliver_rows(event, Appointment, subscribers, connection)
            check = next(iter(hub._checks.values()))
            assert (check.arguments == [None]) is not uncompilable  # joined: only the row id
            assert [s.queue.qsize() for s in subscribers] == [1, 0]
    finally:
        await connection.close()


async def test_joined_checks_answer_as_the_policies_with_bound_values(db: Database) -> None:
    """Each realtime table's policy, written with its values inline from a template per
    shape, answers as the same policy with bound values, for every kind of viewer,
    including rows some of them may not read (hidden, unpublished, another's)."""
    doctor = await make_doctor(db)
    doctor_user = await user_of(db, doctor)
    patient, author, other = await make_user(db), await make_user(db), await make_user(db)
    coach = await make_user(db, roles=("coach",))
    await make_coach_of(db, patient)
    appointment = await make_appointment(
        db, doctor=doctor, patient=patient, starts_at=datetime.now(UTC) + timedelta(days=3)
    )
    shown = await make_post(db, author)
    draft = await make_post(db, author, published=False)
    hidden_comment = await make_comment(db, shown, author, hidden=True)
    reply = await make_comment(db, shown, other, parent=hidden_comment)
    report = await make_report(db, other, shown)
    goal = await make_goal(db, patient)
    check_in = await make_check_in(db, goal, on=datetime.now(UTC).date())
    rows = [
        (Appointment, appointment.id),
        (Post, shown.id),
        (Post, draft.id),
        (Comment, hidden_comment.id),
        (Comment, reply.id),
        (Report, report.id),
        (GoalCheckIn, check_in.id),
    ]
    users = [
        (patient, ()),
        (author, ()),
        (other, ()),
        (doctor_user, ()),
        (coach, ()),
        (await make_user(db, roles=("staff",)), ()),
        (await make_user(db, roles=("admin",)), ()),
    ]
    viewers = [ANON] + [
        await load_viewer(db, {"sub": str(user.id), "role": "authenticated"}) for user, _ in users
    ]
    connection = await asyncpg.connect(db.direct_dsn())
    try:
        for model, row_id in rows:
            keys = [viewer_key(viewer) for viewer in viewers]
            by_key = dict(zip(keys, viewers, strict=True))
            hub = RealtimeHub(db)
            joined = hub._joined_check(model, keys, by_key)
            assert joined is not None, model
            hub._predicates = {(model, key): None for key in keys}
            whole = hub._check(model, keys, by_key)
            assert joined.arguments == [None] and whole.arguments != [None]
            answers = await joined.run(connection, row_id), await whole.run(connection, row_id)
            assert list(answers[0]) == list(answers[1]), (model, list(answers[0]))
            assert any(answers[0]) and not all(answers[0]), model  # both kinds of viewer
    finally:
        await connection.close()


def test_an_event_finds_its_subscribers_by_row_and_key_without_asking_the_others(
    db: Database,
) -> None:
    hub = RealtimeHub(db)
    viewer = Viewer(role="authenticated", user_id=uuid.uuid4(), app_roles=frozenset({"patient"}))
    row, post, other_post = uuid.uuid4(), str(uuid.uuid4()), str(uuid.uuid4())
    everything = Subscriber(viewer, "comment", None)
    on_post = Subscriber(viewer, "comment", None, ("post_id", post))
    on_other_post = Subscriber(viewer, "comment", None, ("post_id", other_post))
    on_row = Subscriber(viewer, "comment", None, ("row_id", str(row)))
    elsewhere = Subscriber(viewer, "post", None)
    for subscriber in (everything, on_post, on_other_post, on_row, elsewhere):
        hub._add(subscriber)
    event = Event(id=1, topic="comment", row_id=row, keys={"post_id": post})
    assert set(hub._interested(event)) == {everything, on_post, on_row}
    for subscriber in (on_post, on_row, on_other_post):
        hub._remove(subscriber)
    assert hub._interested(event) == [everything]
    assert not hub._routes and not hub._route_fields["comment"]
