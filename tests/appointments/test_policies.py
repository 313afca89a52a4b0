"""Policy rows for appointments, slot_holds, payments, coupons and reviews, for every
role and through nested paths; statement counts; the admin dashboard; coupon management."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models import Appointment, Coupon, Doctor, User
from resolvers.core.database import Database
from tests.appointments.factories import (
    make_appointment,
    make_coupon,
    make_hold,
    make_payment,
    make_review,
)
from tests.client import GraphQLClient
from tests.factories import gid, make_doctor, make_user, user_of

APPOINTMENTS = """
query { appointments(first: 50) { totalCount edges { node { id
  doctor { id } patient { id fullName email } payments { id amount } review { rating }
  history { kind toStatus } } } } }
"""
ONE = "query ($id: ID!) { appointment(id: $id) { id payments { id } } }"
NESTED = """
query ($id: ID!) { doctor(id: $id) { appointments(first: 10) { totalCount
  edges { node { id patient { fullName } } } } } }
"""
HOLDS = "query { slotHolds { id userId } holds(first: 5) { totalCount edges { node { id } } } }"
COUPONS = "query { coupons(first: 10) { totalCount edges { node { code } } } }"
REVIEWS = "query ($id: ID!) { doctor(id: $id) { reviews { totalCount } } }"


@dataclass
class World:
    doctor_a: Doctor
    doctor_b: Doctor
    users: dict[str, Any]
    a1: Appointment  # patient1 with doctor A, completed, paid, reviewed
    a2: Appointment  # patient2 with doctor B
    a3: Appointment  # patient2 with doctor A
    coupon_a: Coupon
    coupon_global: Coupon


async def _world(db: Database) -> World:
    doctor_a, doctor_b = await make_doctor(db), await make_doctor(db)
    patient1, patient2 = await make_user(db), await make_user(db)
    soon = datetime.now(UTC) + timedelta(days=2)
    a1 = await make_appointment(
        db,
        doctor=doctor_a,
        patient=patient1,
        starts_at=soon - timedelta(days=5),
        status="completed",
    )
    a2 = await make_appointment(db, doctor=doctor_b, patient=patient2, starts_at=soon)
    a3 = await make_appointment(
        db,
        doctor=doctor_a,
        patient=patient2,
        starts_at=soon + timedelta(hours=1),
        status="pending_payment",
    )
    await make_payment(db, a1)
    await make_review(db, a1, rating=5)
    await make_hold(db, doctor=doctor_a, user=patient1, starts_at=soon + timedelta(days=1))
    users: dict[str, Any] = {
        "anon": None,
        "patient1": patient1,
        "patient2": patient2,
        "doctor_a": await user_of(db, doctor_a),
        "doctor_b": await user_of(db, doctor_b),
        "coach": await make_user(db, roles=("coach",)),
        "admin": await make_user(db, roles=("admin",)),
        "service": "service",
    }
    return World(
        doctor_a,
        doctor_b,
        users,
        a1,
        a2,
        a3,
        await make_coupon(db, code="DOCA10", doctor_id=doctor_a.id),
        await make_coupon(db, code="WELCOME"),
    )


def _ids(*appointments: Appointment) -> set[str]:
    return {gid(a) for a in appointments}


VISIBLE = {
    "anon": ("",),
    "patient1": ("a1",),
    "patient2": ("a2", "a3"),
    "doctor_a": ("a1", "a3"),
    "doctor_b": ("a2",),
    "coach": ("",),
    "admin": ("a1", "a2", "a3"),
    "service": ("a1", "a2", "a3"),
}


@pytest.mark.parametrize("role", list(VISIBLE))
async def test_appointments_root_and_by_id(client: GraphQLClient, db: Database, role: str) -> None:
    world = await _world(db)
    expected = {gid(getattr(world, name)) for name in VISIBLE[role] if name}
    response = await client.execute(APPOINTMENTS, as_user=world.users[role])
    connection = response.data["appointments"]
    assert {edge["node"]["id"] for edge in connection["edges"]} == expected
    assert connection["totalCount"] == len(expected)
    for name in ("a1", "a2", "a3"):
        appointment = getattr(world, name)
        single = await client.execute(ONE, {"id": gid(appointment)}, as_user=world.users[role])
        found = single.data["appointment"]
        assert (found is not None) == (gid(appointment) in expected), (role, name)
    for edge in connection["edges"]:
        node = edge["node"]
        if node["id"] == gid(world.a1):
            # Payments, review and history come along wherever the appointment is visible.
            assert node["payments"] == [{"id": node["payments"][0]["id"], "amount": "100.00"}]
            assert node["review"] == {"rating": 5}
            assert node["history"][0]["kind"] == "CREATED"
            assert node["doctor"] == {"id": gid(world.doctor_a)}
            # The doctor and the patient see the patient's contact; others only as allowed.
            assert node["patient"]["email"] == world.users["patient1"].email


@pytest.mark.parametrize("role", list(VISIBLE))
async def test_doctor_appointments_nested_apply_the_policy(
    client: GraphQLClient, db: Database, role: str
) -> None:
    world = await _world(db)
    response = await client.execute(NESTED, {"id": gid(world.doctor_a)}, as_user=world.users[role])
    connection = response.data["doctor"]["appointments"]
    expected = {
        gid(getattr(world, name))
        for name in VISIBLE[role]
        if name and getattr(world, name).doctor_id == world.doctor_a.id
    }
    assert {edge["node"]["id"] for edge in connection["edges"]} == expected
    assert connection["totalCount"] == len(expected)


HOLDS_VISIBLE = {
    "anon": 0,
    "patient1": 1,
    "patient2": 0,
    "doctor_a": 1,
    "doctor_b": 0,
    "coach": 0,
    "admin": 1,
    "service": 1,
}


@pytest.mark.parametrize("role", list(HOLDS_VISIBLE))
async def test_slot_holds_policy(client: GraphQLClient, db: Database, role: str) -> None:
    world = await _world(db)
    response = await client.execute(HOLDS, as_user=world.users[role])
    assert len(response.data["slotHolds"]) == HOLDS_VISIBLE[role]
    connection = response.data["holds"]
    assert connection["totalCount"] == len(connection["edges"]) == HOLDS_VISIBLE[role]
    assert [edge["node"]["id"] for edge in connection["edges"]] == [
        hold["id"] for hold in response.data["slotHolds"]
    ]


COUPONS_VISIBLE = {
    "anon": set(),
    "patient1": set(),
    "patient2": set(),
    "doctor_a": {"DOCA10"},
    "doctor_b": set(),
    "coach": set(),
    "admin": {"DOCA10", "WELCOME"},
    "service": {"DOCA10", "WELCOME"},
}


@pytest.mark.parametrize("role", list(COUPONS_VISIBLE))
async def test_coupons_are_never_listed_to_patients(
    client: GraphQLClient, db: Database, role: str
) -> None:
    world = await _world(db)
    response = await client.execute(COUPONS, as_user=world.users[role])
    codes = {edge["node"]["code"] for edge in response.data["coupons"]["edges"]}
    assert codes == COUPONS_VISIBLE[role]
    assert response.data["coupons"]["totalCount"] == len(codes)


@pytest.mark.parametrize("role", list(VISIBLE))
async def test_reviews_are_public_for_verified_doctors(
    client: GraphQLClient, db: Database, role: str
) -> None:
    world = await _world(db)
    response = await client.execute(REVIEWS, {"id": gid(world.doctor_a)}, as_user=world.users[role])
    assert response.data["doctor"]["reviews"]["totalCount"] == 1


async def test_statement_count_does_not_depend_on_rows(client: GraphQLClient, db: Database) -> None:
    admin = await make_user(db, roles=("admin",))
    doctors = [await make_doctor(db) for _ in range(3)]
    counts = {}
    made = 0
    for total in (3, 40):
        while made < total:
            doctor = doctors[made % 3]
            appointment = await make_appointment(
                db,
                doctor=doctor,
                patient=await make_user(db),
                starts_at=datetime.now(UTC) - timedelta(days=made + 1),
                status="completed",
            )
            await make_payment(db, appointment)
            await make_review(db, appointment)
            made += 1
        response = await client.execute(APPOINTMENTS, as_user=admin)
        assert len(response.data["appointments"]["edges"]) == total
        counts[total] = response.statements
    assert counts[3] == counts[40]


async def test_statement_count_for_nested_doctor_appointments(
    client: GraphQLClient, db: Database
) -> None:
    query = """
    query { doctors(first: 50) { edges { node { id
      appointments(first: 5) { totalCount edges { node { id patient { id } payments { id } } } }
      reviews(first: 3) { totalCount edges { node { rating } } } } } } }
    """
    admin = await make_user(db, roles=("admin",))
    counts = {}
    for total in (2, 10):
        while len(await _all_doctors(db)) < total:
            doctor = await make_doctor(db)
            for day in range(3):
                appointment = await make_appointment(
                    db,
                    doctor=doctor,
                    patient=await make_user(db),
                    starts_at=datetime.now(UTC) - timedelta(days=day + 1),
                    status="completed",
                )
                await make_review(db, appointment)
        response = await client.execute(query, as_user=admin)
        assert len(response.data["doctors"]["edges"]) == total
        assert all(
            e["node"]["appointments"]["totalCount"] == 3 for e in response.data["doctors"]["edges"]
        )
        counts[total] = response.statements
    assert counts[2] == counts[10]


async def _all_doctors(db: Database) -> list[Any]:
    from sqlalchemy import select

    async with db.read() as session:
        return list((await session.scalars(select(Doctor.id))).all())


# --- dashboard ---------------------------------------------------------------------------

DASHBOARD = """
query ($from: DateTime!, $to: DateTime!) {
  adminDashboard(from: $from, to: $to) {
    appointmentsByStatus { status count }
    revenueByMonth { month currency amount payments }
    bookingsByHour { hour count }
    topDoctors(limit: 2) { doctor { id } appointments completed }
    byVolume: topDoctors(limit: 1, orderBy: VOLUME) { doctor { id } appointments }
  }
}
"""


async def test_dashboard_for_admins_only(client: GraphQLClient, db: Database) -> None:
    world = await _world(db)
    window = {
        "from": (datetime.now(UTC) - timedelta(days=60)).isoformat(),
        "to": (datetime.now(UTC) + timedelta(days=60)).isoformat(),
    }
    for role in ("anon", "patient1", "doctor_a", "coach"):
        response = await client.execute(DASHBOARD, window, as_user=world.users[role])
        assert response.codes == ["FORBIDDEN"], role
    response = await client.execute(DASHBOARD, window, as_user=world.users["admin"])
    dashboard = response.data["adminDashboard"]
    assert dashboard["appointmentsByStatus"] == [
        {"status": "COMPLETED", "count": 1},
        {"status": "CONFIRMED", "count": 1},
        {"status": "PENDING_PAYMENT", "count": 1},
    ]
    month = datetime.now(UTC).date().replace(day=1).isoformat()
    assert dashboard["revenueByMonth"] == [
        {"month": month, "currency": "USD", "amount": "100.00", "payments": 1}
    ]
    assert sum(h["count"] for h in dashboard["bookingsByHour"]) == 3
    assert dashboard["topDoctors"][0]["doctor"]["id"] == gid(world.doctor_a)  # rated 5
    assert dashboard["byVolume"] == [{"doctor": {"id": gid(world.doctor_a)}, "appointments": 2}]
    inverted = await client.execute(
        DASHBOARD, {"from": window["to"], "to": window["from"]}, as_user=world.users["admin"]
    )
    assert inverted.codes == ["BAD_USER_INPUT"]


# --- coupon management -------------------------------------------------------------------

CREATE_COUPON = """
mutation ($input: CreateCouponInput!) { createCoupon(input: $input) {
  __typename ... on CouponSaved { coupon { code doctorId kind value currency } }
  ... on ValidationError { fields { field } } ... on NotAllowed { code }
  ... on NotFound { code } } }
