"""Doctor profile, weekly rules, exceptions, verification and the viewer's profile:
success, typed errors, and nothing written on error."""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any

from sqlalchemy import select

from models import AvailabilityException, Doctor, DoctorAvailability, User
from resolvers.core.database import Database
from tests.client import GraphQLClient
from tests.factories import gid, make_doctor, make_exception, make_rule, make_user, user_of

UPDATE_PROFILE = """
mutation ($input: UpdateDoctorProfileInput!) {
  updateDoctorProfile(input: $input) {
    __typename
    ... on DoctorProfileUpdated { doctor { id fullName specialties feeStandard timezone } }
    ... on UserError { message code }
    ... on ValidationError { fields { field messages } }
  }
}
"""
SET_RULES = """
mutation ($input: SetAvailabilityRulesInput!) {
  setAvailabilityRules(input: $input) {
    __typename
    ... on AvailabilityRulesSet { doctorId rules { dayOfWeek startTime endTime } }
    ... on UserError { message code }
    ... on ValidationError { fields { field messages } }
  }
}
"""
ADD_EXCEPTION = """
mutation ($input: AddAvailabilityExceptionInput!) {
  addAvailabilityException(input: $input) {
    __typename
    ... on AvailabilityExceptionAdded { exception { id date kind startTime endTime } }
    ... on UserError { message code }
    ... on ValidationError { fields { field messages } }
  }
}
"""
REMOVE_EXCEPTION = """
mutation ($input: RemoveAvailabilityExceptionInput!) {
  removeAvailabilityException(input: $input) {
    __typename
    ... on AvailabilityExceptionRemoved { id }
    ... on UserError { message code }
  }
}
"""
VERIFY = """
mutation ($input: VerifyDoctorInput!) {
  verifyDoctor(input: $input) {
    __typename
    ... on DoctorVerified { doctor { id verified } }
    ... on UserError { message code }
  }
}
"""
UPDATE_VIEWER = """
mutation ($input: UpdateViewerProfileInput!) {
  updateViewerProfile(input: $input) {
    __typename
    ... on ViewerProfileUpdated { user { id fullName phone timezone } }
    ... on UserError { message code }
    ... on ValidationError { fields { field messages } }
  }
}
"""


async def _doctor_row(db: Database, doctor_id: Any) -> Doctor:
    async with db.read() as session:
        row = await session.get(Doctor, doctor_id)
    assert row is not None
    return row


async def _rules(db: Database, doctor_id: Any) -> list[tuple[int, time, time]]:
    async with db.read() as session:
        rows = await session.scalars(
            select(DoctorAvailability).where(DoctorAvailability.doctor_id == doctor_id)
        )
        return sorted((r.day_of_week, r.start_time, r.end_time) for r in rows)


async def _exceptions(db: Database, doctor_id: Any) -> list[Any]:
    async with db.read() as session:
        rows = await session.scalars(
            select(AvailabilityException).where(AvailabilityException.doctor_id == doctor_id)
        )
        return sorted((r.date, r.kind, r.start_time) for r in rows)


async def test_doctor_updates_own_profile(client: GraphQLClient, db: Database) -> None:
    doctor = await make_doctor(db)
    me = await user_of(db, doctor)
    response = await client.execute(
        UPDATE_PROFILE,
        {
            "input": {
                "fullName": "  Dr. Renamed ",
                "specialties": ["Oncology", "Oncology", "Hematology"],
                "feeStandard": "250.50",
                "timezone": "Europe/Paris",
            }
        },
        as_user=me,
    )
    result = response.data["updateDoctorProfile"]
    assert result["__typename"] == "DoctorProfileUpdated"
    assert result["doctor"] == {
        "id": gid(doctor),
        "fullName": "Dr. Renamed",
        "specialties": ["Hematology", "Oncology"],
        "feeStandard": "250.50",
        "timezone": "Europe/Paris",
    }
    row = await _doctor_row(db, doctor.id)
    assert row.full_name == "Dr. Renamed"
    assert row.updated_at > doctor.updated_at


async def test_invalid_profile_reports_every_field_and_writes_nothing(
    client: GraphQLClient, db: Database
) -> None:
    doctor = await make_doctor(db)
    me = await user_of(db, doctor)
    response = await client.execute(
        UPDATE_PROFILE,
        {
            "input": {
                "fullName": "   ",
                "feeStandard": "-5",
                "feeFollowup": "1.234",
                "currency": "usd",
                "timezone": "Mars/Olympus",
                "cancellationPolicyHours": 1000,
                "photoUrl": "javascript:alert(1)",
            }
        },
        as_user=me,
    )
    result = response.data["updateDoctorProfile"]
    assert result["__typename"] == "ValidationError"
    assert result["code"] == "BAD_USER_INPUT"
    assert {f["field"] for f in result["fields"]} == {
        "fullName",
        "feeStandard",
        "feeFollowup",
        "currency",
        "timezone",
        "cancellationPolicyHours",
        "photoUrl",
    }
    not_a_list = await client.execute(
        UPDATE_PROFILE, {"input": {"qualifications": {"not": "a list"}}}, as_user=me
    )
    fields = {f["field"] for f in not_a_list.data["updateDoctorProfile"]["fields"]}
    assert fields == {"qualifications"}
    row = await _doctor_row(db, doctor.id)
    assert (row.full_name, row.fee_standard, row.currency, row.timezone) == (
        doctor.full_name,
        doctor.fee_standard,
        doctor.currency,
        doctor.timezone,
    )


