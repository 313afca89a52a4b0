"""Rate limits through the real ASGI app on real Postgres: 429 with `Retry-After` and
code RATE_LIMITED per viewer and per client address, mutations and expensive queries
taking more, budgets shared by two app instances on their own engines (what two worker
processes or two hosts are), refill over time, service_role exempt, trusted proxies."""

from __future__ import annotations

import asyncio
import ipaddress
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from starlette.applications import Starlette

from models import User
from resolvers.core.database import Database
from resolvers.core.identity import mint_token
from resolvers.core.rate_limits import Budget, RateLimiter
from resolvers.core.settings import Settings
from schema import build_schema
from schema.engine.rate_limits import RateLimitCheck, client_address, rate_limits_enabled
from tests.factories import make_doctor, make_user

CHEAP = "query Cheap { doctors(first: 1) { totalCount } }"  # cost 2
EXPENSIVE = (  # cost 40,401
    "query Expensive { doctors(first: 100) { edges { node { id "
    "reviews(first: 100) { edges { node { id rating } } } } } } }"
)
MUTATION = 'mutation Rename { updateViewerProfile(input: {fullName: "Renamed"}) { __typename } }'

# Small buckets that barely refill while a test runs, settled every 50 ms. The measured
# cost adds next to nothing unless a test says so (cost / 1e9 tokens): a query takes a
# hair over 1 token, so bursts have half a token to spare (5.5 tokens: 5 queries).
LIMITS: dict[str, Any] = {
    "rate_limits": True,
    "rate_limit_viewer_burst": 5.5,
    "rate_limit_viewer_per_second": 0.001,
    "rate_limit_anon_burst": 3.5,
    "rate_limit_anon_per_second": 0.001,
    "rate_limit_mutation_tokens": 10,
    "rate_limit_cost_per_token": 1e9,
    "rate_limit_sync_seconds": 0.05,
}


def _endpoint_state(app: Starlette) -> dict[str, Any]:
    for route in app.routes:
        if getattr(route, "path", None) == "/graphql":
            state: dict[str, Any] = route.endpoint.app_state  # type: ignore[attr-defined]
            return state
    raise AssertionError("no /graphql route")


