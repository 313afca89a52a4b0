from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Double, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class RateLimitBucket(Base):
    """One rate-limit token bucket (a viewer's, or a client address's), shared by every
    server process: `tokens` as of `updated_at`, refilling at `per_second` up to `burst`
    (negative: overspent, see resolvers/core/rate_limits.py). UNLOGGED: no WAL, emptied (every
    bucket full) after a Postgres crash, not on replicas."""

    __tablename__ = "rate_limit_buckets"
    __table_args__ = (
        CheckConstraint("burst > 0", name="burst_positive"),
        CheckConstraint("per_second > 0", name="per_second_positive"),
        CheckConstraint("tokens BETWEEN -burst AND burst", name="tokens_range"),
        {"prefixes": ["UNLOGGED"]},
    )

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    tokens: Mapped[float] = mapped_column(Double)
    burst: Mapped[float] = mapped_column(Double)
    per_second: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
