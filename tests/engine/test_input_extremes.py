"""Extreme inputs are BAD_USER_INPUT naming their field, never INTERNAL_SERVER_ERROR, and
write nothing (issue 13, item 2): dates and instants at the ends of the calendar (years
1 and 9999), UTC offsets beyond any time zone's (up to +23:59/-23:59), Ints beyond 32
bits, decimals too large or too precise for numeric(10, 2), and time zone names that are
not places (or are not names at all).

Each case runs every extreme value of one argument or input field through the real app,
as the roles the field is for. A query's argument, and any value the schema itself
refuses, is a GraphQL error with code BAD_USER_INPUT that names the field in its message
or in `extensions.field`; a mutation's own checks answer with its typed ValidationError,
whose `fields` name it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from models import Appointment, Base, Coupon, Doctor, Goal, Lesson, User
from resolvers.core.database import Database
from resolvers.core.input_checks import TIMEZONES as KNOWN_TO_PYTHON
from tests.appointments.factories import make_appointment, make_coupon
from tests.client import GraphQLClient, Response
from tests.factories import gid, make_doctor, make_user, user_of
from tests.goals.factories import make_goal
from tests.lessons.factories import make_lesson


@dataclass
class World:
    patient: User
    doctor: Doctor
    doctor_user: User
    admin: User
    coach: User
    appointment: Appointment
    coupon: Coupon
    goal: Goal
    lesson: Lesson

    def user(self, role: str) -> User | None:
        return {
            "anon": None,
            "patient": self.patient,
            "doctor": self.doctor_user,
            "admin": self.admin,
            "coach": self.coach,
        }[role]


async def make_world(db: Database) -> World:
    patient = await make_user(db)
    doctor = await make_doctor(db)
    admin = await make_user(db, roles=("admin",))
    coach = await make_user(db, roles=("coach",))
    appointment = await make_appointment(
        db,
        doctor=doctor,
        patient=patient,
        starts_at=datetime.now(UTC).replace(microsecond=0) + timedelta(days=10),
        status="pending_payment",
    )
    coupon = await make_coupon(db, code="EXTREME10", doctor_id=doctor.id)
    goal = await make_goal(db, patient)
    lesson = await make_lesson(db)
    return World(
        patient, doctor, await user_of(db, doctor), admin, coach, appointment, coupon, goal, lesson
    )


async def snapshot(db: Database) -> dict[str, str]:
    """A digest of every table's rows: equal snapshots mean nothing was written."""
    digests: dict[str, str] = {}
    async with db.read() as session:
        for table in Base.metadata.sorted_tables:
            digests[table.name] = await session.scalar(
                text(
                    "SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) "
                    f'FROM "{table.name}" t'
                )
            )
    return digests


YEAR_0 = "0000-12-31"
YEAR_10000 = "10000-01-01"
INSTANTS = (
    "0001-01-01T00:00:00+14:00",  # the last day of year 0 in UTC
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T20:00:00-14:00",  # year 10000 in UTC
    "9999-12-31T23:59:59-23:59",
    "2030-01-01T00:00:00+23:59",  # an offset no time zone has
    "2030-01-01T00:00:00-14:01",
    "0000-12-31T23:59:59Z",
    "10000-01-01T00:00:00Z",
)
TIMES = ("09:00+23:59", "09:00-23:59", "09:00Z", "24:00")
BEYOND_INT = (2**31, -(2**31) - 1)
MONEY = ("1e40", "100000000", "99999999.995", "0.001", "1e-30", "-0.01")
TIMEZONES = (
    "localtime",
    "Factory",
    "posixrules",
    "",
    "Mars/Olympus",
    "../../etc/passwd",
    "+23:59",
    "UTC\n",
    "Europe/" + "x" * 300,
)

RESULT = """__typename ... on UserError { code message }
  ... on ValidationError { fields { field messages } }"""

SLOTS = """query ($id: ID!, $from: Date, $to: Date) {
  doctor(id: $id) { availableSlots(from: $from, to: $to) { startsAt } } }"""
SLOTS_FROM_LITERAL = """query ($id: ID!) {
  doctor(id: $id) { availableSlots(from: VALUE) { startsAt } } }"""
