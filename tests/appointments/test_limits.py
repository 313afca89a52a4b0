"""Two write limits with their typed errors: the per-user cap on active holds, and coupon
codes that are already taken."""

from __future__ import annotations

from datetime import time, timedelta

from models import Coupon, SlotHold
from resolvers.core.database import Database
from resolvers.slots import MAX_ACTIVE_HOLDS_PER_USER
from tests.appointments.factories import at, local_day_ahead, make_coupon, make_hold, weekday_of
from tests.appointments.test_booking import HOLD
from tests.appointments.test_policies import CREATE_COUPON
from tests.client import GraphQLClient
from tests.factories import count_rows, gid, make_doctor, make_rule, make_user, user_of


async def test_a_user_holds_at_most_five_slots_at_once(client: GraphQLClient, db: Database) -> None:
    patient = await make_user(db)
    day = local_day_ahead("UTC", 10)
    for hour in range(MAX_ACTIVE_HOLDS_PER_USER):
        held_doctor = await make_doctor(db)
        await make_hold(
            db, doctor=held_doctor, user=patient, starts_at=at(day, time(9 + hour), "UTC")
        )
    doctor = await make_doctor(db)
    await make_rule(db, doctor, day_of_week=weekday_of(day), start=time(9), end=time(12))
    before = await count_rows(db, SlotHold)
    response = await client.execute(
        HOLD,
        {"input": {"doctorId": gid(doctor), "startsAt": at(day, time(9), "UTC").isoformat()}},
        as_user=patient,
    )
    assert response.data["holdSlot"] == {
        "__typename": "ValidationError",
        "fields": [{"field": "startsAt"}],
    }
    assert await count_rows(db, SlotHold) == before
    # An expired hold does not count against the cap.
    other = await make_user(db)
    for hour in range(MAX_ACTIVE_HOLDS_PER_USER):
        await make_hold(
            db,
            doctor=await make_doctor(db),
            user=other,
            starts_at=at(day, time(9 + hour), "UTC"),
            expires_in=timedelta(minutes=-1),
        )
    allowed = await client.execute(
        HOLD,
        {"input": {"doctorId": gid(doctor), "startsAt": at(day, time(9), "UTC").isoformat()}},
        as_user=other,
    )
    assert allowed.data["holdSlot"]["__typename"] == "SlotHeld"


async def test_a_taken_coupon_code_is_a_validation_error(
    client: GraphQLClient, db: Database
) -> None:
    doctor = await make_doctor(db)
    await make_coupon(db, code="TAKEN10", doctor_id=(await make_doctor(db)).id)
    before = await count_rows(db, Coupon)
    response = await client.execute(
        CREATE_COUPON,
        {"input": {"code": "taken10", "kind": "PERCENT", "value": "10"}},
        as_user=await user_of(db, doctor),
    )
    assert response.data["createCoupon"] == {
        "__typename": "ValidationError",
        "fields": [{"field": "code"}],
    }
    assert await count_rows(db, Coupon) == before
