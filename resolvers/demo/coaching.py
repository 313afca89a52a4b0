"""Demo coaching: coach@caregraph.dev coaches patient@ (Pat) and patient3@ (Maya), so the
coach reads those two clients' goals and no one else's."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import CoachClient
from resolvers.demo.ids import demo_id, user_id_for

COACH = "coach@caregraph.dev"
CLIENTS = ("patient@caregraph.dev", "patient3@caregraph.dev")


async def load_coaching_demo(session: AsyncSession) -> None:
    links = [
        {
            "id": demo_id("coach-client", client),
            "coach_id": user_id_for(COACH),
            "client_id": user_id_for(client),
            "assigned_by": user_id_for("admin@caregraph.dev"),
        }
        for client in CLIENTS
    ]
    await session.execute(pg_insert(CoachClient).values(links).on_conflict_do_nothing())
