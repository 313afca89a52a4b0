"""Database settings: transaction-pooler mode works without named prepared statements."""

from __future__ import annotations

from resolvers.core.database import Database
from resolvers.core.settings import Settings
from tests.client import app_http
from tests.factories import make_doctor

QUERY = "{ doctors(first: 5) { totalCount edges { node { id availabilityRules { id } } } } }"


async def test_pgbouncer_mode_disables_named_prepared_statements(
    settings: Settings, db: Database, database_url: str
) -> None:
    await make_doctor(db)
    pooled = Database(database_url, pgbouncer=True)
    try:
        async with pooled.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            assert driver._stmt_cache.get_max_size() == 0
        async with app_http(settings, pooled) as http:
            for _ in range(3):
                response = await http.post("/graphql", json={"query": QUERY})
                assert response.json()["data"]["doctors"]["totalCount"] == 1
    finally:
        await pooled.dispose()
