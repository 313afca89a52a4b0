"""Subscriptions over graphql-transport-ws against real server processes: who receives
what and who does not, for each subscription and role; events written by one process
delivered by another; a rolled-back write publishes nothing; a listener that lost its
connection replays what it missed, once; tokens verified and expiring; protocol limits."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import text, update

from models import Appointment, GoalCheckIn, Report
from resolvers.core.database import Database
from tests.appointments.factories import at, local_day_ahead, make_appointment, weekday_of
from tests.community.factories import make_comment, make_post
from tests.factories import gid, make_doctor, make_rule, make_user, user_of
from tests.goals.factories import make_goal
from tests.realtime.support import server_process, socket, token_for

APPOINTMENTS = "subscription { appointmentChanged { id status startsAt } }"
ONE_APPOINTMENT = "subscription ($id: ID) { appointmentChanged(id: $id) { id status } }"


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[str]:
    with server_process(database_url, ws_init_timeout_seconds="1") as base:
        yield base


@pytest.fixture(scope="module")
def limited_server(database_url: str) -> Iterator[str]:
    with server_process(
        database_url,
        ws_max_subscriptions="2",
        ws_max_connections_per_viewer="2",
        ws_max_message_bytes="1024",
    ) as base:
        yield base


@pytest.fixture(scope="module")
def second_server(database_url: str) -> Iterator[str]:
    with server_process(database_url) as base:
        yield base


async def _confirm(db: Database, appointment: Appointment, status: str = "confirmed") -> None:
    async with db.transaction() as session:
        await session.execute(
            update(Appointment).where(Appointment.id == appointment.id).values(status=status)
        )


async def test_appointment_changes_reach_exactly_who_may_read_them(
    server: str, db: Database
) -> None:
    doctor = await make_doctor(db)
    patient, other = await make_user(db), await make_user(db)
    viewers = {
        "patient": patient,
        "doctor": await user_of(db, doctor),
        "staff": await make_user(db, roles=("staff",)),
        "admin": await make_user(db, roles=("admin",)),
        "other patient": other,
        "coach": await make_user(db, roles=("coach",)),
        "anon": None,
    }
    receives = {"patient", "doctor", "staff", "admin"}
    sockets = {}
    async with contextlib.AsyncExitStack() as stack:
        for role, user in viewers.items():
            sockets[role] = await stack.enter_async_context(socket(server, user))
            await sockets[role].subscribe("all", APPOINTMENTS)
        await asyncio.sleep(0.3)  # the subscriptions are registered
        appointment = await make_appointment(
            db,
            doctor=doctor,
            patient=patient,
            starts_at=datetime.now(UTC) + timedelta(days=3),
            status="pending_payment",
        )
        for role in receives:
            data = await sockets[role].next_data()
            assert data["appointmentChanged"]["id"] == gid(appointment), role
            assert data["appointmentChanged"]["status"] == "PENDING_PAYMENT", role
        for role in set(viewers) - receives:
            await sockets[role].nothing()
        await _confirm(db, appointment)
        for role in receives:
            data = await sockets[role].next_data()
            assert data["appointmentChanged"]["status"] == "CONFIRMED", role
        for role in set(viewers) - receives:
            await sockets[role].nothing()


async def test_one_appointment_by_id_and_not_someone_elses(server: str, db: Database) -> None:
    doctor = await make_doctor(db)
    patient, stranger = await make_user(db), await make_user(db)
    starts = datetime.now(UTC) + timedelta(days=4)
    mine = await make_appointment(db, doctor=doctor, patient=patient, starts_at=starts)
    other = await make_appointment(
        db, doctor=doctor, patient=stranger, starts_at=starts + timedelta(hours=1)
    )
    async with socket(server, patient) as client:
        await client.subscribe("theirs", ONE_APPOINTMENT, {"id": gid(other)})
        errors = await client.refused("theirs")
        assert errors[0]["extensions"]["code"] == "NOT_FOUND"
        await client.subscribe("mine", ONE_APPOINTMENT, {"id": gid(mine)})
        await asyncio.sleep(0.3)
        await _confirm(db, other, "cancelled")
        await _confirm(db, mine, "completed")
        data = await client.next_data()
        assert data == {"appointmentChanged": {"id": gid(mine), "status": "COMPLETED"}}
        await client.nothing()


async def test_an_event_written_through_one_process_is_delivered_by_another(
    server: str, second_server: str, db: Database
) -> None:
    doctor = await make_doctor(db, timezone="UTC")
    day = local_day_ahead("UTC", 5)
    await make_rule(db, doctor, day_of_week=weekday_of(day), start=time(9), end=time(12))
    patient = await make_user(db)
    async with socket(server, await user_of(db, doctor)) as watcher:
        await watcher.subscribe("day", APPOINTMENTS)
        await asyncio.sleep(0.3)
        book = """mutation ($input: BookAppointmentInput!) { bookAppointment(input: $input) {
          __typename } }"""
        async with httpx.AsyncClient(base_url=second_server, timeout=20) as http:
            answer = await http.post(
                "/graphql",
                json={
                    "query": book,
                    "variables": {
                        "input": {
                            "doctorId": gid(doctor),
                            "startsAt": at(day, time(9), "UTC").isoformat(),
                        }
                    },
                },
                headers={"Authorization": f"Bearer {token_for(patient)}"},
            )
        assert answer.json()["data"]["bookAppointment"]["__typename"] == "AppointmentBooked"
        data = await watcher.next_data()
        assert data["appointmentChanged"]["status"] == "PENDING_PAYMENT"


async def test_a_rolled_back_write_publishes_nothing(server: str, db: Database) -> None:
    doctor = await make_doctor(db)
    patient = await make_user(db)
    appointment = await make_appointment(
        db, doctor=doctor, patient=patient, starts_at=datetime.now(UTC) + timedelta(days=2)
    )
    async with socket(server, patient) as client:
        await client.subscribe("mine", APPOINTMENTS)
        await asyncio.sleep(0.3)
        async with db.engine.connect() as connection:
            transaction = await connection.begin()
            await connection.execute(
                update(Appointment)
                .where(Appointment.id == appointment.id)
                .values(status="cancelled")
            )
            await transaction.rollback()
        await client.nothing(1.0)
        await _confirm(db, appointment, "completed")
        data = await client.next_data()
        assert data["appointmentChanged"]["status"] == "COMPLETED"


async def test_a_listener_that_lost_its_connection_replays_what_it_missed_once(
    server: str, db: Database
) -> None:
    doctor = await make_doctor(db)
    patient = await make_user(db)
    starts = datetime.now(UTC) + timedelta(days=6)
    appointments = [
        await make_appointment(
            db, doctor=doctor, patient=patient, starts_at=starts + timedelta(hours=i)
        )
        for i in range(3)
    ]
    async with socket(server, patient) as client:
        await client.subscribe("mine", APPOINTMENTS)
        await asyncio.sleep(0.3)
        async with db.engine.begin() as connection:
            killed = await connection.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = 'caregraph-realtime' AND datname = current_database()"
                )
            )
        assert killed == 1
        # Written while the listener is down (it reconnects after a second).
        for appointment in appointments:
            await _confirm(db, appointment, "completed")
        received = [(await client.next_data(15))["appointmentChanged"]["id"] for _ in range(3)]
        assert received == [gid(a) for a in appointments]
        await client.nothing(1.0)


async def test_comments_reach_readers_of_the_post_and_hidden_ones_only_moderators(
    server: str, db: Database
) -> None:
    author = await make_user(db)
    post = await make_post(db, author)
    patient = await make_user(db)
    coach = await make_user(db, roles=("coach",))
    query = "subscription ($post: ID!) { commentAdded(postId: $post) { body } }"
    async with socket(server, patient) as reader, socket(server, coach) as moderator:
        for client in (reader, moderator):
            await client.subscribe("comments", query, {"post": gid(post)})
        await asyncio.sleep(0.3)
        other_post = await make_post(db, author)
        await make_comment(db, other_post, author, body="elsewhere")
        await make_comment(db, post, author, body="hello")
        for client in (reader, moderator):
            assert await client.next_data() == {"commentAdded": {"body": "hello"}}
        await make_comment(db, post, author, body="spam", hidden=True)
        assert await moderator.next_data() == {"commentAdded": {"body": "spam"}}
        await reader.nothing()
    async with socket(server) as anon:
        await anon.subscribe("comments", query, {"post": gid(post)})
        errors = await anon.refused("comments")
        assert errors[0]["extensions"]["code"] == "NOT_FOUND"


async def test_post_changes_stop_reaching_readers_once_hidden(server: str, db: Database) -> None:
    author = await make_user(db)
    post = await make_post(db, author)
    patient = await make_user(db)
    query = "subscription ($id: ID!) { postChanged(id: $id) { title hidden } }"
    async with socket(server, patient) as reader:
        await reader.subscribe("post", query, {"id": gid(post)})
        await asyncio.sleep(0.3)
        async with db.transaction() as session:
            await session.execute(
                text("UPDATE posts SET title = 'Edited' WHERE id = :id"), {"id": post.id}
            )
        assert await reader.next_data() == {"postChanged": {"title": "Edited", "hidden": False}}
        async with db.transaction() as session:
            await session.execute(
                text("UPDATE posts SET hidden = true, hidden_at = now() WHERE id = :id"),
                {"id": post.id},
            )
        await reader.nothing()


async def test_reports_reach_coaches_and_admins_only(server: str, db: Database) -> None:
    author = await make_user(db)
    post = await make_post(db, author)
    coach = await make_user(db, roles=("coach",))
    patient = await make_user(db)
    query = "subscription { reportFiled { reason status } }"
    async with socket(server, coach) as moderator, socket(server, patient) as member:
        for client in (moderator, member):
            await client.subscribe("queue", query)
        await asyncio.sleep(0.3)
        async with db.transaction() as session:
            session.add(
                Report(reporter_id=patient.id, target_type="post", target_id=post.id, reason="spam")
            )
        assert await moderator.next_data() == {
            "reportFiled": {"reason": "SPAM", "status": "PENDING"}
        }
        await member.nothing()


async def test_check_ins_reach_the_owner_and_not_others(server: str, db: Database) -> None:
    owner, stranger = await make_user(db), await make_user(db)
    goal = await make_goal(db, owner)
    query = "subscription ($goal: ID) { goalCheckedIn(goalId: $goal) { value mood } }"
    async with socket(server, owner) as mine, socket(server, stranger) as theirs:
        await mine.subscribe("goal", query, {"goal": gid(goal)})
        await theirs.subscribe("all", query, {})
        await theirs.subscribe("goal", query, {"goal": gid(goal)})
        errors = await theirs.refused("goal")
        assert errors[0]["extensions"]["code"] == "NOT_FOUND"
        await asyncio.sleep(0.3)
        async with db.transaction() as session:
            session.add(
                GoalCheckIn(goal_id=goal.id, date=datetime.now(UTC).date(), value=Decimal("75"))
            )
        data = await mine.next_data()
        assert data["goalCheckedIn"]["value"] == 75.0
        await theirs.nothing()


async def test_open_slots_are_sent_again_as_they_are_taken(server: str, db: Database) -> None:
    doctor = await make_doctor(db, timezone="UTC")
    day = local_day_ahead("UTC", 5)
    await make_rule(db, doctor, day_of_week=weekday_of(day), start=time(9), end=time(10))
    query = """subscription ($doctor: ID!, $day: Date!) {
      openSlotsChanged(doctorId: $doctor, from: $day, to: $day) { startsAt } }"""
    async with socket(server) as anon:
        await anon.subscribe("slots", query, {"doctor": gid(doctor), "day": day.isoformat()})
        first = await anon.next_data()
        assert len(first["openSlotsChanged"]) == 2
        await make_appointment(
            db, doctor=doctor, patient=await make_user(db), starts_at=at(day, time(9), "UTC")
        )
        second = await anon.next_data()
        assert [s["startsAt"] for s in second["openSlotsChanged"]] == [
            first["openSlotsChanged"][1]["startsAt"]
        ]


# --- the connection -------------------------------------------------------------------


async def test_tokens_are_verified_and_expire(server: str, db: Database) -> None:
    user = await make_user(db)
    async with socket(server, init=False) as forged:
        await forged.send({"type": "connection_init", "payload": {"token": "not-a-token"}})
        code, reason = await forged.closed()
        assert code == 4403 and reason.startswith("Forbidden")
    async with socket(server, user, ttl_seconds=2) as short:
        await short.subscribe("mine", APPOINTMENTS)
        code, reason = await short.closed(10)
        assert (code, reason) == (4403, "Token expired")


async def test_protocol_errors_close_with_the_protocol_codes(server: str, db: Database) -> None:
    async with socket(server, init=False) as early:
        await early.subscribe("x", APPOINTMENTS)
        assert (await early.closed())[0] == 4401
    async with socket(server, init=False) as silent:
        assert (await silent.closed())[0] == 4408  # ws_init_timeout_seconds=1
    async with socket(server, await make_user(db)) as twice:
        await twice.subscribe("same", APPOINTMENTS)
        await twice.subscribe("same", APPOINTMENTS)
        assert (await twice.closed())[0] == 4409
    async with socket(server) as again:
        await again.send({"type": "connection_init", "payload": {}})
        assert (await again.closed())[0] == 4429


async def test_subscriptions_obey_the_document_limits(server: str) -> None:
    selection = "id"
    for _ in range(5):  # 4 levels each: deeper than the maximum depth (15)
        selection = f"doctor {{ appointments {{ edges {{ node {{ {selection} }} }} }} }}"
    deep = f"subscription {{ appointmentChanged {{ {selection} }} }}"
    async with socket(server) as client:
        await client.subscribe("deep", deep)
        errors = await client.refused("deep")
        assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT", errors
        assert errors[0]["extensions"]["limit"] == "depth", errors


async def test_queries_and_mutations_run_over_the_socket_too(server: str, db: Database) -> None:
    doctor = await make_doctor(db)
    async with socket(server) as client:
        await client.subscribe(
            "q", "query ($id: ID!) { doctor(id: $id) { id } }", {"id": gid(doctor)}
        )
        assert await client.next_data() == {"doctor": {"id": gid(doctor)}}
        assert (await client.receive()) == {"id": "q", "type": "complete"}


async def test_server_sent_events_deliver_under_the_same_policies(
    server: str, db: Database
) -> None:
    author = await make_user(db)
    post = await make_post(db, author)
    patient = await make_user(db)
    query = "subscription ($post: ID!) { commentAdded(postId: $post) { body } }"
    body = {"query": query, "variables": {"post": gid(post)}}
    headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {token_for(patient)}"}
    async with (
        httpx.AsyncClient(base_url=server, timeout=20) as http,
        http.stream("POST", "/graphql", json=body, headers=headers) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        await asyncio.sleep(0.5)
        await make_comment(db, post, author, body="hidden one", hidden=True)
        await make_comment(db, post, author, body="over SSE")
        event, data = await anext(lines), await anext(lines)
        assert event == "event: next"
        assert json.loads(data.removeprefix("data: ")) == {
            "data": {"commentAdded": {"body": "over SSE"}}
        }
    # A query over SSE is one `next` and `complete`; a bad token is a 401.
    async with httpx.AsyncClient(base_url=server, timeout=20) as http:
        answer = await http.post(
            "/graphql",
            json={"query": "{ doctors(first: 1) { totalCount } }"},
            headers={"Accept": "text/event-stream"},
        )
        assert answer.text.split("\n\n")[:2] == [
            'event: next\ndata: {"data": {"doctors": {"totalCount": 0}}}',
            "event: complete\ndata: ",
        ]
        forged = await http.post(
            "/graphql",
            json=body,
            headers={"Accept": "text/event-stream", "Authorization": "Bearer nope"},
        )
        assert forged.status_code == 401


async def test_limits_per_connection_and_per_viewer(limited_server: str, db: Database) -> None:
    user = await make_user(db)
    async with socket(limited_server, user) as client:
        for number in range(2):
            await client.subscribe(f"s{number}", APPOINTMENTS)
        await client.subscribe("s2", APPOINTMENTS)
        errors = await client.refused("s2")
        assert errors[0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
        async with (
            socket(limited_server, user),
            socket(limited_server, user, init=False) as third,
        ):
            await third.send({"type": "connection_init", "payload": {"token": token_for(user)}})
            assert await third.closed() == (4429, "Too many connections for this viewer")
        await client.send({"type": "ping", "padding": "x" * 2000})
        assert (await client.closed())[0] == 1009


async def _realtime_statements(base: str) -> float:
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        text_ = (await http.get("/metrics")).text
    line = next(x for x in text_.splitlines() if x.startswith("caregraph_realtime_statements "))
    return float(line.split()[1])


async def test_delivery_statements_per_event_do_not_grow_with_subscribers(
    server: str, db: Database
) -> None:
    doctor = await make_doctor(db)
    appointment = await make_appointment(
        db,
        doctor=doctor,
        patient=await make_user(db),
        starts_at=datetime.now(UTC) + timedelta(days=9),
    )
    staff = [await make_user(db, roles=("staff",)) for _ in range(12)]
    costs = []
    async with contextlib.AsyncExitStack() as stack:
        for count, status in ((2, "completed"), (12, "no_show")):
            sockets = []
            for user in staff[:count]:
                client = await stack.enter_async_context(socket(server, user))
                await client.subscribe("all", APPOINTMENTS)
                sockets.append(client)
            await asyncio.sleep(0.3)
            before = await _realtime_statements(server)
            await _confirm(db, appointment, status)
            for client in sockets:
                assert (await client.next_data())["appointmentChanged"]["status"] == status.upper()
            costs.append(await _realtime_statements(server) - before)
            for client in sockets:
                await client.send({"id": "all", "type": "complete"})
            await asyncio.sleep(0.2)
    assert costs == [2, 2]
