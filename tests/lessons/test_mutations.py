"""Lesson writes: progress (own, idempotent, sticky completion, clamped), lesson management
for coaches and admins (typed errors, nothing written on error), entitlements for admins."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from models import Entitlement, Lesson, LessonProgress
from resolvers.core.database import Database
from tests.client import GraphQLClient
from tests.factories import gid, make_user
from tests.lessons.factories import make_entitlement, make_lesson

SAVE_PROGRESS = """
mutation ($input: SaveLessonProgressInput!) {
  saveLessonProgress(input: $input) {
    __typename
    ... on LessonProgressSaved { progress { positionSec completed completedAt lastWatchedAt
                                            lesson { slug } } }
    ... on UserError { code message }
    ... on ValidationError { fields { field messages } }
  }
}
"""
CREATE = """
mutation ($input: CreateLessonInput!) {
  createLesson(input: $input) {
    __typename
    ... on LessonSaved { lesson { id slug title module position published paywall tags
                                  videoId chapters { title startSec } } }
    ... on SlugTaken { slug }
    ... on UserError { code message }
    ... on ValidationError { fields { field messages } }
  }
}
"""
UPDATE = """
mutation ($input: UpdateLessonInput!) {
  updateLesson(input: $input) {
    __typename
    ... on LessonSaved { lesson { slug title durationSec videoId chapters { startSec } updatedAt } }
    ... on SlugTaken { slug }
    ... on UserError { code }
    ... on ValidationError { fields { field messages } }
  }
}
"""
PUBLISH = """
mutation ($input: PublishLessonInput!) {
  publishLesson(input: $input) { __typename ... on LessonSaved { lesson { published } }
                                 ... on UserError { code } }
}
"""
DELETE = """
mutation ($input: DeleteLessonInput!) {
  deleteLesson(input: $input) { __typename ... on LessonDeleted { deletedId }
                                ... on UserError { code } }
}
"""
GRANT = """
mutation ($input: GrantEntitlementInput!) {
  grantEntitlement(input: $input) {
    __typename
    ... on EntitlementSaved { entitlement { product validUntil active } }
    ... on UserError { code }
    ... on ValidationError { fields { field } }
  }
}
"""
REVOKE = """
mutation ($input: RevokeEntitlementInput!) {
  revokeEntitlement(input: $input) {
    __typename ... on EntitlementSaved { entitlement { active revokedAt } }
    ... on UserError { code }
  }
}
"""
PAID_VIDEO = "query ($slug: String) { lesson(slug: $slug) { videoId } }"


async def _count(db: Database, model: Any) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_save_progress_clamps_is_idempotent_and_completion_is_sticky(
    client: GraphQLClient, db: Database
) -> None:
    lesson = await make_lesson(db, slug="clamp", duration_sec=300)
    user = await make_user(db)
    base = {"lessonId": gid(lesson)}

    first = await client.execute(
        SAVE_PROGRESS, {"input": {**base, "positionSec": 900}}, as_user=user
    )
    progress = first.data["saveLessonProgress"]["progress"]
    assert progress["positionSec"] == 300
    assert progress["completed"] is False and progress["completedAt"] is None
    assert progress["lesson"] == {"slug": "clamp"}

    done = await client.execute(
        SAVE_PROGRESS, {"input": {**base, "positionSec": 280, "completed": True}}, as_user=user
    )
    completed_at = done.data["saveLessonProgress"]["progress"]["completedAt"]
    assert completed_at is not None

    for payload in ({"positionSec": 10, "completed": False}, {"positionSec": 20}):
        again = await client.execute(SAVE_PROGRESS, {"input": {**base, **payload}}, as_user=user)
        progress = again.data["saveLessonProgress"]["progress"]
        assert progress["completed"] is True
        assert progress["completedAt"] == completed_at
        assert progress["positionSec"] == payload["positionSec"]

    # Concurrent saves of one user and lesson: one row, no error.
    results = await asyncio.gather(
        *(
            client.execute(SAVE_PROGRESS, {"input": {**base, "positionSec": n}}, as_user=user)
            for n in range(10)
        )
    )
    assert {r.data["saveLessonProgress"]["__typename"] for r in results} == {"LessonProgressSaved"}
    assert await _count(db, LessonProgress) == 1


async def test_save_progress_errors_write_nothing(client: GraphQLClient, db: Database) -> None:
    lesson = await make_lesson(db)
    draft = await make_lesson(db, published=False)
    user = await make_user(db)

    anon = await client.execute(
        SAVE_PROGRESS, {"input": {"lessonId": gid(lesson), "positionSec": 1}}
    )
    assert anon.data["saveLessonProgress"]["code"] == "FORBIDDEN"
    negative = await client.execute(
        SAVE_PROGRESS, {"input": {"lessonId": gid(lesson), "positionSec": -1}}, as_user=user
    )
    assert negative.data["saveLessonProgress"]["fields"][0]["field"] == "positionSec"
    hidden = await client.execute(
        SAVE_PROGRESS, {"input": {"lessonId": gid(draft), "positionSec": 1}}, as_user=user
    )
    assert hidden.data["saveLessonProgress"]["code"] == "NOT_FOUND"
    service = await client.execute(
        SAVE_PROGRESS, {"input": {"lessonId": gid(lesson), "positionSec": 1}}, as_user="service"
    )
    assert service.data["saveLessonProgress"]["code"] == "FORBIDDEN"
    assert await _count(db, LessonProgress) == 0


NEW_LESSON = {
    "slug": "breathing-101",
    "title": "  Breathing 101 ",
    "module": "Foundations",
    "position": 3,
    "durationSec": 600,
    "videoId": "abc_DEF-1",
    "chapters": [{"title": "Intro", "startSec": 0}, {"title": "Box breathing", "startSec": 90}],
    "tags": ["Breath", "breath", " calm "],
    "paywall": True,
}


@pytest.mark.parametrize("role", ["coach", "admin"])
async def test_create_update_publish_delete_lesson(
    client: GraphQLClient, db: Database, role: str
) -> None:
    author = await make_user(db, roles=(role,))
    patient = await make_user(db)
    created = await client.execute(CREATE, {"input": NEW_LESSON}, as_user=author)
    lesson = created.data["createLesson"]["lesson"]
    assert lesson["title"] == "Breathing 101"
    assert lesson["published"] is False and lesson["paywall"] is True
    assert lesson["tags"] == ["breath", "calm"]
    assert lesson["chapters"][1] == {"title": "Box breathing", "startSec": 90}
    assert (await client.execute(PAID_VIDEO, {"slug": "breathing-101"}, as_user=patient)).data[
        "lesson"
    ] is None

    updated = await client.execute(
        UPDATE,
        {"input": {"id": lesson["id"], "title": "Breathing basics", "videoId": ""}},
        as_user=author,
    )
    assert updated.data["updateLesson"]["lesson"]["title"] == "Breathing basics"
    assert updated.data["updateLesson"]["lesson"]["videoId"] is None

    published = await client.execute(PUBLISH, {"input": {"id": lesson["id"]}}, as_user=author)
    assert published.data["publishLesson"]["lesson"] == {"published": True}
    seen = await client.execute(PAID_VIDEO, {"slug": "breathing-101"}, as_user=patient)
    assert seen.data["lesson"] == {"videoId": None}

    deleted = await client.execute(DELETE, {"input": {"id": lesson["id"]}}, as_user=author)
    assert deleted.data["deleteLesson"]["deletedId"] == lesson["id"]
    assert await _count(db, Lesson) == 0


async def test_lesson_management_errors_write_nothing(client: GraphQLClient, db: Database) -> None:
    coach = await make_user(db, roles=("coach",))
    patient = await make_user(db)
    existing = await make_lesson(db, slug="taken", duration_sec=100)
    before = await _count(db, Lesson)

    denied = await client.execute(CREATE, {"input": NEW_LESSON}, as_user=patient)
    assert denied.data["createLesson"]["code"] == "FORBIDDEN"
    anon = await client.execute(CREATE, {"input": NEW_LESSON})
    assert anon.data["createLesson"]["code"] == "FORBIDDEN"

    taken = await client.execute(CREATE, {"input": {**NEW_LESSON, "slug": "taken"}}, as_user=coach)
    assert taken.data["createLesson"] == {
        "__typename": "SlugTaken",
        "slug": "taken",
        "code": "SLUG_TAKEN",
        "message": "The slug 'taken' is already used by another lesson.",
    }
    invalid = await client.execute(
        CREATE,
        {
            "input": {
                **NEW_LESSON,
                "slug": "Bad Slug",
                "title": " ",
                "durationSec": 60,
                "chapters": [{"title": "A", "startSec": 30}, {"title": "B", "startSec": 10}],
                "videoId": "no spaces",
            }
        },
        as_user=coach,
    )
    fields = {f["field"] for f in invalid.data["createLesson"]["fields"]}
    assert fields == {"slug", "title", "chapters[1].startSec", "videoId"}
    long_title = await client.execute(
        CREATE, {"input": {**NEW_LESSON, "title": "x" * 201}}, as_user=coach
    )
    assert long_title.data["createLesson"]["__typename"] == "ValidationError"
    assert await _count(db, Lesson) == before

    rename = await client.execute(
        UPDATE, {"input": {"id": gid(existing), "slug": "taken"}}, as_user=coach
    )
    assert rename.data["updateLesson"]["__typename"] == "LessonSaved"
    other = await make_lesson(db, slug="other")
    clash = await client.execute(
        UPDATE, {"input": {"id": gid(other), "slug": "taken", "title": "New"}}, as_user=coach
    )
    assert clash.data["updateLesson"]["__typename"] == "SlugTaken"
    shrink = await client.execute(
        UPDATE, {"input": {"id": gid(existing), "durationSec": 50}}, as_user=coach
    )
    assert shrink.data["updateLesson"]["fields"][0]["field"] == "chapters[1].startSec"
    async with db.read() as session:
        row = await session.get(Lesson, other.id)
        assert row is not None and row.slug == "other" and row.title != "New"
        kept = await session.get(Lesson, existing.id)
        assert kept is not None and kept.duration_sec == 100

    for mutation, name in ((UPDATE, "updateLesson"), (PUBLISH, "publishLesson")):
        response = await client.execute(mutation, {"input": {"id": gid(existing)}}, as_user=patient)
        assert response.data[name]["code"] == "FORBIDDEN"
    gone = await client.execute(
        DELETE, {"input": {"id": "00000000-0000-0000-0000-000000000000"}}, as_user=coach
    )
    assert gone.data["deleteLesson"]["code"] == "NOT_FOUND"
    denied_delete = await client.execute(DELETE, {"input": {"id": gid(existing)}}, as_user=patient)
    assert denied_delete.data["deleteLesson"]["code"] == "FORBIDDEN"
    assert await _count(db, Lesson) == before + 1


async def test_concurrent_creates_of_one_slug_one_wins(client: GraphQLClient, db: Database) -> None:
    coach = await make_user(db, roles=("coach",))
    results = await asyncio.gather(
        *(client.execute(CREATE, {"input": NEW_LESSON}, as_user=coach) for _ in range(8))
    )
    kinds = sorted(r.data["createLesson"]["__typename"] for r in results)
    assert kinds == ["LessonSaved"] + ["SlugTaken"] * 7
    assert await _count(db, Lesson) == 1


async def test_grant_and_revoke_entitlement_unlock_paywall(
    client: GraphQLClient, db: Database
) -> None:
    admin = await make_user(db, roles=("admin",))
    user = await make_user(db)
    await make_lesson(db, slug="premium", paywall=True, video_id="prem")
    until = (datetime.now(UTC) + timedelta(days=7)).isoformat()

    assert (await client.execute(PAID_VIDEO, {"slug": "premium"}, as_user=user)).data["lesson"] == {
        "videoId": None
    }
    granted = await client.execute(
        GRANT, {"input": {"userId": gid(user), "validUntil": until}}, as_user=admin
    )
    assert granted.data["grantEntitlement"]["entitlement"]["active"] is True
    assert (await client.execute(PAID_VIDEO, {"slug": "premium"}, as_user=user)).data["lesson"] == {
        "videoId": "prem"
    }
    extended = await client.execute(GRANT, {"input": {"userId": gid(user)}}, as_user=admin)
    assert extended.data["grantEntitlement"]["entitlement"]["validUntil"] is None
    assert await _count(db, Entitlement) == 1

    revoked = await client.execute(REVOKE, {"input": {"userId": gid(user)}}, as_user=admin)
    assert revoked.data["revokeEntitlement"]["entitlement"]["active"] is False
    assert (await client.execute(PAID_VIDEO, {"slug": "premium"}, as_user=user)).data["lesson"] == {
        "videoId": None
    }
    again = await client.execute(REVOKE, {"input": {"userId": gid(user)}}, as_user=admin)
    assert again.data["revokeEntitlement"]["code"] == "NOT_FOUND"


async def test_entitlement_errors_write_nothing(client: GraphQLClient, db: Database) -> None:
    admin = await make_user(db, roles=("admin",))
    coach = await make_user(db, roles=("coach",))
    user = await make_user(db)
    await make_entitlement(db, user)
    variables = {"input": {"userId": gid(user), "product": "coaching"}}
    for viewer in (user, coach, None):
        denied = await client.execute(GRANT, variables, as_user=viewer)
        assert denied.data["grantEntitlement"]["code"] == "FORBIDDEN"
        revoke = await client.execute(REVOKE, {"input": {"userId": gid(user)}}, as_user=viewer)
        assert revoke.data["revokeEntitlement"]["code"] == "FORBIDDEN"
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    invalid = await client.execute(
        GRANT,
        {"input": {"userId": gid(user), "product": "Bad Product", "validUntil": past}},
        as_user=admin,
    )
    assert {f["field"] for f in invalid.data["grantEntitlement"]["fields"]} == {
        "product",
        "validUntil",
    }
    unknown = await client.execute(
        GRANT, {"input": {"userId": "00000000-0000-0000-0000-000000000001"}}, as_user=admin
    )
    assert unknown.data["grantEntitlement"]["code"] == "NOT_FOUND"
    async with db.read() as session:
        rows = (await session.scalars(select(Entitlement))).all()
    assert [(row.product, row.revoked_at) for row in rows] == [("lessons", None)]