"""
UPDATE_COUPON = """
mutation ($input: UpdateCouponInput!) { updateCoupon(input: $input) {
  __typename ... on CouponSaved { coupon { active maxUses } }
  ... on ValidationError { fields { field } } ... on NotAllowed { code }
  ... on NotFound { code } } }
"""


async def test_doctors_manage_their_own_coupons(client: GraphQLClient, db: Database) -> None:
    world = await _world(db)
    doctor_user = world.users["doctor_a"]
    created = await client.execute(
        CREATE_COUPON,
        {"input": {"code": "spring-25", "kind": "PERCENT", "value": "25"}},
        as_user=doctor_user,
    )
    coupon = created.data["createCoupon"]["coupon"]
    assert coupon == {
        "code": "SPRING-25",
        "doctorId": gid(world.doctor_a),
        "kind": "PERCENT",
        "value": "25.00",
        "currency": None,
    }
    for variables, who, expected in [
        ({"code": "SPRING-25", "kind": "PERCENT", "value": "5"}, doctor_user, "ValidationError"),
        ({"code": "BAD", "kind": "PERCENT", "value": "120"}, doctor_user, "ValidationError"),
        ({"code": "FIX", "kind": "FIXED", "value": "5"}, doctor_user, "ValidationError"),
        (
            {"code": "THEIRS", "kind": "PERCENT", "value": "5", "doctorId": gid(world.doctor_b)},
            doctor_user,
            "NotAllowed",
        ),
        ({"code": "MINE", "kind": "PERCENT", "value": "5"}, world.users["patient1"], "NotAllowed"),
        ({"code": "MINE", "kind": "PERCENT", "value": "5"}, None, "NotAllowed"),
    ]:
        response = await client.execute(CREATE_COUPON, {"input": variables}, as_user=who)
        assert response.data["createCoupon"]["__typename"] == expected, variables
    platform = await client.execute(
        CREATE_COUPON,
        {"input": {"code": "ALL5", "kind": "FIXED", "value": "5", "currency": "USD"}},
        as_user=world.users["admin"],
    )
    assert platform.data["createCoupon"]["coupon"]["doctorId"] is None

    update = {"input": {"id": gid(world.coupon_a), "active": False, "maxUses": 3}}
    stranger = await client.execute(UPDATE_COUPON, update, as_user=world.users["doctor_b"])
    assert stranger.data["updateCoupon"]["__typename"] == "NotFound"
    updated = await client.execute(UPDATE_COUPON, update, as_user=doctor_user)
    assert updated.data["updateCoupon"]["coupon"] == {"active": False, "maxUses": 3}


async def test_patient_contact_is_hidden_from_other_doctors(
    client: GraphQLClient, db: Database
) -> None:
    world = await _world(db)
    query = "query ($id: ID!) { user(id: $id) { fullName email } }"
    patient1: User = world.users["patient1"]
    own = await client.execute(query, {"id": gid(patient1)}, as_user=world.users["doctor_a"])
    assert own.data["user"]["email"] == patient1.email
    other = await client.execute(query, {"id": gid(patient1)}, as_user=world.users["doctor_b"])
    assert other.data["user"] is None


FILTERED = """
query ($first: Int, $after: String, $filter: AppointmentFilter, $direction: OrderDirection,
       $orderBy: AppointmentOrder) {
  appointments(first: $first, after: $after, filter: $filter, direction: $direction,
               orderBy: $orderBy) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { id status startsAt } } } }
