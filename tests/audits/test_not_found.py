"""Authorization audit: not-found before forbidden. Every mutation that takes the id of a
row the viewer may not read answers exactly as it does for an id that does not exist
(same union member, same code, same message), and writes nothing. Reads of such ids are
`null`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from resolvers.core.database import Database
from tests.appointments.factories import make_appointment, make_coupon, make_hold
from tests.client import GraphQLClient
from tests.community.factories import make_comment, make_post
from tests.factories import gid, make_doctor, make_exception, make_user
from tests.goals.factories import make_goal, make_milestone
from tests.lessons.factories import make_lesson

RANDOM_ID = "00000000-0000-4000-8000-00000000abcd"
ERRORS = "__typename ... on UserError { code message }"


@dataclass(frozen=True)
class Probe:
    """A mutation field, its input builder (from the hidden id) and the hidden row."""

    field: str
    input_type: str
    build: Callable[[str], dict[str, Any]]
    hidden: str  # key of the world's hidden row


def _mutation(probe: Probe) -> str:
    return (
        f"mutation ($input: {probe.input_type}!) {{ result: {probe.field}(input: $input) "
        f"{{ {ERRORS} }} }}"
    )


PROBES = [
    Probe("updatePost", "UpdatePostInput", lambda i: {"id": i, "title": "x"}, "draft"),
    Probe("updatePost", "UpdatePostInput", lambda i: {"id": i, "title": "x"}, "hidden_post"),
    Probe("deletePost", "PostIdInput", lambda i: {"id": i}, "draft"),
    Probe("likePost", "PostLikeInput", lambda i: {"postId": i}, "hidden_post"),
    Probe("unlikePost", "PostLikeInput", lambda i: {"postId": i}, "draft"),
    Probe("createComment", "CreateCommentInput", lambda i: {"postId": i, "body": "hi"}, "draft"),
    Probe(
        "createComment",
        "CreateCommentInput",
        lambda i: {"postId": "{post}", "parentId": i, "body": "hi"},
        "hidden_comment",
    ),
    Probe(
        "createComment",
        "CreateCommentInput",
        lambda i: {"postId": "{post}", "parentId": i, "body": "hi"},
        "reply_under_hidden",
    ),
    Probe("likeComment", "CommentLikeInput", lambda i: {"commentId": i}, "hidden_comment"),
    Probe("likeComment", "CommentLikeInput", lambda i: {"commentId": i}, "reply_under_hidden"),
    Probe("updateComment", "UpdateCommentInput", lambda i: {"id": i, "body": "x"}, "hidden_own"),
    Probe("deleteComment", "CommentIdInput", lambda i: {"id": i}, "comment_on_draft"),
    Probe(
        "reportContent",
        "ReportContentInput",
        lambda i: {"targetType": "POST", "targetId": i, "reason": "SPAM"},
        "hidden_post",
    ),
    Probe(
        "reportContent",
        "ReportContentInput",
        lambda i: {"targetType": "COMMENT", "targetId": i, "reason": "SPAM"},
        "hidden_comment",
    ),
    Probe(
        "checkIn",
        "CheckInInput",
        lambda i: {"goalId": i, "date": "2026-02-01", "value": 1},
        "goal",
    ),
    Probe("addMilestone", "AddMilestoneInput", lambda i: {"goalId": i, "title": "m"}, "goal"),
    Probe(
        "updateMilestone", "UpdateMilestoneInput", lambda i: {"id": i, "title": "m"}, "milestone"
    ),
    Probe("deleteGoal", "DeleteGoalInput", lambda i: {"id": i}, "goal"),
    Probe("cancelAppointment", "CancelAppointmentInput", lambda i: {"id": i}, "appointment"),
    Probe(
        "rescheduleAppointment",
        "RescheduleAppointmentInput",
        lambda i: {"id": i, "startsAt": "2030-01-07T09:00:00+00:00"},
        "appointment",
    ),
    Probe(
        "reviewAppointment",
        "ReviewAppointmentInput",
        lambda i: {"appointmentId": i, "rating": 5},
        "appointment",
    ),
    Probe("releaseHold", "ReleaseHoldInput", lambda i: {"id": i}, "hold"),
    Probe("updateCoupon", "UpdateCouponInput", lambda i: {"id": i, "active": False}, "coupon"),
    Probe(
        "saveLessonProgress",
        "SaveLessonProgressInput",
        lambda i: {"lessonId": i, "positionSec": 1},
        "draft_lesson",
    ),
    Probe(
        "updateDoctorProfile",
        "UpdateDoctorProfileInput",
        lambda i: {"doctorId": i, "bio": "x"},
        "unverified",
    ),
    Probe(
        "setAvailabilityRules",
        "SetAvailabilityRulesInput",
        lambda i: {"doctorId": i, "rules": []},
        "unverified",
    ),
    Probe(
        "holdSlot",
        "HoldSlotInput",
        lambda i: {"doctorId": i, "startsAt": "2030-01-07T09:00:00+00:00"},
        "unverified",
    ),
    Probe(
        "removeAvailabilityException",
        "RemoveAvailabilityExceptionInput",
        lambda i: {"id": i},
        "exception",
    ),
]


async def _world(db: Database) -> dict[str, Any]:
    viewer = await make_user(db)
    other = await make_user(db)
    post = await make_post(db, other)
    hidden_parent = await make_comment(db, post, other, hidden=True)
    draft = await make_post(db, other, published=False)
    # A comment made before the post went back to draft.
    comment_on_draft = await make_comment(db, draft, other)
    verified = await make_doctor(db)
    unverified = await make_doctor(db, verified=False)
    goal = await make_goal(db, other)
    appointment = await make_appointment(
        db,
        doctor=verified,
        patient=other,
        starts_at=datetime.now(UTC) + timedelta(days=4),
        status="completed",
    )
    return {
        "viewer": viewer,
        "other": gid(other),
        "post": gid(post),
        "draft": gid(draft),
        "hidden_post": str((await make_post(db, other, hidden=True)).id),
        "hidden_comment": str((await make_comment(db, post, other, hidden=True)).id),
        "reply_under_hidden": str((await make_comment(db, post, other, parent=hidden_parent)).id),
        "hidden_own": str((await make_comment(db, post, viewer, hidden=True)).id),
        "comment_on_draft": gid(comment_on_draft),
        "goal": gid(goal),
        "milestone": str((await make_milestone(db, goal, position=0)).id),
        "appointment": gid(appointment),
        "hold": str(
            (
                await make_hold(
                    db,
                    doctor=verified,
                    user=other,
                    starts_at=datetime.now(UTC) + timedelta(days=3),
                )
            ).id
        ),
        "coupon": str((await make_coupon(db, code="PRIVATE1", doctor_id=verified.id)).id),
        "draft_lesson": str((await make_lesson(db, published=False)).id),
        "unverified": gid(unverified),
        "exception": str(
            (await make_exception(db, unverified, on=date(2030, 1, 7), reason="private")).id
        ),
    }


async def _snapshot(db: Database) -> dict[str, Any]:
    """Row count and a digest of every row of each table the probes could touch."""
    tables = (
        "posts",
        "comments",
        "post_likes",
        "comment_likes",
        "reports",
        "goals",
        "goal_milestones",
        "goal_check_ins",
        "appointments",
        "appointment_events",
        "reviews",
        "slot_holds",
        "coupons",
        "lesson_progress",
        "doctors",
        "doctor_availability",
        "availability_exceptions",
    )
    digest = "SELECT count(*), md5(string_agg(t::text, ',' ORDER BY t::text)) FROM"
    async with db.read() as session:
        return {
            table: (await session.execute(text(f"{digest} {table} t"))).one() for table in tables
        }


def _fill(value: Any, world: dict[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return world[value[1:-1]]
    return value


@pytest.mark.parametrize("probe", PROBES, ids=[f"{p.field}-{p.hidden}" for p in PROBES])
async def test_hidden_ids_answer_like_missing_ids(
    client: GraphQLClient, db: Database, probe: Probe
) -> None:
    world = await _world(db)
    query = _mutation(probe)
    before = await _snapshot(db)
    answers = []
    for target in (world[probe.hidden], RANDOM_ID):
        variables = {"input": {k: _fill(v, world) for k, v in probe.build(target).items()}}
        response = await client.execute(query, variables, as_user=world["viewer"])
        assert not response.errors, response.errors
        answers.append(response.data["result"])
    assert answers[0] == answers[1], probe
    assert answers[0]["code"] == "NOT_FOUND", answers[0]
    assert await _snapshot(db) == before


READS = """
query ($post: ID!, $hidden: ID!, $reply: ID!, $goal: ID!, $appointment: ID!, $lesson: ID!,
       $unverified: ID!, $other: ID!) {
  draft: post(id: $post) { id }
  hidden: comment(id: $hidden) { id }
  reply: comment(id: $reply) { id }
  goal(id: $goal) { id }
  appointment(id: $appointment) { id }
  lesson(id: $lesson) { id }
  doctor(id: $unverified) { id }
  user(id: $other) { id }
}
"""


async def test_hidden_ids_read_as_null(client: GraphQLClient, db: Database) -> None:
    world = await _world(db)
    variables = {
        "post": world["draft"],
        "hidden": world["hidden_comment"],
        "reply": world["reply_under_hidden"],
        "goal": world["goal"],
        "appointment": world["appointment"],
        "lesson": world["draft_lesson"],
        "unverified": world["unverified"],
        "other": world["other"],
    }
    response = await client.execute(READS, variables, as_user=world["viewer"])
    assert not response.errors
    assert all(value is None for value in response.data.values()), response.data
