"""Community policy rows (posts, comments, likes, reports) for anon, patients (own vs
other), doctor, coach, admin and service_role, through root fields, nested paths and
counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from models import Comment, Post, User
from resolvers.core.database import Database
from tests.client import GraphQLClient
from tests.community.factories import (
    like_comment,
    like_post,
    make_comment,
    make_post,
    make_report,
)
from tests.factories import gid, make_doctor, make_user, user_of

FEED = """
query {
  feed(first: 50) {
    totalCount
    edges { node {
      id title likeCount commentCount viewerHasLiked
      author { id displayName avatarUrl }
      comments(first: 10) {
        totalCount
        edges { node {
          id hidden likeCount viewerHasLiked author { displayName }
          replies(first: 10) { totalCount edges { node { id body } } }
        } }
      }
    } }
  }
}
"""
POST = "query ($id: ID!) { post(id: $id) { id commentCount } }"
COMMENT = "query ($id: ID!) { comment(id: $id) { id post { id } } }"
REPORTS = """
query { reports(first: 50) { totalCount edges { node {
  id reason status reporter { displayName } post { id } comment { id }
} } } }
"""
AUTHOR_FIELDS = 'query { __type(name: "Author") { fields { name } } }'


@dataclass
class World:
    author: User
    other: User
    published: Post
    draft: Post
    hidden: Post
    visible_comment: Comment
    hidden_comment: Comment
    reply: Comment
    reply_under_hidden: Comment
    hidden_reply: Comment


async def _world(db: Database) -> World:
    author = await make_user(db, full_name="Ann Author")
    other = await make_user(db, full_name="Olly Other")
    published = await make_post(db, author, title="Published")
    draft = await make_post(db, author, title="Draft", published=False)
    hidden = await make_post(db, other, title="Hidden", hidden=True)
    visible_comment = await make_comment(db, published, other, body="visible")
    hidden_comment = await make_comment(db, published, author, body="hidden", hidden=True)
    reply = await make_comment(db, published, author, parent=visible_comment, body="reply")
    reply_under_hidden = await make_comment(
        db, published, other, parent=hidden_comment, body="under hidden"
    )
    hidden_reply = await make_comment(
        db, published, other, parent=visible_comment, body="hidden reply", hidden=True
    )
    await make_comment(db, hidden, other, body="on hidden post")
    await make_comment(db, draft, author, body="on draft")
    await like_post(db, published, author, other)
    await like_post(db, hidden, other)
    await like_comment(db, visible_comment, author)
    await make_report(db, other, hidden_comment)
    return World(
        author,
        other,
        published,
        draft,
        hidden,
        visible_comment,
        hidden_comment,
        reply,
        reply_under_hidden,
        hidden_reply,
    )


def _by_title(feed: dict[str, Any]) -> dict[str, Any]:
    return {edge["node"]["title"]: edge["node"] for edge in feed["edges"]}


async def test_anon_sees_no_community_content(client: GraphQLClient, db: Database) -> None:
    world = await _world(db)
    feed = (await client.execute(FEED)).data["feed"]
    assert feed == {"totalCount": 0, "edges": []}
    assert (await client.execute(POST, {"id": gid(world.published)})).data["post"] is None
    comment = await client.execute(COMMENT, {"id": gid(world.visible_comment)})
    assert comment.data["comment"] is None
    assert (await client.execute(REPORTS)).data["reports"]["totalCount"] == 0


async def test_other_patient_sees_published_unhidden_only(
    client: GraphQLClient, db: Database
) -> None:
    world = await _world(db)
    feed = (await client.execute(FEED, as_user=world.other)).data["feed"]
    posts = _by_title(feed)
    assert set(posts) == {"Published"}
    assert feed["totalCount"] == 1
    post = posts["Published"]
    # Visible: the visible comment and its unhidden reply. Not counted: the hidden
    # comment, the reply under it, and the hidden reply.
    assert post["commentCount"] == 2
    assert post["likeCount"] == 2
    assert post["viewerHasLiked"] is True
    assert post["author"] == {
        "id": gid(world.author, "Author"),
        "displayName": "Ann Author",
        "avatarUrl": None,
    }
    comments = post["comments"]
    assert comments["totalCount"] == 1
    [comment] = [edge["node"] for edge in comments["edges"]]
    assert comment["id"] == gid(world.visible_comment)
    assert comment["likeCount"] == 1 and comment["viewerHasLiked"] is False
    assert comment["replies"]["totalCount"] == 1
    assert [e["node"]["body"] for e in comment["replies"]["edges"]] == ["reply"]

    for hidden_id in (world.draft.id, world.hidden.id):
        assert (await client.execute(POST, {"id": str(hidden_id)}, as_user=world.other)).data[
            "post"
        ] is None
    for comment_id in (world.hidden_comment.id, world.reply_under_hidden.id, world.hidden_reply.id):
        response = await client.execute(COMMENT, {"id": str(comment_id)}, as_user=world.other)
        assert response.data["comment"] is None
    assert (await client.execute(REPORTS, as_user=world.other)).data["reports"]["totalCount"] == 0


async def test_author_sees_own_draft_but_not_own_hidden_content(
    client: GraphQLClient, db: Database
) -> None:
    world = await _world(db)
    feed = (await client.execute(FEED, as_user=world.author)).data["feed"]
    posts = _by_title(feed)
    assert set(posts) == {"Published", "Draft"}
    assert posts["Draft"]["commentCount"] == 1
    assert posts["Published"]["commentCount"] == 2
    top = posts["Published"]["comments"]["edges"]
    assert [edge["node"]["id"] for edge in top] == [gid(world.visible_comment)]
    assert top[0]["node"]["viewerHasLiked"] is True
    hidden_own = await client.execute(
        COMMENT, {"id": gid(world.hidden_comment)}, as_user=world.author
    )
    assert hidden_own.data["comment"] is None


@pytest.mark.parametrize("kind", ["coach", "admin", "service"])
async def test_moderators_and_service_see_everything(
    client: GraphQLClient, db: Database, kind: str
) -> None:
    world = await _world(db)
    viewer: Any = "service" if kind == "service" else await make_user(db, roles=(kind,))
    feed = (await client.execute(FEED, as_user=viewer)).data["feed"]
    posts = _by_title(feed)
    # Coaches read hidden posts but not other people's drafts (DESIGN §5 "+ read hidden").
    expected = {"Published", "Hidden"} if kind == "coach" else {"Published", "Draft", "Hidden"}
    assert set(posts) == expected
    assert feed["totalCount"] == len(expected)
    published = posts["Published"]
    assert published["commentCount"] == 5
    assert published["comments"]["totalCount"] == 2
    by_id = {edge["node"]["id"]: edge["node"] for edge in published["comments"]["edges"]}
    assert by_id[gid(world.hidden_comment)]["hidden"] is True
    assert by_id[gid(world.visible_comment)]["replies"]["totalCount"] == 2
    assert by_id[gid(world.hidden_comment)]["replies"]["totalCount"] == 1
    assert posts["Hidden"]["likeCount"] == 1
    assert published["viewerHasLiked"] is False

    reports = (await client.execute(REPORTS, as_user=viewer)).data["reports"]
    assert reports["totalCount"] == 1
    report = reports["edges"][0]["node"]
    assert report["reporter"] == {"displayName": "Olly Other"}
    assert report["comment"] == {"id": gid(world.hidden_comment)}
    assert report["post"] is None


async def test_doctor_is_a_patient_in_the_community(client: GraphQLClient, db: Database) -> None:
    world = await _world(db)
    doctor = await user_of(db, await make_doctor(db))
    feed = (await client.execute(FEED, as_user=doctor)).data["feed"]
    assert set(_by_title(feed)) == {"Published"}
    assert _by_title(feed)["Published"]["commentCount"] == 2
    assert (await client.execute(REPORTS, as_user=doctor)).data["reports"]["totalCount"] == 0
    for hidden_id in (world.draft.id, world.hidden.id):
        response = await client.execute(POST, {"id": str(hidden_id)}, as_user=doctor)
        assert response.data["post"] is None
    response = await client.execute(COMMENT, {"id": gid(world.hidden_comment)}, as_user=doctor)
    assert response.data["comment"] is None


async def test_author_type_exposes_no_contact_fields(client: GraphQLClient) -> None:
    fields = (await client.execute(AUTHOR_FIELDS)).data["__type"]["fields"]
    assert {field["name"] for field in fields} == {"id", "displayName", "avatarUrl"}


FEED_PAGE = """
query ($after: String, $filter: FeedFilter) {
  feed(first: 2, after: $after, filter: $filter) {
    pageInfo { hasNextPage endCursor } edges { node { title pinned } }
  }
}
"""


async def test_feed_pinned_first_then_newest_keyset(client: GraphQLClient, db: Database) -> None:
    author = await make_user(db)
    other = await make_user(db)
    await make_post(db, author, title="old")
    await make_post(db, author, title="old pinned", pinned=True)
    await make_post(db, other, title="middle", tags=["sleep"])
    await make_post(db, author, title="new", tags=["sleep"])
    await make_post(db, author, title="new pinned", pinned=True)
    titles: list[str] = []
    after = None
    while True:
        page = (await client.execute(FEED_PAGE, {"after": after}, as_user=author)).data["feed"]
        titles.extend(edge["node"]["title"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert titles == ["new pinned", "old pinned", "new", "middle", "old"]

    tagged = await client.execute(FEED_PAGE, {"filter": {"tag": "SLEEP"}}, as_user=author)
    assert [e["node"]["title"] for e in tagged.data["feed"]["edges"]] == ["new", "middle"]
    by_author = await client.execute(
        FEED_PAGE, {"filter": {"authorId": gid(other)}}, as_user=author
    )
    assert [e["node"]["title"] for e in by_author.data["feed"]["edges"]] == ["middle"]
    bad = await client.execute(FEED_PAGE, {"after": "garbage"}, as_user=author)
    assert bad.codes == ["BAD_USER_INPUT"]


THREAD = """
query ($id: ID!, $after: String, $replyAfter: String) {
  post(id: $id) {
    comments(first: 2, after: $after) {
      pageInfo { hasNextPage endCursor }
      edges { node { body replies(first: 1, after: $replyAfter) {
        pageInfo { hasNextPage endCursor } edges { node { body } } } } }
    }
  }
}
"""


async def test_comment_threads_paginate_oldest_first(client: GraphQLClient, db: Database) -> None:
    user = await make_user(db)
    post = await make_post(db, user)
    first = await make_comment(db, post, user, body="c1")
    await make_comment(db, post, user, body="c2")
    await make_comment(db, post, user, body="c3")
    await make_comment(db, post, user, parent=first, body="r1")
    await make_comment(db, post, user, parent=first, body="r2")
    page = (await client.execute(THREAD, {"id": gid(post)}, as_user=user)).data["post"]
    comments = page["comments"]
    assert [e["node"]["body"] for e in comments["edges"]] == ["c1", "c2"]
    assert comments["pageInfo"]["hasNextPage"] is True
    replies = comments["edges"][0]["node"]["replies"]
    assert [e["node"]["body"] for e in replies["edges"]] == ["r1"]
    assert replies["pageInfo"]["hasNextPage"] is True
    rest = (
        await client.execute(
            THREAD,
            {
                "id": gid(post),
                "after": comments["pageInfo"]["endCursor"],
                "replyAfter": replies["pageInfo"]["endCursor"],
            },
            as_user=user,
        )
    ).data["post"]["comments"]
    assert [e["node"]["body"] for e in rest["edges"]] == ["c3"]
    assert rest["pageInfo"]["hasNextPage"] is False


LIKED_BY = """
query ($id: ID!) { post(id: $id) { likeCount likedBy { id }
  comments { edges { node { likeCount likedBy { id } } } } } }
