"""What a request read is freed when it is answered, by reference counting: no cycle
through the loaders keeps its rows waiting for the garbage collector."""

from __future__ import annotations

import gc
from datetime import date

from resolvers.core.database import Database
from tests.client import GraphQLClient
from tests.factories import make_user
from tests.goals.factories import make_check_in, make_goal

NESTED = """
query {
  viewer { user { goals(first: 5) { edges { node { id
    checkIns(first: 2) { edges { node { date } } totalCount }
  } } } } }
}
"""


async def test_a_request_leaves_no_cycle_holding_its_rows(
    client: GraphQLClient, db: Database
) -> None:
    user = await make_user(db)
    goal = await make_goal(db, user)
    await make_check_in(db, goal, on=date(2026, 2, 1))
    await make_check_in(db, goal, on=date(2026, 2, 2))
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        response = await client.execute(NESTED, as_user=user)
        gc.collect()
        in_cycles = {type(garbage).__name__ for garbage in gc.garbage}
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    goals = response.data["viewer"]["user"]["goals"]["edges"]
    assert goals[0]["node"]["checkIns"]["totalCount"] == 2
    assert not in_cycles & {"Page", "Goal", "GoalCheckIn", "Future"}, in_cycles