async def test_profile_write_checks_follow_the_policy(client: GraphQLClient, db: Database) -> None:
    mine = await make_doctor(db)
    other_visible = await make_doctor(db, verified=True)
    other_hidden = await make_doctor(db, verified=False)
    me = await user_of(db, mine)
    patient = await make_user(db)
    admin = await make_user(db, roles=("admin",))

    forbidden = await client.execute(
        UPDATE_PROFILE, {"input": {"doctorId": gid(other_visible), "bio": "x"}}, as_user=me
    )
    assert forbidden.data["updateDoctorProfile"]["code"] == "FORBIDDEN"
    hidden = await client.execute(
        UPDATE_PROFILE, {"input": {"doctorId": gid(other_hidden), "bio": "x"}}, as_user=me
    )
    assert hidden.data["updateDoctorProfile"]["code"] == "NOT_FOUND"
    no_profile = await client.execute(UPDATE_PROFILE, {"input": {"bio": "x"}}, as_user=patient)
    assert no_profile.data["updateDoctorProfile"]["code"] == "NOT_FOUND"
    assert (await _doctor_row(db, other_visible.id)).bio == ""

    by_admin = await client.execute(
        UPDATE_PROFILE, {"input": {"doctorId": gid(other_hidden), "bio": "ok"}}, as_user=admin
    )
    assert by_admin.data["updateDoctorProfile"]["__typename"] == "DoctorProfileUpdated"
    assert (await _doctor_row(db, other_hidden.id)).bio == "ok"


async def test_set_rules_replaces_all_rules(client: GraphQLClient, db: Database) -> None:
    doctor = await make_doctor(db)
    await make_rule(db, doctor, day_of_week=3)
    me = await user_of(db, doctor)
    rules = [
        {"dayOfWeek": 1, "startTime": "09:00:00", "endTime": "12:00:00"},
        {"dayOfWeek": 1, "startTime": "12:00:00", "endTime": "17:00:00", "slotMinutes": 20},
        {"dayOfWeek": 2, "startTime": "08:00:00", "endTime": "10:00:00", "bufferMinutes": 10},
    ]
    response = await client.execute(SET_RULES, {"input": {"rules": rules}}, as_user=me)
    result = response.data["setAvailabilityRules"]
    assert result["__typename"] == "AvailabilityRulesSet"
    assert result["doctorId"] == gid(doctor)
    assert sorted(result["rules"], key=lambda r: (r["dayOfWeek"], r["startTime"])) == [
        {k: rule[k] for k in ("dayOfWeek", "startTime", "endTime")} for rule in rules
    ]
    assert await _rules(db, doctor.id) == [
        (1, time(9), time(12)),
        (1, time(12), time(17)),
        (2, time(8), time(10)),
    ]


async def test_overlapping_or_inverted_rules_are_rejected_and_nothing_changes(
    client: GraphQLClient, db: Database
) -> None:
    doctor = await make_doctor(db)
    await make_rule(db, doctor, day_of_week=3, start=time(9), end=time(10))
    me = await user_of(db, doctor)
    before = await _rules(db, doctor.id)
    bad_sets = {
        "overlap": (
            [
                {"dayOfWeek": 1, "startTime": "09:00:00", "endTime": "12:00:00"},
                {"dayOfWeek": 1, "startTime": "11:30:00", "endTime": "13:00:00"},
            ],
            "rules[1].startTime",
        ),
        "inverted": (
            [{"dayOfWeek": 2, "startTime": "12:00:00", "endTime": "09:00:00"}],
            "rules[0].endTime",
        ),
        "bad-day": (
            [{"dayOfWeek": 7, "startTime": "09:00:00", "endTime": "10:00:00"}],
            "rules[0].dayOfWeek",
        ),
        "slot-too-long": (
            [{"dayOfWeek": 2, "startTime": "09:00:00", "endTime": "09:20:00"}],
            "rules[0].slotMinutes",
        ),
        "bad-buffer": (
            [
                {
                    "dayOfWeek": 2,
                    "startTime": "09:00:00",
                    "endTime": "12:00:00",
                    "bufferMinutes": -1,
                }
            ],
            "rules[0].bufferMinutes",
        ),
    }
    for name, (rules, field) in bad_sets.items():
        response = await client.execute(SET_RULES, {"input": {"rules": rules}}, as_user=me)
        result = response.data["setAvailabilityRules"]
        assert result["__typename"] == "ValidationError", name
        assert field in {f["field"] for f in result["fields"]}, (name, result)
    assert await _rules(db, doctor.id) == before


