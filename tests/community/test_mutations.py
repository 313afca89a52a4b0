"""Community writes: each mutation's success, and its typed errors with nothing written."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from models import Comment, CommentLike, Post, PostLike, Report
from resolvers.core.database import Database
from tests.client import GraphQLClient
from tests.community.factories import like_post, make_comment, make_post, make_report
from tests.factories import gid, make_user

ERRORS = """
    ... on UserError { __typename code message }
    ... on ValidationError { fields { field messages } }
"""
CREATE_POST = f"""
mutation ($input: CreatePostInput!) {{ createPost(input: $input) {{
  __typename ... on PostSaved {{ post {{ id title body tags published pinned hidden
    author {{ displayName }} likeCount commentCount }} }} {ERRORS} }} }}
"""
UPDATE_POST = f"""
mutation ($input: UpdatePostInput!) {{ updatePost(input: $input) {{
  __typename ... on PostSaved {{ post {{ title body tags published }} }} {ERRORS} }} }}
"""
DELETE_POST = f"""
mutation ($id: ID!) {{ deletePost(input: {{id: $id}}) {{
  __typename ... on PostDeleted {{ deletedId }} {ERRORS} }} }}
"""
HIDE_POST = f"""
mutation ($id: ID!) {{ hidePost(input: {{id: $id}}) {{
  __typename ... on PostSaved {{ post {{ hidden updatedAt }} }} {ERRORS} }} }}
"""
UNHIDE_POST = f"""
mutation ($id: ID!) {{ unhidePost(input: {{id: $id}}) {{
  __typename ... on PostSaved {{ post {{ hidden updatedAt }} }} {ERRORS} }} }}
"""
PIN_POST = f"""
mutation ($id: ID!, $pinned: Boolean!) {{ pinPost(input: {{id: $id, pinned: $pinned}}) {{
  __typename ... on PostSaved {{ post {{ pinned updatedAt createdAt }} }} {ERRORS} }} }}
"""
CREATE_COMMENT = f"""
mutation ($input: CreateCommentInput!) {{ createComment(input: $input) {{
  __typename ... on CommentSaved {{ comment {{ id body parentId postId author {{ displayName }}
    post {{ commentCount }} }} }} {ERRORS} }} }}
"""
UPDATE_COMMENT = f"""
mutation ($id: ID!, $body: String!) {{ updateComment(input: {{id: $id, body: $body}}) {{
  __typename ... on CommentSaved {{ comment {{ body updatedAt }} }} {ERRORS} }} }}
"""
DELETE_COMMENT = f"""
mutation ($id: ID!) {{ deleteComment(input: {{id: $id}}) {{
  __typename ... on CommentDeleted {{ deletedId }} {ERRORS} }} }}
"""
HIDE_COMMENT = f"""
mutation ($id: ID!, $hidden: Boolean!) {{ hideComment(input: {{id: $id, hidden: $hidden}}) {{
  __typename ... on CommentSaved {{ comment {{ hidden updatedAt }} }} {ERRORS} }} }}
"""
LIKE_POST = f"""
mutation ($id: ID!) {{ likePost(input: {{postId: $id}}) {{
  __typename ... on PostLikeChanged {{ liked post {{ likeCount viewerHasLiked }} }} {ERRORS} }} }}
"""
UNLIKE_POST = f"""
mutation ($id: ID!) {{ unlikePost(input: {{postId: $id}}) {{
  __typename ... on PostLikeChanged {{ liked post {{ likeCount viewerHasLiked }} }} {ERRORS} }} }}
"""
LIKE_COMMENT = f"""
mutation ($id: ID!) {{ likeComment(input: {{commentId: $id}}) {{
  __typename ... on CommentLikeChanged {{ liked comment {{ likeCount viewerHasLiked }} }}
  {ERRORS} }} }}
"""
UNLIKE_COMMENT = f"""
mutation ($id: ID!) {{ unlikeComment(input: {{commentId: $id}}) {{
  __typename ... on CommentLikeChanged {{ liked comment {{ likeCount viewerHasLiked }} }}
  {ERRORS} }} }}
"""
REPORT = f"""
mutation ($input: ReportContentInput!) {{ reportContent(input: $input) {{
  __typename ... on ContentReported {{ report {{ status reason targetType description
    post {{ id }} }} }} {ERRORS} }} }}
