"""Authorization audit: community rows for coaches. DESIGN §5 gives coaches the patient's
view "+ read hidden": published posts (hidden ones included) and their own drafts, but not
other people's unpublished drafts, nor comments on them (stricter reading of "+ read
hidden"; admins and service_role read all)."""

from __future__ import annotations

from typing import Any

import pytest

from resolvers.core.database import Database
from tests.client import GraphQLClient
from tests.community.factories import make_comment, make_post, make_report
from tests.factories import gid, make_user

FEED = "query { feed(first: 50) { totalCount edges { node { title commentCount } } } }"
READS = """
query ($draft: ID!, $comment: ID!) {
  post(id: $draft) { id }
  comment(id: $comment) { id post { id } }
  reports(first: 10) { totalCount edges { node { id post { id } } } }
}
"""
HIDE = """
mutation ($id: ID!) { hidePost(input: {id: $id}) { __typename ... on UserError { code } } }
"""


async def _world(db: Database) -> dict[str, Any]:
    author = await make_user(db)
    coach = await make_user(db, roles=("coach",))
    published = await make_post(db, author, title="Published")
    hidden = await make_post(db, author, title="Hidden", hidden=True)
    draft = await make_post(db, author, title="Draft", published=False)
    own_draft = await make_post(db, coach, title="Coach draft", published=False)
    on_draft = await make_comment(db, draft, author)
    await make_comment(db, published, author, hidden=True)
    await make_report(db, author, draft)
    return {
        "coach": coach,
        "published": published,
        "hidden": hidden,
        "draft": draft,
        "own_draft": own_draft,
        "on_draft": on_draft,
    }


async def test_coach_reads_hidden_posts_and_own_drafts_but_not_others_drafts(
    client: GraphQLClient, db: Database
) -> None:
    world = await _world(db)
    coach = world["coach"]
    feed = (await client.execute(FEED, as_user=coach)).data["feed"]
    titles = {edge["node"]["title"]: edge["node"] for edge in feed["edges"]}
    assert set(titles) == {"Published", "Hidden", "Coach draft"}
    assert feed["totalCount"] == 3
    assert titles["Published"]["commentCount"] == 1  # the hidden comment, moderators see it
    variables = {
        "draft": gid(world["draft"]),
        "comment": gid(world["on_draft"]),
    }
    reads = (await client.execute(READS, variables, as_user=coach)).data
    assert reads["post"] is None
    assert reads["comment"] is None
    # The report itself is the coach's to read; the draft it names stays hidden.
    assert reads["reports"]["totalCount"] == 1
    assert reads["reports"]["edges"][0]["node"]["post"] is None
    # Moderation of an unreadable draft answers like a missing post.
    hide = await client.execute(HIDE, {"id": gid(world["draft"])}, as_user=coach)
    assert hide.data["hidePost"] == {"__typename": "NotFound", "code": "NOT_FOUND"}


@pytest.mark.parametrize("kind", ["admin", "service"])
async def test_admins_and_service_still_read_every_draft(
    client: GraphQLClient, db: Database, kind: str
) -> None:
    world = await _world(db)
    viewer: Any = "service" if kind == "service" else await make_user(db, roles=("admin",))
    feed = (await client.execute(FEED, as_user=viewer)).data["feed"]
    assert {edge["node"]["title"] for edge in feed["edges"]} == {
        "Published",
        "Hidden",
        "Draft",
        "Coach draft",
    }
    reads = await client.execute(
        READS,
        {
            "draft": gid(world["draft"]),
            "comment": gid(world["on_draft"]),
        },
        as_user=viewer,
    )
    assert reads.data["post"] == {"id": gid(world["draft"])}
    assert reads.data["comment"]["post"] == {"id": gid(world["draft"])}


RESOLVE_REPORT = """
mutation ($id: ID!, $action: ReportAction!) {
  resolveReport(input: {id: $id, action: $action}) {
    __typename ... on ReportResolved { report { status action } }
  }
}
"""


@pytest.mark.parametrize("action", ["HIDE_CONTENT", "DELETE_CONTENT"])
async def test_resolving_a_report_cannot_reach_a_draft_the_coach_may_not_read(
    client: GraphQLClient, db: Database, action: str
) -> None:
    """hidePost answers NOT_FOUND for another member's draft; a report must not be a way
    around that: the draft and its comments stay as they are, the report is closed."""
    from sqlalchemy import select

    from models import Comment, Post

    author = await make_user(db)
    coach = await make_user(db, roles=("coach",))
    draft = await make_post(db, author, published=False)
    comment = await make_comment(db, draft, author)
    post_report = await make_report(db, author, draft)
    comment_report = await make_report(db, author, comment)
    for report in (post_report, comment_report):
        response = await client.execute(
            RESOLVE_REPORT, {"id": gid(report), "action": action}, as_user=coach
        )
        assert response.data["resolveReport"] == {
            "__typename": "ReportResolved",
            "report": {"status": "ACTIONED", "action": action},
        }
    async with db.read() as session:
        kept_post = await session.scalar(select(Post).where(Post.id == draft.id))
        kept_comment = await session.scalar(select(Comment).where(Comment.id == comment.id))
    assert kept_post is not None and kept_post.hidden is False
    assert kept_comment is not None and kept_comment.hidden is False
