"""Root fields answered by Postgres as JSON (schema/engine/sql_json.py): the same answer as
the resolvers and graphql-core (the differential client also sends each query to an app
on graphql-core), in one statement; a selection with a field that has no SQL source, or
an error, leaves the field to the resolvers."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import insert

from models import AuditEntry, User
from resolvers.core.database import Database
from resolvers.core.settings import Settings
from tests.client import GraphQLClient, Response, graphql_client
from tests.community.factories import like_post, make_comment, make_post
from tests.factories import gid, make_user

FEED = """
query Feed($first: Int, $after: String, $replies: Int) {
  feed(first: $first, after: $after) {
    totalCount
    edges { cursor node {
      __typename id title body tags published pinned hidden createdAt updatedAt
      likeCount commentCount viewerHasLiked author { id displayName avatarUrl }
      comments(first: 2) {
        totalCount
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        edges { cursor node {
          id postId parentId body likeCount viewerHasLiked author { displayName }
          replies(first: $replies) { totalCount edges { node { id parentId body } } }
        } }
      }
    } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""

AUDIT = """
query Audit($after: String) {
  auditLog(first: 2, after: $after) {
    edges { cursor node {
      id createdAt actorRole action targetType targetId changes requestId
      actor { id fullName email phone }
    } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


@pytest.fixture
async def on_resolvers(settings: Settings, db: Database) -> AsyncIterator[GraphQLClient]:
    async with graphql_client(settings, db, sql_json_execution=False) as client:
        yield client


async def _answered(
    client: GraphQLClient,
    caplog: pytest.LogCaptureFixture,
    query: str,
    variables: dict[str, Any] | None = None,
    **options: Any,
) -> tuple[Response, list[str]]:
    """The response and the root fields this client's app answered in SQL."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="caregraph.access"):
        response = await client.execute(query, variables, **options)
    [line, *_reference] = [
        json.loads(record.getMessage())
        for record in caplog.records
        if record.name == "caregraph.access"
    ]
    return response, line["sql_json"]


async def _community(db: Database) -> User:
    viewer = await make_user(db)
    others = [await make_user(db) for _ in range(3)]
    for number in range(5):
        post = await make_post(db, others[number % 3], pinned=number == 1)
        await like_post(db, post, viewer)
        for author in others:
            comment = await make_comment(db, post, author)
            await make_comment(db, post, viewer, parent=comment)
            await make_comment(db, post, others[0], parent=comment, hidden=number == 2)
    await make_post(db, others[0], hidden=True)
    await make_post(db, others[1], published=False)
    return viewer


async def test_feed_in_one_statement_as_the_resolvers_answer(
    client: GraphQLClient,
    on_resolvers: GraphQLClient,
    db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    viewer = await _community(db)
    variables: dict[str, Any] = {"first": 2, "replies": 1}
    seen: list[str] = []
    while True:
        response, answered = await _answered(client, caplog, FEED, variables, as_user=viewer)
        assert not response.errors, response.errors
        assert answered == ["feed"]
        assert response.statements == 2  # the viewer, the feed
        expected = await on_resolvers.execute(FEED, variables, as_user=viewer)
        assert response.data == expected.data
        feed = response.data["feed"]
        seen += [edge["node"]["id"] for edge in feed["edges"]]
        if not feed["pageInfo"]["hasNextPage"]:
            break
        variables["after"] = feed["pageInfo"]["endCursor"]
    # 5 published posts, not another member's hidden post or draft; pinned first
    assert len(seen) == len(set(seen)) == 5
    first_page = (await client.execute(FEED, {"first": 2}, as_user=viewer)).data["feed"]
    assert first_page["totalCount"] == 5
    assert first_page["edges"][0]["node"]["pinned"] is True
    node = first_page["edges"][0]["node"]
    assert node["viewerHasLiked"] is True
    assert node["likeCount"] == 1
    assert node["comments"]["totalCount"] == 3
    assert node["comments"]["pageInfo"]["hasNextPage"] is True


async def test_policies_apply_at_every_level_in_sql(
    client: GraphQLClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """A member does not see hidden replies (nor count them); a coach does; anonymous
    viewers see no feed."""
    await _community(db)
    member = await make_user(db)
    coach = await make_user(db, roles=("coach",))
    query = "{ feed(first: 10) { totalCount edges { node { hidden commentCount } } } }"
    as_member, answered = await _answered(client, caplog, query, as_user=member)
    assert answered == ["feed"]
    as_coach, _ = await _answered(client, caplog, query, as_user=coach)
    member_posts = as_member.data["feed"]["edges"]
    coach_posts = as_coach.data["feed"]["edges"]
    assert as_member.data["feed"]["totalCount"] == 5
    assert as_coach.data["feed"]["totalCount"] == 6  # the hidden post too
    assert not any(edge["node"]["hidden"] for edge in member_posts)
    assert sum(edge["node"]["commentCount"] for edge in member_posts) == 5 * 9 - 3
    assert sum(edge["node"]["commentCount"] for edge in coach_posts) == 5 * 9
    anonymous, answered = await _answered(client, caplog, query)
    assert anonymous.data == {"feed": {"totalCount": 0, "edges": []}}
    assert answered == ["feed"]


async def test_a_field_without_a_source_leaves_the_root_field_to_the_resolvers(
    client: GraphQLClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    viewer = await _community(db)
    query = "{ feed(first: 2) { edges { node { id likedBy { displayName } } } } }"
    response, answered = await _answered(client, caplog, query, as_user=viewer)
    assert answered == []
    assert len(response.data["feed"]["edges"]) == 2


async def test_errors_are_graphql_cores(
    client: GraphQLClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    viewer = await _community(db)
    too_many, answered = await _answered(
        client,
        caplog,
        "{ feed(first: 2) { edges { node { comments(first: 101) { totalCount } } } } }",
        as_user=viewer,
    )
    assert answered == []
    assert too_many.errors and too_many.errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    bad_cursor, answered = await _answered(
        client, caplog, FEED, {"after": "not-a-cursor"}, as_user=viewer
    )
    assert answered == []
    assert bad_cursor.errors and bad_cursor.errors[0]["extensions"]["code"] == "BAD_USER_INPUT"


async def _audit_entries(db: Database, actor: User) -> None:
    base = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    rows = [
        # whole seconds, then microseconds: isoformat writes the fraction only when set
        (base, "coupon.update", "Coupon", uuid.uuid4(), {"before": {"a": 1}, "after": None}),
        (base + timedelta(microseconds=120), "role.grant", "User", actor.id, {"roles": ["x"]}),
        (base + timedelta(seconds=1), "service.update", "Service", None, {}),
    ]
    async with db.transaction() as session:
        for created_at, action, target_type, target_id, changes in rows:
            await session.execute(
                insert(AuditEntry).values(
                    created_at=created_at,
                    actor_id=actor.id if target_id is not None else None,
                    actor_role="admin",
                    action=action,
                    target_type=target_type,
                    target_id=target_id,
                    changes=changes,
                    request_id="req-1",
                )
            )


async def test_audit_log_in_sql_pages_and_actors(
    client: GraphQLClient,
    on_resolvers: GraphQLClient,
    db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    admin = await make_user(db, roles=("admin",), email="audit-admin@example.test")
    await _audit_entries(db, admin)
    variables: dict[str, Any] = {}
    nodes = []
    for _ in range(2):
        response, answered = await _answered(client, caplog, AUDIT, variables, as_user=admin)
        assert answered == ["auditLog"]
        assert response.data == (await on_resolvers.execute(AUDIT, variables, as_user=admin)).data
        nodes += [edge["node"] for edge in response.data["auditLog"]["edges"]]
        variables["after"] = response.data["auditLog"]["pageInfo"]["endCursor"]
    assert [node["action"] for node in nodes] == ["service.update", "role.grant", "coupon.update"]
    assert nodes[0]["createdAt"] == "2026-05-01T12:00:01+00:00"
    assert nodes[1]["createdAt"] == "2026-05-01T12:00:00.000120+00:00"
    assert nodes[0]["targetId"] is None and nodes[0]["actor"] is None
    assert nodes[1]["targetId"] == gid(admin, "User")
    assert nodes[1]["actor"]["email"] == "audit-admin@example.test"  # an admin sees contact
    assert nodes[2]["changes"] == {"before": {"a": 1}, "after": None}
    member = await make_user(db)
    refused, answered = await _answered(client, caplog, AUDIT, as_user=member)
    assert answered == []
    assert refused.errors and refused.errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_page_without_aggregates_is_one_row(
    client: GraphQLClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by the fuzz test: `feed { __typename }` selects no aggregate; without one
    group it answered one row per post (or none)."""
    viewer = await _community(db)
    for as_user in (viewer, None):
        query = "{ feed(first: 3) { __typename pageInfo { __typename } } }"
        response, answered = await _answered(client, caplog, query, as_user=as_user)
        assert answered == ["feed"]
        assert response.data == {
            "feed": {"__typename": "PostConnection", "pageInfo": {"__typename": "PageInfo"}}
        }


DOCTOR_DAY = """
query Day($from: DateTime!) {
  appointments(first: 10, filter: {from: $from}, orderBy: {direction: DESC}) {
    edges { node {
      id startsAt type status amountDue currency meetingLink paymentDueAt
      doctor { id fullName specialties ratingAvg feeStandard }
      payments { amount status method }
      patient {
        id fullName email
        goals(status: ACTIVE, first: 5) {
          totalCount
          edges { node {
            id title progress baselineValue currentValue targetValue targetDate
            owner { fullName }
            checkIns(first: 1) { edges { node { date value mood } } }
          } }
        }
      }
    } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def test_appointments_with_patients_goals_in_sql(
    client: GraphQLClient,
    on_resolvers: GraphQLClient,
    db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Decimals, floats written as Python writes them (80.0, not 80), goal progress
    rounded half to even (12.345 -> 12.34) as Decimal's round does, enums, nested lists,
    status-dependent fields, a status argument on a nested page."""
    from tests.appointments.factories import make_appointment
    from tests.factories import make_doctor
    from tests.goals.factories import make_check_in, make_goal

    doctor = await make_doctor(db)
    doctor_user = await db_user(db, doctor.user_id)
    patient = await make_user(db, email="day-patient@example.test")
    start = datetime.now(UTC) + timedelta(days=3)
    await make_appointment(db, doctor=doctor, patient=patient, starts_at=start)
    await make_appointment(
        db,
        doctor=doctor,
        patient=patient,
        starts_at=start + timedelta(hours=2),
        status="pending_payment",
        discount=Decimal("12.50"),
    )
    halfway = await make_goal(db, patient, baseline=0, target=200, current="24.69")
    await make_goal(db, patient, baseline=80, target=80, current=80)
    await make_goal(db, patient, status="paused")
    await make_check_in(db, halfway, on=datetime(2026, 3, 1).date(), value=80, mood="good")
    variables = {"from": datetime.now(UTC).isoformat()}
    for viewer in (doctor_user, patient):
        response, answered = await _answered(client, caplog, DOCTOR_DAY, variables, as_user=viewer)
        assert not response.errors, response.errors
        assert answered == ["appointments"]
        assert response.statements == 2
        expected = await on_resolvers.execute(DOCTOR_DAY, variables, as_user=viewer)
        assert json.dumps(response.data) == json.dumps(expected.data)
    edges = response.data["appointments"]["edges"]
    assert [edge["node"]["status"] for edge in edges] == ["PENDING_PAYMENT", "CONFIRMED"]
    assert edges[0]["node"]["amountDue"] == "87.50"
    assert edges[0]["node"]["paymentDueAt"] is None or "T" in edges[0]["node"]["paymentDueAt"]
    goals = edges[0]["node"]["patient"]["goals"]
    assert goals["totalCount"] == 2  # ACTIVE only
    progress = {edge["node"]["progress"] for edge in goals["edges"]}
    assert progress == {12.34, 100.0}
    [with_check_in] = [e["node"] for e in goals["edges"] if e["node"]["checkIns"]["edges"]]
    assert with_check_in["checkIns"]["edges"][0]["node"] == {
        "date": "2026-03-01",
        "value": 80.0,
        "mood": "GOOD",
    }


async def db_user(db: Database, user_id: uuid.UUID | None) -> User:
    async with db.read() as session:
        found = await session.get(User, user_id)
        assert found is not None
        return found


INBOX = """
query Inbox($unread: Boolean!) {
  viewer {
    id
    unreadNotificationCount
    notifications(first: 10, unreadOnly: $unread) {
      totalCount
      edges { node { id kind actorRole details createdAt read subject { __typename id } } }
      pageInfo { hasNextPage endCursor }
    }
    user { fullName goals(first: 2) { edges { node { title progress } } } }
  }
}
"""


async def test_fields_of_a_single_object_are_islands_in_sql(
    client: GraphQLClient,
    on_resolvers: GraphQLClient,
    db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`viewer` is made by the resolvers; its counts, pages and rows with related rows are
    each one statement. A notification's subject is read through its table's policy: a
    post hidden by moderation is null for its reader, a readable one is a Post."""
    from models import Notification
    from tests.goals.factories import make_goal

    reader = await make_user(db)
    author = await make_user(db)
    shown = await make_post(db, author)
    hidden = await make_post(db, author, hidden=True)
    await make_goal(db, reader, baseline=0, target=3, current=1)
    base = datetime(2026, 6, 1, tzinfo=UTC)
    async with db.transaction() as session:
        for number, (subject_type, subject_id, read) in enumerate(
            [
                ("Post", shown.id, None),
                ("Post", hidden.id, base),
                ("Review", uuid.uuid4(), None),  # not a type a subject resolves to
            ]
        ):
            await session.execute(
                insert(Notification).values(
                    user_id=reader.id,
                    kind="report_resolved",
                    subject_type=subject_type,
                    subject_id=subject_id,
                    actor_role="patient",
                    data={"n": number, "nested": {"b": [1, 2.5]}},
                    created_at=base + timedelta(minutes=number),
                    read_at=read,
                )
            )
    for unread in (False, True):
        variables = {"unread": unread}
        response, answered = await _answered(client, caplog, INBOX, variables, as_user=reader)
        assert not response.errors, response.errors
        assert sorted(answered) == ["notifications", "unreadNotificationCount", "user"]
        assert response.statements == 2  # the viewer, then the islands in one statement
        expected = await on_resolvers.execute(INBOX, variables, as_user=reader)
        assert json.dumps(response.data) == json.dumps(expected.data)
    viewer = (await client.execute(INBOX, {"unread": False}, as_user=reader)).data["viewer"]
    assert viewer["unreadNotificationCount"] == 2
    subjects = [edge["node"]["subject"] for edge in viewer["notifications"]["edges"]]
    assert subjects == [None, None, {"__typename": "Post", "id": gid(shown)}]
    assert viewer["user"]["goals"]["edges"][0]["node"]["progress"] == 33.33
    plain, answered = await _answered(
        client, caplog, "{ viewer { user { fullName } } }", as_user=reader
    )
    assert answered == []  # the viewer's own row: no statement on the resolvers
    assert plain.statements == 1


async def test_fields_of_one_round_are_one_statement(
    client: GraphQLClient,
    on_resolvers: GraphQLClient,
    db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Root fields and islands started together are columns of one statement; two
    `appointments` with different filters keep their values apart."""
    from tests.appointments.factories import make_appointment
    from tests.factories import make_doctor

    doctor = await make_doctor(db)
    patient = await make_user(db)
    start = datetime.now(UTC) + timedelta(days=2)
    for hours in (0, 5, 30):
        await make_appointment(
            db, doctor=doctor, patient=patient, starts_at=start + timedelta(hours=hours)
        )
    query = """
    query ($early: DateTime!, $late: DateTime!) {
      early: appointments(filter: {from: $early}) { edges { node { startsAt } } }
      late: appointments(filter: {from: $late}) { edges { node { startsAt } } }
      feed(first: 1) { totalCount }
      viewer { unreadNotificationCount }
    }
    """
    variables = {
        "early": start.isoformat(),
        "late": (start + timedelta(hours=4)).isoformat(),
    }
    response, answered = await _answered(client, caplog, query, variables, as_user=patient)
    assert sorted(answered) == ["appointments", "appointments", "feed", "unreadNotificationCount"]
    assert response.statements == 2
    assert response.data == (await on_resolvers.execute(query, variables, as_user=patient)).data
    assert len(response.data["early"]["edges"]) == 3
    assert len(response.data["late"]["edges"]) == 2


async def test_cursors_sql_cannot_write_stay_on_the_resolvers(
    client: GraphQLClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Lessons are ordered by module name: a cursor with text is written by Python's JSON
    (which escapes every non-ASCII character), so pages with cursors stay on the
    resolvers; the same page without cursors is answered in SQL."""
    from tests.lessons.factories import make_lesson

    for module in ("Ernährung", "Basics"):
        await make_lesson(db, module=module)
    viewer = await make_user(db)
    with_cursor = "{ lessons(first: 1) { edges { cursor node { module } } } }"
    response, answered = await _answered(client, caplog, with_cursor, as_user=viewer)
    assert answered == []
    assert response.data["lessons"]["edges"][0]["cursor"]
    without, answered = await _answered(
        client, caplog, "{ lessons(first: 1) { edges { node { module } } } }", as_user=viewer
    )
    assert answered == ["lessons"]
    assert without.data["lessons"]["edges"][0]["node"]["module"] == "Basics"
