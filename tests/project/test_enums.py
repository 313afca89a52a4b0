"""Each closed set of values is defined once (`models/enums.py`): the GraphQL enums, the
models' tuples and the database's CHECK constraints agree, and the state machines cover
every status."""

from __future__ import annotations

import re
from enum import StrEnum

import pytest
from graphql import GraphQLEnumType
from sqlalchemy import text

from models import enums
from models.appointment import APPOINTMENT_STATUSES, APPOINTMENT_TYPES, LIVE_STATUSES
from models.appointment_event import ACTOR_ROLES, EVENT_KINDS
from models.availability_exception import EXCEPTION_KINDS
from models.coupon import COUPON_KINDS
from models.goal import CHECK_IN_FREQUENCIES, GOAL_STATUSES, GOAL_TYPES
from models.goal_check_in import MOODS
from models.notification import NOTIFICATION_KINDS
from models.payment import PAYMENT_METHODS, PAYMENT_STATUSES
from models.provider_event import PROVIDER_EVENT_STATUSES
from models.refund import REFUND_STATUSES
from models.report import REPORT_ACTIONS, REPORT_REASONS, REPORT_STATUSES, REPORT_TARGET_TYPES
from models.service import INTAKE_QUESTION_KINDS, SERVICE_CONFIRMATIONS, SERVICE_MODES
from models.user_role import APP_ROLES
from models.webhook_delivery import WEBHOOK_DELIVERY_STATUSES
from resolvers.appointments import TRANSITIONS
from resolvers.core.database import Database
from resolvers.goals import STATUS_MOVES
from schema import schema

# enum -> the (table, column) pairs whose CHECK constraint lists its values
STORED: dict[type[StrEnum], list[tuple[str, str]]] = {
    enums.AppRole: [("user_roles", "role")],
    enums.ExceptionKind: [("availability_exceptions", "kind")],
    enums.AppointmentStatus: [("appointments", "status"), ("appointment_events", "to_status")],
    enums.AppointmentType: [("appointments", "type")],
    enums.AppointmentEventKind: [("appointment_events", "kind")],
    enums.ActorRole: [("appointment_events", "actor_role")],
    enums.PaymentStatus: [("payments", "status")],
    enums.CouponKind: [("coupons", "kind")],
    enums.GoalType: [("goals", "type")],
    enums.GoalStatus: [("goals", "status")],
    enums.CheckInFrequency: [("goals", "check_in_frequency")],
    enums.Mood: [("goal_check_ins", "mood")],
    enums.ReportTargetType: [("reports", "target_type")],
    enums.ReportReason: [("reports", "reason")],
    enums.ReportStatus: [("reports", "status")],
    enums.ReportAction: [("reports", "action")],
    enums.ServiceMode: [("services", "mode"), ("appointments", "mode")],
    enums.ServiceConfirmation: [("services", "confirmation")],
    enums.IntakeQuestionKind: [],  # inside services.intake_questions (jsonb)
    # webhook_endpoints.kinds (an array) is checked with `<@`, which this test cannot read.
    enums.NotificationKind: [("notifications", "kind"), ("webhook_deliveries", "event_kind")],
    enums.WebhookDeliveryStatus: [("webhook_deliveries", "status")],
    enums.PaymentMethod: [("payments", "method")],
    enums.RefundStatus: [("refunds", "status")],
    enums.ProviderEventStatus: [("provider_events", "status")],
}