EXCEPTIONS = """query ($id: ID!, $from: Date, $to: Date) {
  doctor(id: $id) { exceptions(from: $from, to: $to) { id } } }"""
APPOINTMENTS = """query ($filter: AppointmentFilter) {
  appointments(filter: $filter) { totalCount } }"""
APPOINTMENTS_FROM_LITERAL = "query { appointments(filter: {from: VALUE}) { totalCount } }"
DOCTOR_APPOINTMENTS = """query ($id: ID!, $filter: AppointmentFilter) {
  doctor(id: $id) { appointments(filter: $filter) { totalCount } } }"""
DASHBOARD = """query ($from: DateTime!, $to: DateTime!, $limit: Int! = 10) {
  adminDashboard(from: $from, to: $to) {
    appointmentsByStatus { count } revenueByMonth { amount } bookingsByHour { count }
    topDoctors(limit: $limit) { appointments } } }"""
GOALS = "query ($filter: GoalFilter) { goals(filter: $filter) { totalCount } }"


def mutation(name: str, input_type: str) -> str:
    return f"mutation ($input: {input_type}!) {{ {name}(input: $input) {{ {RESULT} }} }}"


HOLD = mutation("holdSlot", "HoldSlotInput")
BOOK = mutation("bookAppointment", "BookAppointmentInput")
RESCHEDULE = mutation("rescheduleAppointment", "RescheduleAppointmentInput")
CREATE_COUPON = mutation("createCoupon", "CreateCouponInput")
UPDATE_COUPON = mutation("updateCoupon", "UpdateCouponInput")
GRANT = mutation("grantEntitlement", "GrantEntitlementInput")
RULES = mutation("setAvailabilityRules", "SetAvailabilityRulesInput")
EXCEPTION = mutation("addAvailabilityException", "AddAvailabilityExceptionInput")
DOCTOR_PROFILE = mutation("updateDoctorProfile", "UpdateDoctorProfileInput")
VIEWER_PROFILE = (
    "mutation ($input: UpdateViewerProfileInput!) { updateViewerProfile(input: $input) "
    "{ __typename ... on ValidationError { code fields { field messages } } } }"
)
PAYMENT = mutation("recordPayment", "RecordPaymentInput")
CREATE_GOAL = mutation("createGoal", "CreateGoalInput")
UPDATE_GOAL = mutation("updateGoal", "UpdateGoalInput")
MILESTONE = mutation("addMilestone", "AddMilestoneInput")
CHECK_IN = mutation("checkIn", "CheckInInput")
CREATE_LESSON = mutation("createLesson", "CreateLessonInput")
PROGRESS = mutation("saveLessonProgress", "SaveLessonProgressInput")
REVIEW = mutation("reviewAppointment", "ReviewAppointmentInput")

Variables = Callable[[World, Any], dict[str, Any]]


def _rule(**fields: Any) -> dict[str, Any]:
    return {"rules": [{"dayOfWeek": 1, "startTime": "09:00", "endTime": "12:00", **fields}]}


def _goal(**fields: Any) -> dict[str, Any]:
    return {
        "input": {"title": "Walk", "type": "HABIT", "baselineValue": 1, "targetValue": 2, **fields}
    }


def _lesson(**fields: Any) -> dict[str, Any]:
    return {"input": {"slug": "extreme-lesson", "title": "T", "module": "M", **fields}}


def _fixed_coupon(value: Any) -> dict[str, Any]:
    return {"input": {"code": "HUGE1", "kind": "FIXED", "value": value, "currency": "USD"}}


def _percent_coupon(**fields: Any) -> dict[str, Any]:
    return {"input": {"code": "EDGE1", "kind": "PERCENT", "value": "10", **fields}}