async def test_rules_of_another_doctor_are_forbidden(client: GraphQLClient, db: Database) -> None:
    doctor = await make_doctor(db)
    other = await make_doctor(db)
    await make_rule(db, other, day_of_week=4)
    me = await user_of(db, doctor)
    patient = await make_user(db)
    rules = [{"dayOfWeek": 1, "startTime": "09:00:00", "endTime": "12:00:00"}]
    response = await client.execute(
        SET_RULES, {"input": {"doctorId": gid(other), "rules": rules}}, as_user=me
    )
    assert response.data["setAvailabilityRules"]["code"] == "FORBIDDEN"
    anon = await client.execute(SET_RULES, {"input": {"doctorId": gid(other), "rules": rules}})
    assert anon.data["setAvailabilityRules"]["code"] == "FORBIDDEN"
    as_patient = await client.execute(SET_RULES, {"input": {"rules": rules}}, as_user=patient)
    assert as_patient.data["setAvailabilityRules"]["code"] == "NOT_FOUND"
    assert await _rules(db, other.id) == [(4, time(9), time(12))]


async def test_exceptions_add_validate_and_remove(client: GraphQLClient, db: Database) -> None:
    doctor = await make_doctor(db)
    me = await user_of(db, doctor)
    day = date.today() + timedelta(days=10)
    custom = await client.execute(
        ADD_EXCEPTION,
        {
            "input": {
                "date": day.isoformat(),
                "kind": "CUSTOM_HOURS",
                "startTime": "09:00:00",
                "endTime": "11:00:00",
                "reason": "Conference",
            }
        },
        as_user=me,
    )
    added = custom.data["addAvailabilityException"]
    assert added["__typename"] == "AvailabilityExceptionAdded"
    before = await _exceptions(db, doctor.id)

    invalid_inputs = [
        (
            {
                "date": day.isoformat(),
                "kind": "CUSTOM_HOURS",
                "startTime": "10:00:00",
                "endTime": "12:00:00",
            },
            "startTime",
        ),
        ({"date": day.isoformat(), "kind": "BLOCKED"}, "kind"),
        (
            {
                "date": day.isoformat(),
                "kind": "CUSTOM_HOURS",
                "startTime": "15:00:00",
                "endTime": "14:00:00",
            },
            "endTime",
        ),
        ({"date": day.isoformat(), "kind": "CUSTOM_HOURS"}, "startTime"),
        ({"date": day.isoformat(), "kind": "BLOCKED", "startTime": "09:00:00"}, "startTime"),
        ({"date": day.isoformat(), "kind": "BLOCKED", "reason": "x" * 501}, "reason"),
    ]
    for payload, field in invalid_inputs:
        response = await client.execute(ADD_EXCEPTION, {"input": payload}, as_user=me)
        result = response.data["addAvailabilityException"]
        assert result["__typename"] == "ValidationError", payload
        assert field in {f["field"] for f in result["fields"]}, (payload, result)
    assert await _exceptions(db, doctor.id) == before

    second_window = await client.execute(
        ADD_EXCEPTION,
        {
            "input": {
                "date": day.isoformat(),
                "kind": "CUSTOM_HOURS",
                "startTime": "11:00:00",
                "endTime": "12:00:00",
            }
        },
        as_user=me,
    )
    assert second_window.data["addAvailabilityException"]["__typename"] == (
        "AvailabilityExceptionAdded"
    )

    removed = await client.execute(
        REMOVE_EXCEPTION, {"input": {"id": added["exception"]["id"]}}, as_user=me
    )
    assert removed.data["removeAvailabilityException"] == {
        "__typename": "AvailabilityExceptionRemoved",
        "id": added["exception"]["id"],
    }
    assert len(await _exceptions(db, doctor.id)) == 1


