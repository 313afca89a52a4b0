"""Demo data: deterministic, idempotent, and what the README promises."""

from __future__ import annotations

from sqlalchemy import func, select

from models import AvailabilityException, Doctor, DoctorAvailability, User, UserRole
from resolvers.core.database import Database
from resolvers.demo import load_demo_data
from resolvers.demo.ids import user_id_for
from tests.client import GraphQLClient


async def test_demo_data_loads_twice_without_duplicates(db: Database) -> None:
    await load_demo_data(db)
    await load_demo_data(db)
    async with db.read() as session:
        doctors = (await session.scalars(select(Doctor))).all()
        users = await session.scalar(select(func.count()).select_from(User))
        rules = await session.scalar(select(func.count()).select_from(DoctorAvailability))
        exceptions = await session.scalar(select(func.count()).select_from(AvailabilityException))
        roles = dict((await session.execute(select(UserRole.user_id, UserRole.role))).all())
    assert len(doctors) == 30
    assert len({d.timezone for d in doctors}) >= 3
    assert len({s for d in doctors for s in d.specialties}) >= 10
    assert len({lang for d in doctors for lang in d.languages}) >= 10
    assert users is not None and users >= 30 + 12
    assert rules and exceptions
    assert roles[user_id_for("coach@caregraph.dev")] == "coach"
    assert roles[user_id_for("admin@caregraph.dev")] == "admin"
    owner = next(d for d in doctors if d.user_id == user_id_for("doctor@caregraph.dev"))
    assert owner.full_name == "Dr. Sarah Ahmed" and owner.verified


async def test_demo_accounts_work_through_graphql(client: GraphQLClient, db: Database) -> None:
    await load_demo_data(db)
    for email, expected in {
        "patient@caregraph.dev": ["PATIENT"],
        "patient2@caregraph.dev": ["PATIENT"],
        "doctor@caregraph.dev": ["DOCTOR", "PATIENT"],
        "coach@caregraph.dev": ["COACH", "PATIENT"],
        "admin@caregraph.dev": ["ADMIN", "PATIENT"],
    }.items():
        token = client.demo_token(email)
        response = await client.execute("{ viewer { email roles } }", token=token)
        assert response.data["viewer"] == {"email": email, "roles": expected}
