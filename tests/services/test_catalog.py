"""The services catalog: every doctor's two default services (made by the database, their
price one value with the doctor's fees), the services policy for every role (lists, node,
nested under an appointment), and createService / updateService with typed errors and the
database unchanged on error."""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text

from models import AuditEntry, Doctor, Service
from resolvers.core.database import Database
from tests.appointments.factories import at, fetch, local_day_ahead, make_appointment
from tests.client import GraphQLClient
from tests.factories import (
    count_rows,
    default_service,
    gid,
    make_doctor,
    make_service,
    make_user,
    user_of,
)

SERVICES = """
query ($id: ID!, $inactive: Boolean!) { doctor(id: $id) {
  services(includeInactive: $inactive) { id name defaultFor active price capacity } } }
"""
NODE = "query ($id: ID!) { node(id: $id) { id ... on Service { name } } }"
CREATE = """
mutation ($input: CreateServiceInput!) { createService(input: $input) {
  __typename
  ... on ServiceSaved { service { id name durationMinutes bufferMinutes price currency mode
    confirmation minNoticeMinutes capacity defaultFor active
    intakeQuestions { key prompt kind required choices } doctor { id } } }
  ... on ValidationError { code fields { field messages } }
  ... on NotAllowed { code }
  ... on NotFound { code }
} }
"""
UPDATE = """
mutation ($input: UpdateServiceInput!) { updateService(input: $input) {
  __typename
  ... on ServiceSaved { service { id name price currency active capacity } }
  ... on ValidationError { code fields { field messages } }
  ... on NotAllowed { code }
  ... on NotFound { code }
} }
"""


def _names(response: Any) -> set[str]:
    doctor = response.data["doctor"]
    return set() if doctor is None else {service["name"] for service in doctor["services"]}


async def test_every_doctor_has_two_default_services_priced_by_its_fees(
    client: GraphQLClient, db: Database
) -> None:
    doctor = await make_doctor(
        db, fee_standard=Decimal("120.00"), fee_followup=Decimal("70.00"), currency="GBP"
    )
    answer = await client.execute(SERVICES, {"id": gid(doctor), "inactive": False})
    services = answer.data["doctor"]["services"]
    assert [(s["defaultFor"], s["price"], s["capacity"]) for s in services] == [
        ("STANDARD", "120.00", 1),
        ("FOLLOWUP", "70.00", 1),
    ]
    # The doctor's fee and the default service's price are one value, both ways.
    async with db.transaction() as session:
        await session.execute(
            text("UPDATE doctors SET fee_followup = 80, currency = 'EUR' WHERE id = :id"),
            {"id": doctor.id},
        )
    followup = await default_service(db, doctor, "followup")
    standard = await default_service(db, doctor, "standard")
    assert (followup.price, followup.currency) == (Decimal("80.00"), "EUR")
    assert (standard.price, standard.currency) == (Decimal("120.00"), "EUR")
    saved = await client.execute(
        UPDATE,
        {"input": {"id": gid(standard), "price": "135.50"}},
        as_user=await user_of(db, doctor),
    )
    assert saved.data["updateService"]["service"]["price"] == "135.50"
    row = await fetch(db, Doctor, doctor.id)
    assert (row.fee_standard, row.fee_followup) == (Decimal("135.50"), Decimal("80.00"))


