"""Lessons reads: visibility per viewer, the paywall through every path, progress, modules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from resolvers.core.database import Database
from tests.client import GraphQLClient
from tests.factories import gid, make_doctor, make_user, user_of
from tests.lessons.factories import make_entitlement, make_lesson, make_progress

LESSONS = """
query ($filter: LessonFilter, $first: Int, $after: String) {
  lessons(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { slug module position paywall published videoId locked
                   chapters { title startSec } } }
  }
}
"""
LESSON_BY = """
query ($id: ID, $slug: String) {
  lesson(id: $id, slug: $slug) { id slug videoId chapters { title } viewerProgress { positionSec } }
}
"""
MODULES = """
query {
  lessonModules {
    name lessonCount completedCount completionPercent totalDurationSec
    lessons { slug videoId chapters { startSec } viewerProgress { completed } }
  }
}
"""
PROGRESS_VIA_LESSON = """
query ($slug: String) { lesson(slug: $slug) { viewerProgress { positionSec completed } } }
"""


async def _viewer(kind: str, db: Database) -> Any:
    if kind == "anon":
        return None
    if kind == "service":
        return "service"
    if kind == "patient":
        return await make_user(db)
    if kind == "entitled":
        user = await make_user(db)
        await make_entitlement(db, user)
        return user
    if kind == "open_ended":
        user = await make_user(db)
        await make_entitlement(db, user, valid_for=None)
        return user
    if kind == "expired":
        user = await make_user(db)
        await make_entitlement(db, user, valid_for=timedelta(days=-1))
        return user
    if kind == "revoked":
        user = await make_user(db)
        await make_entitlement(db, user, revoked=True)
        return user
    if kind == "other_product":
        user = await make_user(db)
        await make_entitlement(db, user, product="coaching")
        return user
    if kind == "doctor":
        return await user_of(db, await make_doctor(db))
    return await make_user(db, roles=(kind,))


# kind -> (sees paywalled content, sees unpublished lessons)
VIEWER_KINDS = {
    "anon": (False, False),
    "patient": (False, False),
    "doctor": (False, False),
    "entitled": (True, False),
    "open_ended": (True, False),
    "expired": (False, False),
    "revoked": (False, False),
    "other_product": (False, False),
    "coach": (True, True),
    "admin": (True, True),
    "service": (True, True),
}


@pytest.mark.parametrize("kind", list(VIEWER_KINDS))
async def test_paywall_and_publication_per_viewer(
    client: GraphQLClient, db: Database, kind: str
) -> None:
    sees_paid, sees_drafts = VIEWER_KINDS[kind]
    await make_lesson(db, slug="free", module="A", position=1, video_id="free1")
    await make_lesson(db, slug="paid", module="A", position=2, paywall=True, video_id="paid1")
    await make_lesson(db, slug="draft", module="B", position=1, published=False, video_id="dr1")
    viewer = await _viewer(kind, db)

    listed = (await client.execute(LESSONS, as_user=viewer)).data["lessons"]
    nodes = {edge["node"]["slug"]: edge["node"] for edge in listed["edges"]}
    expected = {"free", "paid"} | ({"draft"} if sees_drafts else set())
    assert set(nodes) == expected
    assert listed["totalCount"] == len(expected)
    assert nodes["free"]["videoId"] == "free1"
    assert nodes["free"]["chapters"] == [
        {"title": "Intro", "startSec": 0},
        {"title": "Main", "startSec": 60},
    ]
    assert nodes["paid"]["videoId"] == ("paid1" if sees_paid else None)
    assert (nodes["paid"]["chapters"] is not None) is sees_paid
    assert nodes["paid"]["locked"] is (not sees_paid)

    single = (await client.execute(LESSON_BY, {"slug": "paid"}, as_user=viewer)).data["lesson"]
    assert single["videoId"] == ("paid1" if sees_paid else None)
    assert (single["chapters"] is not None) is sees_paid
    draft = (await client.execute(LESSON_BY, {"slug": "draft"}, as_user=viewer)).data["lesson"]
    assert (draft is not None) is sees_drafts

    modules = (await client.execute(MODULES, as_user=viewer)).data["lessonModules"]
    by_name = {module["name"]: module for module in modules}
    assert set(by_name) == ({"A", "B"} if sees_drafts else {"A"})
    module_lessons = {lesson["slug"]: lesson for lesson in by_name["A"]["lessons"]}
    assert by_name["A"]["lessonCount"] == 2
    assert module_lessons["free"]["videoId"] == "free1"
    assert module_lessons["paid"]["videoId"] == ("paid1" if sees_paid else None)
    assert (module_lessons["paid"]["chapters"] is not None) is sees_paid


async def test_lessons_order_filters_and_pagination(client: GraphQLClient, db: Database) -> None:
    await make_lesson(db, slug="b-2", module="B", position=2, tags=["breath"])
    await make_lesson(db, slug="a-2", module="A", position=2, title="Deep sleep")
    await make_lesson(db, slug="a-1", module="A", position=1, tags=["breath", "sleep"])
    await make_lesson(db, slug="b-1", module="B", position=1)
    user = await make_user(db)

    first = (await client.execute(LESSONS, {"first": 3}, as_user=user)).data["lessons"]
    assert [e["node"]["slug"] for e in first["edges"]] == ["a-1", "a-2", "b-1"]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = (
        await client.execute(
            LESSONS, {"first": 3, "after": first["pageInfo"]["endCursor"]}, as_user=user
        )
    ).data["lessons"]
    assert [e["node"]["slug"] for e in rest["edges"]] == ["b-2"]
    assert rest["pageInfo"]["hasNextPage"] is False

    async def slugs(conditions: dict[str, Any]) -> list[str]:
        data = (await client.execute(LESSONS, {"filter": conditions}, as_user=user)).data
        return [edge["node"]["slug"] for edge in data["lessons"]["edges"]]

    assert await slugs({"module": "B"}) == ["b-1", "b-2"]
    assert await slugs({"tag": "breath"}) == ["a-1", "b-2"]
    assert await slugs({"search": "deep SLEEP"}) == ["a-2"]
    assert await slugs({"published": False}) == []
    await make_lesson(db, slug="z-draft", module="A", position=9, published=False)
    coach = await make_user(db, roles=("coach",))
    drafts = await client.execute(LESSONS, {"filter": {"published": False}}, as_user=coach)
    assert [e["node"]["slug"] for e in drafts.data["lessons"]["edges"]] == ["z-draft"]
    assert await slugs({"published": False}) == []

    over = await client.execute(LESSONS, {"first": 101}, as_user=user)
    assert over.codes == ["BAD_USER_INPUT"]
    both = await client.execute(LESSON_BY, {"slug": "a-1", "id": "x"}, as_user=user)
    assert both.codes == ["BAD_USER_INPUT"]


async def test_lesson_by_id_and_viewer_progress_is_own(client: GraphQLClient, db: Database) -> None:
    lesson = await make_lesson(db, slug="watched")
    owner = await make_user(db)
    other = await make_user(db)
    admin = await make_user(db, roles=("admin",))
    await make_progress(db, owner, lesson, position_sec=120)

    own = await client.execute(LESSON_BY, {"id": gid(lesson)}, as_user=owner)
    assert own.data["lesson"]["viewerProgress"] == {"positionSec": 120}
    for viewer in (other, admin, None, "service"):
        response = await client.execute(LESSON_BY, {"id": gid(lesson)}, as_user=viewer)
        assert response.data["lesson"]["viewerProgress"] is None


async def test_lesson_modules_completion_is_the_viewers(
    client: GraphQLClient, db: Database
) -> None:
    first = await make_lesson(db, slug="m1", module="Habits", position=1, duration_sec=100)
    second = await make_lesson(db, slug="m2", module="Habits", position=2, duration_sec=200)
    await make_lesson(db, slug="m3", module="Habits", position=3, published=False)
    user = await make_user(db)
    other = await make_user(db)
    await make_progress(db, user, first, completed=True)
    await make_progress(db, user, second, completed=False)
    await make_progress(db, other, second, completed=True)

    modules = (await client.execute(MODULES, as_user=user)).data["lessonModules"]
    assert modules == [
        {
            "name": "Habits",
            "lessonCount": 2,
            "completedCount": 1,
            "completionPercent": 50.0,
            "totalDurationSec": 300,
            "lessons": [
                {
                    "slug": "m1",
                    "videoId": first.video_id,
                    "chapters": [{"startSec": 0}, {"startSec": 60}],
                    "viewerProgress": {"completed": True},
                },
                {
                    "slug": "m2",
                    "videoId": second.video_id,
                    "chapters": [{"startSec": 0}, {"startSec": 60}],
                    "viewerProgress": {"completed": False},
                },
            ],
        }
    ]
    anon = (await client.execute(MODULES)).data["lessonModules"]
    assert anon[0]["completedCount"] == 0
    assert [lesson["viewerProgress"] for lesson in anon[0]["lessons"]] == [None, None]
    coach = await make_user(db, roles=("coach",))
    coached = (await client.execute(MODULES, as_user=coach)).data["lessonModules"]
    assert coached[0]["lessonCount"] == 3
    assert coached[0]["completedCount"] == 0


ENTITLEMENTS = """
query ($userId: ID) { entitlements(userId: $userId) { product active revokedAt } }
"""


async def test_entitlements_policy(client: GraphQLClient, db: Database) -> None:
    owner = await make_user(db)
    other = await make_user(db)
    coach = await make_user(db, roles=("coach",))
    admin = await make_user(db, roles=("admin",))
    await make_entitlement(db, owner)
    await make_entitlement(db, owner, product="coaching", revoked=True)
    variables = {"userId": gid(owner)}

    own = (await client.execute(ENTITLEMENTS, as_user=owner)).data["entitlements"]
    assert sorted((row["product"], row["active"]) for row in own) == [
        ("coaching", False),
        ("lessons", True),
    ]
    for viewer, count in ((other, 0), (coach, 0), (None, 0), (admin, 2), ("service", 2)):
        rows = (await client.execute(ENTITLEMENTS, variables, as_user=viewer)).data
        assert len(rows["entitlements"]) == count


LESSON_PROGRESS_OF = """
query ($id: ID) { lesson(id: $id) { viewerProgress { userId lesson { slug } } } }
"""


async def test_lesson_statement_count_is_fixed(client: GraphQLClient, db: Database) -> None:
    query = """
    query { lessons(first: 50) { edges { node { videoId chapters { title } viewerProgress {
      positionSec lesson { slug } } } } }
      lessonModules { name lessons { slug videoId viewerProgress { completed } } } }
    """
    user = await make_user(db)
    await make_entitlement(db, user, valid_for=timedelta(days=-1))
    for index in range(2):
        lesson = await make_lesson(db, module=f"M{index % 2}", paywall=index % 2 == 0)
        await make_progress(db, user, lesson)
    few = await client.execute(query, as_user=user)
    for index in range(20):
        lesson = await make_lesson(db, module=f"M{index % 3}", paywall=index % 2 == 0)
        await make_progress(db, user, lesson)
    many = await client.execute(query, as_user=user)
    assert len(many.data["lessons"]["edges"]) == 22
    assert few.statements == many.statements
    print(f"lessons + lessonModules statements: {many.statements}")


PROGRESS_LIST = """
query ($userId: ID) {
  lessonProgress(userId: $userId, first: 50) {
    totalCount edges { node { userId positionSec lesson { slug } } }
  }
}
"""


async def test_lesson_progress_policy_rows(client: GraphQLClient, db: Database) -> None:
    lesson = await make_lesson(db, slug="tracked")
    draft = await make_lesson(db, slug="draft-tracked", published=False)
    owner = await make_user(db)
    other = await make_user(db)
    coach = await make_user(db, roles=("coach",))
    admin = await make_user(db, roles=("admin",))
    doctor = await user_of(db, await make_doctor(db))
    await make_progress(db, owner, lesson, position_sec=10)
    await make_progress(db, owner, draft, position_sec=20)
    await make_progress(db, other, lesson, position_sec=30)

    async def listed(viewer: Any, user_id: Any = None) -> tuple[int, set[tuple[str, Any]]]:
        variables = {"userId": str(user_id)} if user_id is not None else {}
        data = (await client.execute(PROGRESS_LIST, variables, as_user=viewer)).data
        connection = data["lessonProgress"]
        rows = {
            (edge["node"]["userId"], edge["node"]["lesson"] and edge["node"]["lesson"]["slug"])
            for edge in connection["edges"]
        }
        return connection["totalCount"], rows

    # Own rows only; the lesson behind a draft is null for a patient (lessons policy).
    assert await listed(owner) == (2, {(gid(owner), "tracked"), (gid(owner), None)})
    assert await listed(owner, other.id) == (0, set())
    assert await listed(other) == (1, {(gid(other), "tracked")})
    for viewer in (None, coach, doctor):
        assert await listed(viewer, owner.id) == (0, set())
    assert (await listed(admin, owner.id))[0] == 2
    assert (await listed(admin))[0] == 3
    assert (await listed("service"))[0] == 3
    admin_rows = await listed(admin, owner.id)
    assert (gid(owner), "draft-tracked") in admin_rows[1]
