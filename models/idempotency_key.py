from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class IdempotencyKey(Base):
    """A mutation's `Idempotency-Key` (DESIGN.md §13), scoped by the viewer (a user id, or
    `service_role` / `anon`). `request_hash` is the sha256 of the request (document,
    variables, operation name): the same key with another request is refused. While the
    first request runs, `response` is null and `locked_until` ends its claim (a claim
    past it was abandoned and may be taken over); then `response` holds the answer's
    body and `status_code` its HTTP status, replayed to a retry until `expires_at`
    (resolvers/core/idempotency.py)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        CheckConstraint("request_hash ~ '^[0-9a-f]{64}$'", name="request_hash_hex"),
        CheckConstraint("length(key) BETWEEN 1 AND 255", name="key_length"),
        Index(None, "expires_at"),
    )

    viewer: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    locked_until: Mapped[datetime]
    expires_at: Mapped[datetime]
