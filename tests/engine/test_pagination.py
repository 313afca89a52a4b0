"""Keyset pagination of `doctors`: complete walks, ties, ordering, bad input."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from resolvers.core.database import Database
from resolvers.core.pagination import encode_cursor
from tests.client import GraphQLClient
from tests.factories import gid, make_doctor, make_user

PAGE = """
query ($first: Int, $after: String, $orderBy: DoctorOrder) {
  doctors(first: $first, after: $after, orderBy: $orderBy) {
    edges { cursor node { id fullName ratingAvg feeStandard } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


async def _walk(client: GraphQLClient, first: int, order: dict[str, str] | None) -> list[Any]:
    seen: list[Any] = []
    after = None
    for _ in range(100):
        response = await client.execute(PAGE, {"first": first, "after": after, "orderBy": order})
        page = response.data["doctors"]
        seen.extend(edge["node"] for edge in page["edges"])
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]
    raise AssertionError("pagination did not terminate")


@pytest.mark.parametrize(
    "order",
    [
        None,
        {"field": "NAME", "direction": "DESC"},
        {"field": "RATING", "direction": "DESC"},
        {"field": "FEE", "direction": "ASC"},
        {"field": "CREATED_AT", "direction": "ASC"},
    ],
)
async def test_walk_all_pages_without_gaps_or_duplicates_under_ties(
    client: GraphQLClient, db: Database, order: dict[str, str] | None
) -> None:
    # Equal names, ratings and fees: only the id breaks the ties.
    created = [
        await make_doctor(
            db,
            full_name=f"Dr. Same {index % 2}",
            rating_avg=Decimal("4.50"),
            fee_standard=Decimal(100 + index % 3),
        )
        for index in range(11)
    ]
    await make_doctor(db, verified=False)
    nodes = await _walk(client, 3, order)
    ids = [node["id"] for node in nodes]
    assert len(ids) == len(set(ids)) == 11
    assert set(ids) == {gid(doctor) for doctor in created}
    # The exact order: the chosen column (names ascending by default), then the id.
    field, direction = (order["field"], order["direction"]) if order else ("NAME", "ASC")
    column = {
        "NAME": "full_name",
        "RATING": "rating_avg",
        "FEE": "fee_standard",
        "CREATED_AT": "created_at",
    }[field]
    expected = sorted(
        created,
        key=lambda doctor: (getattr(doctor, column), doctor.id),
        reverse=direction == "DESC",
    )
    assert ids == [gid(doctor) for doctor in expected]
    if order and order["field"] == "NAME":
        names = [node["fullName"] for node in nodes]
        assert names == sorted(names, reverse=True)
    if order and order["field"] == "FEE":
        fees = [Decimal(node["feeStandard"]) for node in nodes]
        assert fees == sorted(fees)


async def test_bad_cursor_is_bad_user_input(client: GraphQLClient) -> None:
    for cursor in ("garbage", "W1sidSIsIm5vdC1hLXV1aWQiXV0", ""):
        response = await client.execute(PAGE, {"first": 2, "after": cursor})
        assert response.codes == ["BAD_USER_INPUT"], (cursor, response.body)
        assert response.body["data"] is None


_DOCTOR_ID = uuid.UUID(int=1)
_FAR_WEST = timezone(timedelta(hours=-12))


@pytest.mark.parametrize(
    ("field", "order", "values"),
    [
        ("doctors", "NAME", ["Dr. \x00", _DOCTOR_ID]),
        ("doctors", "NAME", ["Dr. \ud800", _DOCTOR_ID]),
        ("doctors", "RATING", [Decimal("1E-100000"), _DOCTOR_ID]),
        (
            "doctors",
            "CREATED_AT",
            [datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))), _DOCTOR_ID],
        ),
        ("goals", None, [datetime(9999, 12, 31, 23, tzinfo=_FAR_WEST), _DOCTOR_ID]),
        ("lessons", None, ["Basics", 2**63, _DOCTOR_ID]),
        ("lessons", None, ["Basics\x00", 1, _DOCTOR_ID]),
    ],
)
async def test_cursor_with_a_value_no_row_holds_is_bad_user_input(
    client: GraphQLClient, db: Database, field: str, order: str | None, values: list[Any]
) -> None:
    """Found by the fuzz suite: values of the right type that Postgres (or asyncpg) cannot
    take as parameters reached SQL and answered INTERNAL_SERVER_ERROR."""
    user = await make_user(db)
    ordered = f", orderBy: {{field: {order}}}" if order else ""
    query = f"query ($after: String) {{ {field}(after: $after{ordered}) {{ edges {{ cursor }} }} }}"
    response = await client.execute(query, {"after": encode_cursor(values)}, as_user=user)
    assert response.codes == ["BAD_USER_INPUT"], response.body
    assert response.errors[0]["message"].startswith("Invalid cursor")


async def test_first_is_capped_and_validated(client: GraphQLClient, db: Database) -> None:
    await make_doctor(db)
    too_many = await client.execute(PAGE, {"first": 101})
    assert too_many.codes == ["BAD_USER_INPUT"]
    assert "at most 100" in too_many.errors[0]["message"]
    negative = await client.execute(PAGE, {"first": -1})
    assert negative.codes == ["BAD_USER_INPUT"]
    default = await client.execute(PAGE, {})
    assert len(default.data["doctors"]["edges"]) == 1


async def test_filters_combine(client: GraphQLClient, db: Database) -> None:
    match = await make_doctor(
        db, specialties=["Dermatology"], languages=["French"], bio="Skin and acne care"
    )
    await make_doctor(db, specialties=["Dermatology"], languages=["English"], bio="acne")
    await make_doctor(db, specialties=["Cardiology"], languages=["French"], bio="acne")
    await make_doctor(
        db, specialties=["Dermatology"], languages=["French"], accepting_patients=False
    )
    query = """
    query ($filter: DoctorFilter) {
      doctors(filter: $filter) { totalCount edges { node { id } } }
    }
    """
    patient = await make_user(db)
    response = await client.execute(
        query,
        {
            "filter": {
                "specialty": "Dermatology",
                "language": "French",
                "acceptingPatients": True,
                "search": "ACNE",
            }
        },
        as_user=patient,
    )
    assert response.data["doctors"]["totalCount"] == 1
    assert response.data["doctors"]["edges"][0]["node"]["id"] == gid(match)
    wildcard = await client.execute(query, {"filter": {"search": "%"}})
    assert wildcard.data["doctors"]["totalCount"] == 0
