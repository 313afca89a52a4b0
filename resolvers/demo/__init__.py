"""Deterministic demo data: the same ids, names and schedules on every machine.

`load_demo_data` is the one entry point and sets the order (each domain's rows refer to
the ones before): users, doctors, coaching, appointments, goals, lessons, community,
notifications."""

from __future__ import annotations

from resolvers.core.database import Database
from resolvers.demo.appointments import load_appointments_demo
from resolvers.demo.coaching import load_coaching_demo
from resolvers.demo.community import load_community_demo
from resolvers.demo.doctors import load_doctors_demo
from resolvers.demo.goals import load_goals_demo
from resolvers.demo.lessons import load_lessons_demo
from resolvers.demo.notifications import load_notifications_demo
from resolvers.demo.users import load_users_demo


async def load_demo_data(db: Database) -> None:
    """Inserts the demo clinic in one transaction; rows that exist are left alone."""
    async with db.transaction() as session:
        await load_users_demo(session)
        await load_doctors_demo(session)
        await load_coaching_demo(session)
        await load_appointments_demo(session)
        await load_goals_demo(session)
        await load_lessons_demo(session)
        await load_community_demo(session)
        await load_notifications_demo(session)
