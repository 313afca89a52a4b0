"""The audit log: each listed write by staff, admins, doctors and coaches appends one entry
in its own transaction (actor, action, target, before and after with contact details
redacted, request id); a patient's own writes append none; a write that fails appends
none; only admins read the log; the database refuses to change or delete an entry."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from models import AuditEntry, User
from resolvers import audit
from resolvers.core.database import Database
from resolvers.core.settings import Settings
from tests.appointments.factories import (
    at,
    context_for,
    local_day_ahead,
    make_appointment,
    make_coupon,
    viewer_for,
    weekday_of,
)
from tests.client import GraphQLClient
from tests.community.factories import make_comment, make_post, make_report
from tests.factories import gid, make_doctor, make_exception, make_rule, make_user, user_of
from tests.lessons.factories import make_lesson


async def _entries(db: Database) -> list[AuditEntry]:
    async with db.read() as session:
        rows = await session.scalars(select(AuditEntry).order_by(AuditEntry.created_at))
        return list(rows)


async def _world(db: Database) -> dict[str, Any]:
    doctor = await make_doctor(db, cancellation_policy_hours=1)
    day = local_day_ahead("UTC", 10)
    await make_rule(db, doctor, day_of_week=weekday_of(day), start=time(9), end=time(12))
    patient = await make_user(db, email=f"p{datetime.now(UTC).timestamp()}@example.test")
    post = await make_post(db, patient)
    return {
        "doctor": doctor,
        "doctor_user": await user_of(db, doctor),
        "day": day,
        "patient": patient,
        "staff": await make_user(db, roles=("staff",)),
        "coach": await make_user(db, roles=("coach",)),
        "admin": await make_user(db, roles=("admin",)),
        "post": post,
        "comment": await make_comment(db, post, patient),
        "appointment": await make_appointment(
            db,
            doctor=doctor,
            patient=patient,
            starts_at=datetime.now(UTC) + timedelta(days=3),
            status="pending_payment",
        ),
        "coupon": await make_coupon(db, code="AUDIT10", doctor_id=doctor.id),
        "exception": await make_exception(db, doctor, on=date.today() + timedelta(days=20)),
        "lesson": await make_lesson(db),
        "report": await make_report(db, await make_user(db), post),
    }


# name -> (who, mutation, variables(world), action, target type)
WRITES: dict[str, tuple[str, str, Any, str, str]] = {
    "profile": (
        "doctor_user",
        'mutation ($id: ID!) { r: updateDoctorProfile(input: {doctorId: $id, bio: "Hi"}) '
        "{ __typename } }",
        lambda w: {"id": gid(w["doctor"])},
        "doctor.update",
        "Doctor",
    ),
    "verify": (
        "admin",
        "mutation ($id: ID!) { r: verifyDoctor(input: {doctorId: $id, verified: false}) "
        "{ __typename } }",
        lambda w: {"id": gid(w["doctor"])},
        "doctor.verify",
        "Doctor",
    ),
    "rules": (
        "doctor_user",
        "mutation { r: setAvailabilityRules(input: {rules: [{dayOfWeek: 2, "
        'startTime: "09:00", endTime: "12:00"}]}) { __typename } }',
        lambda w: {},
        "availability.set_rules",
        "Doctor",
    ),
    "remove exception": (
        "doctor_user",
        "mutation ($id: ID!) { r: removeAvailabilityException(input: {id: $id}) { __typename } }",
        lambda w: {"id": gid(w["exception"])},
        "availability.remove_exception",
        "AvailabilityException",
    ),
    "coupon": (
        "doctor_user",
        "mutation ($id: ID!) { r: updateCoupon(input: {id: $id, active: false}) { __typename } }",
        lambda w: {"id": gid(w["coupon"])},
        "coupon.update",
        "Coupon",
    ),
    "role": (
        "admin",
        "mutation ($id: ID!) { r: grantRole(input: {userId: $id, role: COACH}) { __typename } }",
        lambda w: {"id": gid(w["patient"])},
        "role.grant",
        "User",
    ),
    "confirm": (
        "doctor_user",
        "mutation ($id: ID!) { r: confirmAppointment(input: {id: $id}) { __typename } }",
        lambda w: {"id": gid(w["appointment"])},
        "appointment.confirmed",
        "Appointment",
    ),
    "cancel for patient": (
        "staff",
        "mutation ($id: ID!) { r: cancelAppointment(input: {id: $id}) { __typename } }",
        lambda w: {"id": gid(w["appointment"])},
        "appointment.cancelled",
        "Appointment",
    ),
    "book for patient": (
        "staff",
        "mutation ($input: BookAppointmentInput!) { r: bookAppointment(input: $input) "
        "{ __typename } }",
        lambda w: {
            "input": {
                "doctorId": gid(w["doctor"]),
                "startsAt": at(w["day"], time(9), "UTC").isoformat(),
                "patientId": gid(w["patient"]),
            }
        },
        "appointment.book_for",
        "Appointment",
    ),
    "hide post": (
        "coach",
        "mutation ($id: ID!) { r: hidePost(input: {id: $id}) { __typename } }",
        lambda w: {"id": gid(w["post"])},
        "post.hide",
        "Post",
    ),
    "delete comment": (
        "admin",
        "mutation ($id: ID!) { r: deleteComment(input: {id: $id}) { __typename } }",
        lambda w: {"id": gid(w["comment"])},
        "comment.delete",
        "Comment",
    ),
    "publish lesson": (
        "coach",
        "mutation ($id: ID!) { r: publishLesson(input: {id: $id, published: false}) "
        "{ __typename } }",
        lambda w: {"id": gid(w["lesson"])},
        "lesson.update",
        "Lesson",
    ),
    "assign coach": (
        "admin",
        "mutation ($coach: ID!, $client: ID!) { r: assignCoach(input: {coachId: $coach, "
        "clientId: $client}) { __typename } }",
        lambda w: {"coach": gid(w["coach"]), "client": gid(w["patient"])},
        "coach.assign",
        "CoachClient",
    ),
    "deactivate": (
        "admin",
        "mutation ($id: ID!) { r: deactivateUser(input: {userId: $id}) { __typename } }",
        lambda w: {"id": gid(w["patient"])},
        "user.deactivate",
        "User",
    ),
    "record payment": (
        "admin",
        "mutation ($id: ID!) { r: recordPayment(input: {appointmentId: $id, "
        'amount: "100.00", currency: "USD"}) { __typename } }',
        lambda w: {"id": gid(w["appointment"])},
        "payment.record",
        "Payment",
    ),
    "pin post": (
        "coach",
        "mutation ($id: ID!) { r: pinPost(input: {id: $id, pinned: true}) { __typename } }",
        lambda w: {"id": gid(w["post"])},
        "post.pin",
        "Post",
    ),
    "resolve report": (
        "coach",
        "mutation ($id: ID!) { r: resolveReport(input: {id: $id, action: DISMISS}) "
        "{ __typename } }",
        lambda w: {"id": gid(w["report"])},
        "report.resolve",
        "Report",
    ),
    "add exception": (
        "doctor_user",
        "mutation ($day: Date!) { r: addAvailabilityException(input: {date: $day, "
        "kind: BLOCKED}) { __typename } }",
        lambda w: {"day": (date.today() + timedelta(days=30)).isoformat()},
        "availability.add_exception",
        "AvailabilityException",
    ),
    "create coupon": (
        "doctor_user",
        'mutation { r: createCoupon(input: {code: "NEWAUDIT", kind: PERCENT, value: "5"}) '
        "{ __typename } }",
        lambda w: {},
        "coupon.create",
        "Coupon",
    ),
    "grant entitlement": (
        "admin",
        "mutation ($id: ID!) { r: grantEntitlement(input: {userId: $id}) { __typename } }",
        lambda w: {"id": gid(w["patient"])},
        "entitlement.grant",
        "Entitlement",
    ),
    "hold for patient": (
        "staff",
        "mutation ($input: HoldSlotInput!) { r: holdSlot(input: $input) { __typename } }",
        lambda w: {
            "input": {
                "doctorId": gid(w["doctor"]),
                "startsAt": at(w["day"], time(10), "UTC").isoformat(),
                "patientId": gid(w["patient"]),
            }
        },
        "slot.hold_for",
        "SlotHold",
    ),
    "reschedule for patient": (
        "staff",
        "mutation ($id: ID!, $at: DateTime!) { r: rescheduleAppointment(input: "
        "{id: $id, startsAt: $at}) { __typename } }",
        lambda w: {"id": gid(w["appointment"]), "at": at(w["day"], time(11), "UTC").isoformat()},
        "appointment.reschedule",
        "Appointment",
    ),
    "webhook endpoint": (
        "admin",
        'mutation { r: createWebhookEndpoint(input: {url: "https://sms.example.test/hook", '
        "kinds: [BOOKING_CONFIRMED]}) { __typename } }",
        lambda w: {},
        "webhook_endpoint.create",
        "WebhookEndpoint",
    ),
}


@pytest.mark.parametrize("name", list(WRITES))
async def test_each_listed_write_appends_one_entry(
    client: GraphQLClient, db: Database, name: str
) -> None:
    who, mutation, variables, action, target_type = WRITES[name]
    world = await _world(db)
    actor: User = world[who]
    answer = await client.execute(mutation, variables(world), as_user=actor)
    assert answer.errors == [], answer.errors
    result = answer.data["r"]["__typename"]
    assert result not in ("ValidationError", "NotAllowed", "NotFound", "InvalidTransition"), (
        name,
        answer.data,
    )
    [entry] = await _entries(db)
    assert (entry.action, entry.target_type, entry.actor_id) == (action, target_type, actor.id)
    assert entry.request_id and entry.changes


async def test_patients_own_writes_and_failed_writes_append_nothing(
    client: GraphQLClient, db: Database
) -> None:
    world = await _world(db)
    own = await client.execute(
        "mutation ($id: ID!) { cancelAppointment(input: {id: $id}) { __typename } }",
        {"id": gid(world["appointment"])},
        as_user=world["patient"],
    )
    assert own.data["cancelAppointment"]["__typename"] == "AppointmentUpdated"
    refused = await client.execute(
        "mutation ($id: ID!) { updateCoupon(input: {id: $id, maxUses: 0}) { __typename } }",
        {"id": gid(world["coupon"])},
        as_user=world["doctor_user"],
    )
    assert refused.data["updateCoupon"]["__typename"] == "ValidationError"
    assert await _entries(db) == []


async def test_contact_details_are_redacted(
    client: GraphQLClient, db: Database, settings: Settings
) -> None:
    world = await _world(db)
    admin = world["admin"]
    made = await client.execute(
        'mutation { createDoctor(input: {email: "new.doc@example.test", fullName: "Dr. N"}) '
        "{ __typename } }",
        as_user=admin,
    )
    assert made.data["createDoctor"]["__typename"] == "DoctorCreated"
    entries = await _entries(db)
    assert [entry.action for entry in entries] == ["doctor.create"]
    assert "new.doc@example.test" not in str(entries[0].changes)
    assert audit.redact({"email": "a@b.c", "phone": "1", "fee": Decimal("1.50")}) == {
        "email": "[redacted]",
        "phone": "[redacted]",
        "fee": "1.50",
    }
    # Through `record` into the table: the stored entry holds no contact detail.
    ctx = context_for(db, settings, viewer_for(admin, roles=("admin",)))
    async with db.transaction() as session:
        audit.record(
            session,
            ctx,
            "user.contact",
            "User",
            admin.id,
            before={"email": admin.email, "phone": admin.phone, "timezone": "UTC"},
        )
    stored = [entry for entry in await _entries(db) if entry.action == "user.contact"]
    assert stored[0].changes == {
        "before": {"email": "[redacted]", "phone": "[redacted]", "timezone": "UTC"}
    }


LOG = """
query ($filter: AuditFilter) {
  auditLog(first: 10, filter: $filter) {
    totalCount edges { node { action targetType targetId actorRole actor { id } changes } }
  }
}
"""


async def test_only_admins_read_the_log_and_filter_it(client: GraphQLClient, db: Database) -> None:
    world = await _world(db)
    for name in ("coupon", "hide post"):
        who, mutation, variables, _action, _type = WRITES[name]
        await client.execute(mutation, variables(world), as_user=world[who])
    admin = await client.execute(LOG, as_user=world["admin"])
    log = admin.data["auditLog"]
    assert log["totalCount"] == 2
    assert [edge["node"]["action"] for edge in log["edges"]] == ["post.hide", "coupon.update"]
    coupon = log["edges"][1]["node"]
    assert coupon["targetId"] == gid(world["coupon"])
    assert coupon["actorRole"] == "doctor" and coupon["actor"] == {"id": gid(world["doctor_user"])}
    assert coupon["changes"] == {"before": {"active": True}, "after": {"active": False}}
    by_target = await client.execute(
        LOG, {"filter": {"targetId": gid(world["post"])}}, as_user=world["admin"]
    )
    assert [e["node"]["action"] for e in by_target.data["auditLog"]["edges"]] == ["post.hide"]
    garbage = await client.execute(LOG, {"filter": {"targetId": "nope"}}, as_user=world["admin"])
    assert garbage.codes == ["BAD_USER_INPUT"]
    for who in ("staff", "doctor_user", "coach", "patient"):
        assert (await client.execute(LOG, as_user=world[who])).codes == ["FORBIDDEN"]
    assert (await client.execute(LOG)).codes == ["FORBIDDEN"]


async def test_the_database_refuses_to_change_or_delete_an_entry(
    client: GraphQLClient, db: Database
) -> None:
    world = await _world(db)
    who, mutation, variables, _action, _type = WRITES["coupon"]
    await client.execute(mutation, variables(world), as_user=world[who])
    for statement in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.transaction() as session:
                await session.execute(text(statement))
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(AuditEntry)) == 1
