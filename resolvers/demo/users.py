"""Demo accounts: the README's six (patient, second patient, doctor, coach, front desk,
admin) and eight more patients."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import User, UserRole
from resolvers.demo.ids import user_id_for

DEMO_USERS: list[tuple[str, str, str | None, str, tuple[str, ...]]] = [
    # email, full name, phone, timezone, extra roles
    ("patient@caregraph.dev", "Pat Patient", "+971501111111", "Asia/Dubai", ()),
    ("patient2@caregraph.dev", "Robin Second", "+442071234567", "Europe/London", ()),
    ("doctor@caregraph.dev", "Sarah Ahmed", "+971501234567", "Asia/Dubai", ("doctor",)),
    ("coach@caregraph.dev", "Casey Coach", "+12125550100", "America/New_York", ("coach",)),
    ("staff@caregraph.dev", "Sam Frontdesk", "+12125550150", "America/New_York", ("staff",)),
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


async def load_users_demo(session: AsyncSession) -> None:
    """Inserts the demo accounts and their roles; rows that exist are left alone."""
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
    await session.execute(pg_insert(User).values(users).on_conflict_do_nothing())
    await session.execute(pg_insert(UserRole).values(roles).on_conflict_do_nothing())