MODEL_TUPLES: dict[type[StrEnum], tuple[str, ...]] = {
    enums.AppRole: APP_ROLES,
    enums.ExceptionKind: EXCEPTION_KINDS,
    enums.AppointmentStatus: APPOINTMENT_STATUSES,
    enums.AppointmentType: APPOINTMENT_TYPES,
    enums.AppointmentEventKind: EVENT_KINDS,
    enums.ActorRole: ACTOR_ROLES,
    enums.PaymentStatus: PAYMENT_STATUSES,
    enums.CouponKind: COUPON_KINDS,
    enums.GoalType: GOAL_TYPES,
    enums.GoalStatus: GOAL_STATUSES,
    enums.CheckInFrequency: CHECK_IN_FREQUENCIES,
    enums.Mood: MOODS,
    enums.ReportTargetType: REPORT_TARGET_TYPES,
    enums.ReportReason: REPORT_REASONS,
    enums.ReportStatus: REPORT_STATUSES,
    enums.ReportAction: REPORT_ACTIONS,
    enums.ServiceMode: SERVICE_MODES,
    enums.ServiceConfirmation: SERVICE_CONFIRMATIONS,
    enums.IntakeQuestionKind: INTAKE_QUESTION_KINDS,
    enums.NotificationKind: NOTIFICATION_KINDS,
    enums.WebhookDeliveryStatus: WEBHOOK_DELIVERY_STATUSES,
    enums.PaymentMethod: PAYMENT_METHODS,
    enums.RefundStatus: REFUND_STATUSES,
    enums.ProviderEventStatus: PROVIDER_EVENT_STATUSES,
}


def test_every_stored_enum_is_listed() -> None:
    defined = {
        value
        for value in vars(enums).values()
        if isinstance(value, type) and issubclass(value, StrEnum) and value is not StrEnum
    }
    assert defined == set(STORED) == set(MODEL_TUPLES)


@pytest.mark.parametrize("enum", list(STORED), ids=lambda enum: enum.__name__)
def test_graphql_enum_and_model_tuple_have_the_enum_values(enum: type[StrEnum]) -> None:
    graphql_type = schema._schema.get_type(enum.__name__)
    assert isinstance(graphql_type, GraphQLEnumType)
    assert {name: value.value for name, value in graphql_type.values.items()} == {
        member.name: member.value for member in enum
    }
    assert MODEL_TUPLES[enum] == tuple(member.value for member in enum)


async def _allowed_values(db: Database, table: str, column: str) -> set[str]:
    """The string literals of the CHECK constraint on `table` that constrains `column` to a
    list (as Postgres reports it: `CHECK ((col)::text = ANY ((ARRAY['a'::character
    varying, ...])::text[]))` or `col IN (...)`)."""
    async with db.read() as session:
        definitions = (
            await session.execute(
                text(
                    "SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c "
                    "JOIN pg_class t ON t.oid = c.conrelid "
                    "WHERE t.relname = :table AND c.contype = 'c'"
                ),
                {"table": table},
            )
        ).scalars()
        for definition in definitions:
            if re.search(rf"\(\(?{column}\)?(::text)? = ANY|{column} IN", definition):
                return set(re.findall(r"'([^']*)'", definition))
    raise AssertionError(f"no CHECK lists the values of {table}.{column}")


@pytest.mark.parametrize(
    ("enum", "table", "column"),
    [(enum, table, column) for enum, places in STORED.items() for table, column in places],
    ids=lambda value: value.__name__ if isinstance(value, type) else str(value),
)
async def test_database_check_constraint_allows_exactly_the_enum_values(
    db: Database, enum: type[StrEnum], table: str, column: str
) -> None:
    assert await _allowed_values(db, table, column) == {member.value for member in enum}


def _reachable(moves: dict[str, frozenset[str]], start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for following in moves[todo.pop()]:
            if following not in seen:
                seen.add(following)
                todo.append(following)
    return seen


def test_appointment_state_machine_covers_every_status() -> None:
    statuses = set(enums.AppointmentStatus)
    assert set(TRANSITIONS) == statuses
    assert set().union(*TRANSITIONS.values()) <= statuses
    assert _reachable(TRANSITIONS, enums.AppointmentStatus.REQUESTED) == statuses
    assert set(LIVE_STATUSES) < statuses


def test_goal_state_machine_covers_every_status() -> None:
    statuses = set(enums.GoalStatus)
    assert set(STATUS_MOVES) == statuses
    assert set().union(*STATUS_MOVES.values()) <= statuses
    assert _reachable(STATUS_MOVES, enums.GoalStatus.ACTIVE) == statuses
