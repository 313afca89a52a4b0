"""goals, goal_milestones, goal_check_ins

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-22 06:14:46.153203
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "goals",
        sa.Column("owner_id", sa.UUID(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="active", nullable=False),
        sa.Column("metric", sa.Text(), server_default="", nullable=False),
        sa.Column("unit", sa.String(length=40), server_default="", nullable=False),
        sa.Column("baseline_value", sa.Numeric(precision=12, scale=3), nullable=False),
        sa.Column("target_value", sa.Numeric(precision=12, scale=3), nullable=False),
        sa.Column("current_value", sa.Numeric(precision=12, scale=3), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("target_date", sa.Date(), nullable=True),
        sa.Column(
            "check_in_frequency", sa.String(length=20), server_default="weekly", nullable=False
        ),
        sa.Column("importance", sa.SmallInteger(), server_default="3", nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
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
            "(status = 'completed') = (completed_at IS NOT NULL)",
            name=op.f("ck_goals_completed_at_matches"),
        ),
        sa.CheckConstraint(
            "check_in_frequency IN ('daily', 'weekly', 'biweekly', 'monthly')",
            name=op.f("ck_goals_check_in_frequency_valid"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'completed', 'paused', 'abandoned')",
            name=op.f("ck_goals_status_valid"),
        ),
        sa.CheckConstraint(
            "type IN ('improvement', 'maintenance', 'prevention', 'habit')",
            name=op.f("ck_goals_type_valid"),
        ),
        sa.CheckConstraint("importance BETWEEN 1 AND 5", name=op.f("ck_goals_importance_range")),
        sa.CheckConstraint("length(btrim(title)) > 0", name=op.f("ck_goals_title_not_blank")),
        sa.CheckConstraint(
            "target_date IS NULL OR target_date >= start_date", name=op.f("ck_goals_dates_in_order")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_goals_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_goals")),
    )
    op.create_index("ix_goals_created_at_id", "goals", ["created_at", "id"], unique=False)
    op.create_index(
        "ix_goals_owner_id_created_at", "goals", ["owner_id", "created_at"], unique=False
    )
    op.create_index("ix_goals_status_created_at", "goals", ["status", "created_at"], unique=False)
    op.create_index("ix_goals_target_date", "goals", ["target_date"], unique=False)
    op.create_index("ix_goals_type", "goals", ["type"], unique=False)
    op.create_table(
        "goal_check_ins",
        sa.Column("goal_id", sa.UUID(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("value", sa.Numeric(precision=12, scale=3), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("mood", sa.String(length=20), nullable=True),
        sa.Column("adherence", sa.SmallInteger(), nullable=True),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
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
            "mood IS NULL OR mood IN ('great', 'good', 'okay', 'struggling')",
            name=op.f("ck_goal_check_ins_mood_valid"),
        ),
        sa.CheckConstraint(
            "adherence IS NULL OR adherence BETWEEN 0 AND 100",
            name=op.f("ck_goal_check_ins_adherence_range"),
        ),
        sa.ForeignKeyConstraint(
            ["goal_id"],
            ["goals.id"],
            name=op.f("fk_goal_check_ins_goal_id_goals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_goal_check_ins")),
        sa.UniqueConstraint("goal_id", "date", name="uq_goal_check_ins_goal_id_date"),
    )
    op.create_table(
        "goal_milestones",
        sa.Column("goal_id", sa.UUID(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("target_date", sa.Date(), nullable=True),
        sa.Column("target_value", sa.Numeric(precision=12, scale=3), nullable=True),
        sa.Column("reward", sa.Text(), server_default="", nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("completed", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
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
            "completed = (completed_at IS NOT NULL)",
            name=op.f("ck_goal_milestones_completed_at_matches"),
        ),
        sa.CheckConstraint(
            "length(btrim(title)) > 0", name=op.f("ck_goal_milestones_title_not_blank")
        ),
        sa.CheckConstraint("position >= 0", name=op.f("ck_goal_milestones_position_non_negative")),
        sa.ForeignKeyConstraint(
            ["goal_id"],
            ["goals.id"],
            name=op.f("fk_goal_milestones_goal_id_goals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_goal_milestones")),
        sa.UniqueConstraint(
            "goal_id",
            "position",
            deferrable=True,
            initially="DEFERRED",
            name="uq_goal_milestones_goal_id_position",
        ),
    )
    op.create_index(
        "ix_goal_milestones_goal_id_completed",
        "goal_milestones",
        ["goal_id", "completed"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_goal_milestones_goal_id_completed", table_name="goal_milestones")
    op.drop_table("goal_milestones")
    op.drop_table("goal_check_ins")
    op.drop_index("ix_goals_type", table_name="goals")
    op.drop_index("ix_goals_target_date", table_name="goals")
    op.drop_index("ix_goals_status_created_at", table_name="goals")
    op.drop_index("ix_goals_owner_id_created_at", table_name="goals")
    op.drop_index("ix_goals_created_at_id", table_name="goals")
    op.drop_table("goals")
