"""Jobs: pgqueuer's tables (the job queue, its log, schedules and statistics), and what
the first jobs need: a payment window on unpaid appointments (they lapse when it ends) and
`system` as an actor of an appointment's history

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 13:30:00
"""

from collections.abc import Iterator, Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQL = Path(__file__).resolve().parent.parent / "sql"
WINDOW_BEFORE = "30 minutes"
"""The payment window of the appointments already waiting for payment (the default)."""


def statements(script: str) -> Iterator[str]:
    """The statements of an SQL script (one at a time: asyncpg prepares each), keeping a
    function body between `$$` whole."""
    current: list[str] = []
    quoted = False
    for line in script.splitlines():
        if not current and (not line.strip() or line.startswith("--")):
            continue
        current.append(line)
        quoted ^= line.count("$$") % 2 == 1
        if not quoted and line.rstrip().endswith(";"):
            yield "\n".join(current)
            current = []
    assert not current, "unterminated statement"


def _actor_roles(roles: Sequence[str]) -> None:
    op.drop_constraint(
        op.f("ck_appointment_events_actor_role_valid"), "appointment_events", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_appointment_events_actor_role_valid"),
        "appointment_events",
        "actor_role IN ({})".format(", ".join(f"'{role}'" for role in roles)),
    )


def upgrade() -> None:
    # pgqueuer's own DDL, as `pgq install` renders it for the pinned version (1.6.0).
    for statement in statements((SQL / "pgqueuer-1.6.0-install.sql").read_text()):
        op.execute(statement)
    op.add_column(
        "appointments", sa.Column("payment_due_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.execute(
        "UPDATE appointments SET payment_due_at = created_at + interval "
        f"'{WINDOW_BEFORE}' WHERE status = 'pending_payment'"
    )
    op.create_index(
        "ix_appointments_payment_due_at_pending",
        "appointments",
        ["payment_due_at"],
        postgresql_where=sa.text("status = 'pending_payment'"),
    )
    _actor_roles(("patient", "doctor", "staff", "admin", "service", "system"))


def downgrade() -> None:
    op.execute("DELETE FROM appointment_events WHERE actor_role = 'system'")
    _actor_roles(("patient", "doctor", "staff", "admin", "service"))
    op.drop_index("ix_appointments_payment_due_at_pending", table_name="appointments")
    op.drop_column("appointments", "payment_due_at")
    for statement in statements((SQL / "pgqueuer-1.6.0-uninstall.sql").read_text()):
        op.execute(statement)