"""
RESOLVE = f"""
mutation ($id: ID!, $action: ReportAction!) {{ resolveReport(input: {{id: $id, action: $action}}) {{
  __typename ... on ReportResolved {{ report {{ status action reviewedAt reviewer {{ displayName }}
  }} }} {ERRORS} }} }}
"""
REPORTS = """
query ($status: ReportStatus) { reports(filter: {status: $status}) {
  totalCount edges { node { id status targetType } } } }
"""


async def _snapshot(db: Database) -> dict[str, Any]:
    """Everything the community tables hold, to assert that a failed write changed nothing."""
    async with db.read() as session:
        posts = (await session.scalars(select(Post).order_by(Post.id))).all()
        comments = (await session.scalars(select(Comment).order_by(Comment.id))).all()
        return {
            "posts": [
                (p.id, p.title, p.body, p.tags, p.published, p.pinned, p.hidden) for p in posts
            ],
            "comments": [(c.id, c.body, c.hidden, c.parent_id) for c in comments],
            "post_likes": await session.scalar(select(func.count()).select_from(PostLike)),
            "comment_likes": await session.scalar(select(func.count()).select_from(CommentLike)),
            "reports": [
                (r.id, r.status)
                for r in (await session.scalars(select(Report).order_by(Report.id))).all()
            ],
        }


# --- posts ------------------------------------------------------------------------------


async def test_create_update_delete_own_post(client: GraphQLClient, db: Database) -> None:
    user = await make_user(db, full_name="Poster")
    created = await client.execute(
        CREATE_POST,
        {"input": {"title": " Hello ", "body": " World ", "tags": ["Sleep", "sleep", "Calm"]}},
        as_user=user,
    )
    post = created.data["createPost"]["post"]
    assert post["title"] == "Hello" and post["body"] == "World"
    assert post["tags"] == ["calm", "sleep"]
    assert post["published"] is True and post["pinned"] is False and post["hidden"] is False
    assert post["author"] == {"displayName": "Poster"}
    assert post["likeCount"] == 0 and post["commentCount"] == 0

    updated = await client.execute(
        UPDATE_POST,
        {"input": {"id": post["id"], "body": "Edited", "published": False}},
        as_user=user,
    )
    assert updated.data["updatePost"]["post"] == {
        "title": "Hello",
        "body": "Edited",
        "tags": ["calm", "sleep"],
        "published": False,
    }
    deleted = await client.execute(DELETE_POST, {"id": post["id"]}, as_user=user)
    assert deleted.data["deletePost"] == {"__typename": "PostDeleted", "deletedId": post["id"]}
    assert (await _snapshot(db))["posts"] == []


@pytest.mark.parametrize(
    ("variables", "fields"),
    [
        ({"title": "", "body": "x"}, {"title"}),
        ({"title": "   ", "body": "   "}, {"title", "body"}),
        ({"title": "x" * 201, "body": "x"}, {"title"}),
        ({"title": "x", "body": "x" * 10_001}, {"body"}),
        ({"title": "x", "body": "x", "tags": [f"t{i}" for i in range(11)]}, {"tags"}),
        ({"title": "x", "body": "x", "tags": ["y" * 41]}, {"tags"}),
    ],
)
async def test_create_post_validation(
    client: GraphQLClient, db: Database, variables: dict[str, Any], fields: set[str]
) -> None:
    user = await make_user(db)
    response = await client.execute(CREATE_POST, {"input": variables}, as_user=user)
    result = response.data["createPost"]
    assert result["__typename"] == "ValidationError"
    assert {f["field"] for f in result["fields"]} == fields
    assert (await _snapshot(db))["posts"] == []


async def test_post_write_permissions(client: GraphQLClient, db: Database) -> None:
    author = await make_user(db)
    other = await make_user(db)
    coach = await make_user(db, roles=("coach",))
    admin = await make_user(db, roles=("admin",))
    post = await make_post(db, author)
    draft = await make_post(db, author, published=False)
    before = await _snapshot(db)

    anon = await client.execute(CREATE_POST, {"input": {"title": "a", "body": "b"}})
    assert anon.data["createPost"]["code"] == "FORBIDDEN"
    edit = await client.execute(
        UPDATE_POST, {"input": {"id": gid(post), "title": "mine now"}}, as_user=other
    )
    assert edit.data["updatePost"]["code"] == "FORBIDDEN"
    coach_edit = await client.execute(
        UPDATE_POST, {"input": {"id": gid(post), "title": "coach"}}, as_user=coach
    )
    assert coach_edit.data["updatePost"]["code"] == "FORBIDDEN"
    delete = await client.execute(DELETE_POST, {"id": gid(post)}, as_user=other)
    assert delete.data["deletePost"]["code"] == "FORBIDDEN"
    hidden_draft = await client.execute(
        UPDATE_POST, {"input": {"id": gid(draft), "title": "x"}}, as_user=other
    )
    assert hidden_draft.data["updatePost"]["code"] == "NOT_FOUND"
    unknown = await client.execute(
        DELETE_POST, {"id": "00000000-0000-0000-0000-000000000000"}, as_user=author
    )
    assert unknown.data["deletePost"]["code"] == "NOT_FOUND"
    invalid = await client.execute(
        UPDATE_POST, {"input": {"id": gid(post), "title": ""}}, as_user=author
    )
    assert invalid.data["updatePost"]["__typename"] == "ValidationError"
    bad_id = await client.execute(DELETE_POST, {"id": "not-a-uuid"}, as_user=author)
    assert bad_id.data["deletePost"]["__typename"] == "ValidationError"
    assert await _snapshot(db) == before

    admin_edit = await client.execute(
        UPDATE_POST, {"input": {"id": gid(post), "title": "by admin"}}, as_user=admin
    )
    assert admin_edit.data["updatePost"]["post"]["title"] == "by admin"
    coach_delete = await client.execute(DELETE_POST, {"id": gid(post)}, as_user=coach)
    assert coach_delete.data["deletePost"]["__typename"] == "PostDeleted"


async def test_moderation_hide_unhide_pin(client: GraphQLClient, db: Database) -> None:
    author = await make_user(db)
    coach = await make_user(db, roles=("coach",))
    admin = await make_user(db, roles=("admin",))
    post = await make_post(db, author)
    before = await _snapshot(db)
    for mutation, variables, name in (
        (HIDE_POST, {"id": gid(post)}, "hidePost"),
        (UNHIDE_POST, {"id": gid(post)}, "unhidePost"),
        (PIN_POST, {"id": gid(post), "pinned": True}, "pinPost"),
    ):
        for viewer in (author, None):
            denied = await client.execute(mutation, variables, as_user=viewer)
            assert denied.data[name]["code"] == "FORBIDDEN"
    assert await _snapshot(db) == before

    hidden = await client.execute(HIDE_POST, {"id": gid(post)}, as_user=coach)
    assert hidden.data["hidePost"]["post"]["hidden"] is True
    gone = await client.execute(
        UPDATE_POST, {"input": {"id": gid(post), "title": "x"}}, as_user=author
    )
    assert gone.data["updatePost"]["code"] == "NOT_FOUND"
    shown = await client.execute(UNHIDE_POST, {"id": gid(post)}, as_user=admin)
    assert shown.data["unhidePost"]["post"]["hidden"] is False
    pinned = await client.execute(PIN_POST, {"id": gid(post), "pinned": True}, as_user=coach)
    assert pinned.data["pinPost"]["post"]["pinned"] is True
    assert pinned.data["pinPost"]["post"]["updatedAt"] > pinned.data["pinPost"]["post"]["createdAt"]
    async with db.read() as session:
        row = await session.get(Post, post.id)
        assert row is not None and row.pinned and not row.hidden and row.hidden_at is None


# --- comments ---------------------------------------------------------------------------


async def test_comment_reply_update_delete(client: GraphQLClient, db: Database) -> None:
    author = await make_user(db, full_name="Commenter")
    post = await make_post(db, author)
    top = await client.execute(
        CREATE_COMMENT, {"input": {"postId": gid(post), "body": " first "}}, as_user=author
    )
    comment = top.data["createComment"]["comment"]
    assert comment["body"] == "first" and comment["parentId"] is None
    assert comment["author"] == {"displayName": "Commenter"}
    assert comment["post"] == {"commentCount": 1}

    reply = await client.execute(
        CREATE_COMMENT,
        {"input": {"postId": gid(post), "parentId": comment["id"], "body": "reply"}},
        as_user=author,
    )
    reply_id = reply.data["createComment"]["comment"]["id"]
    assert reply.data["createComment"]["comment"]["parentId"] == comment["id"]
    nested = await client.execute(
        CREATE_COMMENT,
        {"input": {"postId": gid(post), "parentId": reply_id, "body": "reply to reply"}},
        as_user=author,
    )
    # A reply to a reply joins the top-level comment's thread.
    assert nested.data["createComment"]["comment"]["parentId"] == comment["id"]
    assert nested.data["createComment"]["comment"]["post"] == {"commentCount": 3}

    edited = await client.execute(
        UPDATE_COMMENT, {"id": reply_id, "body": "edited"}, as_user=author
    )
    assert edited.data["updateComment"]["comment"]["body"] == "edited"
    deleted = await client.execute(DELETE_COMMENT, {"id": comment["id"]}, as_user=author)
    assert deleted.data["deleteComment"]["deletedId"] == comment["id"]
    assert (await _snapshot(db))["comments"] == []


async def test_comment_errors_write_nothing(client: GraphQLClient, db: Database) -> None:
    author = await make_user(db)
    other = await make_user(db)
    coach = await make_user(db, roles=("coach",))
    post = await make_post(db, author)
    other_post = await make_post(db, author)
    draft = await make_post(db, author, published=False)
    hidden_post = await make_post(db, author, hidden=True)
    comment = await make_comment(db, post, author)
    hidden_comment = await make_comment(db, post, other, hidden=True)
    before = await _snapshot(db)

    async def create(viewer: Any, **fields: Any) -> dict[str, Any]:
        body = fields.pop("body", "hello")
        response = await client.execute(
            CREATE_COMMENT, {"input": {"body": body, **fields}}, as_user=viewer
        )
        return dict(response.data["createComment"])

    assert (await create(None, postId=gid(post)))["code"] == "FORBIDDEN"
    empty = await create(other, postId=gid(post), body="  ")
    assert empty["fields"][0]["field"] == "body"
    long = await create(other, postId=gid(post), body="x" * 5001)
    assert long["fields"][0]["messages"] == ["at most 5000 characters"]
    unknown = await create(other, postId="00000000-0000-0000-0000-000000000000")
    assert unknown["code"] == "NOT_FOUND"
    across = await create(other, postId=gid(other_post), parentId=gid(comment))
    assert across["fields"] == [{"field": "parentId", "messages": ["belongs to another post"]}]
    unknown_parent = await create(
        other, postId=gid(post), parentId="00000000-0000-0000-0000-000000000000"
    )
    assert unknown_parent["code"] == "NOT_FOUND"
    assert (await create(other, postId=gid(draft)))["code"] == "NOT_FOUND"
    own_draft = await create(author, postId=gid(draft))
    assert own_draft["fields"][0]["field"] == "postId"
    assert (await create(other, postId=gid(hidden_post)))["code"] == "NOT_FOUND"
    coach_on_hidden = await create(coach, postId=gid(hidden_post))
    assert coach_on_hidden["__typename"] == "ValidationError"
    hidden_parent = await create(other, postId=gid(post), parentId=gid(hidden_comment))
    assert hidden_parent["code"] == "NOT_FOUND"
    coach_hidden_parent = await create(coach, postId=gid(post), parentId=gid(hidden_comment))
    assert coach_hidden_parent["fields"][0]["field"] == "parentId"

    edit = await client.execute(UPDATE_COMMENT, {"id": gid(comment), "body": "x"}, as_user=other)
    assert edit.data["updateComment"]["code"] == "FORBIDDEN"
    blank = await client.execute(UPDATE_COMMENT, {"id": gid(comment), "body": ""}, as_user=author)
    assert blank.data["updateComment"]["__typename"] == "ValidationError"
    delete = await client.execute(DELETE_COMMENT, {"id": gid(comment)}, as_user=other)
    assert delete.data["deleteComment"]["code"] == "FORBIDDEN"
    hide = await client.execute(HIDE_COMMENT, {"id": gid(comment), "hidden": True}, as_user=author)
    assert hide.data["hideComment"]["code"] == "FORBIDDEN"
    assert await _snapshot(db) == before

    hidden = await client.execute(HIDE_COMMENT, {"id": gid(comment), "hidden": True}, as_user=coach)
    assert hidden.data["hideComment"]["comment"]["hidden"] is True
    moderated = await client.execute(DELETE_COMMENT, {"id": gid(hidden_comment)}, as_user=coach)
    assert moderated.data["deleteComment"]["__typename"] == "CommentDeleted"


# --- likes ------------------------------------------------------------------------------


async def test_likes_are_idempotent(client: GraphQLClient, db: Database) -> None:
    author = await make_user(db)
    user = await make_user(db)
    post = await make_post(db, author)
    comment = await make_comment(db, post, author)
    await like_post(db, post, author)

    for _ in range(2):
        liked = await client.execute(LIKE_POST, {"id": gid(post)}, as_user=user)
        assert liked.data["likePost"] == {
            "__typename": "PostLikeChanged",
            "liked": True,
            "post": {"likeCount": 2, "viewerHasLiked": True},
        }
    for _ in range(2):
        unliked = await client.execute(UNLIKE_POST, {"id": gid(post)}, as_user=user)
        assert unliked.data["unlikePost"]["post"] == {"likeCount": 1, "viewerHasLiked": False}
    for _ in range(2):
        liked_comment = await client.execute(LIKE_COMMENT, {"id": gid(comment)}, as_user=user)
        assert liked_comment.data["likeComment"]["comment"] == {
            "likeCount": 1,
            "viewerHasLiked": True,
        }
    unliked_comment = await client.execute(UNLIKE_COMMENT, {"id": gid(comment)}, as_user=user)
    assert unliked_comment.data["unlikeComment"]["comment"] == {
        "likeCount": 0,
        "viewerHasLiked": False,
    }


async def test_like_errors_write_nothing(client: GraphQLClient, db: Database) -> None:
    author = await make_user(db)
    user = await make_user(db)
    coach = await make_user(db, roles=("coach",))
    post = await make_post(db, author)
    draft = await make_post(db, author, published=False)
    hidden = await make_post(db, author, hidden=True)
    hidden_comment = await make_comment(db, post, author, hidden=True)
    before = await _snapshot(db)

    assert (await client.execute(LIKE_POST, {"id": gid(post)})).data["likePost"][
        "code"
    ] == "FORBIDDEN"
    service = await client.execute(LIKE_POST, {"id": gid(post)}, as_user="service")
    assert service.data["likePost"]["code"] == "FORBIDDEN"
    for target in (draft, hidden):
        response = await client.execute(LIKE_POST, {"id": gid(target)}, as_user=user)
        assert response.data["likePost"]["code"] == "NOT_FOUND"
    own_draft = await client.execute(LIKE_POST, {"id": gid(draft)}, as_user=author)
    assert own_draft.data["likePost"]["__typename"] == "ValidationError"
    coach_hidden = await client.execute(LIKE_POST, {"id": gid(hidden)}, as_user=coach)
    assert coach_hidden.data["likePost"]["__typename"] == "ValidationError"
    comment = await client.execute(LIKE_COMMENT, {"id": gid(hidden_comment)}, as_user=user)
    assert comment.data["likeComment"]["code"] == "NOT_FOUND"
    unknown = await client.execute(
        UNLIKE_COMMENT, {"id": "00000000-0000-0000-0000-000000000000"}, as_user=user
    )
    assert unknown.data["unlikeComment"]["code"] == "NOT_FOUND"
    assert await _snapshot(db) == before


# --- reports ----------------------------------------------------------------------------


async def test_report_and_resolve_flow(client: GraphQLClient, db: Database) -> None:
    author = await make_user(db)
    reporter = await make_user(db)
    second = await make_user(db)
    coach = await make_user(db, roles=("coach",), full_name="Mod Coach")
    post = await make_post(db, author)
    comment = await make_comment(db, post, author)

    filed = await client.execute(
        REPORT,
        {
            "input": {
                "targetType": "POST",
                "targetId": gid(post),
                "reason": "HARASSMENT",
                "description": " rude ",
            }
        },
        as_user=reporter,
    )
    assert filed.data["reportContent"]["report"] == {
        "status": "PENDING",
        "reason": "HARASSMENT",
        "targetType": "POST",
        "description": "rude",
        "post": {"id": gid(post)},
    }
    again = await client.execute(
        REPORT,
        {"input": {"targetType": "POST", "targetId": gid(post), "reason": "SPAM"}},
        as_user=reporter,
    )
    assert again.data["reportContent"]["__typename"] == "AlreadyReported"
    assert again.data["reportContent"]["code"] == "ALREADY_REPORTED"
    await client.execute(
        REPORT,
        {"input": {"targetType": "POST", "targetId": gid(post), "reason": "SPAM"}},
        as_user=second,
    )
    comment_report = await make_report(db, reporter, comment)

    pending = (await client.execute(REPORTS, {"status": "PENDING"}, as_user=coach)).data
    assert pending["reports"]["totalCount"] == 3
    first_id = next(
        edge["node"]["id"]
        for edge in pending["reports"]["edges"]
        if edge["node"]["targetType"] == "POST"
    )
    for viewer in (reporter, author, None):
        denied = await client.execute(
            RESOLVE, {"id": first_id, "action": "DISMISS"}, as_user=viewer
        )
        assert denied.data["resolveReport"]["code"] == "FORBIDDEN"

    hidden = await client.execute(
        RESOLVE, {"id": first_id, "action": "HIDE_CONTENT"}, as_user=coach
    )
    report = hidden.data["resolveReport"]["report"]
    assert report["status"] == "ACTIONED" and report["action"] == "HIDE_CONTENT"
    assert report["reviewer"] == {"displayName": "Mod Coach"} and report["reviewedAt"]
    async with db.read() as session:
        row = await session.get(Post, post.id)
        assert row is not None and row.hidden
    # The other open report on the same post was closed with it.
    pending = (await client.execute(REPORTS, {"status": "PENDING"}, as_user=coach)).data
    assert [edge["node"]["id"] for edge in pending["reports"]["edges"]] == [gid(comment_report)]

    closed = await client.execute(RESOLVE, {"id": first_id, "action": "DISMISS"}, as_user=coach)
    assert closed.data["resolveReport"]["__typename"] == "ReportClosed"
    deleted = await client.execute(
        RESOLVE, {"id": gid(comment_report), "action": "DELETE_CONTENT"}, as_user=coach
    )
    assert deleted.data["resolveReport"]["report"]["status"] == "ACTIONED"
    snapshot = await _snapshot(db)
    assert snapshot["comments"] == []
    assert {status for _, status in snapshot["reports"]} == {"actioned"}

    # After a dismissal the same user may report the item again (only open reports
    # are unique); a hidden post can no longer be reported by members.
    hidden_again = await client.execute(
        REPORT,
        {"input": {"targetType": "POST", "targetId": gid(post), "reason": "SPAM"}},
        as_user=reporter,
    )
    assert hidden_again.data["reportContent"]["code"] == "NOT_FOUND"
    fresh = await make_post(db, author)
    variables = {"input": {"targetType": "POST", "targetId": gid(fresh), "reason": "OTHER"}}
    assert (await client.execute(REPORT, variables, as_user=reporter)).data["reportContent"][
        "__typename"
    ] == "ContentReported"
    report_id = (await client.execute(REPORTS, {"status": "PENDING"}, as_user=coach)).data[
        "reports"
    ]["edges"][0]["node"]["id"]
    dismissed = await client.execute(RESOLVE, {"id": report_id, "action": "DISMISS"}, as_user=coach)
    assert dismissed.data["resolveReport"]["report"]["status"] == "DISMISSED"
    again = await client.execute(REPORT, variables, as_user=reporter)
    assert again.data["reportContent"]["__typename"] == "ContentReported"
    async with db.read() as session:
        fresh_row = await session.get(Post, fresh.id)
        assert fresh_row is not None and not fresh_row.hidden


async def test_report_errors_write_nothing(client: GraphQLClient, db: Database) -> None:
    author = await make_user(db)
    reporter = await make_user(db)
    admin = await make_user(db, roles=("admin",))
    post = await make_post(db, author)
    draft = await make_post(db, author, published=False)
    before = await _snapshot(db)

    async def report(viewer: Any, **fields: Any) -> dict[str, Any]:
        variables = {"targetType": "POST", "targetId": gid(post), "reason": "SPAM", **fields}
        response = await client.execute(REPORT, {"input": variables}, as_user=viewer)
        return dict(response.data["reportContent"])

    assert (await report(None))["code"] == "FORBIDDEN"
    assert (await report(reporter, targetId=gid(draft)))["code"] == "NOT_FOUND"
    # A post's id where a comment is expected is refused as such; an unknown comment is not found.
    assert (await report(reporter, targetType="COMMENT"))["code"] == "BAD_USER_INPUT"
    no_comment = gid(uuid.uuid4(), "Comment")
    assert (await report(reporter, targetType="COMMENT", targetId=no_comment))[
        "code"
    ] == "NOT_FOUND"
    too_long = await report(reporter, description="x" * 2001)
    assert too_long["fields"][0]["field"] == "description"
    unknown = await client.execute(
        RESOLVE, {"id": "00000000-0000-0000-0000-000000000000", "action": "DISMISS"}, as_user=admin
    )
    assert unknown.data["resolveReport"]["code"] == "NOT_FOUND"
    assert await _snapshot(db) == before
