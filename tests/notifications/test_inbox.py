"""The notification inbox: who is told what (and who is not), through the write's own
transaction; subjects through their table's policy; reminders at the right moments (a
DST change between, a moved or cancelled appointment); check-ins due; marking read."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select, text, update

from models import Appointment, GoalCheckIn, Notification, User
from resolvers.appointments import (
    BookingRequest,
    book_appointment,
    change_status,
    reschedule_appointment,
)
from resolvers.core.database import Database
from resolvers.core.jobs import JobContext, run_job
from resolvers.core.settings import Settings
from resolvers.notifications import reminder_times, schedule_reminders
from tests.appointments.factories import (
    at,
    context_for,
    local_day_ahead,
    viewer_for,
    weekday_of,
)
from tests.client import GraphQLClient
from tests.community.factories import make_post
from tests.factories import gid, make_doctor, make_rule, make_user, user_of
from tests.goals.factories import make_goal

INBOX = """
query ($unread: Boolean! = false) { viewer { unreadNotificationCount
  notifications(first: 20, unreadOnly: $unread) { totalCount edges { node {
    id kind actorRole details read readAt
    subject { __typename id }
  } } } } }
"""
MARK = """
mutation ($input: MarkNotificationsReadInput!) { markNotificationsRead(input: $input) {
  __typename ... on NotificationsMarkedRead { count unreadCount }
  ... on ValidationError { fields { field } } ... on NotAllowed { code } } }
