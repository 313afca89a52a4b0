"""Outbound webhooks: endpoints (per notification kind, with a signing secret) and the
delivery log (one row per event and endpoint, sent by the `webhook.deliver` job)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0020"
down_revision: str | None = "0019"
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
STATUSES = ("pending", "delivered", "failed", "skipped")


def _listed(values: Sequence[str]) -> str:
    return ", ".join(f"'{value}'" for value in values)


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("description", sa.String(length=200), server_default="", nullable=False),
        sa.Column("kinds", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            f"cardinality(kinds) > 0 AND kinds <@ ARRAY[{_listed(KINDS)}]::text[]",
            name=op.f("ck_webhook_endpoints_kinds_known"),
        ),
        sa.CheckConstraint(
            "url ~ '^https?://' AND length(url) <= 2000",
            name=op.f("ck_webhook_endpoints_url_format"),
        ),
        sa.CheckConstraint(
            "length(description) <= 200", name=op.f("ck_webhook_endpoints_description_length")
        ),
        sa.CheckConstraint("length(secret) >= 32", name=op.f("ck_webhook_endpoints_secret_length")),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_webhook_endpoints_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_index("ix_webhook_endpoints_created_at_id", "webhook_endpoints", ["created_at", "id"])
    op.create_index("ix_webhook_endpoints_created_by", "webhook_endpoints", ["created_by"])

    op.create_table(
        "webhook_deliveries",
        sa.Column("endpoint_id", sa.Uuid(), nullable=False),
        sa.Column("event_kind", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_status_code", sa.SmallInteger(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.CheckConstraint(
            f"status IN ({_listed(STATUSES)})", name=op.f("ck_webhook_deliveries_status_valid")
        ),
        sa.CheckConstraint(
            f"event_kind IN ({_listed(KINDS)})",
            name=op.f("ck_webhook_deliveries_event_kind_valid"),
        ),
        sa.CheckConstraint(
            "attempts >= 0", name=op.f("ck_webhook_deliveries_attempts_non_negative")
        ),
        sa.CheckConstraint(
            "last_status_code IS NULL OR last_status_code BETWEEN 100 AND 599",
            name=op.f("ck_webhook_deliveries_last_status_code_range"),
        ),
        sa.CheckConstraint(
            "(status = 'delivered') = (delivered_at IS NOT NULL)",
            name=op.f("ck_webhook_deliveries_delivered_at_iff_delivered"),
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhook_deliveries_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint(
            "endpoint_id", "event_id", name=op.f("uq_webhook_deliveries_endpoint_id_event_id")
        ),
    )
    op.create_index(
        "ix_webhook_deliveries_endpoint_id_created_at_id",
        "webhook_deliveries",
        ["endpoint_id", "created_at", "id"],
    )
    op.create_index(
        "ix_webhook_deliveries_status_created_at_id",
        "webhook_deliveries",
        ["status", "created_at", "id"],
    )
    op.create_index(
        "ix_webhook_deliveries_created_at_id", "webhook_deliveries", ["created_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_created_at_id", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_status_created_at_id", table_name="webhook_deliveries")
    op.drop_index(
        "ix_webhook_deliveries_endpoint_id_created_at_id", table_name="webhook_deliveries"
    )
    op.drop_table("webhook_deliveries")
    op.drop_index("ix_webhook_endpoints_created_by", table_name="webhook_endpoints")
    op.drop_index("ix_webhook_endpoints_created_at_id", table_name="webhook_endpoints")
    op.drop_table("webhook_endpoints")
