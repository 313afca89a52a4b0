"""The demo lessons and community load (twice, idempotently) and show the rules at work."""

from __future__ import annotations

from types import SimpleNamespace

from resolvers.core.database import Database
from resolvers.demo import load_demo_data
from resolvers.demo.ids import user_id_for
from tests.client import GraphQLClient

QUERY = """
query {
  lessonModules { name lessonCount completedCount lessons { slug paywall videoId } }
  feed(first: 20) {
    totalCount
    edges { node { title pinned hidden likeCount commentCount author { displayName }
      comments(first: 5) { edges { node { body replies(first: 3) { totalCount } } } } } }
  }
  reports(filter: {status: PENDING}) { totalCount edges { node { reason comment { body } } } }
}
"""


def _demo(email: str) -> SimpleNamespace:
    return SimpleNamespace(id=user_id_for(email), email=email)


async def test_demo_lessons_and_community(client: GraphQLClient, db: Database) -> None:
    await load_demo_data(db)
    await load_demo_data(db)
    patient = (await client.execute(QUERY, as_user=_demo("patient@caregraph.dev"))).data
    modules = {module["name"]: module for module in patient["lessonModules"]}
    assert set(modules) == {"Foundations", "Building Habits"}
    assert modules["Foundations"]["completedCount"] == 2
    paywalled = [
        lesson for module in modules.values() for lesson in module["lessons"] if lesson["paywall"]
    ]
    assert paywalled and all(lesson["videoId"] is None for lesson in paywalled)
    titles = [edge["node"]["title"] for edge in patient["feed"]["edges"]]
    assert titles[0] == "Welcome to the community!"
    assert "My 30-day reflection (draft)" in titles
    assert "Cheap supplements, DM me" not in titles
    assert patient["reports"]["totalCount"] == 0

    entitled = (await client.execute(QUERY, as_user=_demo("patient2@caregraph.dev"))).data
    unlocked = [
        lesson
        for module in entitled["lessonModules"]
        for lesson in module["lessons"]
        if lesson["paywall"]
    ]
    assert unlocked and all(lesson["videoId"] for lesson in unlocked)
    assert "My 30-day reflection (draft)" not in [
        edge["node"]["title"] for edge in entitled["feed"]["edges"]
    ]

    coach = (await client.execute(QUERY, as_user=_demo("coach@caregraph.dev"))).data
    coach_titles = {edge["node"]["title"]: edge["node"] for edge in coach["feed"]["edges"]}
    assert coach_titles["Cheap supplements, DM me"]["hidden"] is True
    assert sum(module["lessonCount"] for module in coach["lessonModules"]) == 8
    assert coach["reports"]["totalCount"] == 1
    assert coach["reports"]["edges"][0]["node"]["comment"]["body"].startswith("Buy my step")
    welcome = coach_titles["Welcome to the community!"]
    assert welcome["commentCount"] == 4 and welcome["likeCount"] == 9
    assert (await client.execute(QUERY)).data["feed"]["totalCount"] == 0