"""


async def test_likes_policy_own_rows_admin_all(client: GraphQLClient, db: Database) -> None:
    author = await make_user(db)
    fan = await make_user(db)
    bystander = await make_user(db)
    coach = await make_user(db, roles=("coach",))
    admin = await make_user(db, roles=("admin",))
    post = await make_post(db, author)
    comment = await make_comment(db, post, author)
    await like_post(db, post, author, fan)
    await like_comment(db, comment, fan)
    variables = {"id": gid(post)}

    async def seen(viewer: Any) -> tuple[int, set[str], int, set[str]]:
        data = (await client.execute(LIKED_BY, variables, as_user=viewer)).data["post"]
        node = data["comments"]["edges"][0]["node"]
        return (
            data["likeCount"],
            {row["id"] for row in data["likedBy"]},
            node["likeCount"],
            {row["id"] for row in node["likedBy"]},
        )

    assert await seen(fan) == (2, {gid(fan, "Author")}, 1, {gid(fan, "Author")})
    assert await seen(author) == (2, {gid(author, "Author")}, 1, set())
    assert await seen(bystander) == (2, set(), 1, set())
    assert await seen(coach) == (2, set(), 1, set())
    assert await seen(admin) == (
        2,
        {gid(author, "Author"), gid(fan, "Author")},
        1,
        {gid(fan, "Author")},
    )
    assert await seen("service") == (
        2,
        {gid(author, "Author"), gid(fan, "Author")},
        1,
        {gid(fan, "Author")},
    )
    assert (await client.execute(LIKED_BY, variables)).data["post"] is None
