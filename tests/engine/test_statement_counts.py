"""The number of SQL statements depends on the query's shape, never on the row count."""

from __future__ import annotations

from datetime import date, time, timedelta

from resolvers.core.database import Database
from tests.client import GraphQLClient
from tests.factories import make_doctor, make_exception, make_rule, make_user

DIRECTORY = """
query {
  doctors(first: 50) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      node {
        id fullName specialties languages ratingAvg feeStandard timezone
        availabilityRules { dayOfWeek startTime endTime slotMinutes }
        exceptions { date kind }
        later: exceptions(from: "2030-01-01", to: "2030-06-30") { date }
        user { id fullName email doctor { id } }
      }
    }
  }
}
"""
# viewer (1) + page (1) + count (1) + rules (1) + exceptions per distinct range (2)
# + users (1) + doctor-by-user (1)
EXPECTED_STATEMENTS = 8


async def _doctors(db: Database, count: int) -> None:
    for index in range(count):
        doctor = await make_doctor(db)
        await make_rule(db, doctor, day_of_week=1 + index % 5, start=time(9), end=time(12))
        await make_rule(db, doctor, day_of_week=1 + index % 5, start=time(13), end=time(17))
        await make_exception(db, doctor, on=date.today() + timedelta(days=1 + index % 20))


async def test_directory_statement_count_is_the_same_for_5_and_50_doctors(
    client: GraphQLClient, db: Database
) -> None:
    admin = await make_user(db, roles=("admin",))
    await _doctors(db, 5)
    few = await client.execute(DIRECTORY, as_user=admin)
    assert len(few.data["doctors"]["edges"]) == 5
    assert few.statements == EXPECTED_STATEMENTS

    await _doctors(db, 45)
    many = await client.execute(DIRECTORY, as_user=admin)
    assert len(many.data["doctors"]["edges"]) == 50
    assert all(edge["node"]["user"]["email"] for edge in many.data["doctors"]["edges"])
    assert many.statements == EXPECTED_STATEMENTS


async def test_anonymous_directory_skips_the_viewer_lookup(
    client: GraphQLClient, db: Database
) -> None:
    await _doctors(db, 3)
    response = await client.execute(
        "query { doctors(first: 50) { edges { node { id availabilityRules { id } } } } }"
    )
    assert len(response.data["doctors"]["edges"]) == 3
    assert response.statements == 2
