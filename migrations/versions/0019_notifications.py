"""Notifications: each user's inbox, written in the transaction of what it tells about,
and delivered live (topic `notification`, keyed by its user)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = (
    "booking_confirmed",
    "booking_cancelled",
    "booking_rescheduled",
    "booking_lapsed",
    "payment_received",
    "payment_refunded",
    "appointment_reminder",
    "review_requested",
    "reply",
    "content_hidden",
    "report_resolved",
    "check_in_due",
)


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("subject_type", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("actor_role", sa.String(length=10), nullable=True),
        sa.Column(
            "data",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.CheckConstraint(
            "kind IN ({})".format(", ".join(f"'{kind}'" for kind in KINDS)),
            name=op.f("ck_notifications_kind_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notifications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index(
        "ix_notifications_user_id_created_at_id",
        "notifications",
        ["user_id", "created_at", "id"],
    )
    op.create_index(
        "ix_notifications_user_id_unread",
        "notifications",
        ["user_id"],
        postgresql_where=sa.text("read_at IS NULL"),
    )
    op.create_index(
        "uq_notifications_user_id_dedupe_key",
        "notifications",
        ["user_id", "dedupe_key"],
        unique=True,
        postgresql_where=sa.text("dedupe_key IS NOT NULL"),
    )
    op.execute(
        "CREATE TRIGGER realtime_notification AFTER INSERT ON notifications "
        "FOR EACH ROW EXECUTE FUNCTION realtime_event('notification', 'id', 'user_id')"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER realtime_notification ON notifications")
    op.drop_index("uq_notifications_user_id_dedupe_key", table_name="notifications")
    op.drop_index("ix_notifications_user_id_unread", table_name="notifications")
    op.drop_index("ix_notifications_user_id_created_at_id", table_name="notifications")
    op.drop_table("notifications")
