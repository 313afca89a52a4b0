"""Index appointments by doctor, patient and status for the care-relationship policies

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 07:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_appointments_doctor_id_patient_id_status",
        "appointments",
        ["doctor_id", "patient_id", "status"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_appointments_doctor_id_patient_id_status", table_name="appointments")
