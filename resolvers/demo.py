"""Deterministic demo data: the same ids, names and schedules on every machine."""

from __future__ import annotations

import uuid
from datetime import date, time
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from models import AvailabilityException, Doctor, DoctorAvailability, User, UserRole
from resolvers.core.database import Database
from resolvers.demo_community import load_community_demo
from resolvers.demo_goals import load_goals_demo

DEMO_NAMESPACE = uuid.UUID("6f1c1d2e-3b7a-4c55-9a8e-2f0b5d1c9e77")


def demo_id(kind: str, key: str) -> uuid.UUID:
    return uuid.uuid5(DEMO_NAMESPACE, f"{kind}:{key}")


def user_id_for(email: str) -> uuid.UUID:
    return demo_id("user", email.lower())


DEMO_USERS: list[tuple[str, str, str | None, str, tuple[str, ...]]] = [
    # email, full name, phone, timezone, extra roles
    ("patient@caregraph.dev", "Pat Patient", "+971501111111", "Asia/Dubai", ()),
    ("patient2@caregraph.dev", "Robin Second", "+442071234567", "Europe/London", ()),
    ("doctor@caregraph.dev", "Sarah Ahmed", "+971501234567", "Asia/Dubai", ("doctor",)),
    ("coach@caregraph.dev", "Casey Coach", "+12125550100", "America/New_York", ("coach",)),
    ("admin@caregraph.dev", "Alex Admin", "+12125550199", "America/New_York", ("admin",)),
]
EXTRA_PATIENTS = [
    ("Maya Lopez", "America/New_York"),
    ("Omar Haddad", "Asia/Dubai"),
    ("Priya Nair", "Asia/Kolkata"),
    ("Liam O'Brien", "Europe/London"),
    ("Yuki Tanaka", "Australia/Sydney"),
    ("Fatima Zahra", "Asia/Dubai"),
    ("Noah Schmidt", "Europe/Berlin"),
    ("Ava Brown", "America/Los_Angeles"),
]

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


def doctor_email(index: int, name: str) -> str:
    if index == 0:
        return "doctor@caregraph.dev"
    slug = "".join(ch for ch in name.lower().replace(" ", ".") if ch.isalnum() or ch in ".-")
    return f"dr.{slug}@caregraph.dev"


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


async def load_demo_data(db: Database) -> None:
    """Inserts the demo clinic in one transaction; rows that exist are left alone."""
    users: list[dict[str, Any]] = []
    roles: list[dict[str, Any]] = []
    for email, name, phone, tz, extra_roles in DEMO_USERS:
        users.append(
            {
                "id": user_id_for(email),
                "email": email,
                "full_name": name,
                "phone": phone,
                "timezone": tz,
            }
        )
        roles.extend({"user_id": user_id_for(email), "role": role} for role in extra_roles)
    for number, (name, tz) in enumerate(EXTRA_PATIENTS, start=3):
        email = f"patient{number}@caregraph.dev"
        users.append(
            {
                "id": user_id_for(email),
                "email": email,
                "full_name": name,
                "phone": f"+1555000{number:04d}",
                "timezone": tz,
            }
        )
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

    from resolvers.demo_appointments import load_appointments_demo

    async with db.transaction() as session:
        await session.execute(pg_insert(User).values(users).on_conflict_do_nothing())
        await session.execute(pg_insert(UserRole).values(roles).on_conflict_do_nothing())
        await session.execute(pg_insert(Doctor).values(doctors).on_conflict_do_nothing())
        await session.execute(pg_insert(DoctorAvailability).values(rules).on_conflict_do_nothing())
        await session.execute(
            pg_insert(AvailabilityException).values(exceptions).on_conflict_do_nothing()
        )
        await load_appointments_demo(session)
        await load_goals_demo(session)
        await load_community_demo(session)


async def ensure_user(db: Database, email: str, role: str | None = None) -> uuid.UUID:
    """The id of the user with `email`, creating it (and granting `role`) if needed."""
    email = email.strip().lower()
    async with db.transaction() as session:
        existing = (await session.execute(select(User.id).where(User.email == email))).scalar()
        user_id = existing or user_id_for(email)
        if existing is None:
            await session.execute(
                insert(User).values(id=user_id, email=email, full_name=email.split("@")[0])
            )
        if role is not None and role != "patient":
            await session.execute(
                pg_insert(UserRole).values(user_id=user_id, role=role).on_conflict_do_nothing()
            )
    return user_id
