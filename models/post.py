from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, TimestampMixin


class Post(IdMixin, TimestampMixin, Base):
    """A community post. Hidden posts (moderation) are for coaches and admins only;
    unpublished posts (drafts) for their author, coaches and admins."""

    __tablename__ = "posts"
    __table_args__ = (
        CheckConstraint("length(title) BETWEEN 1 AND 200", name="title_length"),
        CheckConstraint("length(body) BETWEEN 1 AND 10000", name="body_length"),
        CheckConstraint("cardinality(tags) <= 10", name="tags_count"),
        CheckConstraint("hidden = (hidden_at IS NOT NULL)", name="hidden_at_matches"),
        Index("ix_posts_feed", "pinned", "created_at", "id"),
        Index("ix_posts_author_id_created_at", "author_id", "created_at"),
        Index("ix_posts_hidden_by", "hidden_by"),
        Index("ix_posts_tags", "tags", postgresql_using="gin"),
    )

    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    published: Mapped[bool] = mapped_column(Boolean, server_default="true")
    pinned: Mapped[bool] = mapped_column(Boolean, server_default="false")
    hidden: Mapped[bool] = mapped_column(Boolean, server_default="false")
    hidden_at: Mapped[datetime | None]
    hidden_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
