"""Realtime outbox: every committed write a subscription shows appends an event row in its
own transaction (triggers), and NOTIFY caregraph_events carries the row's id

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 10:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> (trigger suffix, events, topic, id column, key columns)
TRIGGERS: list[tuple[str, str, str, str, str, tuple[str, ...]]] = [
    ("appointments", "appointment", "INSERT OR UPDATE", "appointment", "id", ()),
    ("payments", "appointment", "INSERT OR UPDATE", "appointment", "appointment_id", ()),
    ("appointments", "slots", "INSERT OR UPDATE OR DELETE", "slots", "doctor_id", ()),
    ("slot_holds", "slots", "INSERT OR UPDATE OR DELETE", "slots", "doctor_id", ()),
    ("doctor_availability", "slots", "INSERT OR UPDATE OR DELETE", "slots", "doctor_id", ()),
    ("availability_exceptions", "slots", "INSERT OR UPDATE OR DELETE", "slots", "doctor_id", ()),
    ("services", "slots", "INSERT OR UPDATE OR DELETE", "slots", "doctor_id", ()),
    ("doctors", "slots", "UPDATE", "slots", "id", ()),
    ("comments", "comment", "INSERT", "comment", "id", ("post_id",)),
    ("comments", "post", "UPDATE", "post", "post_id", ()),
    ("posts", "post", "UPDATE", "post", "id", ()),
    ("reports", "report", "INSERT", "report", "id", ()),
    ("goal_check_ins", "goal_check_in", "INSERT OR UPDATE", "goal_check_in", "id", ("goal_id",)),
]


def upgrade() -> None:
    op.create_table(
        "realtime_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("topic", sa.String(length=40), nullable=False),
        sa.Column("row_id", sa.Uuid(), nullable=False),
        sa.Column(
            "keys",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_realtime_events")),
    )
    op.create_index("ix_realtime_events_created_at", "realtime_events", ["created_at"])
    # realtime_event(topic, id column, key columns...): appends the event of the changed
    # row and notifies its id; NOTIFY is delivered at commit, and not at all on rollback.
    op.execute(
        """
        CREATE FUNCTION realtime_event() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
          source jsonb;
          event_keys jsonb := '{}'::jsonb;
          event_id bigint;
        BEGIN
          IF TG_OP = 'DELETE' THEN source := to_jsonb(OLD); ELSE source := to_jsonb(NEW); END IF;
          FOR i IN 2 .. TG_NARGS - 1 LOOP
            event_keys := event_keys || jsonb_build_object(TG_ARGV[i], source -> TG_ARGV[i]);
          END LOOP;
          INSERT INTO realtime_events (topic, row_id, keys)
          VALUES (TG_ARGV[0], (source ->> TG_ARGV[1])::uuid, event_keys)
          RETURNING id INTO event_id;
          PERFORM pg_notify('caregraph_events', event_id::text);
          RETURN NULL;
        END
        $$
        """
    )
    for table, suffix, events, topic, id_column, keys in TRIGGERS:
        arguments = ", ".join(f"'{value}'" for value in (topic, id_column, *keys))
        op.execute(
            f"CREATE TRIGGER realtime_{suffix} AFTER {events} ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION realtime_event({arguments})"
        )


def downgrade() -> None:
    for table, suffix, *_rest in TRIGGERS:
        op.execute(f"DROP TRIGGER realtime_{suffix} ON {table}")
    op.execute("DROP FUNCTION realtime_event()")
    op.drop_index("ix_realtime_events_created_at", table_name="realtime_events")
    op.drop_table("realtime_events")
