"""End-to-end regressions found by walking the client apps' flows against the demo clinic:
inputs that used to end in INTERNAL_SERVER_ERROR, and one meaning per input type across
domains (DateTime offsets, finite Decimals, ids, not-found results)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from models import Appointment, Coupon, Post, SlotHold
from resolvers.core.database import Database
from resolvers.demo import load_demo_data
from resolvers.demo.ids import user_id_for
from tests.client import GraphQLClient, Response
from tests.factories import count_rows

PATIENT = "patient@caregraph.dev"
DOCTOR = "doctor@caregraph.dev"
ADMIN = "admin@caregraph.dev"

SARAH = """query { doctors(filter: {search: "Sarah Ahmed"}) { edges { node { id } } } }"""

SLOTS = """
query ($id: ID!, $from: Date, $to: Date) {
  doctor(id: $id) { availableSlots(from: $from, to: $to) { startsAt } }
}
"""

RESULT = """
    __typename
    ... on UserError { code message }
    ... on ValidationError { fields { field messages } }
"""

HOLD = f"""
mutation ($doctorId: ID!, $startsAt: DateTime!) {{
  holdSlot(input: {{doctorId: $doctorId, startsAt: $startsAt}}) {{ {RESULT} }}
}}
"""

BOOK = f"""
mutation ($doctorId: ID!, $startsAt: DateTime!) {{
  bookAppointment(input: {{doctorId: $doctorId, startsAt: $startsAt}}) {{ {RESULT} }}
}}
"""

RESCHEDULE = f"""
mutation ($id: ID!, $startsAt: DateTime!) {{
  rescheduleAppointment(input: {{id: $id, startsAt: $startsAt}}) {{ {RESULT} }}
}}
"""

MY_APPOINTMENTS = """
query { appointments(first: 50, filter: {status: [PENDING_PAYMENT, CONFIRMED]}) {
  edges { node { id status startsAt } } } }
