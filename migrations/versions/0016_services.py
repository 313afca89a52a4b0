"""Services catalog: what each doctor offers (private or group, in person or video),
with every doctor's STANDARD and FOLLOWUP as its two default services; appointments and
holds name their service; group sessions number their seats; REQUESTED appointments wait
for the doctor's approval

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES_BEFORE = ("pending_payment", "confirmed", "cancelled", "completed", "no_show", "refunded")
STATUSES = ("requested", *STATUSES_BEFORE)


def _in(column: str, listed: Sequence[str]) -> str:
    return "{} IN ({})".format(column, ", ".join(f"'{value}'" for value in listed))


LIVE_BEFORE = _in("status", ("pending_payment", "confirmed"))
LIVE = _in("status", ("requested", "pending_payment", "confirmed"))

# Each doctor's two default services, from the doctor's fees and currency.
INSERT_DEFAULTS = """
INSERT INTO services (doctor_id, name, price, currency, default_for)
SELECT d.id, defaults.name,
       CASE defaults.kind WHEN 'standard' THEN d.fee_standard ELSE d.fee_followup END,
       d.currency, defaults.kind
  FROM {source} d
 CROSS JOIN (VALUES ('standard', 'Consultation'),
                    ('followup', 'Follow-up consultation')) AS defaults (kind, name)