# (roles, document, variables of (world, extreme value), field named, extreme values)
CASES: list[tuple[tuple[str, ...], str, Variables, str, tuple[Any, ...]]] = [
    # Queries: slot and exception ranges, time filters, the dashboard, goal filters, Ints.
    (
        ("anon", "patient"),
        SLOTS,
        lambda w, v: {"id": gid(w.doctor), "from": v},
        "from",
        ("9999-12-31", "9999-12-25", YEAR_0, YEAR_10000),
    ),
    (
        ("anon", "patient"),
        SLOTS,
        lambda w, v: {"id": gid(w.doctor), "to": v},
        "to",
        ("9999-12-31", YEAR_10000, "0001-01-01"),
    ),
    (
        ("patient",),
        SLOTS,
        lambda w, v: {"id": gid(w.doctor), "from": "9999-12-20", "to": v},
        "to",
        ("9999-12-31", "9999-12-25"),
    ),
    (
        ("patient",),
        SLOTS_FROM_LITERAL,
        lambda w, v: {"id": gid(w.doctor)},
        "from",
        ("9999-12-31", YEAR_10000),
    ),
    (
        ("doctor",),
        EXCEPTIONS,
        lambda w, v: {"id": gid(w.doctor), "to": v},
        "to",
        ("9999-12-31", YEAR_10000),
    ),
    (("patient",), APPOINTMENTS, lambda w, v: {"filter": {"from": v}}, "filter.from", INSTANTS),
    (("patient",), APPOINTMENTS, lambda w, v: {"filter": {"to": v}}, "filter.to", INSTANTS),
    (("patient",), APPOINTMENTS_FROM_LITERAL, lambda w, v: {}, "filter.from", INSTANTS),
    (
        ("doctor",),
        DOCTOR_APPOINTMENTS,
        lambda w, v: {"id": gid(w.doctor), "filter": {"from": v}},
        "filter.from",
        INSTANTS,
    ),
    (
        ("admin",),
        DASHBOARD,
        lambda w, v: {"from": v, "to": "2030-01-01T00:00:00Z"},
        "from",
        INSTANTS,
    ),
    (
        ("admin",),
        DASHBOARD,
        lambda w, v: {"from": "2020-01-01T00:00:00Z", "to": v},
        "to",
        INSTANTS,
    ),
    (
        ("admin",),
        DASHBOARD,
        lambda w, v: {"from": "2020-01-01T00:00:00Z", "to": "2030-01-01T00:00:00Z", "limit": v},
        "limit",
        (*BEYOND_INT, 2**31 - 1, -(2**31)),
    ),
    (
        ("patient",),
        GOALS,
        lambda w, v: {"filter": {"dueBefore": v}},
        "filter.dueBefore",
        (YEAR_0, YEAR_10000),
    ),
    # Mutations: instants and times the DateTime and Time scalars refuse.
    (
        ("patient",),
        HOLD,
        lambda w, v: {"input": {"doctorId": gid(w.doctor), "startsAt": v}},
        "input.startsAt",
        INSTANTS,
    ),
    (
        ("patient",),
        BOOK,
        lambda w, v: {"input": {"doctorId": gid(w.doctor), "startsAt": v}},
        "input.startsAt",
        INSTANTS,
    ),
    (
        ("patient",),
        RESCHEDULE,
        lambda w, v: {"input": {"id": gid(w.appointment), "startsAt": v}},
        "input.startsAt",
        INSTANTS,
    ),
    (
        ("doctor",),
        CREATE_COUPON,
        lambda w, v: _percent_coupon(validFrom=v),
        "input.validFrom",
        INSTANTS,
    ),
    (
        ("doctor",),
        CREATE_COUPON,
        lambda w, v: _percent_coupon(validUntil=v),
        "input.validUntil",
        INSTANTS,
    ),
    (
        ("admin",),
        UPDATE_COUPON,
        lambda w, v: {"input": {"id": gid(w.coupon), "validUntil": v}},
        "input.validUntil",
        INSTANTS,
    ),
    (
        ("admin",),
        GRANT,
        lambda w, v: {"input": {"userId": gid(w.patient), "validUntil": v}},
        "input.validUntil",
        INSTANTS,
    ),
    (
        ("doctor",),
        RULES,
        lambda w, v: {"input": _rule(startTime=v)},
        "input.rules[0].startTime",
        TIMES,
    ),
    (
        ("doctor",),
        EXCEPTION,
        lambda w, v: {"input": {"date": "2031-01-01", "kind": "CUSTOM_HOURS", "endTime": v}},
        "input.endTime",
        TIMES,
    ),
    (
        ("doctor",),
        EXCEPTION,
        lambda w, v: {"input": {"date": v, "kind": "BLOCKED"}},
        "input.date",
        (YEAR_0, YEAR_10000),
    ),
    (
        ("patient",),
        CHECK_IN,
        lambda w, v: {"input": {"goalId": gid(w.goal), "date": v, "value": 1}},
        "input.date",
        (YEAR_0, YEAR_10000),
    ),
    (("patient",), CREATE_GOAL, lambda w, v: _goal(targetDate=v), "input.targetDate", (YEAR_0,)),
    # Mutations: Ints beyond 32 bits (the schema refuses them) ...
    (
        ("doctor",),
        CREATE_COUPON,
        lambda w, v: _percent_coupon(maxUses=v),
        "input.maxUses",
        BEYOND_INT,
    ),
    (
        ("doctor",),
        RULES,
        lambda w, v: {"input": _rule(slotMinutes=v)},
        "input.rules[0].slotMinutes",
        BEYOND_INT,
    ),
    (
        ("doctor",),
        DOCTOR_PROFILE,
        lambda w, v: {"input": {"cancellationPolicyHours": v}},
        "input.cancellationPolicyHours",
        BEYOND_INT,
    ),
    (
        ("patient",),
        PROGRESS,
        lambda w, v: {"input": {"lessonId": gid(w.lesson), "positionSec": v}},
        "input.positionSec",
        BEYOND_INT,
    ),
    (
        ("patient",),
        REVIEW,
        lambda w, v: {"input": {"appointmentId": gid(w.appointment), "rating": v}},
        "input.rating",
        BEYOND_INT,
    ),
    # ... and at its bounds (the mutation's checks refuse them, typed).
    (
        ("coach",),
        CREATE_LESSON,
        lambda w, v: _lesson(chapters=[{"title": "End", "startSec": v}]),
        "chapters[0].startSec",
        (2**31 - 1, 86400, -(2**31)),
    ),
    (
        ("doctor",),
        RULES,
        lambda w, v: {"input": _rule(bufferMinutes=v)},
        "rules[0].bufferMinutes",
        (2**31 - 1, -(2**31)),
    ),
    (("patient",), CREATE_GOAL, lambda w, v: _goal(importance=v), "importance", (2**31 - 1,)),
    # Decimals beyond numeric(10, 2) and measured values beyond numeric(12, 3).
    (
        ("doctor",),
        DOCTOR_PROFILE,
        lambda w, v: {"input": {"feeStandard": v}},
        "feeStandard",
        MONEY,
    ),
    (
        ("admin",),
        DOCTOR_PROFILE,
        lambda w, v: {"input": {"doctorId": gid(w.doctor), "feeFollowup": v}},
        "feeFollowup",
        MONEY,
    ),
    (("doctor",), CREATE_COUPON, lambda w, v: _fixed_coupon(v), "value", MONEY),
    (
        ("admin",),
        PAYMENT,
        lambda w, v: {
            "input": {"appointmentId": gid(w.appointment), "amount": v, "currency": "USD"}
        },
        "amount",
        MONEY,
    ),
    (
        ("patient",),
        CREATE_GOAL,
        lambda w, v: _goal(baselineValue=v),
        "baselineValue",
        (1e308, -1e308, 1e9, 0.0001),
    ),
    (
        ("patient",),
        UPDATE_GOAL,
        lambda w, v: {"input": {"id": gid(w.goal), "targetValue": v}},
        "targetValue",
        (1e308, 1e-300),
    ),
    (
        ("patient",),
        MILESTONE,
        lambda w, v: {"input": {"goalId": gid(w.goal), "title": "M", "targetValue": v}},
        "targetValue",
        (-1e308, 123456789.1234),
    ),
    (
        ("patient",),
        CHECK_IN,
        lambda w, v: {"input": {"goalId": gid(w.goal), "date": "2026-02-01", "value": v}},
        "value",
        (1e308, 1e-300),
    ),
    # Time zones that are not IANA places, or not names at all.
    (
        ("doctor",),
        DOCTOR_PROFILE,
        lambda w, v: {"input": {"timezone": v}},
        "timezone",
        TIMEZONES,
    ),
    (
        ("patient", "doctor"),
        VIEWER_PROFILE,
        lambda w, v: {"input": {"timezone": v}},
        "timezone",
        TIMEZONES,
    ),
]


