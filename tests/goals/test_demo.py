"""The demo goals load (twice, idempotently) and show the care-team rule."""

from __future__ import annotations

from types import SimpleNamespace

from resolvers.core.database import Database
from resolvers.demo import load_demo_data
from resolvers.demo.goals import DEMO_GOALS
from resolvers.demo.ids import user_id_for
from tests.client import GraphQLClient

GOALS = """
query {
  goals(first: 50) {
    totalCount
    edges {
      node { title type status progress milestones { id } checkIns(first: 3) { totalCount } }
    }
  }
}
"""


def _as(email: str) -> SimpleNamespace:
    return SimpleNamespace(id=user_id_for(email), email=email)


async def test_demo_goals(client: GraphQLClient, db: Database) -> None:
    await load_demo_data(db)
    await load_demo_data(db)
    admin = await client.execute(GOALS, as_user=_as("admin@caregraph.dev"))
    everything = admin.data["goals"]
    assert everything["totalCount"] == len(DEMO_GOALS)
    nodes = [edge["node"] for edge in everything["edges"]]
    assert {node["type"] for node in nodes} == {"IMPROVEMENT", "MAINTENANCE", "PREVENTION", "HABIT"}
    assert {node["status"] for node in nodes} == {"ACTIVE", "PAUSED", "COMPLETED", "ABANDONED"}
    assert all(node["checkIns"]["totalCount"] > 0 for node in nodes)
    assert all(0 <= node["progress"] <= 100 for node in nodes)

    pat_titles = {goal.title for goal in DEMO_GOALS if goal.owner_email == "patient@caregraph.dev"}
    robin_titles = {
        goal.title for goal in DEMO_GOALS if goal.owner_email == "patient2@caregraph.dev"
    }
    doctor = await client.execute(GOALS, as_user=_as("doctor@caregraph.dev"))
    # Pat and Robin have live or completed appointments with doctor@; Omar cancelled his,
    # so his goal stays hidden, and Maya never booked.
    seen = {edge["node"]["title"] for edge in doctor.data["goals"]["edges"]}
    assert seen == pat_titles | robin_titles
    patient = await client.execute(GOALS, as_user=_as("patient@caregraph.dev"))
    assert patient.data["goals"]["totalCount"] == len(pat_titles)
    # coach@ coaches Pat and Maya (resolvers/demo/coaching.py): their goals, no one else's.
    maya_titles = {
        goal.title for goal in DEMO_GOALS if goal.owner_email == "patient3@caregraph.dev"
    }
    coach = await client.execute(GOALS, as_user=_as("coach@caregraph.dev"))
    assert {edge["node"]["title"] for edge in coach.data["goals"]["edges"]} == (
        pat_titles | maya_titles
    )
    anon = await client.execute(GOALS)
    assert anon.data["goals"]["totalCount"] == 0
