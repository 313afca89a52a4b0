"""Demo booking data: appointments in every status for the demo patients (mostly with
doctor@caregraph.dev's profile), payments, coupons and their usage, reviews that feed
the doctors' ratings, and each appointment's event history. Times are relative to the
day the demo is loaded, on the doctors' schedules (weekdays, local 09:00-13:00)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import Appointment, AppointmentEvent, Coupon, CouponUsage, Payment, Review
from resolvers.demo.doctors import DOCTORS, default_service_id, service_id
from resolvers.demo.ids import demo_id, demo_reference, doctor_email, user_id_for
from resolvers.reviews import refresh_ratings

PATIENT = "patient@caregraph.dev"
PATIENT2 = "patient2@caregraph.dev"
DOCTOR_EMAIL = "doctor@caregraph.dev"

# key, patient email, doctor index, weekdays from today (negative = past), local hour,
# type, final status, rating (completed only), coupon key
PLAN: list[tuple[str, str, int, int, int, str, str, int | None, str | None]] = [
    ("pat-completed", PATIENT, 0, -15, 9, "standard", "completed", 5, None),
    ("pat-followup-confirmed", PATIENT, 0, 3, 10, "followup", "confirmed", None, None),
    ("pat-pending", PATIENT, 0, 6, 11, "standard", "pending_payment", None, "SARAH20"),
    ("pat-cancelled", PATIENT, 0, 8, 9, "standard", "cancelled", None, None),
    ("pat-no-show", PATIENT, 0, -8, 10, "standard", "no_show", None, None),
    ("pat-refunded", PATIENT, 0, -20, 11, "standard", "refunded", None, None),
    ("pat-dermatology", PATIENT, 1, -5, 10, "standard", "completed", 4, None),
    ("pat-free-gp", PATIENT, 8, 4, 12, "standard", "confirmed", None, None),
    ("pat2-completed", PATIENT2, 0, -11, 12, "standard", "completed", 4, "WELCOME10"),
    ("pat2-confirmed", PATIENT2, 0, 2, 9, "standard", "confirmed", None, None),
    ("pat2-pediatrics", PATIENT2, 2, 5, 10, "standard", "pending_payment", None, None),
    ("pat2-cardiology", PATIENT2, 3, -3, 10, "standard", "completed", 3, None),
    # For the goals care-team rule: Robin saw Dr. James Carter; Omar cancelled with doctor@,
    # so she does not see Omar's goals.
    ("pat2-dermatology", PATIENT2, 1, -12, 10, "standard", "completed", None, None),
    ("omar-cancelled", "patient4@caregraph.dev", 0, -10, 9, "standard", "cancelled", None, None),
    # Services beyond the defaults: a video consultation, two seats of a group class.
    ("pat-video", PATIENT, 0, 4, 15, "sarah:video", "confirmed", None, None),
    ("pat-group", PATIENT, 0, 5, 14, "sarah:group", "pending_payment", None, None),
    ("pat2-group", PATIENT2, 0, 5, 14, "sarah:group", "confirmed", None, None),
]
# Demo services booked by key in PLAN: price, mode, minutes (the rest book a default).
SERVICES: dict[str, tuple[Decimal, str, int]] = {
    "sarah:video": (Decimal("120.00"), "video", 30),
    "sarah:group": (Decimal("25.00"), "in_person", 60),
}
# More reviews from the extra demo patients, so ratings look alive: (patient n, doctor, rating)
# (patients 3 and 4 own demo goals: their care-team visibility is set by the plan above)
EXTRA_REVIEWS = [(5, 0, 5), (6, 0, 4), (7, 1, 5), (8, 2, 5), (9, 3, 4), (10, 4, 5), (5, 5, 4)]

COUPONS: list[dict[str, Any]] = [
    {
        "code": "WELCOME10",
        "doctor": None,
        "kind": "percent",
        "value": Decimal("10"),
        "currency": None,
        "max_uses": 1000,
        "max_uses_per_user": 1,
    },
    {
        "code": "SARAH20",
        "doctor": 0,
        "kind": "percent",
        "value": Decimal("20"),
        "currency": None,
        "max_uses": 100,
        "max_uses_per_user": 2,
    },
    {
        "code": "CARE25",
        "doctor": 0,
        "kind": "fixed",
        "value": Decimal("25"),
        "currency": "USD",
        "max_uses": 50,
        "max_uses_per_user": 1,
    },
    {
        "code": "SUMMER15",
        "doctor": 1,
        "kind": "percent",
        "value": Decimal("15"),
        "currency": None,
        "max_uses": None,
        "max_uses_per_user": None,
    },
]


def _doctor_id(index: int) -> uuid.UUID:
    return demo_id("doctor", doctor_email(index, DOCTORS[index][0]))


def _weekday(today: date, offset: int) -> date:
    """The date `offset` weekdays (Mon-Fri) from today."""
    step = 1 if offset >= 0 else -1
    day, remaining = today, abs(offset)
    while remaining:
        day += timedelta(days=step)
        if day.weekday() < 5:
            remaining -= 1
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _slot(index: int, offset: int, hour: int) -> tuple[datetime, datetime]:
    zone = ZoneInfo(DOCTORS[index][3])
    today = datetime.now(zone).date()
    start = datetime.combine(_weekday(today, offset), time(hour), zone).astimezone(UTC)
    return start, start + timedelta(minutes=(30, 20, 45, 30, 60)[index % 5])


def _events(
    appointment_id: uuid.UUID,
    key: str,
    status: str,
    starts_at: datetime,
    patient: uuid.UUID,
    doctor_user: uuid.UUID,
    first_status: str,
) -> list[dict[str, Any]]:
    created = starts_at - timedelta(days=20)
    rows = [
        {
            "kind": "created",
            "actor": patient,
            "role": "patient",
            "from": None,
            "to": first_status,
            "at": created,
        },
    ]
    path = {
        "confirmed": ["confirmed"],
        "completed": ["confirmed", "completed"],
        "no_show": ["confirmed", "no_show"],
        "refunded": ["confirmed", "cancelled", "refunded"],
        "cancelled": ["cancelled"],
        "pending_payment": [],
    }[status]
    current = first_status
    actor: uuid.UUID | None
    for number, target in enumerate(path, start=1):
        if target == current:
            continue
        actor, role = (patient, "patient") if target == "cancelled" else (doctor_user, "doctor")
        if target == "refunded":
            actor, role = None, "service"
        at = (
            created + timedelta(days=number)
            if target in ("confirmed", "cancelled")
            else (starts_at + timedelta(minutes=40))
        )
        rows.append(
            {
                "kind": "status_changed",
                "actor": actor,
                "role": role,
                "from": current,
                "to": target,
                "at": at,
            }
        )
        current = target
    return [
        {
            "id": demo_id("event", f"{key}:{number}"),
            "appointment_id": appointment_id,
            "kind": row["kind"],
            "actor_id": row["actor"],
            "actor_role": row["role"],
            "from_status": row["from"],
            "to_status": row["to"],
            "new_starts_at": starts_at if row["kind"] == "created" else None,
            "note": "",
            "created_at": row["at"],
        }
        for number, row in enumerate(rows)
    ]


async def load_appointments_demo(session: AsyncSession) -> None:
    """Inserts the demo booking rows; rows that exist (same ids) are left alone."""
    coupons = [
        {
            "id": demo_id("coupon", spec["code"]),
            "code": spec["code"],
            "doctor_id": _doctor_id(spec["doctor"]) if spec["doctor"] is not None else None,
            "kind": spec["kind"],
            "value": spec["value"],
            "currency": spec["currency"],
            "max_uses": spec["max_uses"],
            "max_uses_per_user": spec["max_uses_per_user"],
            "used_count": 0,
            "active": True,
            "created_by": user_id_for(DOCTOR_EMAIL)
            if spec["doctor"] == 0
            else user_id_for("admin@caregraph.dev"),
        }
        for spec in COUPONS
    ]
    plan = list(PLAN) + [
        (
            f"extra-{n}-{index}",
            f"patient{n}@caregraph.dev",
            index,
            -12 - n,
            9,
            "standard",
            "completed",
            rating,
            None,
        )
        for n, index, rating in EXTRA_REVIEWS
    ]
    appointments: list[dict[str, Any]] = []
    payments: list[dict[str, Any]] = []
    reviews: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    usages: list[dict[str, Any]] = []
    used: dict[str, int] = {}
    for key, email, index, offset, hour, kind, status, rating, coupon_code in plan:
        name, _specialties, _languages, _tz, fee, followup, currency, _verified = DOCTORS[index]
        doctor_id = _doctor_id(index)
        doctor_user = user_id_for(doctor_email(index, name))
        patient = user_id_for(email)
        appointment_id = demo_id("appointment", key)
        starts_at, ends_at = _slot(index, offset, hour)
        price = Decimal(followup if kind == "followup" else fee).quantize(Decimal("0.01"))
        mode, booked_service = "in_person", None
        if kind in SERVICES:
            price, mode, minutes = SERVICES[kind]
            booked_service, kind = service_id(kind), "standard"
            ends_at = starts_at + timedelta(minutes=minutes)
        booked_service = booked_service or default_service_id(doctor_id, kind)
        seat = sum(
            1
            for row in appointments
            if row["doctor_id"] == doctor_id and row["starts_at"] == starts_at
        )
        discount = Decimal("0.00")
        coupon_id = None
        if coupon_code is not None:
            spec = next(c for c in COUPONS if c["code"] == coupon_code)
            discount = (price * spec["value"] / 100).quantize(Decimal("0.01"))
            coupon_id = demo_id("coupon", coupon_code)
            used[coupon_code] = used.get(coupon_code, 0) + 1
            usages.append(
                {
                    "id": demo_id("coupon-usage", key),
                    "coupon_id": coupon_id,
                    "user_id": patient,
                    "appointment_id": appointment_id,
                    "discount": discount,
                }
            )
        due = price - discount
        first_status = "confirmed" if due == 0 else "pending_payment"
        cancelled = status in ("cancelled", "refunded")
        appointments.append(
            {
                "id": appointment_id,
                "doctor_id": doctor_id,
                "patient_id": patient,
                "starts_at": starts_at,
                "ends_at": ends_at,
                "type": kind,
                "status": status,
                "price": price,
                "discount": discount,
                "currency": currency,
                "notes": "Follow-up on blood pressure readings." if kind == "followup" else "",
                "meeting_link": f"https://meet.jit.si/caregraph-{appointment_id.hex}"
                if mode == "video" and status in ("confirmed", "completed")
                else None,
                "service_id": booked_service,
                "mode": mode,
                "seat": seat + 1,
                "cancellation_reason": "Travelling that week." if cancelled else None,
                "cancelled_by": patient if cancelled else None,
                "cancelled_at": starts_at - timedelta(days=3) if cancelled else None,
                "coupon_id": coupon_id,
                "reference": demo_reference(appointment_id),
                "created_at": starts_at - timedelta(days=20),
            }
        )
        events.extend(
            _events(appointment_id, key, status, starts_at, patient, doctor_user, first_status)
        )
        if due > 0 and status in ("confirmed", "completed", "no_show", "refunded"):
            paid_at = starts_at - timedelta(days=19)
            payments.append(
                {
                    "id": demo_id("payment", key),
                    "appointment_id": appointment_id,
                    "amount": due,
                    "currency": currency,
                    "status": "refunded" if status == "refunded" else "paid",
                    "provider": "stripe",
                    "provider_ref": f"pi_demo_{appointment_id.hex[:16]}",
                    "paid_at": paid_at,
                    "refunded_at": starts_at - timedelta(days=3) if status == "refunded" else None,
                    "refund_reason": "Cancelled in time." if status == "refunded" else None,
                    "recorded_by": None,
                }
            )
        if rating is not None:
            reviews.append(
                {
                    "id": demo_id("review", key),
                    "appointment_id": appointment_id,
                    "doctor_id": doctor_id,
                    "patient_id": patient,
                    "rating": rating,
                    "comment": {
                        5: "Thorough, kind and on time. Explained everything clearly.",
                        4: "Very helpful consultation; a short wait beforehand.",
                        3: "Good advice, but the call felt rushed.",
                    }[rating],
                    "featured": rating == 5 and key == "pat-completed",
                    "featured_at": starts_at + timedelta(days=2)
                    if rating == 5 and key == "pat-completed"
                    else None,
                }
            )
    for coupon in coupons:
        coupon["used_count"] = used.get(coupon["code"], 0)

    await session.execute(pg_insert(Coupon).values(coupons).on_conflict_do_nothing())
    await session.execute(pg_insert(Appointment).values(appointments).on_conflict_do_nothing())
    await session.execute(pg_insert(CouponUsage).values(usages).on_conflict_do_nothing())
    await session.execute(pg_insert(Payment).values(payments).on_conflict_do_nothing())
    await session.execute(pg_insert(Review).values(reviews).on_conflict_do_nothing())
    await session.execute(pg_insert(AppointmentEvent).values(events).on_conflict_do_nothing())
    await refresh_ratings(session, {row["doctor_id"] for row in reviews})