def assert_refused(response: Response, field: str) -> None:
    assert "INTERNAL_SERVER_ERROR" not in response.codes, response.errors
    if response.errors:
        assert response.codes == ["BAD_USER_INPUT"], response.errors
        error = response.errors[0]
        named = error.get("extensions", {}).get("field") == field
        assert named or f"`{field}`" in error["message"], error
        return
    (result,) = response.body["data"].values()
    assert result["__typename"] == "ValidationError", result
    assert result["code"] == "BAD_USER_INPUT"
    assert field in [entry["field"] for entry in result["fields"]], result


@pytest.mark.parametrize(
    ("roles", "document", "variables", "field", "values"),
    CASES,
    ids=[f"{index}-{case[3]}-{'+'.join(case[0])}" for index, case in enumerate(CASES)],
)
async def test_an_extreme_input_is_bad_user_input_naming_its_field(
    client: GraphQLClient,
    db: Database,
    roles: tuple[str, ...],
    document: str,
    variables: Variables,
    field: str,
    values: tuple[Any, ...],
) -> None:
    world = await make_world(db)
    before = await snapshot(db)
    for role in roles:
        for value in values:
            query = document.replace("VALUE", json.dumps(value))
            response = await client.execute(
                query, variables(world, value), as_user=world.user(role)
            )
            try:
                assert_refused(response, field)
            except AssertionError as error:
                raise AssertionError(f"{role}, {value!r}: {error}") from None
    assert await snapshot(db) == before


