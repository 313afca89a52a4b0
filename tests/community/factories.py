"""Factories for posts, comments, likes and reports."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from models import Comment, CommentLike, Post, PostLike, Report, User
from resolvers.core.database import Database

_sequence = itertools.count(1)
_clock = datetime(2026, 1, 1, tzinfo=UTC)


def _tick() -> datetime:
    """Strictly increasing creation times, so order assertions are deterministic."""
    return _clock + timedelta(seconds=next(_sequence))


async def make_post(
    db: Database,
    author: User,
    *,
    published: bool = True,
    hidden: bool = False,
    pinned: bool = False,
    **fields: Any,
) -> Post:
    number = next(_sequence)
    created = fields.pop("created_at", None) or _tick()
    post = Post(
        author_id=author.id,
        title=fields.pop("title", f"Post {number}"),
        body=fields.pop("body", f"Body of post {number}"),
        tags=fields.pop("tags", ["general"]),
        published=published,
        pinned=pinned,
        hidden=hidden,
        hidden_at=datetime.now(UTC) if hidden else None,
        created_at=created,
        **fields,
    )
    async with db.transaction() as session:
        session.add(post)
        await session.flush()
    return post


async def make_comment(
    db: Database,
    post: Post,
    author: User,
    *,
    parent: Comment | None = None,
    hidden: bool = False,
    body: str | None = None,
) -> Comment:
    number = next(_sequence)
    comment = Comment(
        post_id=post.id,
        parent_id=parent.id if parent else None,
        author_id=author.id,
        body=body or f"Comment {number}",
        hidden=hidden,
        hidden_at=datetime.now(UTC) if hidden else None,
        created_at=_tick(),
    )
    async with db.transaction() as session:
        session.add(comment)
        await session.flush()
    return comment


async def like_post(db: Database, post: Post, *users: User) -> None:
    async with db.transaction() as session:
        session.add_all(PostLike(post_id=post.id, user_id=user.id) for user in users)


async def like_comment(db: Database, comment: Comment, *users: User) -> None:
    async with db.transaction() as session:
        session.add_all(CommentLike(comment_id=comment.id, user_id=user.id) for user in users)


async def make_report(
    db: Database,
    reporter: User,
    target: Post | Comment,
    *,
    reason: str = "spam",
    status: str = "pending",
) -> Report:
    report = Report(
        reporter_id=reporter.id,
        target_type="post" if isinstance(target, Post) else "comment",
        target_id=target.id,
        reason=reason,
        description="",
        status=status,
        action=None if status == "pending" else "dismiss",
        reviewed_at=None if status == "pending" else datetime.now(UTC),
        created_at=_tick(),
    )
    async with db.transaction() as session:
        session.add(report)
        await session.flush()
    return report
