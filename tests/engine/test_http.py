"""GraphQL over HTTP through the real ASGI app: methods, media types and status codes,
malformed requests, batching, persisted queries, limits, production mode, CORS,
health, readiness and metrics."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import httpx
import pytest
from pydantic import ValidationError as SettingsError

from resolvers.core.database import Database
from resolvers.core.settings import DEV_JWT_SECRET, Settings
from tests.client import GraphQLClient, app_http, graphql_client
from tests.factories import make_doctor, make_user

QUERY = "query Directory { doctors(first: 2) { totalCount } }"
MUTATION = 'mutation Rename { updateViewerProfile(input: {fullName: "X"}) { __typename } }'
GRAPHQL_RESPONSE = "application/graphql-response+json"


def _sha(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


@pytest.fixture
async def http(client: GraphQLClient) -> httpx.AsyncClient:
    return client.http


# --- methods and media types ----------------------------------------------------------


async def test_post_and_get_queries(http: httpx.AsyncClient, db: Database) -> None:
    await make_doctor(db)
    post = await http.post("/graphql", json={"query": QUERY})
    assert post.status_code == 200
    assert post.json() == {"data": {"doctors": {"totalCount": 1}}}
    assert post.headers["content-type"].startswith("application/json")
    get = await http.get("/graphql", params={"query": QUERY, "operationName": "Directory"})
    assert get.json() == {"data": {"doctors": {"totalCount": 1}}}


async def test_mutation_over_get_is_405_with_allow_post(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", params={"query": MUTATION})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    other = await http.put("/graphql", json={"query": QUERY})
    assert other.status_code == 405
    assert other.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert other.headers["allow"] == "GET, POST"


async def test_graphql_response_media_type_uses_spec_status_codes(
    http: httpx.AsyncClient,
) -> None:
    headers = {"Accept": GRAPHQL_RESPONSE}
    ok = await http.post("/graphql", json={"query": QUERY}, headers=headers)
    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    invalid = await http.post("/graphql", json={"query": "{ nope }"}, headers=headers)
    assert invalid.status_code == 400
    assert "data" not in invalid.json()
    syntax = await http.post("/graphql", json={"query": "{"}, headers=headers)
    assert syntax.status_code == 400
    # A field error during execution still has `data`: 200.
    partial = await http.post(
        "/graphql", json={"query": '{ doctor(id: "x") { id } }'}, headers=headers
    )
    assert partial.status_code == 200
    assert partial.json()["data"] == {"doctor": None}
    # Legacy clients asking for application/json get 200 for validation errors.
    legacy = await http.post(
        "/graphql", json={"query": "{ nope }"}, headers={"Accept": "application/json"}
    )
    assert legacy.status_code == 200
    assert legacy.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    unacceptable = await http.post(
        "/graphql", json={"query": QUERY}, headers={"Accept": "text/plain"}
    )
    assert unacceptable.status_code == 406
    assert unacceptable.json()["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b'{"variables": {}}', "application/json", 400),
        (b'{"query": 42}', "application/json", 400),
        (b'{"query": "{ __typename }", "variables": "x"}', "application/json", 400),
        (b'{"query": "{ __typename }", "operationName": 5}', "application/json", 400),
        (b'{"query": "{ __typename }", "extensions": []}', "application/json", 400),
        (b'"just a string"', "application/json", 400),
        (b"query=%7B__typename%7D", "application/x-www-form-urlencoded", 415),
        (b'{"query": "{ __typename }"}', "text/plain", 415),
        (b"{ __typename }", "application/graphql", 415),
        (b'{"query": "{ __typename \\u0000 }"}', "application/json", 400),
        (b"\xff\xfe garbage", "application/json", 400),
    ],
)
async def test_malformed_requests_get_4xx_with_a_graphql_error_body(
    http: httpx.AsyncClient, content: bytes, content_type: str, status: int
) -> None:
    response = await http.post("/graphql", content=content, headers={"Content-Type": content_type})
    assert response.status_code == status
    body = response.json()
    assert body["errors"][0]["message"]
    assert body["errors"][0]["extensions"]["code"]


async def test_unknown_operation_name_and_bad_variables_are_clear_errors(
    http: httpx.AsyncClient,
) -> None:
    unknown = await http.post("/graphql", json={"query": QUERY, "operationName": "Nope"})
    assert unknown.status_code == 400
    assert "Nope" in unknown.json()["errors"][0]["message"]
    bad_variables = await http.post(
        "/graphql",
        json={
            "query": "query ($n: Int) { doctors(first: $n) { totalCount } }",
            "variables": {"n": "lots"},
        },
    )
    assert bad_variables.status_code == 200
    assert bad_variables.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    bad_get = await http.get("/graphql", params={"query": QUERY, "variables": "{broken"})
    assert bad_get.status_code == 400


async def test_body_size_limit_is_413(settings: Settings, db: Database) -> None:
    async with app_http(settings, db, max_body_bytes=2048) as http:
        huge = {"query": "{ __typename }", "variables": {"blob": "x" * 5000}}
        response = await http.post("/graphql", json=huge)
        assert response.status_code == 413
        assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_batching_only_when_enabled_and_capped(settings: Settings, db: Database) -> None:
    batch = [{"query": "{ __typename }"}, {"query": QUERY}]
    async with app_http(settings, db) as http:
        refused = await http.post("/graphql", json=batch)
        assert refused.status_code == 400
        assert "not enabled" in refused.json()["errors"][0]["message"]
    async with app_http(settings, db, batching_enabled=True, max_batch_size=2) as http:
        ok = await http.post("/graphql", json=batch)
        assert ok.status_code == 200
        assert ok.json() == [
            {"data": {"__typename": "Query"}},
            {"data": {"doctors": {"totalCount": 0}}},
        ]
        too_many = await http.post("/graphql", json=batch * 2)
        assert too_many.status_code == 400
        assert "at most 2" in too_many.json()["errors"][0]["message"]


# --- persisted queries ----------------------------------------------------------------


async def test_apollo_apq_round_trip_over_post_and_get(
    http: httpx.AsyncClient, db: Database
) -> None:
    await make_doctor(db)
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": _sha(QUERY)}}
    miss = await http.post("/graphql", json={"extensions": extensions})
    assert miss.status_code == 200
    assert miss.json()["errors"] == [
        {"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}
    ]
    stored = await http.post("/graphql", json={"query": QUERY, "extensions": extensions})
    assert stored.json() == {"data": {"doctors": {"totalCount": 1}}}
    hit = await http.post("/graphql", json={"extensions": extensions})
    assert hit.json() == {"data": {"doctors": {"totalCount": 1}}}
    over_get = await http.get("/graphql", params={"extensions": json.dumps(extensions)})
    assert over_get.json() == {"data": {"doctors": {"totalCount": 1}}}


async def test_apq_rejects_a_wrong_hash(http: httpx.AsyncClient) -> None:
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": _sha("{ other }")}}
    response = await http.post("/graphql", json={"query": QUERY, "extensions": extensions})
    assert response.status_code == 400
    assert "does not match" in response.json()["errors"][0]["message"]
    after = await http.post("/graphql", json={"extensions": extensions})
    assert after.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    malformed = {"persistedQuery": {"version": 1, "sha256Hash": "abc"}}
    assert (await http.post("/graphql", json={"extensions": malformed})).status_code == 400


async def test_trusted_documents_mode_runs_only_registered_documents(
    settings: Settings, db: Database
) -> None:
    from resolvers.core.persisted_queries import PersistedQueryStore

    await PersistedQueryStore(db).save(QUERY, trusted=True)
    admin = await make_user(db, roles=("admin",))
    async with app_http(settings, db, trusted_documents=True) as http:
        registered = await http.post("/graphql", json={"query": QUERY})
        assert registered.json() == {"data": {"doctors": {"totalCount": 0}}}
        by_hash = await http.post(
            "/graphql",
            json={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": _sha(QUERY)}}},
        )
        assert by_hash.json() == {"data": {"doctors": {"totalCount": 0}}}
        other = "{ doctors { totalCount } }"
        refused = await http.post("/graphql", json={"query": other})
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_ALLOWED"
        apq_register = await http.post(
            "/graphql",
            json={
                "query": other,
                "extensions": {"persistedQuery": {"version": 1, "sha256Hash": _sha(other)}},
            },
        )
        assert apq_register.status_code == 400
        token = GraphQLClient(http, settings).token(admin.id, admin.email)
        as_admin = await http.post(
            "/graphql", json={"query": other}, headers={"Authorization": f"Bearer {token}"}
        )
        assert as_admin.json() == {"data": {"doctors": {"totalCount": 0}}}


async def test_a_document_trusted_by_another_process_runs_at_once(
    settings: Settings, db: Database
) -> None:
    """The server's cache had the document as untrusted (an admin sent it by APQ); once
    `register-documents` (another process: another store) trusts it, it runs for everyone,
    without waiting for it to leave the cache."""
    from resolvers.core.persisted_queries import PersistedQueryStore

    document = "query Late { doctors { totalCount } }"
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": _sha(document)}}
    admin = await make_user(db, roles=("admin",))
    async with app_http(settings, db, trusted_documents=True) as http:
        token = GraphQLClient(http, settings).token(admin.id, admin.email)
        stored = await http.post(
            "/graphql",
            json={"query": document, "extensions": extensions},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert stored.json() == {"data": {"doctors": {"totalCount": 0}}}
        refused = await http.post("/graphql", json={"extensions": extensions})
        assert refused.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        await PersistedQueryStore(db).save(document, trusted=True)
        by_hash = await http.post("/graphql", json={"extensions": extensions})
        assert by_hash.json() == {"data": {"doctors": {"totalCount": 0}}}
        by_text = await http.post("/graphql", json={"query": document})
        assert by_text.json() == {"data": {"doctors": {"totalCount": 0}}}


# --- limits ---------------------------------------------------------------------------


def _errors(response: httpx.Response) -> list[dict[str, Any]]:
    return list(response.json().get("errors", []))


async def test_depth_limit_stops_deep_nesting_through_cycles(http: httpx.AsyncClient) -> None:
    cycle = "{ viewer " + "{ doctor { user " * 10 + "{ id }" + " } }" * 10 + " }"
    response = await http.post("/graphql", json={"query": cycle})
    (error,) = _errors(response)
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "limit": "depth",
        "maximum": 15,
        "actual": 22,
    }
    assert "exceeds the limit of 15 by 7" in error["message"]
    assert "data" not in response.json()


async def test_alias_flood_is_refused(http: httpx.AsyncClient) -> None:
    flood = "{ " + " ".join(f"a{i}: doctors {{ totalCount }}" for i in range(200)) + " }"
    (error,) = _errors(await http.post("/graphql", json={"query": flood}))
    assert error["extensions"]["limit"] == "aliases"
    assert "by 170" in error["message"]


async def test_huge_first_is_an_error_not_silently_cut(
    http: httpx.AsyncClient, db: Database
) -> None:
    await make_doctor(db)
    response = await http.post(
        "/graphql", json={"query": "{ doctors(first: 1000000) { totalCount } }"}
    )
    # The cost budget refuses it before anything runs...
    (error,) = _errors(response)
    assert error["extensions"]["limit"] == "cost"
    assert "data" not in response.json()
    # ...and within the budget, `first` over the page-size cap is an error, not a cut.
    over_cap = await http.post("/graphql", json={"query": "{ doctors(first: 101) { totalCount } }"})
    (error,) = _errors(over_cap)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "at most 100" in error["message"]
    nested = await http.post(
        "/graphql",
        json={
            "query": "{ doctors(first: 1) { edges { node { appointments(first: 500) "
            "{ totalCount } } } } }"
        },
    )
    assert any("at most 100" in e["message"] for e in _errors(nested)), nested.json()


async def test_cost_budget_multiplies_nested_lists(settings: Settings, db: Database) -> None:
    query = """
    query ($n: Int) {
      doctors(first: $n) { edges { node { id user { id } availabilityRules { id } } } }
    }"""
    async with app_http(settings, db, max_query_cost=500) as http:
        cheap = await http.post("/graphql", json={"query": query, "variables": {"n": 10}})
        assert "errors" not in cheap.json()
        costly = await http.post("/graphql", json={"query": query, "variables": {"n": 100}})
        (error,) = _errors(costly)
        assert error["extensions"]["limit"] == "cost"
        assert error["extensions"]["actual"] == 1 + 100 * 7
        assert "exceeds the limit of 500 by 201" in error["message"]
        # Measurements are kept per document with the `first` values they read.
        again = await http.post("/graphql", json={"query": query, "variables": {"n": 10}})
        assert "errors" not in again.json()
        costly_again = await http.post("/graphql", json={"query": query, "variables": {"n": 100}})
        assert _errors(costly_again)[0]["extensions"]["actual"] == 1 + 100 * 7


async def test_giant_document_is_refused_by_the_token_limit(http: httpx.AsyncClient) -> None:
    giant = "{ " + " ".join("__typename" for _ in range(6000)) + " }"
    response = await http.post("/graphql", json={"query": giant})
    assert response.status_code == 200
    (error,) = _errors(response)
    assert "tokens" in error["message"]


# --- production mode ------------------------------------------------------------------

PRODUCTION: dict[str, Any] = {"env": "production", "jwt_secret": "x" * 48}
INTROSPECTION = "{ __schema { queryType { name } } }"


def test_production_refuses_default_or_weak_secrets() -> None:
    for secret in (DEV_JWT_SECRET, "short", None):
        with pytest.raises(SettingsError):
            Settings(env="production", jwt_secret=secret, _env_file=None)  # type: ignore[call-arg]


async def test_production_introspection_and_graphiql_for_admins_only(
    settings: Settings, db: Database
) -> None:
    admin = await make_user(db, roles=("admin",))
    patient = await make_user(db)
    async with graphql_client(settings, db, **PRODUCTION) as graphql:
        http = graphql.http
        refused = await http.post("/graphql", json={"query": INTROSPECTION})
        assert _errors(refused)[0]["extensions"]["code"] == "FORBIDDEN"
        as_patient = await graphql.execute(INTROSPECTION, as_user=patient)
        assert as_patient.codes == ["FORBIDDEN"]
        as_admin = await graphql.execute(INTROSPECTION, as_user=admin)
        assert as_admin.data == {"__schema": {"queryType": {"name": "Query"}}}
        typename = await http.post("/graphql", json={"query": "{ __typename }"})
        assert typename.json() == {"data": {"__typename": "Query"}}

        suggestion = await http.post("/graphql", json={"query": "{ doctorz { totalCount } }"})
        assert "Did you mean" not in _errors(suggestion)[0]["message"]
        admin_suggestion = await graphql.execute("{ doctorz { totalCount } }", as_user=admin)
        assert "Did you mean" in admin_suggestion.errors[0]["message"]

        page = await http.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 403
        admin_token = graphql.token(admin.id, admin.email)
        admin_page = await http.get(
            "/graphql", headers={"Accept": "text/html", "Authorization": f"Bearer {admin_token}"}
        )
        assert admin_page.status_code == 200 and "graphiql" in admin_page.text.lower()
        cookie_page = await http.get(
            "/graphql", headers={"Accept": "text/html", "Cookie": f"caregraph_token={admin_token}"}
        )
        assert cookie_page.status_code == 200


async def test_development_keeps_introspection_open(http: httpx.AsyncClient) -> None:
    response = await http.post("/graphql", json={"query": INTROSPECTION})
    assert response.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    suggestion = await http.post("/graphql", json={"query": "{ doctorz { totalCount } }"})
    assert "Did you mean" in _errors(suggestion)[0]["message"]


# --- CORS -----------------------------------------------------------------------------


async def test_cors_for_configured_origins(settings: Settings, db: Database) -> None:
    async with app_http(settings, db, cors_origins=["https://app.caregraph.dev"]) as http:
        preflight = await http.options(
            "/graphql",
            headers={
                "Origin": "https://app.caregraph.dev",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.caregraph.dev"
        actual = await http.post(
            "/graphql", json={"query": QUERY}, headers={"Origin": "https://app.caregraph.dev"}
        )
        assert actual.headers["access-control-allow-origin"] == "https://app.caregraph.dev"
        evil = await http.options(
            "/graphql",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert evil.status_code == 400
        assert "access-control-allow-origin" not in evil.headers
        # A cross-site form post (no preflight) is refused before anything runs.
        form = await http.post(
            "/graphql",
            content=b"query=mutation",
            headers={
                "Origin": "https://evil.example",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        assert form.status_code == 415


# --- operations -----------------------------------------------------------------------


async def test_health_and_readiness(http: httpx.AsyncClient) -> None:
    health = await http.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    ready = await http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


async def test_readyz_is_503_when_migrations_are_behind_or_database_is_down(
    settings: Settings, database_url: str
) -> None:
    from sqlalchemy import text as sql

    behind = Database(database_url)
    async with behind.engine.begin() as conn:
        head = (await conn.execute(sql("SELECT version_num FROM alembic_version"))).scalar()
        await conn.execute(sql("UPDATE alembic_version SET version_num = '0001'"))
    try:
        async with app_http(settings, behind) as http:
            response = await http.get("/readyz")
            assert response.status_code == 503
            assert "migrations behind" in response.json()["reason"]
    finally:
        async with behind.engine.begin() as conn:
            await conn.execute(sql("UPDATE alembic_version SET version_num = :v"), {"v": head})
        await behind.dispose()

    down = Database("postgresql://nobody@127.0.0.1:1/nowhere")
    async with app_http(settings, down) as http:
        response = await http.get("/readyz")
        assert response.status_code == 503
        assert "database unavailable" in response.json()["reason"]
    await down.dispose()


async def test_database_outage_is_a_503_service_unavailable_with_a_graphql_body(
    settings: Settings, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    user = await make_user(db)
    down = Database("postgresql://nobody@127.0.0.1:1/nowhere")
    async with graphql_client(settings, down) as graphql:
        http = graphql.http
        token = graphql.token(user.id, user.email)
        with caplog.at_level(logging.WARNING, logger="caregraph.errors"):
            response = await http.post(
                "/graphql",
                json={"query": "{ viewer { id } }"},
                headers={"Authorization": f"Bearer {token}", "X-Request-ID": "outage-1"},
            )
    await down.dispose()
    # Loading the viewer failed before execution: retryable, not a bug.
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["errors"] == [
        {
            "message": "The database is unavailable; try again shortly.",
            "extensions": {"code": "SERVICE_UNAVAILABLE", "retryable": True},
        }
    ]
    assert any("outage-1" in record.getMessage() for record in caplog.records)


async def test_request_ids_vary_and_methods_around_the_endpoint(http: httpx.AsyncClient) -> None:
    """What server.py's middleware adds to every answer, on the path straight to the
    endpoint (GET and POST /graphql) and through Starlette's router (the rest)."""
    posted = await http.post("/graphql", json={"query": QUERY}, headers={"X-Request-ID": "id-1"})
    assert posted.headers["x-request-id"] == "id-1"
    assert posted.headers.get_list("vary") == ["Origin"]
    fresh = await http.post("/graphql", json={"query": QUERY}, headers={"X-Request-ID": "b a d"})
    assert len(fresh.headers["x-request-id"]) == 32  # not sane: a new one
    got = await http.get("/graphql", params={"query": QUERY})
    assert got.status_code == 200 and got.headers.get_list("vary") == ["Origin"]
    for method in ("PUT", "DELETE", "HEAD"):
        refused = await http.request(method, "/graphql")
        assert refused.status_code == 405, method
        assert refused.headers["allow"] == "GET, POST"  # the endpoint's own answer
        assert "x-request-id" in refused.headers
    options = await http.options("/graphql")  # no preflight: Starlette's router refuses it
    assert options.status_code == 405
    assert options.headers.get_list("vary") == ["Origin"]
    health = await http.get("/healthz")
    assert health.status_code == 200 and "x-request-id" in health.headers