async def test_the_ends_of_the_calendar_are_answered_where_they_mean_something(
    client: GraphQLClient, db: Database
) -> None:
    """What stays accepted: ranges that reach the first or last day (clamped where the
    default window would pass it), the first and last instants, offsets of +-14:00."""
    world = await make_world(db)
    doctor = gid(world.doctor)
    first_days = await client.execute(
        SLOTS, {"id": doctor, "from": "0001-01-01"}, as_user=world.patient
    )
    assert first_days.data == {"doctor": {"availableSlots": []}}
    last_exceptions = await client.execute(
        EXCEPTIONS, {"id": doctor, "from": "9999-12-31"}, as_user=world.doctor_user
    )
    assert last_exceptions.data == {"doctor": {"exceptions": []}}
    for bounds in (
        {"from": "0001-01-01T00:00:00Z", "to": "9999-12-31T23:59:59Z"},
        {"from": "0001-01-01T14:00:00+14:00", "to": "9999-12-31T11:59:59-12:00"},
        {"from": "2030-01-01T00:00:00-14:00", "to": "2030-01-03T00:00:00+14:00"},
    ):
        listed = await client.execute(APPOINTMENTS, {"filter": bounds}, as_user=world.patient)
        assert listed.errors == [] and listed.data["appointments"]["totalCount"] >= 0
        dashboard = await client.execute(DASHBOARD, bounds, as_user=world.admin)
        assert dashboard.errors == [], dashboard.errors
    fee = await client.execute(
        DOCTOR_PROFILE, {"input": {"feeStandard": "99999999.99"}}, as_user=world.doctor_user
    )
    assert fee.data["updateDoctorProfile"]["__typename"] == "DoctorProfileUpdated"
    async with db.read() as session:
        saved = await session.get(Doctor, world.doctor.id)
    assert saved is not None and saved.fee_standard == Decimal("99999999.99")


async def test_a_zone_python_knows_but_postgres_does_not_is_refused_for_doctors(
    client: GraphQLClient, db: Database
) -> None:
    """Postgres reads a doctor's zone (the dashboard's local hours): a name only a newer
    tz database than the server's knows would make every dashboard a 500."""
    async with db.read() as session:
        known = set(await session.scalars(text("SELECT name FROM pg_timezone_names")))
    unknown = sorted(KNOWN_TO_PYTHON - known)
    if not unknown:
        pytest.skip("Python and Postgres know the same time zones here")
    world = await make_world(db)
    before = await snapshot(db)
    response = await client.execute(
        DOCTOR_PROFILE, {"input": {"timezone": unknown[0]}}, as_user=world.doctor_user
    )
    assert_refused(response, "timezone")
    assert await snapshot(db) == before
