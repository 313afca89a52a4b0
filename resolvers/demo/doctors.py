"""Demo doctors: Dr. Sarah Ahmed (doctor@caregraph.dev) and more across specialties,
time zones and currencies (thirty in all), with weekly schedules and exceptions."""

from __future__ import annotations

import uuid
from datetime import date, time
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, bindparam, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import AvailabilityException, Doctor, DoctorAvailability, Service, User, UserRole
from resolvers.demo.ids import demo_id, doctor_email, user_id_for

# name, specialties, languages, timezone, standard fee, follow-up fee, currency, verified
DOCTORS: list[tuple[str, list[str], list[str], str, int, int, str, bool]] = [
    (
        "Sarah Ahmed",
        ["Cardiology", "Internal Medicine"],
        ["English", "Arabic", "Urdu"],
        "Asia/Dubai",
        200,
        150,
        "USD",
        True,
    ),
    ("James Carter", ["Dermatology"], ["English"], "America/New_York", 180, 120, "USD", True),
    ("Elena Rossi", ["Pediatrics"], ["English", "Italian"], "Europe/London", 140, 90, "GBP", True),
    ("Rahul Mehta", ["Cardiology"], ["English", "Hindi"], "Asia/Kolkata", 60, 40, "USD", True),
    (
        "Aisha Al-Mansouri",
        ["Dermatology", "Aesthetics"],
        ["Arabic", "English"],
        "Asia/Dubai",
        250,
        180,
        "AED",
        True,
    ),
    (
        "Michael Chen",
        ["Psychiatry"],
        ["English", "Mandarin"],
        "America/Los_Angeles",
        220,
        160,
        "USD",
        True,
    ),
    (
        "Sofia Garcia",
        ["Nutrition", "Endocrinology"],
        ["Spanish", "English"],
        "America/New_York",
        120,
        80,
        "USD",
        True,
    ),
    ("Hans Weber", ["Orthopedics"], ["German", "English"], "Europe/Berlin", 160, 110, "EUR", True),
    ("Grace Okafor", ["General Practice"], ["English"], "Europe/London", 0, 0, "GBP", True),
    (
        "Kenji Sato",
        ["Neurology"],
        ["Japanese", "English"],
        "Australia/Sydney",
        210,
        150,
        "AUD",
        True,
    ),
    (
        "Leila Haddad",
        ["Psychology"],
        ["Arabic", "French", "English"],
        "Asia/Dubai",
        150,
        100,
        "USD",
        True,
    ),
    (
        "David Miller",
        ["Sports Medicine", "Orthopedics"],
        ["English"],
        "America/New_York",
        175,
        125,
        "USD",
        True,
    ),
    (
        "Ananya Iyer",
        ["Gynecology"],
        ["English", "Tamil", "Hindi"],
        "Asia/Kolkata",
        70,
        50,
        "USD",
        True,
    ),
    ("Lucas Martin", ["Dermatology"], ["French", "English"], "Europe/London", 130, 90, "EUR", True),
    (
        "Emily Johnson",
        ["Pediatrics", "General Practice"],
        ["English", "Spanish"],
        "America/Los_Angeles",
        150,
        100,
        "USD",
        True,
    ),
    ("Omar Farouk", ["Cardiology"], ["Arabic", "English"], "Asia/Dubai", 230, 170, "AED", True),
    ("Mia Novak", ["Nutrition"], ["English", "German"], "Europe/Berlin", 90, 60, "EUR", True),
    (
        "Daniel Kim",
        ["Psychiatry", "Psychology"],
        ["English", "Korean"],
        "America/New_York",
        240,
        180,
        "USD",
        True,
    ),
    ("Zara Khan", ["Endocrinology"], ["English", "Urdu"], "Europe/London", 170, 120, "GBP", True),
    ("Thomas Muller", ["General Practice"], ["German"], "Europe/Berlin", 80, 50, "EUR", True),
    (
        "Isabella Costa",
        ["Aesthetics"],
        ["Portuguese", "English"],
        "America/New_York",
        300,
        200,
        "USD",
        True,
    ),
    ("Arjun Reddy", ["Orthopedics"], ["English", "Telugu"], "Asia/Kolkata", 65, 45, "USD", True),
    ("Chloe Wilson", ["Dermatology"], ["English"], "Australia/Sydney", 190, 140, "AUD", True),
    ("Hassan Ali", ["Neurology"], ["Arabic", "English"], "Asia/Dubai", 260, 190, "AED", True),
    (
        "Nora Lindqvist",
        ["Psychology"],
        ["Swedish", "English"],
        "Europe/Berlin",
        140,
        100,
        "EUR",
        True,
    ),
    (
        "Samuel Adeyemi",
        ["Sports Medicine"],
        ["English", "Yoruba"],
        "Europe/London",
        120,
        80,
        "GBP",
        True,
    ),
    (
        "Olivia Park",
        ["Pediatrics"],
        ["English", "Korean"],
        "America/Los_Angeles",
        160,
        110,
        "USD",
        True,
    ),
    (
        "Victor Petrov",
        ["Cardiology"],
        ["Russian", "English"],
        "Europe/Berlin",
        180,
        130,
        "EUR",
        False,
    ),
    ("Hannah Lee", ["Nutrition"], ["English"], "America/New_York", 100, 70, "USD", False),
    ("Ravi Kapoor", ["Dermatology"], ["Hindi", "English"], "Asia/Kolkata", 55, 35, "USD", False),
]