async def test_exception_of_another_doctor_cannot_be_removed(
    client: GraphQLClient, db: Database
) -> None:
    doctor = await make_doctor(db)
    other = await make_doctor(db)
    hidden_other = await make_doctor(db, verified=False)
    me = await user_of(db, doctor)
    visible = await make_exception(db, other, on=date.today())
    hidden = await make_exception(db, hidden_other, on=date.today())
    forbidden = await client.execute(REMOVE_EXCEPTION, {"input": {"id": gid(visible)}}, as_user=me)
    assert forbidden.data["removeAvailabilityException"]["code"] == "FORBIDDEN"
    not_found = await client.execute(REMOVE_EXCEPTION, {"input": {"id": gid(hidden)}}, as_user=me)
    assert not_found.data["removeAvailabilityException"]["code"] == "NOT_FOUND"
    assert len(await _exceptions(db, other.id)) == 1
    bad_id = await client.execute(REMOVE_EXCEPTION, {"input": {"id": "nope"}}, as_user=me)
    assert bad_id.data["removeAvailabilityException"]["__typename"] == "ValidationError"
    assert bad_id.data["removeAvailabilityException"]["code"] == "BAD_USER_INPUT"


async def test_verify_doctor_is_for_admins(client: GraphQLClient, db: Database) -> None:
    doctor = await make_doctor(db, verified=False)
    own = await user_of(db, doctor)
    admin = await make_user(db, roles=("admin",))
    variables = {"input": {"doctorId": gid(doctor)}}
    by_self = await client.execute(VERIFY, variables, as_user=own)
    assert by_self.data["verifyDoctor"]["code"] == "FORBIDDEN"
    assert (await _doctor_row(db, doctor.id)).verified is False
    assert (
        await client.execute("query ($id: ID!) { doctor(id: $id) { id } }", {"id": gid(doctor)})
    ).data == {"doctor": None}

    by_admin = await client.execute(VERIFY, variables, as_user=admin)
    assert by_admin.data["verifyDoctor"]["doctor"] == {"id": gid(doctor), "verified": True}
    public = await client.execute(
        "query ($id: ID!) { doctor(id: $id) { id } }", {"id": gid(doctor)}
    )
    assert public.data == {"doctor": {"id": gid(doctor)}}


async def test_viewer_profile_update_and_validation(client: GraphQLClient, db: Database) -> None:
    me = await make_user(db, phone=None)
    ok = await client.execute(
        UPDATE_VIEWER,
        {"input": {"fullName": "Me Myself", "phone": "+44 20 7123 4567", "timezone": "Asia/Tokyo"}},
        as_user=me,
    )
    assert ok.data["updateViewerProfile"]["user"] == {
        "id": gid(me),
        "fullName": "Me Myself",
        "phone": "+44 20 7123 4567",
        "timezone": "Asia/Tokyo",
    }
    bad = await client.execute(
        UPDATE_VIEWER, {"input": {"phone": "call me", "timezone": "Nowhere"}}, as_user=me
    )
    result = bad.data["updateViewerProfile"]
    assert {f["field"] for f in result["fields"]} == {"phone", "timezone"}
    async with db.read() as session:
        row = await session.get(User, me.id)
    assert row is not None and row.timezone == "Asia/Tokyo"
    anon = await client.execute(UPDATE_VIEWER, {"input": {"fullName": "x"}})
    assert anon.data["updateViewerProfile"]["code"] == "FORBIDDEN"


async def test_an_empty_doctor_id_is_invalid_not_omitted(
    client: GraphQLClient, db: Database
) -> None:
    doctor = await make_doctor(db)
    me = await user_of(db, doctor)
    response = await client.execute(
        UPDATE_PROFILE, {"input": {"doctorId": "", "bio": "changed"}}, as_user=me
    )
    result = response.data["updateDoctorProfile"]
    assert result["__typename"] == "ValidationError"
    assert [f["field"] for f in result["fields"]] == ["doctorId"]
    assert (await _doctor_row(db, doctor.id)).bio == ""


HUGE = 2**70


async def test_qualifications_with_integers_past_64_bits_are_refused(
    client: GraphQLClient, db: Database
) -> None:
    """Found by the fuzz suite: Postgres keeps such a number in jsonb, but the JSON
    encoder of every answer that lists the doctor then failed (500)."""
    doctor = await make_doctor(db)
    owner = await user_of(db, doctor)
    answer = await client.execute(
        """
        mutation ($id: ID!) {
          updateDoctorProfile(input: {doctorId: $id,
                                      qualifications: [{year: 99999999999999999999999}]}) {
            __typename ... on ValidationError { fields { field messages } }
          }
        }
        """,
        {"id": gid(doctor)},
        as_user=owner,
    )
    assert answer.data["updateDoctorProfile"]["fields"] == [
        {"field": "qualifications", "messages": ["holds an integer past 64 bits"]}
    ]


async def test_a_stored_integer_past_64_bits_is_answered_not_a_500(
    client: GraphQLClient, db: Database
) -> None:
    doctor = await make_doctor(db, qualifications=[{"year": HUGE}])
    answer = await client.execute(
        "query ($id: ID!) { doctor(id: $id) { qualifications } }", {"id": gid(doctor)}
    )
    assert answer.status == 200 and answer.errors == []
    assert answer.data["doctor"]["qualifications"] == [{"year": HUGE}]
