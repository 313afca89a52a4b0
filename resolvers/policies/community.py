"""posts, comments, post_likes, comment_likes and reports.

- posts: anon none. Signed-in users read published posts that are not hidden, and
  their own unpublished drafts; coaches also read hidden posts ("+ read hidden", but not
  other people's drafts: the stricter reading of DESIGN §5); admins read all. Anyone
  signed in creates; authors update their own (admins any); authors, coaches and admins
  delete. Coaches and admins hide, unhide and pin.
- comments: readable when their post is readable and neither the comment nor its
  parent is hidden; coaches read hidden ones too (on posts they may read); admins all.
  Writes as for posts.
- likes: a user reads and writes their own; admins read all. Like *counts* of an item
  the viewer may read are aggregates over all likes (`counted`), who liked is not shown.
- reports: any signed-in user creates; coaches and admins read and resolve.
- authors (column-level on users): the public name and avatar of the author of a row the
  viewer may read are shown through `Author`; contact fields never are.
"""

from __future__ import annotations

import uuid
from typing import ClassVar, TypeVar

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.orm import aliased

from models import Comment, CommentLike, Post, PostLike, Report
from resolvers.core.identity import Viewer
from resolvers.policies.base import TablePolicy

LikeT = TypeVar("LikeT", PostLike, CommentLike)


def is_moderator(viewer: Viewer) -> bool:
    return viewer.is_service or viewer.is_admin or viewer.is_coach


class PostPolicy(TablePolicy[Post]):
    model = Post

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        if viewer.is_admin:
            return true()
        if viewer.user_id is None:
            return false()
        published_or_own = or_(Post.published.is_(True), Post.author_id == viewer.user_id)
        if viewer.is_coach:
            # "+ read hidden": moderated posts too, but not other people's drafts.
            return published_or_own
        return and_(Post.hidden.is_(False), published_or_own)

    def can_create(self, viewer: Viewer) -> bool:
        return viewer.user_id is not None

    def can_update(self, viewer: Viewer, post: Post) -> bool:
        return viewer.is_service or viewer.is_admin or post.author_id == viewer.user_id

    def can_delete(self, viewer: Viewer, post: Post) -> bool:
        return is_moderator(viewer) or post.author_id == viewer.user_id

    def can_moderate(self, viewer: Viewer) -> bool:
        return is_moderator(viewer)


# Built once: `aliased()` costs about a millisecond, and the comments policy is built for
# every distinct viewer (loader statements, realtime checks). Explicit `.correlate(Comment)`
# keeps its subquery its own wherever the statement also aliases comments.
_PARENT_COMMENT = aliased(Comment, name="parent_comment")


class CommentPolicy(TablePolicy[Comment]):
    model = Comment

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        if viewer.is_admin:
            return true()
        if viewer.user_id is None:
            return false()
        post_readable = (
            select(Post.id)
            .where(Post.id == Comment.post_id, post_policy.read(viewer))
            .correlate(Comment)
            .exists()
        )
        if viewer.is_coach:
            # Hidden comments and replies under them too, on posts the coach may read.
            return post_readable
        parent = _PARENT_COMMENT
        parent_hidden = (
            select(parent.id)
            .where(parent.id == Comment.parent_id, parent.hidden.is_(True))
            .correlate(Comment)
            .exists()
        )
        return and_(Comment.hidden.is_(False), ~parent_hidden, post_readable)

    def can_update(self, viewer: Viewer, comment: Comment) -> bool:
        return viewer.is_service or viewer.is_admin or comment.author_id == viewer.user_id

    def can_delete(self, viewer: Viewer, comment: Comment) -> bool:
        return is_moderator(viewer) or comment.author_id == viewer.user_id

    def can_moderate(self, viewer: Viewer) -> bool:
        return is_moderator(viewer)


class _LikePolicy(TablePolicy[LikeT]):
    """post_likes and comment_likes: the same rules on either table."""

    model: ClassVar[type[PostLike] | type[CommentLike]]

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        if viewer.is_admin:
            return true()
        if viewer.user_id is None:
            return false()
        return self.model.user_id == viewer.user_id

    def counted(self, viewer: Viewer) -> ColumnElement[bool]:
        """Likes that count towards `likeCount` of an item the viewer may read: all."""
        return true() if viewer.is_service or viewer.user_id is not None else false()

    def can_write(self, viewer: Viewer, user_id: uuid.UUID) -> bool:
        return viewer.user_id is not None and viewer.user_id == user_id


class PostLikePolicy(_LikePolicy[PostLike]):
    model = PostLike


class CommentLikePolicy(_LikePolicy[CommentLike]):
    model = CommentLike


class ReportPolicy(TablePolicy[Report]):
    model = Report

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        if viewer.is_admin or viewer.is_coach:
            return true()
        return false()

    def can_create(self, viewer: Viewer) -> bool:
        return viewer.user_id is not None

    def can_resolve(self, viewer: Viewer) -> bool:
        return is_moderator(viewer)


post_policy = PostPolicy()
comment_policy = CommentPolicy()
post_like_policy = PostLikePolicy()
comment_like_policy = CommentLikePolicy()
report_policy = ReportPolicy()
