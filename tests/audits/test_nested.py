"""Authorization audit: nested paths in every direction across domains, for every role of
DESIGN §5. A child reached through a visible parent still obeys the child's own policy,
connection `totalCount`s agree with the edges, and column-level fields are null for
viewers who may not see them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from models import CoachClient
from resolvers.core.database import Database
from tests.appointments.factories import make_appointment, make_coupon, make_hold, make_review
from tests.client import GraphQLClient
from tests.community.factories import like_post, make_post, make_report
from tests.factories import gid, make_doctor, make_user, user_of
from tests.goals.factories import make_check_in, make_goal, make_milestone
from tests.lessons.factories import make_entitlement, make_lesson, make_progress

DOCTOR_TREE = """
query ($doctor: ID!) {
  doctor(id: $doctor) {
    id
    user { id email }
    appointments(first: 50) { totalCount edges { node { id
      patient { id fullName email phone
        goals { totalCount edges { node { id
          milestones { id } milestoneCompletion { total }
          checkIns { totalCount edges { node { id } } } } } }
      }
      review { rating patient { id email } }
      payments { id }
      history { kind }
    } } }
    reviews { totalCount edges { node { rating patient { id fullName email } } } }
  }
}
"""


async def _world(db: Database) -> dict[str, Any]:
    doctor_a, doctor_b = await make_doctor(db), await make_doctor(db)
    p1, p2 = await make_user(db), await make_user(db)
    goal1 = await make_goal(db, p1)
    await make_milestone(db, goal1, position=0)
    await make_check_in(db, goal1, on=date(2026, 2, 1))
    goal2 = await make_goal(db, p2)
    past = datetime.now(UTC) - timedelta(days=3)
    a1 = await make_appointment(db, doctor=doctor_a, patient=p1, starts_at=past, status="completed")
    await make_review(db, a1, rating=4)
    await make_appointment(
        db,
        doctor=doctor_b,
        patient=p2,
        starts_at=past + timedelta(hours=2),
        status="completed",
    )
    await make_hold(db, doctor=doctor_a, user=p1, starts_at=datetime.now(UTC) + timedelta(days=3))
    await make_coupon(db, code="AONLY", doctor_id=doctor_a.id)
    await make_report(db, p2, await make_post(db, p1))
    coach = await make_user(db, roles=("coach",))
    async with db.transaction() as session:
        session.add(CoachClient(coach_id=coach.id, client_id=p1.id))
    return {
        "doctor_a": doctor_a,
        "doctor_b": doctor_b,
        "goal1": goal1,
        "goal2": goal2,
        "a1": a1,
        "users": {
            "anon": None,
            "p1": p1,
            "p2": p2,
            "doctor_a": await user_of(db, doctor_a),
            "doctor_b": await user_of(db, doctor_b),
            "coach": coach,
            "staff": await make_user(db, roles=("staff",)),
            "admin": await make_user(db, roles=("admin",)),
            "service": "service",
        },
    }


# What each role sees of doctor A's tree: appointments listed, patient row visible, the
# patient's contact, the patient's goals (count), and the review's patient.
EXPECTED = {
    #            appts, patient, contact, goals, review author
    "anon": (0, False, False, 0, False),
    "p1": (1, True, True, 1, True),
    "p2": (0, False, False, 0, False),
    "doctor_a": (1, True, True, 1, True),
    "doctor_b": (0, False, False, 0, False),
    # The coach coaches p1: a name, never contact details or appointments; p1's goal.
    "coach": (0, False, False, 0, True),
    # The front desk reads the doctor's appointments and the patient's contact, no goals.
    "staff": (1, True, True, 0, True),
    "admin": (1, True, True, 1, True),
    "service": (1, True, True, 1, True),
}


@pytest.mark.parametrize("role", list(EXPECTED))
async def test_doctor_appointment_patient_goals_tree(
    client: GraphQLClient, db: Database, role: str
) -> None:
    world = await _world(db)
    appointments, patient_visible, contact, goals, review_author = EXPECTED[role]
    response = await client.execute(
        DOCTOR_TREE, {"doctor": gid(world["doctor_a"])}, as_user=world["users"][role]
    )
    assert not response.errors, response.errors
    doctor = response.data["doctor"]
    connection = doctor["appointments"]
    assert connection["totalCount"] == appointments == len(connection["edges"])
    for edge in connection["edges"]:
        node = edge["node"]
        patient = node["patient"]
        assert (patient is not None) == patient_visible
        assert node["review"]["rating"] == 4
        assert (node["review"]["patient"] is not None) == review_author
        if patient is not None:
            assert (patient["email"] is not None) == contact
            assert (patient["phone"] is not None) == contact
            assert patient["goals"]["totalCount"] == goals == len(patient["goals"]["edges"])
            for goal in patient["goals"]["edges"]:
                assert goal["node"]["checkIns"]["totalCount"] == 1
                assert goal["node"]["milestoneCompletion"] == {"total": 1}
    # Reviews of a verified doctor are public; who wrote them is the users policy's call.
    reviews = doctor["reviews"]
    assert reviews["totalCount"] == 1 == len(reviews["edges"])
    author = reviews["edges"][0]["node"]["patient"]
    assert (author is not None) == review_author
    if author is not None and role not in ("p1", "doctor_a", "admin", "service", "staff"):
        assert author["email"] is None
    # The doctor's own account is not public: only the doctor and staff see it.
    own = role in ("doctor_a", "admin", "service", "coach", "staff")
    assert (doctor["user"] is not None) == own
    if doctor["user"] is not None:
        assert (doctor["user"]["email"] is not None) == (role != "coach")


CROSS = """
query ($goal: ID!, $appointment: ID!, $p1: ID!) {
  goal(id: $goal) { id owner { id fullName email phone } }
  appointment(id: $appointment) { id doctor { id user { id email } } patient { id email } }
  user(id: $p1) { id fullName email goals { totalCount } doctor { id } }
  goals { totalCount edges { node { id } } }
  slotHolds { id }
  coupons { totalCount edges { node { code } } }
  reports { totalCount }
  lessonProgress(userId: $p1) { totalCount edges { node { id } } }
  entitlements(userId: $p1) { id }
}
"""

# goal1 visible, owner contact, appointment visible, doctor.user visible, user(p1) visible,
# p1 contact, goals total, holds, coupons, reports, p1's lesson progress, p1's entitlements
CROSS_EXPECTED = {
    "anon": (False, None, False, None, False, None, 0, 0, 0, 0, 0, 0),
    "p1": (True, True, True, False, True, True, 1, 1, 0, 0, 1, 1),
    "p2": (False, None, False, None, False, None, 1, 0, 0, 0, 0, 0),
    "doctor_a": (True, True, True, True, True, True, 1, 1, 1, 0, 0, 0),
    "doctor_b": (False, None, False, None, False, None, 1, 0, 0, 0, 0, 0),
    # The coach coaches p1 (not p2): p1's goal, no contact details, no appointments.
    "coach": (True, False, False, None, True, False, 1, 0, 0, 1, 0, 0),
    # The front desk: appointments, holds and contact details; no goals or progress.
    "staff": (False, None, True, True, True, True, 0, 1, 0, 0, 0, 0),
    "admin": (True, True, True, True, True, True, 2, 1, 1, 1, 1, 1),
}


@pytest.mark.parametrize("role", list(CROSS_EXPECTED))
async def test_cross_domain_roots(client: GraphQLClient, db: Database, role: str) -> None:
    world = await _world(db)
    p1 = world["users"]["p1"]
    lesson = await make_lesson(db)
    await make_progress(db, p1, lesson)
    await make_entitlement(db, p1)
    (
        goal_visible,
        owner_contact,
        appointment_visible,
        doctor_user,
        user_visible,
        user_contact,
        goals_total,
        holds,
        coupons,
        reports,
        progress,
        entitlements,
    ) = CROSS_EXPECTED[role]
    response = await client.execute(
        CROSS,
        {"goal": gid(world["goal1"]), "appointment": gid(world["a1"]), "p1": gid(p1)},
        as_user=world["users"][role],
    )
    assert not response.errors, response.errors
    data = response.data
    assert (data["goal"] is not None) == goal_visible
    if data["goal"] is not None:
        owner = data["goal"]["owner"]
        assert owner is not None
        assert (owner["email"] is not None) == owner_contact
        assert (owner["phone"] is not None) == owner_contact
    assert (data["appointment"] is not None) == appointment_visible
    if data["appointment"] is not None:
        assert (data["appointment"]["doctor"]["user"] is not None) == doctor_user
    assert (data["user"] is not None) == user_visible
    if data["user"] is not None:
        assert (data["user"]["email"] is not None) == user_contact
        assert data["user"]["goals"]["totalCount"] == (1 if goal_visible else 0)
    assert data["goals"]["totalCount"] == goals_total == len(data["goals"]["edges"])
    assert len(data["slotHolds"]) == holds
    assert data["coupons"]["totalCount"] == coupons == len(data["coupons"]["edges"])
    assert data["reports"]["totalCount"] == reports
    assert data["lessonProgress"]["totalCount"] == progress
    assert len(data["lessonProgress"]["edges"]) == progress
    assert len(data["entitlements"]) == entitlements


LIKES = """
query ($post: ID!) { post(id: $post) { likeCount likedBy { id } viewerHasLiked
  author { id displayName } } }
"""


async def test_like_counts_are_exact_but_likers_are_private(
    client: GraphQLClient, db: Database
) -> None:
    author, viewer, other = await make_user(db), await make_user(db), await make_user(db)
    admin = await make_user(db, roles=("admin",))
    post = await make_post(db, author)
    await like_post(db, post, viewer, other)
    seen = await client.execute(LIKES, {"post": gid(post)}, as_user=viewer)
    assert seen.data["post"]["likeCount"] == 2
    assert seen.data["post"]["likedBy"] == [{"id": gid(viewer, "Author")}]
    assert seen.data["post"]["viewerHasLiked"] is True
    staff = await client.execute(LIKES, {"post": gid(post)}, as_user=admin)
    assert {liker["id"] for liker in staff.data["post"]["likedBy"]} == {
        gid(viewer, "Author"),
        gid(other, "Author"),
    }
    anon = await client.execute(LIKES, {"post": gid(post)})
    assert anon.data["post"] is None
