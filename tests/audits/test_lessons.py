"""Authorization audit: the paywall is column-level on every path that reaches a lesson
(root, module lists, progress lists, the saveLessonProgress payload), and an entitlement
counts only while it is active and for the `lessons` product."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from resolvers.core.database import Database
from tests.client import GraphQLClient
from tests.factories import gid, make_user
from tests.lessons.factories import make_entitlement, make_lesson, make_progress

PATHS = """
query ($id: ID!) {
  lesson(id: $id) { videoId chapters { title } locked }
  lessonModules { lessons { id videoId chapters { title } locked } }
  lessonProgress { totalCount edges { node { lesson { id videoId chapters { title } } } } }
}
"""
SAVE = """
mutation ($id: ID!) { saveLessonProgress(input: {lessonId: $id, positionSec: 5}) {
  __typename ... on LessonProgressSaved { progress { lesson { videoId chapters { title } } } }
} }
"""

# How the viewer holds (or not) an entitlement, and whether the paywall opens.
CASES = {
    "none": (None, False),
    "active": ({}, True),
    "open_ended": ({"valid_for": None}, True),
    "expired": ({"valid_for": timedelta(seconds=-1)}, False),
    "revoked": ({"revoked": True}, False),
    "other_product": ({"product": "coaching"}, False),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_paywalled_content_on_every_path(
    client: GraphQLClient, db: Database, case: str
) -> None:
    grant, entitled = CASES[case]
    viewer = await make_user(db)
    if grant is not None:
        await make_entitlement(db, viewer, **grant)
    lesson = await make_lesson(db, paywall=True)
    await make_progress(db, viewer, lesson)
    response = await client.execute(PATHS, {"id": gid(lesson)}, as_user=viewer)
    assert not response.errors, response.errors
    data: dict[str, Any] = response.data
    nodes = [
        data["lesson"],
        *[item for module in data["lessonModules"] for item in module["lessons"]],
        *[edge["node"]["lesson"] for edge in data["lessonProgress"]["edges"]],
    ]
    assert len(nodes) == 3
    for node in nodes:
        assert (node["videoId"] is not None) == entitled, node
        assert (node["chapters"] is not None) == entitled, node
        if "locked" in node:
            assert node["locked"] is not entitled
    saved = await client.execute(SAVE, {"id": gid(lesson)}, as_user=viewer)
    payload = saved.data["saveLessonProgress"]["progress"]["lesson"]
    assert (payload["videoId"] is not None) == entitled


async def test_anon_sees_metadata_but_never_paywalled_content(
    client: GraphQLClient, db: Database
) -> None:
    lesson = await make_lesson(db, paywall=True)
    free = await make_lesson(db)
    response = await client.execute(PATHS, {"id": gid(lesson)})
    assert response.data["lesson"] == {"videoId": None, "chapters": None, "locked": True}
    by_id = {item["id"]: item for m in response.data["lessonModules"] for item in m["lessons"]}
    assert by_id[gid(lesson)]["videoId"] is None
    assert by_id[gid(free)]["videoId"] == free.video_id
    assert response.data["lessonProgress"] == {"totalCount": 0, "edges": []}
    saved = await client.execute(SAVE, {"id": gid(lesson)})
    assert saved.data["saveLessonProgress"]["__typename"] == "NotAllowed"
