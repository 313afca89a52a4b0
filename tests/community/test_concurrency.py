"""Counts stay exact under real concurrent requests (each on its own pooled connection)."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from models import Comment, CommentLike, PostLike, Report
from resolvers.core.database import Database
from tests.client import GraphQLClient
from tests.community.factories import make_comment, make_post
from tests.factories import gid, make_user

LIKE_POST = """
mutation ($id: ID!) { likePost(input: {postId: $id}) {
  __typename ... on PostLikeChanged { post { likeCount viewerHasLiked } } } }
"""
UNLIKE_POST = """
mutation ($id: ID!) { unlikePost(input: {postId: $id}) { __typename } }
"""
LIKE_COMMENT = """
mutation ($id: ID!) { likeComment(input: {commentId: $id}) {
  __typename ... on CommentLikeChanged { comment { likeCount } } } }
"""
CREATE_COMMENT = """
mutation ($post: ID!, $parent: ID, $body: String!) {
  createComment(input: {postId: $post, parentId: $parent, body: $body}) { __typename }
}
"""
REPORT = """
mutation ($id: ID!) { reportContent(input: {targetType: POST, targetId: $id, reason: SPAM}) {
  __typename } }
"""
COUNTS = """
query ($id: ID!) { post(id: $id) { likeCount commentCount
  comments(first: 1) { totalCount edges { node { likeCount replies { totalCount } } } } } }
"""


async def _count(db: Database, statement: object) -> int:
    async with db.read() as session:
        return int(await session.scalar(statement) or 0)  # type: ignore[call-overload]


async def test_concurrent_likes_keep_counts_exact(client: GraphQLClient, db: Database) -> None:
    author = await make_user(db)
    post = await make_post(db, author)
    comment = await make_comment(db, post, author)
    users = [await make_user(db) for _ in range(25)]

    # Every user likes the post three times and the comment twice, all at once.
    calls = [
        client.execute(LIKE_POST, {"id": gid(post)}, as_user=user)
        for user in users
        for _ in range(3)
    ] + [
        client.execute(LIKE_COMMENT, {"id": gid(comment)}, as_user=user)
        for user in users
        for _ in range(2)
    ]
    results = await asyncio.gather(*calls)
    assert {r.data[next(iter(r.data))]["__typename"] for r in results} == {
        "PostLikeChanged",
        "CommentLikeChanged",
    }
    assert await _count(db, select(func.count()).select_from(PostLike)) == 25
    assert await _count(db, select(func.count()).select_from(CommentLike)) == 25

    # Half of them unlike (twice each) while the other half like again.
    calls = [
        client.execute(UNLIKE_POST, {"id": gid(post)}, as_user=user)
        for user in users[:12]
        for _ in range(2)
    ] + [client.execute(LIKE_POST, {"id": gid(post)}, as_user=user) for user in users[12:]]
    await asyncio.gather(*calls)
    counts = (await client.execute(COUNTS, {"id": gid(post)}, as_user=author)).data["post"]
    assert counts["likeCount"] == 13
    assert counts["comments"]["edges"][0]["node"]["likeCount"] == 25


async def test_concurrent_comments_keep_counts_exact(client: GraphQLClient, db: Database) -> None:
    author = await make_user(db)
    post = await make_post(db, author)
    root = await make_comment(db, post, author)
    users = [await make_user(db) for _ in range(10)]
    calls = [
        client.execute(
            CREATE_COMMENT,
            {"post": gid(post), "parent": parent, "body": f"n{i}"},
            as_user=user,
        )
        for i, user in enumerate(users)
        for parent in (None, gid(root), None)
    ]
    results = await asyncio.gather(*calls)
    assert {r.data["createComment"]["__typename"] for r in results} == {"CommentSaved"}
    counts = (await client.execute(COUNTS, {"id": gid(post)}, as_user=author)).data["post"]
    assert counts["commentCount"] == 1 + 30
    assert counts["comments"]["totalCount"] == 1 + 20
    assert counts["comments"]["edges"][0]["node"]["replies"]["totalCount"] == 10
    assert await _count(db, select(func.count()).select_from(Comment)) == 31


async def test_concurrent_reports_of_one_item_make_one_open_report(
    client: GraphQLClient, db: Database
) -> None:
    author = await make_user(db)
    reporter = await make_user(db)
    post = await make_post(db, author)
    results = await asyncio.gather(
        *(client.execute(REPORT, {"id": gid(post)}, as_user=reporter) for _ in range(10))
    )
    kinds = sorted(r.data["reportContent"]["__typename"] for r in results)
    assert kinds == ["AlreadyReported"] * 9 + ["ContentReported"]
    assert await _count(db, select(func.count()).select_from(Report)) == 1
