"""Checkout and refunds: open (PENDING) payments with a provider's client secret, one per
appointment; how a payment was made; refunds (partial, by whom, why, the provider's
state); provider webhook events stored once by id

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _payment_statuses(statuses: Sequence[str]) -> None:
    op.drop_constraint(op.f("ck_payments_status_valid"), "payments", type_="check")
    op.create_check_constraint(
        op.f("ck_payments_status_valid"),
        "payments",
        "status IN ({})".format(", ".join(f"'{status}'" for status in statuses)),
    )


def upgrade() -> None:
    _payment_statuses(("pending", "paid", "failed", "refunded"))
    op.add_column("payments", sa.Column("method", sa.String(length=20), nullable=True))
    op.add_column(
        "payments",
        sa.Column(
            "amount_refunded", sa.Numeric(precision=10, scale=2), server_default="0", nullable=False
        ),
    )
    op.add_column("payments", sa.Column("client_secret", sa.Text(), nullable=True))
    op.add_column("payments", sa.Column("failure_reason", sa.Text(), nullable=True))
    op.execute("UPDATE payments SET amount_refunded = amount WHERE status = 'refunded'")
    op.create_check_constraint(
        op.f("ck_payments_amount_refunded_range"),
        "payments",
        "amount_refunded >= 0 AND amount_refunded <= amount",
    )
    op.create_check_constraint(
        op.f("ck_payments_method_valid"),
        "payments",
        "method IN ('cash', 'card', 'bank_transfer', 'online')",
    )
    op.create_index(
        "uq_payments_appointment_id_pending",
        "payments",
        ["appointment_id"],
        unique=True,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "refunds",
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="pending", nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("requested_role", sa.String(length=10), nullable=False),
        sa.Column("provider_ref", sa.String(length=200), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("succeeded_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.CheckConstraint("amount > 0", name=op.f("ck_refunds_amount_positive")),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_refunds_currency_iso")),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed')", name=op.f("ck_refunds_status_valid")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_refunds_payment_id_payments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["users.id"],
            name=op.f("fk_refunds_requested_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
    )
    op.create_index("ix_refunds_payment_id", "refunds", ["payment_id"])
    op.create_index("ix_refunds_requested_by", "refunds", ["requested_by"])
    op.create_index(
        "uq_refunds_provider_ref",
        "refunds",
        ["provider_ref"],
        unique=True,
        postgresql_where=sa.text("provider_ref IS NOT NULL"),
    )
    op.create_table(
        "provider_events",
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("object_ref", sa.String(length=200), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('applied', 'deferred', 'ignored')",
            name=op.f("ck_provider_events_status_valid"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_events")),
    )
    op.create_index(
        "uq_provider_events_provider_event_id",
        "provider_events",
        ["provider", "event_id"],
        unique=True,
    )
    op.create_index(
        "ix_provider_events_object_ref_status", "provider_events", ["object_ref", "status"]
    )


def downgrade() -> None:
    op.drop_table("provider_events")
    op.drop_table("refunds")
    op.drop_index("uq_payments_appointment_id_pending", table_name="payments")
    op.drop_constraint(op.f("ck_payments_method_valid"), "payments", type_="check")
    op.drop_constraint(op.f("ck_payments_amount_refunded_range"), "payments", type_="check")
    op.execute("DELETE FROM payments WHERE status = 'pending'")
    for column in ("failure_reason", "client_secret", "amount_refunded", "method"):
        op.drop_column("payments", column)
    _payment_statuses(("paid", "failed", "refunded"))
