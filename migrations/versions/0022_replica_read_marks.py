"""Read replicas: the WAL position of each viewer's last write, for read-your-writes
(UNLOGGED)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-10 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "replica_read_marks",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("lsn", sa.BigInteger(), nullable=False),
        sa.Column(
            "written_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("lsn >= 0", name=op.f("ck_replica_read_marks_lsn_not_negative")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_replica_read_marks")),
        prefixes=["UNLOGGED"],
    )


def downgrade() -> None:
    op.drop_table("replica_read_marks")
