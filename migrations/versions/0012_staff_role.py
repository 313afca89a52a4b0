"""The front desk: a `staff` app role, and `staff` as the actor of appointment changes

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 07:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(op.f("ck_user_roles_role_valid"), "user_roles", type_="check")
    op.create_check_constraint(
        op.f("ck_user_roles_role_valid"),
        "user_roles",
        "role IN ('patient', 'doctor', 'coach', 'staff', 'admin')",
    )
    op.drop_constraint(
        op.f("ck_appointment_events_actor_role_valid"), "appointment_events", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_appointment_events_actor_role_valid"),
        "appointment_events",
        "actor_role IN ('patient', 'doctor', 'staff', 'admin', 'service')",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("ck_appointment_events_actor_role_valid"), "appointment_events", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_appointment_events_actor_role_valid"),
        "appointment_events",
        "actor_role IN ('patient', 'doctor', 'admin', 'service')",
    )
    op.drop_constraint(op.f("ck_user_roles_role_valid"), "user_roles", type_="check")
    op.create_check_constraint(
        op.f("ck_user_roles_role_valid"),
        "user_roles",
        "role IN ('patient', 'doctor', 'coach', 'admin')",
    )