"""


async def test_appointment_filters_and_pages(client: GraphQLClient, db: Database) -> None:
    world = await _world(db)
    admin = world.users["admin"]

    async def ids(filter: dict[str, Any], **extra: Any) -> list[str]:
        response = await client.execute(FILTERED, {"filter": filter, **extra}, as_user=admin)
        return [edge["node"]["id"] for edge in response.data["appointments"]["edges"]]

    assert await ids({"status": ["COMPLETED", "PENDING_PAYMENT"]}) == [
        gid(world.a1),
        gid(world.a3),
    ]
    assert await ids({"doctorId": gid(world.doctor_b)}) == [gid(world.a2)]
    assert await ids({"from": world.a2.starts_at.isoformat()}) == [
        gid(world.a2),
        gid(world.a3),
    ]
    assert await ids({"to": world.a2.starts_at.isoformat()}) == [gid(world.a1)]
    newest_first = [gid(world.a3), gid(world.a2), gid(world.a1)]
    assert await ids({}, orderBy={"field": "STARTS_AT", "direction": "DESC"}) == newest_first
    assert await ids({}, orderBy={"direction": "ASC"}) == newest_first[::-1]
    # The deprecated `direction` still works; `orderBy` wins when both are given.
    assert await ids({}, direction="DESC") == newest_first
    assert await ids({}, direction="DESC", orderBy={"direction": "ASC"}) == newest_first[::-1]
    first = await client.execute(FILTERED, {"first": 2}, as_user=admin)
    page = first.data["appointments"]
    assert page["pageInfo"]["hasNextPage"] is True and page["totalCount"] == 3
    rest = await ids({}, first=2, after=page["pageInfo"]["endCursor"])
    assert rest == [gid(world.a3)]
    inverted = await client.execute(
        FILTERED,
        {"filter": {"from": world.a3.starts_at.isoformat(), "to": world.a1.starts_at.isoformat()}},
        as_user=admin,
    )
    assert inverted.codes == ["BAD_USER_INPUT"]
    too_many = await client.execute(FILTERED, {"first": 101}, as_user=admin)
    assert too_many.codes == ["BAD_USER_INPUT"]


async def test_reviews_of_unverified_doctors_are_hidden_from_the_public(
    client: GraphQLClient, db: Database
) -> None:
    hidden = await make_doctor(db, verified=False)
    patient = await make_user(db)
    appointment = await make_appointment(
        db,
        doctor=hidden,
        patient=patient,
        starts_at=datetime.now(UTC) - timedelta(days=1),
        status="completed",
    )
    await make_review(db, appointment)
    query = "query ($id: ID!) { doctor(id: $id) { reviews { totalCount } } }"
    for who, expected in [
        (await user_of(db, hidden), 1),  # the doctor sees their own
        (await make_user(db, roles=("admin",)), 1),
    ]:
        response = await client.execute(query, {"id": gid(hidden)}, as_user=who)
        assert response.data["doctor"]["reviews"]["totalCount"] == expected
    anon = await client.execute(query, {"id": gid(hidden)})
    assert anon.data["doctor"] is None
