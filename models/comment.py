from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, TimestampMixin


class Comment(IdMixin, TimestampMixin, Base):
    """A comment on a post: top level (`parent_id` null) or a reply to a top-level
    comment of the same post. Hidden comments are for coaches and admins only."""

    __tablename__ = "comments"
    __table_args__ = (
        CheckConstraint("length(body) BETWEEN 1 AND 5000", name="body_length"),
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
        CheckConstraint("hidden = (hidden_at IS NOT NULL)", name="hidden_at_matches"),
        Index("ix_comments_post_id_parent_id_created_at", "post_id", "parent_id", "created_at"),
        Index("ix_comments_parent_id_created_at", "parent_id", "created_at"),
        Index("ix_comments_author_id", "author_id"),
        Index("ix_comments_hidden_by", "hidden_by"),
    )

    post_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE")
    )
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    hidden: Mapped[bool] = mapped_column(Boolean, server_default="false")
    hidden_at: Mapped[datetime | None]
    hidden_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