async def test_metrics_and_access_log(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="caregraph.access"):
        await http.post("/graphql", json={"query": QUERY}, headers={"X-Request-ID": "req-77"})
        await http.post("/graphql", json={"query": "{ nope }"})
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "caregraph.access"]
    first = next(line for line in lines if line["request_id"] == "req-77")
    assert first["operation"] == "Directory"
    assert first["status"] == 200
    assert first["viewer"] == "anon"
    assert first["sql_statements"] == 2  # the page and its count
    assert first["duration_ms"] >= 0
    metrics = (await http.get("/metrics")).text
    assert 'caregraph_requests_total{operation="Directory",outcome="success"}' in metrics
    assert 'caregraph_errors_total{code="BAD_USER_INPUT"}' in metrics
    assert "caregraph_db_pool_connections_in_use" in metrics
    assert "caregraph_request_duration_seconds_bucket" in metrics


async def test_garbage_never_yields_a_500(http: httpx.AsyncClient) -> None:
    attempts = [
        http.post("/graphql", content=b"\x00" * 100, headers={"Content-Type": "application/json"}),
        http.post("/graphql", json={"query": '{ doctors(first: "x") { totalCount } }'}),
        http.post(
            "/graphql",
            json={
                "query": "query ($a: [[[Int]]]) { __typename }",
                "variables": {"a": {"deep": True}},
            },
        ),
        http.get("/graphql", params={"query": "{ doctor(id: " + "9" * 5000 + ") { id } }"}),
        http.post(
            "/graphql",
            json={"query": '{ doctors(filter: {search: "' + "%" * 3000 + '"}) { totalCount } }'},
        ),
        http.post("/graphql", json={"query": '{ doctors(after: "\\u0000") { totalCount } }'}),
        http.post("/graphql", json={"query": '{ doctor(id: "\\u0000") { id } }'}),
    ]
    for attempt in attempts:
        response = await attempt
        assert response.status_code < 500, response.text
        codes = [e["extensions"]["code"] for e in response.json().get("errors", [])]
        assert "INTERNAL_SERVER_ERROR" not in codes


async def test_cost_budget_counts_lists_without_first_at_their_page_size(
    settings: Settings, db: Database
) -> None:
    """A list that takes `first` costs its page size even when the client leaves `first`
    out: the server returns that many rows all the same."""
    implicit = "{ doctors { edges { node { appointments { edges { node { id } } } } } } }"
    explicit = (
        "{ doctors(first: 20) { edges { node { appointments(first: 20) "
        "{ edges { node { id } } } } } } }"
    )
    async with app_http(settings, db, max_query_cost=1000) as http:
        costs = []
        for query in (implicit, explicit):
            (error,) = _errors(await http.post("/graphql", json={"query": query}))
            assert error["extensions"]["limit"] == "cost"
            costs.append(error["extensions"]["actual"])
    # doctors(1) + 20 x [edges, node, appointments (3) + 20 x (edges, node, id)]
    assert costs[0] == costs[1] == 1 + 20 * (3 + 20 * 3)
