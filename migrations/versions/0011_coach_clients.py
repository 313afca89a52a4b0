"""Coach-client links: which clients' goals a coach reads

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 07:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coach_clients",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("coach_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("assigned_by", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("coach_id <> client_id", name="ck_coach_clients_not_self"),
        sa.ForeignKeyConstraint(
            ["coach_id"], ["users.id"], name="fk_coach_clients_coach_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["users.id"],
            name="fk_coach_clients_client_id_users",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["assigned_by"],
            ["users.id"],
            name="fk_coach_clients_assigned_by_users",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_coach_clients"),
        sa.UniqueConstraint("coach_id", "client_id", name="uq_coach_clients_coach_id_client_id"),
    )
    op.create_index(
        "ix_coach_clients_client_id_coach_id", "coach_clients", ["client_id", "coach_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_coach_clients_client_id_coach_id", table_name="coach_clients")
    op.drop_table("coach_clients")
