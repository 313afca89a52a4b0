"""Goal reads: filters, keyset pagination (root and nested), and a statement count that
depends on the query's shape only, never on the number of goals."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest

from models import Goal, GoalCheckIn, GoalMilestone, User
from resolvers.core.database import Database
from resolvers.core.settings import Settings
from tests.client import GraphQLClient, graphql_client
from tests.factories import gid, make_user
from tests.goals.factories import make_check_in, make_goal

GOALS_FILTERED = """
query ($filter: GoalFilter, $first: Int, $after: String) {
  goals(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { node { id } }
  }
}
"""

CHECK_INS = """
query ($id: ID!, $after: String) {
  goal(id: $id) {
    checkIns(first: 2, after: $after) {
      totalCount
      pageInfo { hasNextPage hasPreviousPage endCursor }
      edges { node { date } }
    }
  }
}
"""

WIDE = """
query {
  goals(first: 50) {
    totalCount
    edges {
      node {
        id title progress
        owner { id fullName }
        milestones { id title position completed }
        milestoneCompletion { completed total percent }
        checkIns(first: 5) {
          totalCount
          pageInfo { hasNextPage }
          edges { node { id date value mood } }
        }
      }
    }
  }
}
"""

OWNER_GOALS = """
query {
  goals(first: 50) {
    edges { node { id owner { goals(first: 2) { totalCount edges { node { id } } } } } }
  }
}
"""


async def test_filters(client: GraphQLClient, db: Database) -> None:
    coach = await make_user(db, roles=("admin",))  # reads every goal
    alice = await make_user(db)
    bob = await make_user(db)
    habit = await make_goal(db, alice, type="habit", target_date=date(2026, 3, 1))
    paused = await make_goal(db, alice, status="paused", target_date=date(2026, 9, 1))
    open_ended = await make_goal(db, bob, target_date=None)

    async def ids(filter_: dict[str, object]) -> set[str]:
        response = await client.execute(GOALS_FILTERED, {"filter": filter_}, as_user=coach)
        connection = response.data["goals"]
        assert connection["totalCount"] == len(connection["edges"])
        return {edge["node"]["id"] for edge in connection["edges"]}

    assert await ids({}) == {gid(habit), gid(paused), gid(open_ended)}
    assert await ids({"status": "PAUSED"}) == {gid(paused)}
    assert await ids({"type": "HABIT"}) == {gid(habit)}
    assert await ids({"ownerId": gid(bob)}) == {gid(open_ended)}
    assert await ids({"dueBefore": "2026-06-01"}) == {gid(habit)}
    assert await ids({"dueBefore": "2026-03-01"}) == set()
    assert await ids({"ownerId": gid(alice), "status": "ACTIVE"}) == {gid(habit)}


async def test_root_pagination(client: GraphQLClient, db: Database) -> None:
    owner = await make_user(db)
    goals = [await make_goal(db, owner) for _ in range(5)]
    seen: list[str] = []
    after = None
    while True:
        response = await client.execute(GOALS_FILTERED, {"first": 2, "after": after}, as_user=owner)
        connection = response.data["goals"]
        assert connection["totalCount"] == 5
        assert connection["pageInfo"]["hasPreviousPage"] is (after is not None)
        seen.extend(edge["node"]["id"] for edge in connection["edges"])
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert seen == [gid(goal) for goal in reversed(goals)]  # newest first


async def test_nested_check_in_pagination(client: GraphQLClient, db: Database) -> None:
    owner = await make_user(db)
    goal = await make_goal(db, owner)
    for day in range(1, 6):
        await make_check_in(db, goal, on=date(2026, 2, day))
    dates: list[str] = []
    after = None
    for _ in range(3):
        response = await client.execute(CHECK_INS, {"id": gid(goal), "after": after}, as_user=owner)
        connection = response.data["goal"]["checkIns"]
        assert connection["totalCount"] == 5
        dates.extend(edge["node"]["date"] for edge in connection["edges"])
        after = connection["pageInfo"]["endCursor"]
        if not connection["pageInfo"]["hasNextPage"]:
            break
    assert dates == [f"2026-02-0{day}" for day in range(5, 0, -1)]


@pytest.mark.parametrize(
    ("variables", "query"),
    [({"after": "garbage"}, CHECK_INS), ({"first": 101}, GOALS_FILTERED)],
)
async def test_bad_page_arguments(
    client: GraphQLClient, db: Database, variables: dict[str, object], query: str
) -> None:
    owner = await make_user(db)
    goal = await make_goal(db, owner)
    response = await client.execute(query, {"id": gid(goal), **variables}, as_user=owner)
    assert response.codes == ["BAD_USER_INPUT"]


async def _many_goals(db: Database, count: int) -> None:
    """`count` goals, each of its own owner, with 3 milestones and 7 check-ins."""
    async with db.transaction() as session:
        for number in range(count):
            owner = User(
                id=uuid.uuid4(),
                email=f"bulk{number}-{uuid.uuid4().hex[:6]}@example.test",
                full_name=f"Owner {number}",
            )
            session.add(owner)
            await session.flush()
            goal = Goal(
                owner_id=owner.id,
                title=f"Goal {number}",
                type="improvement",
                baseline_value=Decimal(90),
                target_value=Decimal(80),
                current_value=Decimal(85),
                start_date=date(2026, 1, 1),
            )
            session.add(goal)
            await session.flush()
            session.add_all(
                GoalMilestone(goal_id=goal.id, title=f"M{p}", position=p, completed=False)
                for p in range(3)
            )
            session.add_all(
                GoalCheckIn(
                    goal_id=goal.id,
                    date=date(2026, 1, 1) + timedelta(days=7 * week),
                    value=Decimal(90 - week),
                    mood="good",
                )
                for week in range(7)
            )


async def _statements(client: GraphQLClient, db: Database, count: int, query: str) -> int:
    await _many_goals(db, count)
    coach = await make_user(db, roles=("admin",))  # reads every goal
    response = await client.execute(query, as_user=coach)
    edges = response.data["goals"]["edges"]
    assert len(edges) == count
    if query is WIDE:
        for edge in edges:
            node = edge["node"]
            assert node["owner"] is not None
            assert len(node["milestones"]) == 3
            assert len(node["checkIns"]["edges"]) == 5
            assert node["checkIns"]["totalCount"] == 7
            assert node["checkIns"]["pageInfo"]["hasNextPage"] is True
    else:
        for edge in edges:
            assert edge["node"]["owner"]["goals"]["totalCount"] == 1
    return response.statements


@pytest.fixture(scope="module")
def statement_counts() -> dict[tuple[str, int], int]:
    return {}


@pytest.mark.parametrize("count", [3, 30])
@pytest.mark.parametrize("name", ["wide", "owner_goals"])
async def test_statement_count_is_fixed(
    settings: Settings,
    db: Database,
    statement_counts: dict[tuple[str, int], int],
    name: str,
    count: int,
) -> None:
    """On the resolvers (the SQL path answers the owners' goals in one statement: see
    test_owner_goals_in_sql_in_one_statement)."""
    query = WIDE if name == "wide" else OWNER_GOALS
    async with graphql_client(settings, db, sql_json_execution=False) as on_resolvers:
        statement_counts[(name, count)] = await _statements(on_resolvers, db, count, query)
    other = statement_counts.get((name, 3 if count == 30 else 30))
    if other is not None:
        assert statement_counts[(name, count)] == other, statement_counts
    # viewer + goals page + count + owners + milestones + check-in window + check-in counts
    expected = {"wide": 7, "owner_goals": 5}[name]
    assert statement_counts[(name, count)] == expected, statement_counts


@pytest.mark.parametrize("count", [3, 30])
async def test_owner_goals_in_sql_in_one_statement(
    client: GraphQLClient, db: Database, count: int
) -> None:
    # the viewer + the goals with their owners and the owners' goal counts
    assert await _statements(client, db, count, OWNER_GOALS) == 2


async def test_user_goals_status_filter(client: GraphQLClient, db: Database) -> None:
    owner = await make_user(db)
    active = await make_goal(db, owner)
    await make_goal(db, owner, status="paused")
    query = """
    query ($id: ID!) {
      user(id: $id) {
        all: goals { totalCount }
        active: goals(status: ACTIVE) { totalCount edges { node { id } } }
      }
    }
    """
    response = await client.execute(query, {"id": gid(owner)}, as_user=owner)
    user = response.data["user"]
    assert user["all"]["totalCount"] == 2
    assert user["active"] == {"totalCount": 1, "edges": [{"node": {"id": gid(active)}}]}