async def test_services_policy_for_every_role_both_ways(
    client: GraphQLClient, db: Database
) -> None:
    doctor = await make_doctor(db)
    owner = await user_of(db, doctor)
    offered = await make_service(db, doctor, name="Offered")
    retired = await make_service(db, doctor, name="Retired", active=False)
    hidden_doctor = await make_doctor(db, verified=False)
    unlisted = await make_service(db, hidden_doctor, name="Unlisted")
    other_doctor_user = await user_of(db, await make_doctor(db))
    viewers: dict[str, Any] = {
        "anon": None,
        "patient": await make_user(db),
        "coach": await make_user(db, roles=("coach",)),
        "staff": await make_user(db, roles=("staff",)),
        "other doctor": other_doctor_user,
        "owner": owner,
        "admin": await make_user(db, roles=("admin",)),
    }
    public = {"Consultation", "Follow-up consultation", "Offered"}
    for role, viewer in viewers.items():
        sees_all = role in ("owner", "admin")
        listed = await client.execute(
            SERVICES, {"id": gid(doctor), "inactive": True}, as_user=viewer
        )
        assert _names(listed) == (public | {"Retired"} if sees_all else public), role
        default_list = await client.execute(
            SERVICES, {"id": gid(doctor), "inactive": False}, as_user=viewer
        )
        assert _names(default_list) == public, role
        offered_node = await client.execute(NODE, {"id": gid(offered)}, as_user=viewer)
        assert offered_node.data["node"] == {"id": gid(offered), "name": "Offered"}, role
        retired_node = await client.execute(NODE, {"id": gid(retired)}, as_user=viewer)
        assert (retired_node.data["node"] is not None) == sees_all, role
        unlisted_node = await client.execute(NODE, {"id": gid(unlisted)}, as_user=viewer)
        assert (unlisted_node.data["node"] is not None) == (role == "admin"), role


async def test_an_appointment_shows_its_service_through_the_services_policy(
    client: GraphQLClient, db: Database
) -> None:
    doctor = await make_doctor(db)
    patient = await make_user(db)
    service = await make_service(db, doctor, name="Retiring")
    appointment = await make_appointment(
        db,
        doctor=doctor,
        patient=patient,
        starts_at=at(local_day_ahead("UTC", 3), time(9), "UTC"),
    )
    async with db.transaction() as session:
        await session.execute(
            text("UPDATE appointments SET service_id = :s WHERE id = :a"),
            {"s": service.id, "a": appointment.id},
        )
    query = "query ($id: ID!) { appointment(id: $id) { serviceId service { name } } }"
    seen = await client.execute(query, {"id": gid(appointment)}, as_user=patient)
    assert seen.data["appointment"] == {"serviceId": gid(service), "service": {"name": "Retiring"}}
    async with db.transaction() as session:
        await session.execute(
            text("UPDATE services SET active = false WHERE id = :s"), {"s": service.id}
        )
    after = await client.execute(query, {"id": gid(appointment)}, as_user=patient)
    assert after.data["appointment"] == {"serviceId": gid(service), "service": None}
    as_doctor = await client.execute(
        query, {"id": gid(appointment)}, as_user=await user_of(db, doctor)
    )
    assert as_doctor.data["appointment"]["service"] == {"name": "Retiring"}


async def test_a_doctor_creates_a_service_with_intake_questions(
    client: GraphQLClient, db: Database
) -> None:
    doctor = await make_doctor(db, currency="AED")
    owner = await user_of(db, doctor)
    created = await client.execute(
        CREATE,
        {
            "input": {
                "name": "  Yoga class ",
                "durationMinutes": 60,
                "bufferMinutes": 10,
                "price": "25",
                "capacity": 12,
                "mode": "VIDEO",
                "confirmation": "APPROVAL",
                "minNoticeMinutes": 120,
                "intakeQuestions": [
                    {"prompt": "Any injuries?", "kind": "YES_NO", "required": True},
                    {
                        "key": "level",
                        "prompt": "Your level",
                        "kind": "CHOICE",
                        "choices": ["Beginner", "Advanced"],
                    },
                ],
            }
        },
        as_user=owner,
    )
    service = created.data["createService"]["service"]
    assert service == {
        "id": service["id"],
        "name": "Yoga class",
        "durationMinutes": 60,
        "bufferMinutes": 10,
        "price": "25.00",
        "currency": "AED",
        "mode": "VIDEO",
        "confirmation": "APPROVAL",
        "minNoticeMinutes": 120,
        "capacity": 12,
        "defaultFor": None,
        "active": True,
        "intakeQuestions": [
            {
                "key": "q1",
                "prompt": "Any injuries?",
                "kind": "YES_NO",
                "required": True,
                "choices": [],
            },
            {
                "key": "level",
                "prompt": "Your level",
                "kind": "CHOICE",
                "required": False,
                "choices": ["Beginner", "Advanced"],
            },
        ],
        "doctor": {"id": gid(doctor)},
    }
    async with db.read() as session:
        entry = (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "service.create"))
        ).one()
    assert entry.actor_id == owner.id
    assert entry.changes["after"]["capacity"] == 12


