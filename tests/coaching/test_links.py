"""Coach-client links: only admins assign and unassign (typed errors, nothing written on
error); a coach reads the goals, milestones and check-ins of assigned clients only,
through every path (root list and count, by id, nested under the user), from the moment
of assignment until unassignment; the links themselves are read by admins, the coach and
the client."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from models import CoachClient, User
from resolvers.core.database import Database
from tests.client import GraphQLClient
from tests.factories import count_rows, gid, make_doctor, make_user, user_of
from tests.goals.factories import make_check_in, make_goal, make_milestone

ASSIGN = """
mutation ($coachId: ID!, $clientId: ID!) {
  assignCoach(input: {coachId: $coachId, clientId: $clientId}) {
    __typename
    ... on CoachAssigned { link { id coach { id } client { id } } }
    ... on ValidationError { fields { field messages } }
    ... on UserError { code }
  }
}
"""
UNASSIGN = """
mutation ($coachId: ID!, $clientId: ID!) {
  unassignCoach(input: {coachId: $coachId, clientId: $clientId}) {
    __typename ... on CoachUnassigned { deletedId } ... on UserError { code }
  }
}
"""
READS = """
query ($goal: ID!, $user: ID!) {
  goals(first: 20) { totalCount edges { node { id } } }
  goal(id: $goal) { id milestones { id } checkIns { totalCount } }
  user(id: $user) { goals(first: 5) { totalCount edges { node { id } } } }
}
"""
LINKS = "{ coachingLinks(first: 10) { totalCount edges { node { id } } } }"


async def test_a_coach_reads_assigned_clients_goals_only_while_assigned(
    client: GraphQLClient, db: Database
) -> None:
    admin = await make_user(db, roles=("admin",))
    coach = await make_user(db, roles=("coach",))
    patient = await make_user(db)
    stranger = await make_user(db)
    goal = await make_goal(db, patient)
    await make_milestone(db, goal, position=0)
    await make_check_in(db, goal, on=date(2026, 2, 1))
    stranger_goal = await make_goal(db, stranger)

    async def reads(target: Any) -> dict[str, Any]:
        variables = {"goal": gid(goal), "user": gid(target)}
        return dict((await client.execute(READS, variables, as_user=coach)).data)

    before = await reads(patient)
    assert before["goals"] == {"totalCount": 0, "edges": []}
    assert before["goal"] is None
    assert before["user"]["goals"]["totalCount"] == 0

    assigned = await client.execute(
        ASSIGN, {"coachId": gid(coach), "clientId": gid(patient)}, as_user=admin
    )
    link = assigned.data["assignCoach"]
    assert link["__typename"] == "CoachAssigned"
    assert link["link"]["coach"] == {"id": gid(coach)}
    again = await client.execute(
        ASSIGN, {"coachId": gid(coach), "clientId": gid(patient)}, as_user=admin
    )
    assert again.data["assignCoach"]["link"]["id"] == link["link"]["id"]
    assert await count_rows(db, CoachClient) == 1

    during = await reads(patient)
    assert during["goals"] == {"totalCount": 1, "edges": [{"node": {"id": gid(goal)}}]}
    assert during["goal"]["milestones"] != [] and during["goal"]["checkIns"]["totalCount"] == 1
    assert during["user"]["goals"]["totalCount"] == 1
    not_theirs = await reads(stranger)
    assert not_theirs["user"]["goals"]["totalCount"] == 0
    assert gid(stranger_goal) not in {edge["node"]["id"] for edge in during["goals"]["edges"]}

    removed = await client.execute(
        UNASSIGN, {"coachId": gid(coach), "clientId": gid(patient)}, as_user=admin
    )
    assert removed.data["unassignCoach"]["deletedId"] == link["link"]["id"]
    after = await reads(patient)
    assert after["goals"]["totalCount"] == 0 and after["goal"] is None


@pytest.mark.parametrize("who", ["patient", "coach", "doctor", "anon"])
async def test_only_admins_assign_and_nothing_is_written_otherwise(
    client: GraphQLClient, db: Database, who: str
) -> None:
    coach = await make_user(db, roles=("coach",))
    patient = await make_user(db)
    viewers: dict[str, User | None] = {
        "patient": patient,
        "coach": coach,
        "doctor": await user_of(db, await make_doctor(db)),
        "anon": None,
    }
    variables = {"coachId": gid(coach), "clientId": gid(patient)}
    answer = await client.execute(ASSIGN, variables, as_user=viewers[who])
    assert answer.data["assignCoach"]["code"] == "FORBIDDEN"
    assert await count_rows(db, CoachClient) == 0
    unassign = await client.execute(UNASSIGN, variables, as_user=viewers[who])
    assert unassign.data["unassignCoach"]["code"] == "FORBIDDEN"


async def test_assignment_errors_are_typed_and_write_nothing(
    client: GraphQLClient, db: Database
) -> None:
    admin = await make_user(db, roles=("admin",))
    coach = await make_user(db, roles=("coach",))
    patient = await make_user(db)

    async def assign(coach_id: str, client_id: str) -> dict[str, Any]:
        variables = {"coachId": coach_id, "clientId": client_id}
        return dict((await client.execute(ASSIGN, variables, as_user=admin)).data["assignCoach"])

    not_a_coach = await assign(gid(patient), gid(coach))
    assert not_a_coach["fields"] == [
        {"field": "coachId", "messages": ["this user does not have the coach role"]}
    ]
    own_client = await assign(gid(coach), gid(coach))
    assert own_client["fields"][0]["field"] == "clientId"
    unknown = await assign(gid(coach), gid(await make_goal(db, patient), "User"))
    assert unknown["code"] == "NOT_FOUND"
    wrong_type = await assign(gid(coach), gid(await make_goal(db, patient)))
    assert wrong_type["fields"][0]["field"] == "clientId"
    assert await count_rows(db, CoachClient) == 0
    missing = await client.execute(
        UNASSIGN, {"coachId": gid(coach), "clientId": gid(patient)}, as_user=admin
    )
    assert missing.data["unassignCoach"]["code"] == "NOT_FOUND"


async def test_links_are_read_by_admins_the_coach_and_the_client(
    client: GraphQLClient, db: Database
) -> None:
    admin = await make_user(db, roles=("admin",))
    coach = await make_user(db, roles=("coach",))
    other_coach = await make_user(db, roles=("coach",))
    patient = await make_user(db)
    stranger = await make_user(db)
    async with db.transaction() as session:
        session.add(CoachClient(coach_id=coach.id, client_id=patient.id))
        session.add(CoachClient(coach_id=other_coach.id, client_id=stranger.id))
    expected = {admin: 2, coach: 1, patient: 1, other_coach: 1, stranger: 1}
    for viewer, count in expected.items():
        answer = await client.execute(LINKS, as_user=viewer)
        assert answer.data["coachingLinks"]["totalCount"] == count
        assert len(answer.data["coachingLinks"]["edges"]) == count
    nobody = await make_user(db)
    assert (await client.execute(LINKS, as_user=nobody)).data["coachingLinks"]["totalCount"] == 0
    assert (await client.execute(LINKS)).data["coachingLinks"]["totalCount"] == 0
