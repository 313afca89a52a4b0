from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class ReplicaReadMark(Base):
    """Read-your-writes with read replicas (resolvers/core/replicas.py): the primary's WAL
    position (`pg_current_wal_lsn()` as a byte offset) after a viewer's last committed
    write. Until a replica has replayed that far, the viewer's reads go to the primary; the
    viewer statement of every request reads it, so every process knows. One row per user
    who has written, no foreign key (a position, not data about the user). UNLOGGED: no
    WAL, never read on replicas; emptied after a Postgres crash."""

    __tablename__ = "replica_read_marks"
    __table_args__ = (
        CheckConstraint("lsn >= 0", name="lsn_not_negative"),
        {"prefixes": ["UNLOGGED"]},
    )

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    lsn: Mapped[int] = mapped_column(BigInteger)
    written_at: Mapped[datetime] = mapped_column(server_default=func.now())