async def test_service_writes_refuse_bad_input_and_others_and_change_nothing(
    client: GraphQLClient, db: Database
) -> None:
    doctor = await make_doctor(db)
    owner = await user_of(db, doctor)
    before = await count_rows(db, Service)
    bad = await client.execute(
        CREATE,
        {
            "input": {
                "name": "",
                "durationMinutes": 2,
                "bufferMinutes": -1,
                "price": "-5",
                "capacity": 0,
                "minNoticeMinutes": 50000,
                "currency": "usd",
                "intakeQuestions": [
                    {"prompt": "Pick", "kind": "CHOICE", "choices": ["Only one"]},
                    {"prompt": "Why?", "kind": "TEXT", "choices": ["x", "y"]},
                    {"key": "Bad Key", "prompt": "", "kind": "TEXT"},
                ],
            }
        },
        as_user=owner,
    )
    result = bad.data["createService"]
    assert result["__typename"] == "ValidationError"
    assert {f["field"] for f in result["fields"]} == {
        "name",
        "durationMinutes",
        "bufferMinutes",
        "price",
        "capacity",
        "minNoticeMinutes",
        "currency",
        "intakeQuestions[0].choices",
        "intakeQuestions[1].choices",
        "intakeQuestions[2].key",
        "intakeQuestions[2].prompt",
    }
    valid = {"name": "Checkup", "durationMinutes": 30, "price": "10"}
    as_patient = await client.execute(CREATE, {"input": valid}, as_user=await make_user(db))
    assert as_patient.data["createService"]["__typename"] == "NotFound"
    other = await user_of(db, await make_doctor(db))
    for_someone_else = await client.execute(
        CREATE, {"input": {**valid, "doctorId": gid(doctor)}}, as_user=other
    )
    assert for_someone_else.data["createService"]["__typename"] == "NotAllowed"
    assert await count_rows(db, Service) == before + 2  # the other doctor's defaults

    service = await make_service(db, doctor, name="Mine")
    standard = await default_service(db, doctor)
    refused = await client.execute(
        UPDATE, {"input": {"id": gid(service), "name": "Theirs"}}, as_user=other
    )
    assert refused.data["updateService"]["__typename"] == "NotAllowed"
    retire_default = await client.execute(
        UPDATE, {"input": {"id": gid(standard), "active": False}}, as_user=owner
    )
    assert retire_default.data["updateService"]["fields"] == [
        {
            "field": "active",
            "messages": ["a default service stays active (it is what `type` books)"],
        }
    ]
    as_patient_update = await client.execute(
        UPDATE, {"input": {"id": gid(service), "name": "X"}}, as_user=await make_user(db)
    )
    assert as_patient_update.data["updateService"]["__typename"] == "NotAllowed"
    assert (await fetch(db, Service, service.id)).name == "Mine"
    assert (await fetch(db, Service, standard.id)).active is True

    retired = await client.execute(
        UPDATE, {"input": {"id": gid(service), "active": False, "capacity": 4}}, as_user=owner
    )
    assert retired.data["updateService"]["service"] == {
        "id": gid(service),
        "name": "Mine",
        "price": "50.00",
        "currency": "USD",
        "active": False,
        "capacity": 4,
    }
    admin = await make_user(db, roles=("admin",))
    renamed = await client.execute(
        UPDATE, {"input": {"id": gid(service), "name": "Renamed"}}, as_user=admin
    )
    assert renamed.data["updateService"]["service"]["name"] == "Renamed"
    async with db.read() as session:
        actions = (
            await session.scalars(select(AuditEntry.action).order_by(AuditEntry.created_at))
        ).all()
    assert actions == ["service.update", "service.update"]
