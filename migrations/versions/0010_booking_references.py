"""Booking references: a short, random, unique code on every appointment

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 30 symbols that read unambiguously aloud and on paper: no 0/O, 1/I/L or U.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"


def upgrade() -> None:
    # Random, not a sequence: a reference says nothing about volume or order. Each row
    # (the existing ones too: the default is volatile) draws its own.
    op.execute(
        f"""
        CREATE FUNCTION booking_reference() RETURNS text LANGUAGE sql VOLATILE AS $$
          SELECT string_agg(substr('{ALPHABET}', 1 + floor(random() * 30)::int, 1), '')
            FROM generate_series(1, 8)
        $$
        """
    )
    op.add_column(
        "appointments",
        sa.Column(
            "reference",
            sa.String(length=8),
            server_default=sa.text("booking_reference()"),
            nullable=False,
        ),
    )
    op.create_unique_constraint("uq_appointments_reference", "appointments", ["reference"])
    op.create_check_constraint(
        op.f("ck_appointments_reference_format"),
        "appointments",
        "reference ~ '^[2-9A-HJKMNP-TV-Z]{8}$'",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_appointments_reference_format"), "appointments", type_="check")
    op.drop_constraint("uq_appointments_reference", "appointments", type_="unique")
    op.drop_column("appointments", "reference")
    op.execute("DROP FUNCTION booking_reference()")
