"""The README's Tour runs as written: every operation is valid against the schema and, in
order, returns data without errors for its role against the demo clinic."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from graphql import GraphQLInterfaceType, OperationDefinitionNode, parse, validate

from resolvers.core.database import Database
from resolvers.demo import load_demo_data
from schema import schema
from tests.client import GraphQLClient

README = Path(__file__).resolve().parent.parent.parent / "README.md"

ROLES = {
    "Directory": "patient",
    "HoldAndBook": "patient",
    "MyCare": "patient",
    "CancelAndCheckIn": "patient",
    "LearnAndShare": "patient",
    "Share": "patient",
    "MyDay": "doctor",
    "ManageDay": "doctor",
    "Moderation": "coach",
    "Moderate": "coach",
    "FrontDesk": "staff",
    "BookForPatient": "staff",
    "Dashboard": "admin",
    "Operate": "admin",
}


def tour_operations() -> dict[str, str]:
    text = README.read_text()
    tour = text[text.index("## Tour") : text.index("## Identity")]
    operations: dict[str, str] = {}
    for block in re.findall(r"```graphql\n(.*?)```", tour, re.S):
        for definition in parse(block).definitions:
            assert isinstance(definition, OperationDefinitionNode)
            assert definition.name is not None
            operations[definition.name.value] = block
    return operations


def test_tour_operations_are_valid() -> None:
    operations = tour_operations()
    assert set(operations) == set(ROLES)
    graphql_schema = schema._schema
    for name, block in operations.items():
        assert validate(graphql_schema, parse(block)) == [], name


async def test_tour_runs_against_the_demo_clinic(client: GraphQLClient, db: Database) -> None:
    await load_demo_data(db)
    operations = tour_operations()
    mutations = {
        name for name, block in operations.items() if re.search(rf"^mutation {name}\b", block, re.M)
    }
    assert mutations == {
        "HoldAndBook",
        "CancelAndCheckIn",
        "Share",
        "ManageDay",
        "Moderate",
        "BookForPatient",
        "Operate",
    }
    graphql_schema = schema._schema
    user_error = graphql_schema.get_type("UserError")
    assert isinstance(user_error, GraphQLInterfaceType)
    user_errors = {t.name for t in graphql_schema.get_possible_types(user_error)}

    async def run(name: str, variables: dict[str, Any] | None = None) -> Any:
        email = f"{ROLES[name]}@caregraph.dev"
        token = client.demo_token(email)
        response = await client.execute(
            operations[name], variables, token=token, operation_name=name
        )
        assert not response.errors, (name, response.errors)
        data = response.data
        if name in mutations:  # every mutation answers with its success member
            for field, value in data.items():
                assert isinstance(value, dict) and value, (name, field, value)
                assert "code" not in value, (name, field, value)
                assert value.get("__typename") not in user_errors, (name, field, value)
        return data

    directory = await run("Directory")
    sarah = next(
        edge["node"]
        for edge in directory["doctors"]["edges"]
        if edge["node"]["fullName"] == "Dr. Sarah Ahmed"
    )
    assert sarah["availableSlots"]
    booked = await run("HoldAndBook", {"startsAt": sarah["availableSlots"][0]["startsAt"]})
    assert booked["bookAppointment"]["appointment"]["discount"] != "0.00"
    mine = await run("MyCare")
    assert mine["appointments"]["edges"] and mine["goals"]["edges"]
    assert mine["byReference"]["doctor"]["fullName"] == "Dr. Sarah Ahmed"
    today = datetime.now(UTC).date()
    await run("CancelAndCheckIn", {"today": today.isoformat()})
    learn = await run("LearnAndShare")
    assert learn["feed"]["edges"] and learn["lessonModules"]
    await run("Share")
    day = await run("MyDay")
    assert day["appointments"]["edges"] and day["coupons"]["edges"]
    await run("ManageDay", {"day": (today + timedelta(days=20)).isoformat()})
    moderation = await run("Moderation")
    assert moderation["reports"]["totalCount"] >= 1
    await run("Moderate")
    desk = await run("FrontDesk")
    assert [edge["node"]["fullName"] for edge in desk["patients"]["edges"]] == ["Robin Second"]
    assert desk["byReference"]["patient"]["fullName"] == "Pat Patient"
    class_slots = desk["groupClass"]["doctor"]["availableSlots"]
    assert desk["groupClass"]["capacity"] == 8 and class_slots
    # Robin already has a seat in one class (demo data); book the week's last empty one (the
    # consultation booked with it is one of the first slots, and may not overlap it).
    open_class = [slot for slot in class_slots if slot["seatsLeft"] == 8][-1]
    for_robin = await run(
        "BookForPatient",
        {
            "startsAt": sarah["availableSlots"][1]["startsAt"],
            "classStartsAt": open_class["startsAt"],
        },
    )
    history = for_robin["bookAppointment"]["appointment"]["history"]
    assert [event["actorRole"] for event in history] == ["STAFF"]
    seat = for_robin["groupSeat"]["appointment"]
    assert (seat["seat"], seat["price"], seat["service"]["name"]) == (
        1,
        "25.00",
        "Heart health group class",
    )
    dashboard = await run("Dashboard")
    assert dashboard["adminDashboard"]["appointmentsByStatus"]
    actions = {edge["node"]["action"] for edge in dashboard["auditLog"]["edges"]}
    assert {"appointment.book_for", "report.resolve"} <= actions
    await run("Operate")
