"""Progress math: ascending and descending targets, clamping, equal baseline and target,
milestone completion; the same numbers through GraphQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from resolvers.core.database import Database
from resolvers.goals import goal_progress
from tests.client import GraphQLClient
from tests.factories import gid, make_user
from tests.goals.factories import make_goal, make_milestone

GOAL = """
query ($id: ID!) {
  goal(id: $id) {
    progress baselineValue targetValue currentValue
    milestoneCompletion { completed total percent }
  }
}
"""


@pytest.mark.parametrize(
    ("baseline", "target", "current", "expected"),
    [
        # ascending: steps 0 -> 10000
        ("0", "10000", "0", 0.0),
        ("0", "10000", "2500", 25.0),
        ("0", "10000", "10000", 100.0),
        ("0", "10000", "12000", 100.0),  # past the target: clamped
        ("0", "10000", "-500", 0.0),  # went the wrong way: clamped
        ("2", "5", "3", 33.33),
        # descending: weight 90 -> 70
        ("90", "70", "90", 0.0),
        ("90", "70", "85", 25.0),
        ("90", "70", "70", 100.0),
        ("90", "70", "65", 100.0),
        ("90", "70", "95", 0.0),
        ("-1.5", "-3.5", "-2.0", 25.0),
        # target equals baseline: defined, no division
        ("70", "70", "70", 100.0),
        ("70", "70", "71", 0.0),
        ("70", "70", "69.5", 0.0),
        ("0", "0", "0", 100.0),
    ],
)
def test_goal_progress(baseline: str, target: str, current: str, expected: float) -> None:
    assert goal_progress(Decimal(baseline), Decimal(target), Decimal(current)) == expected


@pytest.mark.parametrize(
    ("baseline", "target", "current", "expected"),
    [("90", "70", "80", 50.0), ("0", "8", "2", 25.0), ("5", "5", "5", 100.0), ("5", "5", "6", 0.0)],
)
async def test_progress_through_graphql(
    client: GraphQLClient,
    db: Database,
    baseline: str,
    target: str,
    current: str,
    expected: float,
) -> None:
    owner = await make_user(db)
    goal = await make_goal(db, owner, baseline=baseline, target=target, current=current)
    response = await client.execute(GOAL, {"id": gid(goal)}, as_user=owner)
    node = response.data["goal"]
    assert node["progress"] == expected
    assert node["currentValue"] == float(current)
    assert node["milestoneCompletion"] == {"completed": 0, "total": 0, "percent": None}


async def test_milestone_completion(client: GraphQLClient, db: Database) -> None:
    owner = await make_user(db)
    goal = await make_goal(db, owner, start_date=date(2026, 1, 1))
    await make_milestone(db, goal, position=0, completed=True)
    await make_milestone(db, goal, position=1, completed=True)
    await make_milestone(db, goal, position=2)
    response = await client.execute(GOAL, {"id": gid(goal)}, as_user=owner)
    assert response.data["goal"]["milestoneCompletion"] == {
        "completed": 2,
        "total": 3,
        "percent": 66.67,
    }
