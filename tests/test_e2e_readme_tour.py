"""The README's Tour runs as written: every operation is valid against the schema and, in
order, returns data without errors for its role against the demo clinic."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from graphql import OperationDefinitionNode, parse, validate

from resolvers.database import Database
from resolvers.demo import load_demo_data, user_id_for
from schema import schema
from tests.client import GraphQLClient

README = Path(__file__).resolve().parent.parent / "README.md"

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

    async def run(name: str, variables: dict[str, Any] | None = None) -> Any:
        email = f"{ROLES[name]}@caregraph.dev"
        response = await client.http.post(
            "/graphql",
            json={"query": operations[name], "operationName": name, "variables": variables or {}},
            headers={"Authorization": f"Bearer {client.token(user_id_for(email), email)}"},
        )
        body = response.json()
        assert "errors" not in body, (name, body["errors"])
        data = body["data"]
        for value in data.values():  # mutation results: the success member
            if isinstance(value, dict) and "__typename" in value:
                assert value["__typename"] not in ("NotAllowed", "NotFound", "ValidationError"), (
                    name,
                    value,
                )
            if isinstance(value, dict):
                assert "code" not in value, (name, value)
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
    dashboard = await run("Dashboard")
    assert dashboard["adminDashboard"]["appointmentsByStatus"]
    await run("Operate")