def _weekly_rules(index: int, doctor_id: uuid.UUID) -> list[dict[str, Any]]:
    slot = (30, 20, 45, 30, 60)[index % 5]
    buffer = (0, 5, 10, 0, 15)[index % 5]
    cap = (None, 12, 8, None, 6)[index % 5]
    rules = []
    for day in range(1, 6):  # Monday to Friday
        if index % 3 == 0:
            spans = [(time(9), time(13)), (time(14), time(17))]
        elif index % 3 == 1:
            spans = [(time(8, 30), time(16, 30))]
        else:
            spans = [(time(12), time(20))]
        for start, end in spans:
            rules.append(
                {
                    "id": demo_id("rule", f"{index}:{day}:{start}"),
                    "doctor_id": doctor_id,
                    "day_of_week": day,
                    "start_time": start,
                    "end_time": end,
                    "slot_minutes": slot,
                    "buffer_minutes": buffer,
                    "max_patients_per_day": cap,
                    "active": True,
                }
            )
    if index % 4 == 0:  # Saturday mornings
        rules.append(
            {
                "id": demo_id("rule", f"{index}:6"),
                "doctor_id": doctor_id,
                "day_of_week": 6,
                "start_time": time(10),
                "end_time": time(13),
                "slot_minutes": slot,
                "buffer_minutes": buffer,
                "max_patients_per_day": cap,
                "active": index % 8 != 0,
            }
        )
    return rules


