"""One name per error concept: a refused status move is a `TransitionError` with the code
INVALID_TRANSITION on every entity, each type adding its typed statuses and the moves
its state machine allows from the current one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from resolvers.core.database import Database
from tests.appointments.factories import make_appointment
from tests.client import GraphQLClient
from tests.factories import gid, make_doctor, make_user, user_of
from tests.goals.factories import goal_rows, make_goal

REFUSED = """
fragment Refused on TransitionError { __typename code message }
"""
CONFIRM = (
    """
mutation ($id: ID!) {
  confirmAppointment(input: {id: $id}) {
    __typename ...Refused
    ... on InvalidTransition { fromStatus toStatus allowedStatuses }
  }
}
"""
    + REFUSED
)
UPDATE_GOAL = (
    """
mutation ($id: ID!, $status: GoalStatus!) {
  updateGoal(input: {id: $id, status: $status}) {
    __typename ...Refused
    ... on InvalidStatusTransition { fromStatus toStatus allowedStatuses }
  }
}
"""
    + REFUSED
)


async def test_an_appointment_move_refused_is_a_transition_error(
    client: GraphQLClient, db: Database
) -> None:
    doctor = await make_doctor(db)
    appointment = await make_appointment(
        db,
        doctor=doctor,
        patient=await make_user(db),
        starts_at=datetime.now(UTC) + timedelta(days=3),
        status="completed",
    )
    response = await client.execute(
        CONFIRM, {"id": gid(appointment)}, as_user=await user_of(db, doctor)
    )
    result = response.data["confirmAppointment"]
    assert result["__typename"] == "InvalidTransition"
    assert result["code"] == "INVALID_TRANSITION"
    assert (result["fromStatus"], result["toStatus"]) == ("COMPLETED", "CONFIRMED")
    assert result["allowedStatuses"] == ["REFUNDED"]


async def test_a_goal_move_refused_is_a_transition_error(
    client: GraphQLClient, db: Database
) -> None:
    owner = await make_user(db)
    paused = await make_goal(db, owner, status="paused")
    closed = await make_goal(db, owner, status="completed")
    before = await goal_rows(db)

    response = await client.execute(
        UPDATE_GOAL, {"id": gid(closed), "status": "ACTIVE"}, as_user=owner
    )
    result = response.data["updateGoal"]
    assert result["__typename"] == "InvalidStatusTransition"
    assert result["code"] == "INVALID_TRANSITION"
    assert (result["fromStatus"], result["toStatus"]) == ("COMPLETED", "ACTIVE")
    assert result["allowedStatuses"] == []

    response = await client.execute(
        UPDATE_GOAL, {"id": gid(paused), "status": "PAUSED"}, as_user=owner
    )
    assert response.data["updateGoal"]["__typename"] == "GoalUpdated"  # no move, no error
    assert await goal_rows(db) == before