"""
NODE = "query ($id: ID!) { node(id: $id) { __typename id } }"
RECORD_PAYMENT = """
mutation ($input: RecordPaymentInput!) { recordPayment(input: $input) { __typename } }
"""


async def _inbox(client: GraphQLClient, user: Any, unread: bool | None = None) -> dict[str, Any]:
    response = await client.execute(INBOX, {"unread": bool(unread)}, as_user=user)
    return dict(response.data["viewer"])


def _kinds(inbox: dict[str, Any]) -> list[str]:
    return [edge["node"]["kind"] for edge in inbox["notifications"]["edges"]]


async def _setup(db: Database) -> tuple[Any, User, User, datetime]:
    doctor = await make_doctor(db, timezone="Europe/London")
    day = local_day_ahead("Europe/London", 10)
    await make_rule(db, doctor, day_of_week=weekday_of(day), start=time(9), end=time(12))
    return doctor, await user_of(db, doctor), await make_user(db), at(day, time(9), "Europe/London")


async def _jobs(db: Database, kind: str) -> list[Any]:
    async with db.read() as session:
        rows = await session.execute(
            text(
                "SELECT payload, execute_after FROM pgqueuer WHERE entrypoint = :kind ORDER BY id"
            ),
            {"kind": kind},
        )
        return list(rows)


async def test_a_paid_booking_tells_the_patient_and_queues_reminders(
    client: GraphQLClient, db: Database, settings: Settings
) -> None:
    doctor, doctor_user, patient, slot = await _setup(db)
    ctx = context_for(db, settings, viewer_for(patient))
    booked = await book_appointment(ctx, BookingRequest(doctor_id=doctor.id, starts_at=slot))
    assert (await _inbox(client, patient))["unreadNotificationCount"] == 0
    payment = {
        "appointmentId": gid(booked),
        "amount": str(booked.price - booked.discount),
        "currency": booked.currency,
    }
    await client.execute(RECORD_PAYMENT, {"input": payment}, as_user="service")

    inbox = await _inbox(client, patient)
    assert inbox["unreadNotificationCount"] == 2
    nodes = [edge["node"] for edge in inbox["notifications"]["edges"]]
    by_kind = {node["kind"]: node for node in nodes}
    assert set(by_kind) == {"BOOKING_CONFIRMED", "PAYMENT_RECEIVED"}
    assert by_kind["BOOKING_CONFIRMED"]["subject"] == {
        "__typename": "Appointment",
        "id": gid(booked),
    }
    assert by_kind["PAYMENT_RECEIVED"]["subject"]["__typename"] == "Payment"
    assert by_kind["PAYMENT_RECEIVED"]["details"]["amount"] == "100.00"
    assert by_kind["BOOKING_CONFIRMED"]["details"]["reference"] == booked.reference
    # The doctor is not told of a payment; nobody else reads the patient's notifications.
    assert _kinds(await _inbox(client, doctor_user)) == []
    admin = await make_user(db, roles=("admin",))
    for other in (doctor_user, admin):
        seen = await client.execute(NODE, {"id": nodes[0]["id"]}, as_user=other)
        assert seen.data["node"] is None
    mine = await client.execute(NODE, {"id": nodes[0]["id"]}, as_user=patient)
    assert mine.data["node"] == {"__typename": "Notification", "id": nodes[0]["id"]}

    reminders = await _jobs(db, "appointment.remind")
    assert [
        abs(row.execute_after - (slot - before)) < timedelta(seconds=1)
        for row, before in zip(reminders, (timedelta(days=1), timedelta(hours=1)), strict=True)
    ] == [True, True]


async def test_cancelling_tells_the_other_side_with_the_actor_as_a_role(
    client: GraphQLClient, db: Database, settings: Settings
) -> None:
    doctor, doctor_user, patient, slot = await _setup(db)
    patient_ctx = context_for(db, settings, viewer_for(patient))
    first = await book_appointment(patient_ctx, BookingRequest(doctor_id=doctor.id, starts_at=slot))
    second = await book_appointment(
        patient_ctx,
        BookingRequest(doctor_id=doctor.id, starts_at=slot + timedelta(minutes=30)),
    )
    await change_status(patient_ctx, first.id, "cancelled", reason="flu")
    doctor_ctx = context_for(db, settings, viewer_for(doctor_user, doctor=doctor))
    await change_status(doctor_ctx, second.id, "cancelled", reason="away")

    doctor_inbox = [
        edge["node"] for edge in (await _inbox(client, doctor_user))["notifications"]["edges"]
    ]
    assert [(n["kind"], n["actorRole"], n["subject"]["id"]) for n in doctor_inbox] == [
        ("BOOKING_CANCELLED", "patient", gid(first))
    ]
    assert doctor_inbox[0]["details"]["reason"] == "flu"
    patient_inbox = [
        edge["node"] for edge in (await _inbox(client, patient))["notifications"]["edges"]
    ]
    assert [(n["kind"], n["actorRole"], n["subject"]["id"]) for n in patient_inbox] == [
        ("BOOKING_CANCELLED", "doctor", gid(second))
    ]


async def test_a_lapse_and_a_completion_are_told_to_the_patient(
    client: GraphQLClient, db: Database, settings: Settings
) -> None:
    doctor, doctor_user, patient, slot = await _setup(db)
    ctx = context_for(db, settings, viewer_for(patient))
    booked = await book_appointment(ctx, BookingRequest(doctor_id=doctor.id, starts_at=slot))
    assert booked.payment_due_at is not None
    due = booked.payment_due_at
    await run_job(
        JobContext(db, settings, lambda: due),
        "appointment.lapse",
        {"appointmentId": str(booked.id)},
    )
    inbox = await _inbox(client, patient)
    [lapsed] = [edge["node"] for edge in inbox["notifications"]["edges"]]
    assert (lapsed["kind"], lapsed["actorRole"]) == ("BOOKING_LAPSED", "system")
    assert _kinds(await _inbox(client, doctor_user)) == []

    later = await book_appointment(
        ctx, BookingRequest(doctor_id=doctor.id, starts_at=slot + timedelta(minutes=30))
    )
    async with db.transaction() as session:
        await session.execute(
            update(Appointment).where(Appointment.id == later.id).values(status="confirmed")
        )
    doctor_ctx = context_for(db, settings, viewer_for(doctor_user, doctor=doctor))
    await change_status(
        doctor_ctx, later.id, "completed", now=later.starts_at + timedelta(minutes=40)
    )
    assert _kinds(await _inbox(client, patient))[0] == "REVIEW_REQUESTED"


async def test_reminders_follow_a_move_and_skip_a_cancelled_appointment(
    client: GraphQLClient, db: Database, settings: Settings
) -> None:
    doctor, doctor_user, patient, slot = await _setup(db)
    staff = await make_user(db, roles=("staff",))
    ctx = context_for(db, settings, viewer_for(patient))
    booked = await book_appointment(ctx, BookingRequest(doctor_id=doctor.id, starts_at=slot))
    async with db.transaction() as session:
        await session.execute(
            update(Appointment).where(Appointment.id == booked.id).values(status="confirmed")
        )
    old_payload = {
        "appointmentId": str(booked.id),
        "startsAt": slot.isoformat(),
        "minutesBefore": 60,
    }
    moved_to = slot + timedelta(hours=1)
    staff_ctx = context_for(db, settings, viewer_for(staff, roles=("staff",)))
    await reschedule_appointment(staff_ctx, booked.id, moved_to)
    # Told: the patient and the doctor (the front desk moved it).
    for user in (patient, doctor_user):
        [moved] = [edge["node"] for edge in (await _inbox(client, user))["notifications"]["edges"]]
        assert (moved["kind"], moved["actorRole"]) == ("BOOKING_RESCHEDULED", "staff")
        assert moved["details"]["previousStartsAt"] == slot.isoformat()
    queued = await _jobs(db, "appointment.remind")
    assert {row.payload for row in queued} >= {
        f'{{"appointmentId":"{booked.id}","startsAt":"{moved_to.isoformat()}","minutesBefore":{m}}}'.encode()
        for m in (1440, 60)
    }
    clock = JobContext(db, settings, lambda: slot - timedelta(hours=1))
    await run_job(clock, "appointment.remind", old_payload)  # the old time: nothing
    assert "APPOINTMENT_REMINDER" not in _kinds(await _inbox(client, patient))
    new_payload = {**old_payload, "startsAt": moved_to.isoformat()}
    at_new = JobContext(db, settings, lambda: moved_to - timedelta(hours=1))
    await run_job(at_new, "appointment.remind", new_payload)
    await run_job(at_new, "appointment.remind", new_payload)  # a second run: one reminder
    reminders = [
        edge["node"]
        for edge in (await _inbox(client, patient))["notifications"]["edges"]
        if edge["node"]["kind"] == "APPOINTMENT_REMINDER"
    ]
    assert [r["details"]["minutesBefore"] for r in reminders] == [60]
    assert _kinds(await _inbox(client, doctor_user)).count("APPOINTMENT_REMINDER") == 0

    await change_status(ctx, booked.id, "cancelled")
    await run_job(
        JobContext(db, settings, lambda: moved_to - timedelta(days=1)),
        "appointment.remind",
        {**new_payload, "minutesBefore": 1440},
    )
    assert _kinds(await _inbox(client, patient)).count("APPOINTMENT_REMINDER") == 1


def test_reminder_times_are_durations_before_the_start_across_a_dst_change(
    settings: Settings,
) -> None:
    """London moves to BST at 01:00 UTC on 28 March 2027: a 09:00 BST appointment that day
    (08:00 UTC) is reminded 24 hours earlier, 08:00 GMT the day before, and 1 hour before."""
    starts_at = datetime(2027, 3, 28, 8, 0, tzinfo=UTC)
    assert reminder_times(starts_at, settings) == [
        (1440, datetime(2027, 3, 27, 8, 0, tzinfo=UTC)),
        (60, datetime(2027, 3, 28, 7, 0, tzinfo=UTC)),
    ]


async def test_a_reminder_across_a_dst_change_runs_at_its_moment(
    client: GraphQLClient, db: Database, settings: Settings
) -> None:
    """With a controllable clock: a reminder job checked a second before its moment does
    nothing... (a job never runs early: pgqueuer holds it until `execute_after`), at its
    moment it tells the patient, and once the appointment started it stays silent."""
    doctor, _doctor_user, patient, _slot = await _setup(db)
    starts_at = datetime(2027, 3, 28, 8, 0, tzinfo=UTC)
    async with db.transaction() as session:
        appointment = Appointment(
            doctor_id=doctor.id,
            patient_id=patient.id,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=30),
            status="confirmed",
            currency=doctor.currency,
        )
        session.add(appointment)
        await session.flush()
    async with db.transaction() as session:
        await schedule_reminders(session, settings, appointment, datetime.now(UTC))
    queued = sorted(row.execute_after for row in await _jobs(db, "appointment.remind"))
    expected = [datetime(2027, 3, 27, 8, 0, tzinfo=UTC), datetime(2027, 3, 28, 7, 0, tzinfo=UTC)]
    assert all(
        abs(got - want) < timedelta(seconds=1) for got, want in zip(queued, expected, strict=True)
    )
    payload = {
        "appointmentId": str(appointment.id),
        "startsAt": starts_at.isoformat(),
        "minutesBefore": 1440,
    }
    started = JobContext(db, settings, lambda: starts_at + timedelta(seconds=1))
    await run_job(started, "appointment.remind", payload)
    assert _kinds(await _inbox(client, patient)) == []
    moment = JobContext(db, settings, lambda: datetime(2027, 3, 27, 8, 0, tzinfo=UTC))
    await run_job(moment, "appointment.remind", payload)
    assert _kinds(await _inbox(client, patient)) == ["APPOINTMENT_REMINDER"]


async def test_replies_hidden_content_and_resolved_reports(
    client: GraphQLClient, db: Database
) -> None:
    author = await make_user(db)
    commenter = await make_user(db)
    replier = await make_user(db)
    coach = await make_user(db, roles=("coach",))
    post = await make_post(db, author)
    comment_mutation = """
    mutation ($input: CreateCommentInput!) { createComment(input: $input) {
      __typename ... on CommentSaved { comment { id } } } }
    """
    first = await client.execute(
        comment_mutation, {"input": {"postId": gid(post), "body": "hi"}}, as_user=commenter
    )
    comment_id = first.data["createComment"]["comment"]["id"]
    await client.execute(
        comment_mutation,
        {"input": {"postId": gid(post), "parentId": comment_id, "body": "hello"}},
        as_user=replier,
    )
    await client.execute(
        comment_mutation, {"input": {"postId": gid(post), "body": "mine"}}, as_user=author
    )
    assert _kinds(await _inbox(client, author)) == ["REPLY", "REPLY"]
    assert _kinds(await _inbox(client, commenter)) == ["REPLY"]
    assert _kinds(await _inbox(client, replier)) == []

    report = await client.execute(
        """mutation ($input: ReportContentInput!) { reportContent(input: $input) {
          __typename ... on ContentReported { report { id } } } }""",
        {"input": {"targetType": "COMMENT", "targetId": comment_id, "reason": "SPAM"}},
        as_user=author,
    )
    report_id = report.data["reportContent"]["report"]["id"]
    resolved = await client.execute(
        """mutation ($input: ResolveReportInput!) { resolveReport(input: $input) {
          __typename } }""",
        {"input": {"id": report_id, "action": "HIDE_CONTENT"}},
        as_user=coach,
    )
    assert resolved.data["resolveReport"]["__typename"] == "ReportResolved", resolved.body
    [told] = [
        edge["node"]
        for edge in (await _inbox(client, author))["notifications"]["edges"]
        if edge["node"]["kind"] == "REPORT_RESOLVED"
    ]
    assert told["actorRole"] == "coach" and told["details"]["action"] == "hide_content"
    # Reporters do not read reports: the subject is the content, now hidden from them.
    assert told["subject"] is None
    [hidden] = [
        edge["node"]
        for edge in (await _inbox(client, commenter))["notifications"]["edges"]
        if edge["node"]["kind"] == "CONTENT_HIDDEN"
    ]
    # Hidden content is read by moderators only (DESIGN.md §5): no subject for its author.
    assert hidden["actorRole"] == "coach" and hidden["subject"] is None
    # The reply told about the now hidden comment: its subject is gone for the post's author.
    replies = [
        edge["node"]
        for edge in (await _inbox(client, author))["notifications"]["edges"]
        if edge["node"]["kind"] == "REPLY"
    ]
    assert all(
        reply["subject"] is None or reply["subject"]["id"] != comment_id for reply in replies
    )


async def test_a_check_in_due_is_told_once_per_due_date(
    client: GraphQLClient, db: Database, settings: Settings
) -> None:
    owner = await make_user(db)
    goal = await make_goal(db, owner, check_in_frequency="weekly")
    async with db.transaction() as session:
        await session.execute(
            update(type(goal)).where(type(goal).id == goal.id).values(start_date=date(2026, 1, 1))
        )
        session.add(GoalCheckIn(goal_id=goal.id, date=date(2026, 11, 20), value=1))
    now = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
    await run_job(
        JobContext(db, settings, lambda: now - timedelta(seconds=1)), "goals.check_in_due", {}
    )
    assert _kinds(await _inbox(client, owner)) == []
    for _ in range(2):
        await run_job(JobContext(db, settings, lambda: now), "goals.check_in_due", {})
    [due] = [edge["node"] for edge in (await _inbox(client, owner))["notifications"]["edges"]]
    assert due["kind"] == "CHECK_IN_DUE" and due["subject"]["__typename"] == "Goal"
    assert due["details"]["dueAt"] == now.isoformat()
    # Still no check-in a period later: told again, once.
    later = now + timedelta(days=7, hours=3)
    for _ in range(2):
        await run_job(JobContext(db, settings, lambda: later), "goals.check_in_due", {})
    dues = [
        edge["node"]["details"]["dueAt"]
        for edge in (await _inbox(client, owner))["notifications"]["edges"]
    ]
    assert dues == [(now + timedelta(days=7)).isoformat(), now.isoformat()]


async def test_marking_read(client: GraphQLClient, db: Database) -> None:
    patient = await make_user(db)
    other = await make_user(db)
    async with db.transaction() as session:
        for user in (patient, patient, patient, other):
            session.add(
                Notification(
                    user_id=user.id,
                    kind="check_in_due",
                    subject_type="Goal",
                    subject_id=user.id,
                )
            )
    async with db.read() as session:
        rows = (await session.scalars(select(Notification))).all()
    mine = [gid(row) for row in rows if row.user_id == patient.id]
    theirs = [gid(row) for row in rows if row.user_id == other.id]
    both = await client.execute(MARK, {"input": {"ids": mine[:1], "all": True}}, as_user=patient)
    assert both.data["markNotificationsRead"]["__typename"] == "ValidationError"
    anon = await client.execute(MARK, {"input": {"all": True}})
    assert anon.data["markNotificationsRead"]["__typename"] == "NotAllowed"
    foreign = await client.execute(MARK, {"input": {"ids": theirs}}, as_user=patient)
    assert foreign.data["markNotificationsRead"] == {
        "__typename": "NotificationsMarkedRead",
        "count": 0,
        "unreadCount": 3,
    }
    one = await client.execute(MARK, {"input": {"ids": mine[:1]}}, as_user=patient)
    assert one.data["markNotificationsRead"]["count"] == 1
    unread = await _inbox(client, patient, unread=True)
    assert unread["notifications"]["totalCount"] == 2 and unread["unreadNotificationCount"] == 2
    rest = await client.execute(MARK, {"input": {"all": True}}, as_user=patient)
    assert rest.data["markNotificationsRead"]["count"] == 2
    assert (await _inbox(client, patient))["unreadNotificationCount"] == 0
    assert (await _inbox(client, other))["unreadNotificationCount"] == 1
    async with db.read() as session:
        after = (await session.scalars(select(Notification))).all()
    assert sorted((row.user_id == patient.id, row.read_at is not None) for row in after) == [
        (False, False),
        (True, True),
        (True, True),
        (True, True),
    ]