"""

CREATE_POST = f"""
mutation ($title: String!) {{ createPost(input: {{title: $title, body: "b"}}) {{ {RESULT} }} }}
"""

CREATE_COUPON = f"""
mutation ($input: CreateCouponInput!) {{ createCoupon(input: $input) {{ {RESULT} }} }}
"""

MARK_NO_SHOW = f"""
mutation ($id: ID!) {{
  markNoShow(input: {{id: $id}}) {{ {RESULT} ... on InvalidTransition {{ fromStatus toStatus }} }}
}}
"""


async def run(
    client: GraphQLClient, email: str | None, query: str, variables: dict[str, Any] | None = None
) -> Response:
    response = await client.execute(
        query, variables, token=client.demo_token(email) if email else None
    )
    assert "INTERNAL_SERVER_ERROR" not in response.codes, response.errors
    return response


async def sarah_id(client: GraphQLClient) -> str:
    response = await run(client, PATIENT, SARAH)
    edges = response.data["doctors"]["edges"]
    assert len(edges) == 1
    return str(edges[0]["node"]["id"])


@pytest.fixture
async def demo(db: Database) -> None:
    await load_demo_data(db)


@pytest.mark.usefixtures("demo")
async def test_available_slots_at_the_ends_of_the_calendar(client: GraphQLClient) -> None:
    doctor = await sarah_id(client)
    past = await run(
        client, PATIENT, SLOTS, {"id": doctor, "from": "0001-01-01", "to": "0001-01-05"}
    )
    assert past.errors == []
    assert past.data["doctor"]["availableSlots"] == []
    future = await run(
        client, PATIENT, SLOTS, {"id": doctor, "from": "9999-12-28", "to": "9999-12-31"}
    )
    assert future.codes == ["BAD_USER_INPUT"]
    assert "`to` must be on or before" in future.errors[0]["message"]
    week = await run(client, PATIENT, SLOTS, {"id": doctor})
    assert week.data["doctor"]["availableSlots"]


@pytest.mark.usefixtures("demo")
@pytest.mark.parametrize("starts_at", ["0001-01-01T00:00:00Z", "9999-12-31T23:30:00Z"])
async def test_hold_book_and_reschedule_outside_the_calendar_are_unavailable(
    client: GraphQLClient, db: Database, starts_at: str
) -> None:
    doctor = await sarah_id(client)
    before = (await count_rows(db, Appointment), await count_rows(db, SlotHold))
    hold = await run(client, PATIENT, HOLD, {"doctorId": doctor, "startsAt": starts_at})
    assert hold.data["holdSlot"]["__typename"] == "SlotUnavailable"
    book = await run(client, PATIENT, BOOK, {"doctorId": doctor, "startsAt": starts_at})
    assert book.data["bookAppointment"]["__typename"] == "SlotUnavailable"
    mine = await run(client, PATIENT, MY_APPOINTMENTS)
    appointment = mine.data["appointments"]["edges"][0]["node"]
    moved = await run(client, PATIENT, RESCHEDULE, {"id": appointment["id"], "startsAt": starts_at})
    assert moved.data["rescheduleAppointment"]["__typename"] == "SlotUnavailable"
    assert (await count_rows(db, Appointment), await count_rows(db, SlotHold)) == before


@pytest.mark.usefixtures("demo")
async def test_nul_characters_are_bad_input_not_a_database_error(
    client: GraphQLClient, db: Database
) -> None:
    before = await count_rows(db, Post)
    in_variable = await run(client, PATIENT, CREATE_POST, {"title": "a\x00b"})
    assert in_variable.codes == ["BAD_USER_INPUT"]
    assert "NUL" in in_variable.errors[0]["message"]
    in_literal = await run(
        client,
        PATIENT,
        'mutation { updateViewerProfile(input: {fullName: "a\\u0000b"}) { __typename } }',
    )
    assert in_literal.codes == ["BAD_USER_INPUT"]
    assert await count_rows(db, Post) == before
    fine = await run(client, PATIENT, CREATE_POST, {"title": "a b"})
    assert fine.data["createPost"]["__typename"] == "PostSaved"


@pytest.mark.usefixtures("demo")
@pytest.mark.parametrize(
    ("email", "query", "variables"),
    [
        (
            ADMIN,
            "query ($from: DateTime!, $to: DateTime!) "
            "{ adminDashboard(from: $from, to: $to) { from } }",
            {"from": "2026-01-01T00:00:00", "to": "2027-01-01T00:00:00Z"},
        ),
        (
            PATIENT,
            "query ($from: DateTime) { appointments(filter: {from: $from}) { totalCount } }",
            {"from": "2026-01-01T00:00:00"},
        ),
        (
            DOCTOR,
            CREATE_COUPON,
            {
                "input": {
                    "code": "NAIVE10",
                    "kind": "PERCENT",
                    "value": "10",
                    "validUntil": "2030-01-01T00:00:00",
                }
            },
        ),
        (PATIENT, BOOK, {"doctorId": "x", "startsAt": "2030-01-01T09:00:00"}),
    ],
)
async def test_datetimes_without_an_offset_are_rejected_everywhere(
    client: GraphQLClient, db: Database, email: str, query: str, variables: dict[str, Any]
) -> None:
    before = await count_rows(db, Coupon)
    response = await run(client, email, query, variables)
    assert response.codes == ["BAD_USER_INPUT"]
    assert "must include a UTC offset" in response.errors[0]["message"]
    assert response.body.get("data") is None
    assert await count_rows(db, Coupon) == before


@pytest.mark.usefixtures("demo")
async def test_datetimes_with_an_offset_are_accepted(client: GraphQLClient) -> None:
    response = await run(
        client,
        ADMIN,
        '{ adminDashboard(from: "2026-01-01T04:00:00+04:00", to: "2027-01-01T00:00:00Z") '
        "{ appointmentsByStatus { count } } }",
    )
    assert response.errors == []
    assert response.data["adminDashboard"]["appointmentsByStatus"]


@pytest.mark.usefixtures("demo")
@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [("NaN", "FIXED", None), ("Infinity", "PERCENT", None), ("1e30", "FIXED", "value")],
)
async def test_coupon_values_that_are_not_money_are_rejected(
    client: GraphQLClient, db: Database, value: str, kind: str, expected: str | None
) -> None:
    before = await count_rows(db, Coupon)
    response = await run(
        client,
        DOCTOR,
        CREATE_COUPON,
        {"input": {"code": "ODD1", "kind": kind, "value": value, "currency": "USD"}},
    )
    if expected is None:  # the Decimal scalar refuses it before any resolver runs
        assert response.codes == ["BAD_USER_INPUT"]
        assert "finite" in response.errors[0]["message"]
    else:
        result = response.data["createCoupon"]
        assert result["__typename"] == "ValidationError"
        assert [f["field"] for f in result["fields"]] == [expected]
    assert await count_rows(db, Coupon) == before


@pytest.mark.usefixtures("demo")
async def test_a_malformed_id_in_a_mutation_names_its_field(client: GraphQLClient) -> None:
    response = await run(
        client, PATIENT, HOLD, {"doctorId": "nope", "startsAt": "2030-01-01T09:00:00Z"}
    )
    result = response.data["holdSlot"]
    assert result["__typename"] == "ValidationError"
    assert result["fields"] == [{"field": "doctorId", "messages": ["not a valid id: 'nope'"]}]
    query = await run(client, PATIENT, '{ doctor(id: "nope") { id } }')
    assert query.codes == ["BAD_USER_INPUT"]
    assert query.errors[0]["message"] == "`id` is not a valid id: 'nope'"


@pytest.mark.usefixtures("demo")
async def test_an_unknown_doctor_is_not_found_for_hold_and_book_alike(
    client: GraphQLClient,
) -> None:
    unknown = {"doctorId": "00000000-0000-0000-0000-000000000000"}
    unknown["startsAt"] = "2030-01-07T09:00:00Z"
    hold = await run(client, PATIENT, HOLD, unknown)
    book = await run(client, PATIENT, BOOK, unknown)
    assert hold.data["holdSlot"]["__typename"] == "NotFound"
    assert book.data["bookAppointment"]["__typename"] == "NotFound"
    assert book.data["bookAppointment"]["code"] == "NOT_FOUND"


@pytest.mark.usefixtures("demo")
async def test_transition_messages_read_as_words(client: GraphQLClient) -> None:
    doctor_day = await run(client, DOCTOR, MY_APPOINTMENTS)
    upcoming = next(
        edge["node"]
        for edge in doctor_day.data["appointments"]["edges"]
        if edge["node"]["status"] == "CONFIRMED"
        and datetime.fromisoformat(edge["node"]["startsAt"]) > datetime.now(UTC)
    )
    response = await run(client, DOCTOR, MARK_NO_SHOW, {"id": upcoming["id"]})
    result = response.data["markNoShow"]
    assert result["__typename"] == "InvalidTransition"
    assert result["toStatus"] == "NO_SHOW"
    assert "no_show" not in result["message"]
    assert "marked a no-show" in result["message"]


async def test_several_operations_without_a_name_are_a_400_not_a_500(
    client: GraphQLClient,
) -> None:
    http = client.http
    document = (
        'mutation M { updateViewerProfile(input: {fullName: "Via GET"}) { __typename } } '
        "query Q { viewer { id } }"
    )
    over_get = await http.get("/graphql", params={"query": document})
    assert over_get.status_code == 400
    assert "operationName" in over_get.json()["errors"][0]["message"]
    over_post = await http.post("/graphql", json={"query": document})
    assert over_post.status_code == 400
    assert over_post.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    picked = await http.get("/graphql", params={"query": document, "operationName": "M"})
    assert picked.status_code == 405
    chosen = await http.post("/graphql", json={"query": document, "operationName": "Q"})
    assert chosen.json() == {"data": {"viewer": None}}
    subscription = await http.post("/graphql", json={"query": "subscription { viewer { id } }"})
    assert subscription.status_code == 400
    assert subscription.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


CREATE_LESSON = """
mutation ($input: CreateLessonInput!) {
  createLesson(input: $input) { __typename ... on LessonSaved { lesson { slug position } } }
}
"""

MODULE = """
query ($module: String!) {
  lessons(filter: {module: $module}) { edges { node { slug position } } }
}
"""


@pytest.mark.usefixtures("demo")
async def test_a_lesson_without_a_position_is_appended_to_its_module(
    client: GraphQLClient,
) -> None:
    coach = "coach@caregraph.dev"
    appended = await run(
        client,
        coach,
        CREATE_LESSON,
        {"input": {"slug": "hydration-101", "title": "Hydration 101", "module": "Foundations"}},
    )
    assert appended.data["createLesson"]["__typename"] == "LessonSaved"
    module = await run(client, coach, MODULE, {"module": "Foundations"})
    slugs = [edge["node"]["slug"] for edge in module.data["lessons"]["edges"]]
    assert slugs[-1] == "hydration-101"
    assert len(slugs) > 1
    fresh = await run(
        client,
        coach,
        CREATE_LESSON,
        {"input": {"slug": "new-module-intro", "title": "Intro", "module": "Brand New"}},
    )
    assert fresh.data["createLesson"]["lesson"]["position"] == 0
    first = await run(
        client,
        coach,
        CREATE_LESSON,
        {
            "input": {
                "slug": "up-front",
                "title": "Up front",
                "module": "Foundations",
                "position": 0,
            }
        },
    )
    assert first.data["createLesson"]["lesson"]["position"] == 0


DOCTOR_PAGE = """
query ($after: String, $order: DoctorOrderField!) {
  doctors(first: 1, after: $after, orderBy: {field: $order}) { pageInfo { endCursor } }
}
"""

NESTED_PAGES = """
query ($after: String, $goal: ID!, $post: ID!, $user: ID!) {
  goal(id: $goal) { checkIns(first: 1, after: $after) { totalCount } }
  post(id: $post) { comments(first: 1, after: $after) { totalCount } }
  user(id: $user) { goals(first: 1, after: $after) { totalCount } }
}
"""


@pytest.mark.usefixtures("demo")
async def test_a_cursor_from_another_list_or_order_is_bad_input(client: GraphQLClient) -> None:
    by_name = await run(client, ADMIN, DOCTOR_PAGE, {"order": "NAME"})
    cursor = by_name.data["doctors"]["pageInfo"]["endCursor"]
    by_fee = await run(client, ADMIN, DOCTOR_PAGE, {"order": "FEE", "after": cursor})
    assert by_fee.codes == ["BAD_USER_INPUT"]
    assert "Invalid cursor" in by_fee.errors[0]["message"]
    goals = await run(client, PATIENT, "{ goals(first: 1) { edges { node { id } } } }")
    feed = await run(client, PATIENT, "{ feed(first: 1) { edges { node { id } } } }")
    nested = await run(
        client,
        ADMIN,
        NESTED_PAGES,
        {
            "after": cursor,
            "goal": goals.data["goals"]["edges"][0]["node"]["id"],
            "post": feed.data["feed"]["edges"][0]["node"]["id"],
            "user": str(user_id_for(PATIENT)),
        },
    )
    assert nested.codes == ["BAD_USER_INPUT"] * 3


@pytest.mark.usefixtures("demo")
@pytest.mark.parametrize(
    ("mutation", "field"),
    [
        ('verifyDoctor(input: {doctorId: "zz"})', "doctorId"),
        ('releaseHold(input: {id: "zz"})', "id"),
        ('removeAvailabilityException(input: {id: "zz"})', "id"),
        ('featureReview(input: {reviewId: "zz"})', "reviewId"),
    ],
)
async def test_a_malformed_id_is_a_validation_error_in_every_mutation(
    client: GraphQLClient, mutation: str, field: str
) -> None:
    name = mutation.split("(")[0]
    response = await run(client, ADMIN, f"mutation {{ {mutation} {{ {RESULT} }} }}")
    assert response.errors == []
    result = response.data[name]
    assert result["__typename"] == "ValidationError"
    assert result["code"] == "BAD_USER_INPUT"
    assert result["fields"] == [{"field": field, "messages": ["not a valid id: 'zz'"]}]
