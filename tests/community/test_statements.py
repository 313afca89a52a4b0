"""The number of SQL statements depends on the query's shape, never on the rows: on the
resolvers (one per loader and level) and when Postgres answers the feed as JSON (one)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from models import User
from resolvers.core.database import Database
from resolvers.core.settings import Settings
from tests.client import GraphQLClient, graphql_client
from tests.community.factories import like_comment, like_post, make_comment, make_post
from tests.factories import gid, make_user

FEED_SHAPE = """
query {
  feed(first: 20) {
    edges { node {
      id author { displayName }
      comments(first: 5) { edges { node {
        id author { displayName }
        replies(first: 3) { edges { node { id author { displayName } } } }
      } } }
    } }
  }
}
"""
FEED_WITH_COUNTS = """
query {
  feed(first: 20) {
    totalCount
    edges { node {
      id likeCount commentCount viewerHasLiked author { displayName avatarUrl }
      comments(first: 5) { totalCount edges { node {
        id likeCount viewerHasLiked author { displayName }
        replies(first: 3) { totalCount edges { node { id likeCount author { displayName } } } }
      } } }
    } }
  }
}
"""


async def _grow(db: Database, users: list[User], posts: int, comments: int, replies: int) -> None:
    """Every post, comment and reply has its own author, so no author is a cache hit."""
    for p in range(posts):
        post = await make_post(db, await make_user(db), pinned=p % 7 == 0)
        await like_post(db, post, *users[: 1 + p % len(users)])
        for c in range(comments):
            comment = await make_comment(db, post, await make_user(db))
            await like_comment(db, comment, users[c % len(users)])
            for _ in range(replies):
                await make_comment(db, post, await make_user(db), parent=comment)


@pytest.fixture
async def on_resolvers(settings: Settings, db: Database) -> AsyncIterator[GraphQLClient]:
    """A client of an app whose root fields are all answered by the resolvers."""
    async with graphql_client(settings, db, sql_json_execution=False) as client:
        yield client


async def test_feed_statement_count_is_fixed(
    client: GraphQLClient, on_resolvers: GraphQLClient, db: Database
) -> None:
    users = [await make_user(db) for _ in range(4)]
    viewer = users[0]
    await _grow(db, users, posts=1, comments=1, replies=1)
    few = await on_resolvers.execute(FEED_SHAPE, as_user=viewer)
    few_counts = await on_resolvers.execute(FEED_WITH_COUNTS, as_user=viewer)
    few_sql = await client.execute(FEED_WITH_COUNTS, as_user=viewer)
    await _grow(db, users, posts=24, comments=6, replies=4)
    many = await on_resolvers.execute(FEED_SHAPE, as_user=viewer)
    many_counts = await on_resolvers.execute(FEED_WITH_COUNTS, as_user=viewer)
    many_sql = await client.execute(FEED_WITH_COUNTS, as_user=viewer)
    assert many_sql.data == many_counts.data

    edges = many.data["feed"]["edges"]
    assert len(edges) == 20
    assert all(len(edge["node"]["comments"]["edges"]) <= 5 for edge in edges)
    assert sum(len(edge["node"]["comments"]["edges"]) for edge in edges) >= 90
    # viewer (1) + feed (1) + authors of posts (1) + comments with their authors (1)
    # + replies with their authors (1)
    assert few.statements == many.statements == 5
    assert few_counts.statements == many_counts.statements
    # In SQL: the viewer (1) + the feed with everything under it (1)
    assert few_sql.statements == many_sql.statements == 2
    print(f"feed statements: shape={many.statements} with counts={many_counts.statements}")


THREAD_AUTHORS = """
query {
  feed(first: 5) { edges { node {
    comments(first: 5) { edges { node {
      body author { id displayName avatarUrl }
      replies(first: 5) { edges { node { body author { id displayName } } } }
    } } }
  } } }
}
"""


async def test_comment_authors_read_with_their_comments(
    on_resolvers: GraphQLClient, client: GraphQLClient, db: Database
) -> None:
    """Comment and reply authors come with the thread's statement (the authors rule: the
    public name and avatar of the author of a row the viewer may read)."""
    viewer = await make_user(db)
    ann = await make_user(db, full_name="Ann Commenter")
    bob = await make_user(db, full_name="Bob Replier")
    post = await make_post(db, viewer)
    comment = await make_comment(db, post, ann, body="first")
    await make_comment(db, post, bob, parent=comment, body="reply")
    response = await on_resolvers.execute(THREAD_AUTHORS, as_user=viewer)
    assert (await client.execute(THREAD_AUTHORS, as_user=viewer)).data == response.data
    [thread] = response.data["feed"]["edges"][0]["node"]["comments"]["edges"]
    assert thread["node"]["body"] == "first"
    assert thread["node"]["author"] == {
        "id": gid(ann, "Author"),
        "displayName": "Ann Commenter",
        "avatarUrl": None,
    }
    [reply] = thread["node"]["replies"]["edges"]
    assert reply["node"] == {
        "body": "reply",
        "author": {"id": gid(bob, "Author"), "displayName": "Bob Replier"},
    }
    # viewer, feed, comments with authors, replies with authors
    assert response.statements == 4
