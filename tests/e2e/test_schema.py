"""What a newcomer reads in GraphiQL: every argument is described, delete payloads share one
shape, and the scalars say what they accept."""

from __future__ import annotations

from resolvers.core.database import Database
from resolvers.demo import load_demo_data
from tests.client import GraphQLClient

SCHEMA = """
{ __schema { types { name kind description
  fields(includeDeprecated: true) { name isDeprecated args { name description } } } } }
"""

MY_GOALS = """query { goals(first: 1) { edges { node { id } } } }"""

DELETE_GOAL = """
mutation ($id: ID!) { deleteGoal(input: {id: $id}) { __typename ... on GoalDeleted { deletedId } } }
"""


async def test_every_argument_is_described(client: GraphQLClient) -> None:
    types = (await client.execute(SCHEMA)).data["__schema"]["types"]
    missing = [
        f"{t['name']}.{f['name']}({a['name']})"
        for t in types
        if not t["name"].startswith("__")
        for f in t["fields"] or []
        for a in f["args"]
        if not a["description"]
    ]
    assert missing == []


async def test_delete_payloads_all_carry_deleted_id(client: GraphQLClient) -> None:
    types = (await client.execute(SCHEMA)).data["__schema"]["types"]
    payloads = {
        t["name"]: {f["name"]: f["isDeprecated"] for f in t["fields"]}
        for t in types
        if t["kind"] == "OBJECT" and t["name"].endswith(("Deleted", "Removed", "Released"))
    }
    assert {"GoalDeleted", "PostDeleted", "HoldReleased", "AvailabilityExceptionRemoved"} <= set(
        payloads
    )
    for name, fields in payloads.items():
        assert fields.get("deletedId") is False, name
        assert fields.get("id", True), f"{name}.id should be deprecated in favour of deletedId"


async def test_scalars_describe_their_format(client: GraphQLClient) -> None:
    types = (await client.execute(SCHEMA)).data["__schema"]["types"]
    described = {t["name"]: t["description"] or "" for t in types if t["kind"] == "SCALAR"}
    assert "UTC offset" in described["DateTime"]
    assert "string" in described["Decimal"]


async def test_delete_goal_answers_with_deleted_id(client: GraphQLClient, db: Database) -> None:
    await load_demo_data(db)
    email = "patient@caregraph.dev"
    token = client.demo_token(email)
    goal = (await client.execute(MY_GOALS, token=token)).data["goals"]["edges"][0]["node"]["id"]
    deleted = await client.execute(DELETE_GOAL, {"id": goal}, token=token)
    assert deleted.data["deleteGoal"] == {"__typename": "GoalDeleted", "deletedId": goal}