"""


def upgrade() -> None:
    op.create_table(
        "services",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("doctor_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("duration_minutes", sa.SmallInteger(), nullable=True),
        sa.Column("buffer_minutes", sa.SmallInteger(), nullable=True),
        sa.Column("price", sa.Numeric(10, 2), server_default="0", nullable=False),
        sa.Column("currency", sa.String(length=3), server_default="USD", nullable=False),
        sa.Column("mode", sa.String(length=20), server_default="in_person", nullable=False),
        sa.Column("confirmation", sa.String(length=20), server_default="automatic", nullable=False),
        sa.Column("min_notice_minutes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("capacity", sa.SmallInteger(), server_default="1", nullable=False),
        sa.Column("default_for", sa.String(length=20), nullable=True),
        sa.Column(
            "intake_questions",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="[]",
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
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
            "char_length(name) BETWEEN 1 AND 120", name=op.f("ck_services_name_length")
        ),
        sa.CheckConstraint(
            "duration_minutes IS NULL OR duration_minutes BETWEEN 5 AND 480",
            name=op.f("ck_services_duration_minutes_range"),
        ),
        sa.CheckConstraint(
            "buffer_minutes IS NULL OR buffer_minutes BETWEEN 0 AND 240",
            name=op.f("ck_services_buffer_minutes_range"),
        ),
        sa.CheckConstraint("price >= 0", name=op.f("ck_services_price_non_negative")),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_services_currency_iso")),
        sa.CheckConstraint(
            _in("mode", ("in_person", "video")), name=op.f("ck_services_mode_valid")
        ),
        sa.CheckConstraint(
            _in("confirmation", ("automatic", "approval")),
            name=op.f("ck_services_confirmation_valid"),
        ),
        sa.CheckConstraint(
            "min_notice_minutes BETWEEN 0 AND 43200",
            name=op.f("ck_services_min_notice_minutes_range"),
        ),
        sa.CheckConstraint("capacity BETWEEN 1 AND 500", name=op.f("ck_services_capacity_range")),
        sa.CheckConstraint(
            "default_for IS NULL OR " + _in("default_for", ("standard", "followup")),
            name=op.f("ck_services_default_for_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["doctor_id"],
            ["doctors.id"],
            name=op.f("fk_services_doctor_id_doctors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
        sa.UniqueConstraint("doctor_id", "default_for", name="uq_services_doctor_id_default_for"),
    )
    op.create_index("ix_services_doctor_id_active", "services", ["doctor_id", "active"])
    op.execute(INSERT_DEFAULTS.format(source="doctors"))

    # Every doctor row, however inserted, gets its two default services; their price and
    # currency and the doctor's fees and currency stay one value (each trigger writes only
    # what differs, so the pair stops after one round).
    op.execute(
        f"""
        CREATE FUNCTION doctors_default_services() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          {INSERT_DEFAULTS.format(source="new_doctors")};
          RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER doctors_default_services AFTER INSERT ON doctors "
        "REFERENCING NEW TABLE AS new_doctors "
        "FOR EACH STATEMENT EXECUTE FUNCTION doctors_default_services()"
    )
    op.execute(
        """
        CREATE FUNCTION doctors_fees_to_services() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          UPDATE services s
             SET price = CASE s.default_for WHEN 'standard' THEN NEW.fee_standard
                                            ELSE NEW.fee_followup END,
                 currency = NEW.currency,
                 updated_at = now()
           WHERE s.doctor_id = NEW.id AND s.default_for IS NOT NULL
             AND (s.currency IS DISTINCT FROM NEW.currency
                  OR s.price IS DISTINCT FROM CASE s.default_for
                       WHEN 'standard' THEN NEW.fee_standard ELSE NEW.fee_followup END);
          RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER doctors_fees_to_services "
        "AFTER UPDATE OF fee_standard, fee_followup, currency ON doctors "
        "FOR EACH ROW EXECUTE FUNCTION doctors_fees_to_services()"
    )
    op.execute(
        """
        CREATE FUNCTION services_price_to_doctors() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          UPDATE doctors d
             SET fee_standard = CASE NEW.default_for WHEN 'standard' THEN NEW.price
                                                     ELSE d.fee_standard END,
                 fee_followup = CASE NEW.default_for WHEN 'followup' THEN NEW.price
                                                     ELSE d.fee_followup END,
                 currency = NEW.currency
           WHERE d.id = NEW.doctor_id
             AND (d.currency IS DISTINCT FROM NEW.currency
                  OR NEW.price IS DISTINCT FROM CASE NEW.default_for
                       WHEN 'standard' THEN d.fee_standard ELSE d.fee_followup END);
          RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER services_price_to_doctors "
        "AFTER UPDATE OF price, currency ON services "
        "FOR EACH ROW WHEN (NEW.default_for IS NOT NULL) "
        "EXECUTE FUNCTION services_price_to_doctors()"
    )

    # Appointments name their service (existing rows: the default of their type), their
    # seat and mode, and the intake answers given; REQUESTED joins the live statuses.
    op.add_column("appointments", sa.Column("service_id", sa.Uuid(), nullable=True))
    op.add_column(
        "appointments", sa.Column("seat", sa.SmallInteger(), server_default="1", nullable=False)
    )
    op.add_column(
        "appointments",
        sa.Column("mode", sa.String(length=20), server_default="in_person", nullable=False),
    )
    op.add_column(
        "appointments",
        sa.Column(
            "intake_answers",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="[]",
            nullable=False,
        ),
    )
    op.execute(
        "UPDATE appointments a SET service_id = s.id FROM services s "
        "WHERE s.doctor_id = a.doctor_id AND s.default_for = a.type"
    )
    op.create_foreign_key(
        op.f("fk_appointments_service_id_services"),
        "appointments",
        "services",
        ["service_id"],
        ["id"],
        ondelete="RESTRICT",
    )
    op.create_index("ix_appointments_service_id", "appointments", ["service_id"])
    op.create_check_constraint(op.f("ck_appointments_seat_positive"), "appointments", "seat >= 1")
    op.create_check_constraint(
        op.f("ck_appointments_mode_valid"), "appointments", _in("mode", ("in_person", "video"))
    )
    for table, column in (("appointments", "status"), ("appointment_events", "to_status")):
        name = op.f(f"ck_{table}_{column}_valid")
        op.drop_constraint(name, table, type_="check")
        op.create_check_constraint(name, table, _in(column, STATUSES))
    op.drop_index("uq_appointments_doctor_id_starts_at_live", table_name="appointments")
    op.create_index(
        "uq_appointments_doctor_id_starts_at_seat_live",
        "appointments",
        ["doctor_id", "starts_at", "seat"],
        unique=True,
        postgresql_where=sa.text(LIVE),
    )
    op.create_index(
        "uq_appointments_doctor_id_starts_at_patient_id_live",
        "appointments",
        ["doctor_id", "starts_at", "patient_id"],
        unique=True,
        postgresql_where=sa.text(LIVE),
    )

    op.add_column("slot_holds", sa.Column("service_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_slot_holds_service_id_services"),
        "slot_holds",
        "services",
        ["service_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_index("ix_slot_holds_service_id", "slot_holds", ["service_id"])


def downgrade() -> None:
    op.drop_index("ix_slot_holds_service_id", table_name="slot_holds")
    op.drop_constraint(op.f("fk_slot_holds_service_id_services"), "slot_holds", type_="foreignkey")
    op.drop_column("slot_holds", "service_id")
    op.execute("UPDATE appointments SET status = 'cancelled' WHERE status = 'requested'")
    op.execute(
        "UPDATE appointment_events SET to_status = 'cancelled' WHERE to_status = 'requested'"
    )
    op.drop_index("uq_appointments_doctor_id_starts_at_patient_id_live", table_name="appointments")
    op.drop_index("uq_appointments_doctor_id_starts_at_seat_live", table_name="appointments")
    op.create_index(
        "uq_appointments_doctor_id_starts_at_live",
        "appointments",
        ["doctor_id", "starts_at"],
        unique=True,
        postgresql_where=sa.text(LIVE_BEFORE),
    )
    for table, column in (("appointments", "status"), ("appointment_events", "to_status")):
        name = op.f(f"ck_{table}_{column}_valid")
        op.drop_constraint(name, table, type_="check")
        op.create_check_constraint(name, table, _in(column, STATUSES_BEFORE))
    op.drop_constraint(op.f("ck_appointments_mode_valid"), "appointments", type_="check")
    op.drop_constraint(op.f("ck_appointments_seat_positive"), "appointments", type_="check")
    op.drop_index("ix_appointments_service_id", table_name="appointments")
    op.drop_constraint(
        op.f("fk_appointments_service_id_services"), "appointments", type_="foreignkey"
    )
    for column in ("intake_answers", "mode", "seat", "service_id"):
        op.drop_column("appointments", column)
    op.execute("DROP TRIGGER services_price_to_doctors ON services")
    op.execute("DROP FUNCTION services_price_to_doctors()")
    op.execute("DROP TRIGGER doctors_fees_to_services ON doctors")
    op.execute("DROP FUNCTION doctors_fees_to_services()")
    op.execute("DROP TRIGGER doctors_default_services ON doctors")
    op.execute("DROP FUNCTION doctors_default_services()")
    op.drop_table("services")