def _exceptions(index: int, doctor_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = [
        {
            "id": demo_id("exception", f"{index}:xmas"),
            "doctor_id": doctor_id,
            "date": date(2026, 12, 25),
            "kind": "blocked",
            "start_time": None,
            "end_time": None,
            "reason": "Christmas Day",
        },
        {
            "id": demo_id("exception", f"{index}:newyear"),
            "doctor_id": doctor_id,
            "date": date(2027, 1, 1),
            "kind": "blocked",
            "start_time": None,
            "end_time": None,
            "reason": "New Year's Day",
        },
    ]
    if index % 2 == 0:
        rows.append(
            {
                "id": demo_id("exception", f"{index}:eve"),
                "doctor_id": doctor_id,
                "date": date(2026, 12, 24),
                "kind": "custom_hours",
                "start_time": time(9),
                "end_time": time(12),
                "reason": "Christmas Eve: mornings only",
            }
        )
    return rows


SERVICES = cast(Table, Service.__table__)


def default_service_id(doctor_id: uuid.UUID, appointment_type: str) -> uuid.UUID:
    """The demo id of a doctor's default service (the database draws a random one; the
    demo renames it, so ids in the README are the same on every machine)."""
    return demo_id("service", f"{doctor_id}:{appointment_type}")


def service_id(key: str) -> uuid.UUID:
    return demo_id("service", key)


def _services() -> list[dict[str, Any]]:
    """Services beyond the defaults: a video consultation with intake questions, a group
    class, and a second opinion that needs the doctor's approval (Dr. Sarah Ahmed); a
    nutrition workshop (Dr. Sofia Garcia)."""
    sarah = demo_id("doctor", doctor_email(0, DOCTORS[0][0]))
    sofia = demo_id("doctor", doctor_email(6, DOCTORS[6][0]))
    base = {
        "description": "",
        "buffer_minutes": 0,
        "mode": "in_person",
        "confirmation": "automatic",
        "min_notice_minutes": 0,
        "capacity": 1,
        "intake_questions": [],
        "active": True,
        "currency": "USD",
    }
    return [
        base
        | {
            "id": service_id("sarah:video"),
            "doctor_id": sarah,
            "name": "Video consultation",
            "description": "A 30-minute cardiology consultation by video.",
            "duration_minutes": 30,
            "price": Decimal("120.00"),
            "mode": "video",
            "intake_questions": [
                {
                    "key": "reason",
                    "prompt": "What brings you in?",
                    "kind": "text",
                    "required": True,
                    "choices": [],
                },
                {
                    "key": "medication",
                    "prompt": "Are you taking any medication?",
                    "kind": "yes_no",
                    "required": True,
                    "choices": [],
                },
                {
                    "key": "language",
                    "prompt": "Preferred language",
                    "kind": "choice",
                    "required": False,
                    "choices": ["English", "Arabic", "Urdu"],
                },
            ],
        },
        base
        | {
            "id": service_id("sarah:group"),
            "doctor_id": sarah,
            "name": "Heart health group class",
            "description": "Exercise and diet for a healthy heart, in a group of up to 8.",
            "duration_minutes": 60,
            "price": Decimal("25.00"),
            "capacity": 8,
        },
        base
        | {
            "id": service_id("sarah:second-opinion"),
            "doctor_id": sarah,
            "name": "Second opinion review",
            "description": "Dr. Ahmed reviews your records first; she approves each request.",
            "duration_minutes": 45,
            "buffer_minutes": 15,
            "price": Decimal("300.00"),
            "mode": "video",
            "confirmation": "approval",
            "min_notice_minutes": 2 * 24 * 60,
        },
        base
        | {
            "id": service_id("sofia:workshop"),
            "doctor_id": sofia,
            "name": "Nutrition group workshop",
            "description": "Meal planning in a group of up to 12.",
            "duration_minutes": 90,
            "price": Decimal("30.00"),
            "capacity": 12,
        },
    ]


async def load_doctors_demo(session: AsyncSession) -> None:
    """Inserts the demo doctors (and the accounts of all but doctor@caregraph.dev, which
    `load_users_demo` makes), their schedules and exceptions; existing rows are left alone."""
    users: list[dict[str, Any]] = []
    roles: list[dict[str, Any]] = []
    doctors: list[dict[str, Any]] = []
    rules: list[dict[str, Any]] = []
    exceptions: list[dict[str, Any]] = []
    for index, (name, specialties, languages, tz, fee, followup, currency, verified) in enumerate(
        DOCTORS
    ):
        email = doctor_email(index, name)
        user_id = user_id_for(email)
        if index != 0:
            users.append(
                {
                    "id": user_id,
                    "email": email,
                    "full_name": f"Dr. {name}",
                    "phone": None,
                    "timezone": tz,
                }
            )
            roles.append({"user_id": user_id, "role": "doctor"})
        doctor_id = demo_id("doctor", email)
        doctors.append(
            {
                "id": doctor_id,
                "user_id": user_id,
                "full_name": f"Dr. {name}",
                "specialties": specialties,
                "languages": languages,
                "bio": f"Dr. {name} practises {', '.join(specialties).lower()} "
                f"and consults in {', '.join(languages)}.",
                "qualifications": [
                    {
                        "degree": "MD",
                        "institution": "University Medical School",
                        "year": 2000 + index % 15,
                    },
                    {"certification": f"Board certified in {specialties[0]}"},
                ],
                "fee_standard": Decimal(fee),
                "fee_followup": Decimal(followup),
                "currency": currency,
                "rating_avg": Decimal("0"),
                "rating_count": 0,
                "photo_url": f"https://images.caregraph.dev/doctors/{index + 1}.jpg",
                "verified": verified,
                "accepting_patients": index % 7 != 6,
                "timezone": tz,
                "cancellation_policy_hours": (24, 12, 48, 6)[index % 4],
            }
        )
        rules.extend(_weekly_rules(index, doctor_id))
        exceptions.extend(_exceptions(index, doctor_id))

    await session.execute(pg_insert(User).values(users).on_conflict_do_nothing())
    await session.execute(pg_insert(UserRole).values(roles).on_conflict_do_nothing())
    await session.execute(pg_insert(Doctor).values(doctors).on_conflict_do_nothing())
    # The database made each new doctor's two default services; give them demo ids.
    await session.execute(
        update(SERVICES)
        .where(
            SERVICES.c.doctor_id == bindparam("doctor"),
            SERVICES.c.default_for == bindparam("kind"),
        )
        .values(id=bindparam("new_id")),
        [
            {"doctor": row["id"], "kind": kind, "new_id": default_service_id(row["id"], kind)}
            for row in doctors
            for kind in ("standard", "followup")
        ],
    )
    await session.execute(pg_insert(Service).values(_services()).on_conflict_do_nothing())
    await session.execute(pg_insert(DoctorAvailability).values(rules).on_conflict_do_nothing())
    await session.execute(
        pg_insert(AvailabilityException).values(exceptions).on_conflict_do_nothing()
    )