@dataclass
class Instance:
    """One app (what one server process is) and a way to call it from an address."""

    app: Starlette
    settings: Settings
    clients: list[httpx.AsyncClient]

    def client(self, address: str = "198.51.100.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
        http = httpx.AsyncClient(transport=transport, base_url="http://test")
        self.clients.append(http)
        return http

    @property
    def limiter(self) -> RateLimiter:
        limiter: RateLimiter = _endpoint_state(self.app)["rate_limiter"]
        return limiter

    def token(self, user: User | None = None, role: str = "authenticated") -> str:
        assert self.settings.jwt_secret
        return mint_token(
            self.settings.jwt_secret,
            user_id=user.id if user else None,
            email=user.email if user else None,
            role=role,  # type: ignore[arg-type]
            audience=self.settings.jwt_audience,
        )

    async def post(
        self,
        query: str,
        *,
        user: User | None = None,
        token: str | None = None,
        address: str = "198.51.100.1",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if user is not None:
            token = self.token(user)
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await http.post("/graphql", json={"query": query}, headers=all_headers)

    async def admitted(self, query: str, times: int, **kwargs: Any) -> int:
        """Sends `query` up to `times` times; how many ran before the first refusal."""
        for count in range(times):
            response = await self.post(query, **kwargs)
            if response.status_code == 429:
                return count
            assert response.status_code == 200, response.text
            assert "errors" not in response.json(), response.json()
        return times


@asynccontextmanager
async def instance(settings: Settings, db: Database, **overrides: Any) -> AsyncIterator[Instance]:
    from server import create_app

    custom = settings.model_copy(update={**LIMITS, **overrides})
    made = Instance(create_app(custom, db), custom, [])
    try:
        yield made
    finally:
        for http in made.clients:
            await http.aclose()
        limiter = _endpoint_state(made.app).get("rate_limiter")
        if limiter is not None:
            await limiter.close()


def _assert_rate_limited(response: httpx.Response) -> None:
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    body = response.json()
    assert "data" not in body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["retryAfter"] == int(response.headers["retry-after"])


async def _tokens_in_postgres(db: Database, key: str) -> float:
    async with db.engine.connect() as conn:
        value = (
            await conn.execute(
                text("SELECT tokens FROM rate_limit_buckets WHERE key = :key"), {"key": key}
            )
        ).scalar_one()
    return float(value)


# --- per viewer, per address ---------------------------------------------------------


async def test_viewer_over_budget_gets_429_and_others_are_unaffected(
    settings: Settings, db: Database
) -> None:
    await make_doctor(db)
    heavy, other = await make_user(db), await make_user(db)
    async with instance(settings, db) as app:
        assert await app.admitted(CHEAP, 10, user=heavy) == 5
        refused = await app.post(CHEAP, user=heavy)
        _assert_rate_limited(refused)
        # The spec's media type gets 429 too, from any address: the bucket is the viewer's.
        spec = await app.post(
            CHEAP,
            user=heavy,
            address="203.0.113.50",
            headers={"Accept": "application/graphql-response+json"},
        )
        _assert_rate_limited(spec)
        assert (await app.post(CHEAP, user=other)).json() == {
            "data": {"doctors": {"totalCount": 1}}
        }
        assert (await app.post(CHEAP)).status_code == 200  # anon, same address


async def test_anonymous_requests_are_limited_per_client_address(
    settings: Settings, db: Database
) -> None:
    user = await make_user(db)
    async with instance(settings, db) as app:
        assert await app.admitted(CHEAP, 10, address="198.51.100.20") == 3
        _assert_rate_limited(await app.post(CHEAP, address="198.51.100.20"))
        assert (await app.post(CHEAP, address="198.51.100.21")).status_code == 200
        # A signed-in viewer at the same address has a bucket of their own.
        assert (await app.post(CHEAP, user=user, address="198.51.100.20")).status_code == 200
        # Without trusted proxies, X-Forwarded-For changes nothing.
        spoofed = await app.post(
            CHEAP, address="198.51.100.20", headers={"X-Forwarded-For": "192.0.2.77"}
        )
        _assert_rate_limited(spoofed)


async def test_x_forwarded_for_is_read_only_from_trusted_proxies(
    settings: Settings, db: Database
) -> None:
    # (model_copy does not validate: the setting's parsed form is given.)
    proxies = [ipaddress.ip_network("10.0.0.0/8")]
    async with instance(settings, db, trusted_proxies=proxies) as app:
        proxy = "10.1.2.3"
        client = {"X-Forwarded-For": "192.0.2.10"}
        assert await app.admitted(CHEAP, 10, address=proxy, headers=client) == 3
        _assert_rate_limited(await app.post(CHEAP, address=proxy, headers=client))
        # A forged left-most entry does not move the client to another bucket.
        forged = {"X-Forwarded-For": "192.0.2.99, 192.0.2.10"}
        _assert_rate_limited(await app.post(CHEAP, address=proxy, headers=forged))
        other = {"X-Forwarded-For": "192.0.2.11"}
        assert (await app.post(CHEAP, address=proxy, headers=other)).status_code == 200


def test_client_address_walks_x_forwarded_for_from_the_right(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CAREGRAPH_TRUSTED_PROXIES", '["10.0.0.0/8", "::1"]')
    trusted = Settings(_env_file=None).trusted_proxies  # type: ignore[call-arg]
    assert trusted == [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1")]

    def scope(peer: str, *forwarded: str) -> dict[str, Any]:
        headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
        return {"client": (peer, 1), "headers": headers}

    assert client_address(scope("192.0.2.1", "1.2.3.4"), trusted) == "192.0.2.1"
    assert client_address(scope("10.0.0.1", "1.2.3.4"), trusted) == "1.2.3.4"
    assert client_address(scope("10.0.0.1", "6.6.6.6, 1.2.3.4, 10.9.9.9"), trusted) == "1.2.3.4"
    assert client_address(scope("10.0.0.1", "6.6.6.6", "1.2.3.4:5555"), trusted) == "1.2.3.4"
    assert client_address(scope("::1", "[2001:db8::5]:443"), trusted) == "2001:db8::5"
    assert client_address(scope("10.0.0.1", "10.0.0.2"), trusted) == "10.0.0.2"
    assert client_address(scope("10.0.0.1"), trusted) == "10.0.0.1"
    assert client_address(scope("10.0.0.1", "1.2.3.4"), []) == "10.0.0.1"


# --- what an operation takes ---------------------------------------------------------


async def test_a_mutation_takes_more_than_a_cheap_query(settings: Settings, db: Database) -> None:
    await make_doctor(db)
    reader, writer = await make_user(db), await make_user(db)
    # A query takes 1 token, a mutation 10 (the cost adds next to nothing here).
    async with instance(settings, db, rate_limit_viewer_burst=30.5) as app:
        assert await app.admitted(CHEAP, 40, user=reader) == 30
        assert await app.admitted(MUTATION, 40, user=writer) == 3
        # The writer's bucket is empty for queries too.
        _assert_rate_limited(await app.post(CHEAP, user=writer))


async def test_an_expensive_query_takes_more_than_a_cheap_one(
    settings: Settings, db: Database
) -> None:
    await make_doctor(db)
    cheap_reader, expensive_reader = await make_user(db), await make_user(db)
    # CHEAP: 1 + 2 / 5000 tokens (29 fit in 30); EXPENSIVE: 1 + 40401 / 5000 = 9.08 (3 fit).
    async with instance(
        settings, db, rate_limit_viewer_burst=30, rate_limit_cost_per_token=5000
    ) as app:
        assert await app.admitted(CHEAP, 40, user=cheap_reader) == 29
        assert await app.admitted(EXPENSIVE, 40, user=expensive_reader) == 3


async def test_an_operation_refused_by_the_request_limits_takes_only_its_base(
    settings: Settings, db: Database
) -> None:
    user = await make_user(db)
    async with instance(
        settings, db, rate_limit_viewer_burst=3, rate_limit_cost_per_token=1, max_query_cost=10
    ) as app:
        for _ in range(3):
            over = await app.post(EXPENSIVE, user=user)
            assert over.status_code == 200
            assert over.json()["errors"][0]["extensions"]["limit"] == "cost"
        _assert_rate_limited(await app.post(CHEAP, user=user))


# --- shared across instances, refill, exemptions -------------------------------------


@asynccontextmanager
async def _own_database(settings: Settings) -> AsyncIterator[Database]:
    """An engine of its own on the test database: what another process has."""
    assert settings.database_url
    database = Database(settings.database_url, pool_size=2, max_overflow=2)
    try:
        yield database
    finally:
        await database.dispose()


async def test_two_app_instances_share_one_budget(settings: Settings, db: Database) -> None:
    await make_doctor(db)
    user = await make_user(db)
    sync = LIMITS["rate_limit_sync_seconds"]
    async with (
        _own_database(settings) as db_a,
        _own_database(settings) as db_b,
        instance(settings, db_a, rate_limit_viewer_burst=6.5) as first,
        instance(settings, db_b, rate_limit_viewer_burst=6.5) as second,
    ):
        assert await first.admitted(CHEAP, 3, user=user) == 3
        await asyncio.sleep(3 * sync)  # the first instance has settled its three
        assert await second.admitted(CHEAP, 10, user=user) == 3
        _assert_rate_limited(await second.post(CHEAP, user=user))
        await asyncio.sleep(3 * sync)
        # The first instance's view is refreshed before it decides again.
        _assert_rate_limited(await first.post(CHEAP, user=user))
        assert first.limiter is not second.limiter
        assert await _tokens_in_postgres(db, f"user:{user.id}") == pytest.approx(0.5, abs=0.01)


async def test_what_instances_admit_at_once_is_counted_as_debt(
    settings: Settings, db: Database
) -> None:
    """Within one sync interval, two instances may both admit against a full bucket;
    Postgres counts every admission (the bucket goes negative) and both then refuse
    until the refill pays the excess back."""
    await make_doctor(db)
    user = await make_user(db)
    limits = {"rate_limit_viewer_burst": 4.5, "rate_limit_sync_seconds": 1.0}
    async with (
        _own_database(settings) as db_a,
        _own_database(settings) as db_b,
        instance(settings, db_a, **limits) as first,
        instance(settings, db_b, **limits) as second,
    ):
        assert await first.admitted(CHEAP, 4, user=user) == 4
        assert await second.admitted(CHEAP, 2, user=user) == 2  # before the first settles
        await first.limiter.close()  # sends what each admitted, now rather than in 1 s
        await second.limiter.close()
        assert await _tokens_in_postgres(db, f"user:{user.id}") == pytest.approx(-1.5, abs=0.01)
        _assert_rate_limited(await first.post(CHEAP, user=user))
        refused = await second.post(CHEAP, user=user)
        _assert_rate_limited(refused)
        # 2.5 tokens short at 0.001 a second.
        assert int(refused.headers["retry-after"]) == pytest.approx(2500, abs=5)


async def test_the_budget_refills_over_time(settings: Settings, db: Database) -> None:
    user = await make_user(db)
    await make_doctor(db)
    async with instance(
        settings, db, rate_limit_viewer_burst=2.5, rate_limit_viewer_per_second=1
    ) as app:
        assert await app.admitted(CHEAP, 5, user=user) == 2
        refused = await app.post(CHEAP, user=user)
        _assert_rate_limited(refused)
        assert refused.headers["retry-after"] == "1"  # under a second, rounded up
        await asyncio.sleep(1.1)  # a token and a bit
        assert await app.admitted(CHEAP, 5, user=user) == 1


async def test_service_role_is_exempt(settings: Settings, db: Database) -> None:
    user = await make_user(db)
    async with instance(
        settings, db, rate_limit_viewer_burst=2.5, rate_limit_anon_burst=2.5
    ) as app:
        service = app.token(role="service_role")
        assert await app.admitted(CHEAP, 12, token=service) == 12
        assert await app.admitted(CHEAP, 12, user=user) == 2
        assert await app.admitted(CHEAP, 12) == 2


async def test_a_refused_operation_in_a_batch_gets_its_error_in_its_slot(
    settings: Settings, db: Database
) -> None:
    user = await make_user(db)
    async with instance(settings, db, rate_limit_viewer_burst=2.5, batching_enabled=True) as app:
        http = app.client()
        response = await http.post(
            "/graphql",
            json=[{"query": "{ __typename }"}] * 3,
            headers={"Authorization": f"Bearer {app.token(user)}"},
        )
        assert response.status_code == 200
        first, second, third = response.json()
        assert first == second == {"data": {"__typename": "Query"}}
        assert third["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


# --- cost of the check ------------------------------------------------------------------


async def test_first_sights_share_one_statement_and_known_keys_need_none(
    db: Database,
) -> None:
    limiter = RateLimiter(db, sync_seconds=0.5)
    budget = Budget(burst=100, per_second=1)
    keys = [f"test:{uuid.uuid4()}" for _ in range(20)]
    # Twenty keys seen for the first time at once: their views come in one statement.
    assert await asyncio.gather(*(limiter.take(key, budget, 1) for key in keys)) == [None] * 20
    assert limiter.settlements == 1
    # Known keys are decided in memory.
    for _ in range(40):
        assert await limiter.take(keys[0], budget, 1) is None
    assert limiter.settlements == 1
    assert await limiter.take(keys[0], budget, 100) == pytest.approx(41, abs=0.1)
    await limiter.close()  # the admissions of every key in one more statement
    assert limiter.settlements == 2
    assert await _tokens_in_postgres(db, keys[0]) == pytest.approx(59, abs=0.1)
    assert await _tokens_in_postgres(db, keys[1]) == pytest.approx(99, abs=0.1)


async def test_a_busy_viewer_costs_one_statement_per_sync_interval(
    settings: Settings, db: Database
) -> None:
    await make_doctor(db)
    user = await make_user(db)
    sync = 0.2
    async with instance(
        settings, db, rate_limit_viewer_burst=100, rate_limit_sync_seconds=sync
    ) as app:
        started = time.monotonic()
        assert await app.admitted(CHEAP, 40, user=user) == 40
        elapsed = time.monotonic() - started
        assert app.limiter.settlements <= 2 + elapsed / sync


def test_on_in_production_off_in_development_by_default() -> None:
    production = Settings(env="production", jwt_secret="x" * 48, _env_file=None)  # type: ignore[call-arg]
    development = Settings(env="development", _env_file=None)  # type: ignore[call-arg]
    assert rate_limits_enabled(production)
    assert not rate_limits_enabled(development)
    assert not rate_limits_enabled(production.model_copy(update={"rate_limits": False}))
    assert rate_limits_enabled(development.model_copy(update={"rate_limits": True}))
    assert RateLimitCheck not in build_schema(development).extensions
    assert RateLimitCheck in build_schema(production).extensions


async def test_shutdown_sends_what_was_admitted_since_the_last_sync(
    settings: Settings, db: Database
) -> None:
    from server import create_app

    slow = settings.model_copy(update={**LIMITS, "rate_limit_sync_seconds": 3600})
    app = create_app(slow, db)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            for _ in range(2):
                response = await http.post("/graphql", json={"query": CHEAP})
                assert response.status_code == 200
        # The hour-long sync interval has not passed: only the first view reached Postgres.
        seen = await _tokens_in_postgres(db, "addr:198.51.100.7")
        assert seen == pytest.approx(3.5, abs=0.01)
    assert await _tokens_in_postgres(db, "addr:198.51.100.7") == pytest.approx(1.5, abs=0.05)
