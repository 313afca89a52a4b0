"""Identity: JWT verification outcomes, anon, service_role, and user provisioning."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import func, select

from models import User
from resolvers.core.database import Database
from resolvers.core.errors import Unauthenticated
from resolvers.core.identity import TokenVerifier
from resolvers.core.settings import Settings
from tests.client import GraphQLClient, graphql_client
from tests.conftest import TEST_JWT_SECRET
from tests.factories import gid, make_doctor, make_user

VIEWER = "query { viewer { id email roles } }"
DOCTORS = "query { doctors(first: 50) { totalCount edges { node { id verified } } } }"


def _claims(user_id: uuid.UUID, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "email": "someone@example.test",
        "role": "authenticated",
        "aud": "authenticated",
        "iat": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return claims


async def test_no_token_is_anon(client: GraphQLClient) -> None:
    response = await client.execute(VIEWER)
    assert response.status == 200
    assert response.data == {"viewer": None}


async def test_valid_hs256_token(client: GraphQLClient, db: Database) -> None:
    user = await make_user(db, roles=("coach",))
    token = jwt.encode(_claims(user.id, email=user.email), TEST_JWT_SECRET, algorithm="HS256")
    response = await client.execute(VIEWER, token=token)
    assert response.data["viewer"] == {
        "id": gid(user, "Viewer"),
        "email": user.email,
        "roles": ["COACH", "PATIENT"],
    }


async def test_a_verified_token_still_expires(settings: Settings) -> None:
    """HS256 tokens are verified once per process, but their time claims are checked on
    every use: a token that expires after being accepted is refused."""
    verifier = TokenVerifier(settings)
    user_id = uuid.uuid4()
    token = jwt.encode(_claims(user_id, exp=int(time.time()) + 2), TEST_JWT_SECRET)
    assert (await verifier.verify(token))["sub"] == str(user_id)
    assert (await verifier.verify(token))["sub"] == str(user_id)
    await asyncio.sleep(2.1)
    with pytest.raises(Unauthenticated, match="expired"):
        await verifier.verify(token)
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(Unauthenticated):
        await verifier.verify(tampered)


@pytest.mark.parametrize(
    ("token_factory", "message"),
    [
        (
            lambda uid: jwt.encode(_claims(uid, exp=int(time.time()) - 10), TEST_JWT_SECRET),
            "expired",
        ),
        (
            lambda uid: jwt.encode(_claims(uid), "another-secret-that-is-long-enough-000000"),
            "Invalid token",
        ),
        (lambda uid: jwt.encode(_claims(uid, aud="someone-else"), TEST_JWT_SECRET), "audience"),
        (lambda uid: jwt.encode(_claims(uid), "", algorithm="none"), "algorithm"),
        (lambda uid: "not-a-jwt", "Malformed"),
        (lambda uid: "eyJhbGciOi.broken.header", "Malformed"),
        (
            lambda uid: jwt.encode(
                {k: v for k, v in _claims(uid).items() if k != "exp"}, TEST_JWT_SECRET
            ),
            "exp",
        ),
    ],
    ids=[
        "expired",
        "bad-signature",
        "wrong-audience",
        "alg-none",
        "garbage",
        "bad-header",
        "no-exp",
    ],
)
async def test_bad_tokens_get_401(
    client: GraphQLClient, db: Database, token_factory: Any, message: str
) -> None:
    user = await make_user(db)
    response = await client.execute(VIEWER, token=token_factory(user.id))
    assert response.status == 401
    assert response.codes == ["UNAUTHENTICATED"]
    assert message.lower() in response.errors[0]["message"].lower()
    assert "data" not in response.body


async def test_non_bearer_scheme_is_401(client: GraphQLClient) -> None:
    response = await client.execute(VIEWER, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status == 401
    assert response.codes == ["UNAUTHENTICATED"]


async def test_alg_none_with_tampered_header_is_401(client: GraphQLClient, db: Database) -> None:
    user = await make_user(db)
    valid = jwt.encode(_claims(user.id), TEST_JWT_SECRET, algorithm="HS256")
    _, payload, _signature = valid.split(".")
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').decode().rstrip("=")
    response = await client.execute(VIEWER, token=f"{header}.{payload}.")
    assert response.status == 401
    assert response.codes == ["UNAUTHENTICATED"]


async def test_first_request_provisions_user_once_under_concurrency(
    client: GraphQLClient, db: Database
) -> None:
    user_id = uuid.uuid4()
    token = jwt.encode(_claims(user_id, email="New.Person@Example.test"), TEST_JWT_SECRET)
    responses = await asyncio.gather(*(client.execute(VIEWER, token=token) for _ in range(12)))
    assert {r.status for r in responses} == {200}
    assert {r.data["viewer"]["id"] for r in responses} == {gid(user_id, "Viewer")}
    async with db.read() as session:
        count = await session.scalar(select(func.count()).where(User.id == user_id))
        email = await session.scalar(select(User.email).where(User.id == user_id))
    assert count == 1
    assert email == "new.person@example.test"


async def test_service_role_bypasses_policies(client: GraphQLClient, db: Database) -> None:
    await make_doctor(db, verified=False)
    await make_doctor(db, verified=True)
    anon = await client.execute(DOCTORS)
    service = await client.execute(DOCTORS, as_user="service")
    assert anon.data["doctors"]["totalCount"] == 1
    assert service.data["doctors"]["totalCount"] == 2


async def test_anon_role_token_is_anon(client: GraphQLClient) -> None:
    token = jwt.encode(
        {"role": "anon", "aud": "authenticated", "exp": int(time.time()) + 60}, TEST_JWT_SECRET
    )
    response = await client.execute(VIEWER, token=token)
    assert response.status == 200
    assert response.data == {"viewer": None}


def _jwk(public_key: Any, kid: str, alg: str) -> dict[str, Any]:
    jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(public_key))
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    return jwk


@pytest.fixture(scope="module")
def signing_keys() -> dict[str, Any]:
    return {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec.generate_private_key(ec.SECP256R1()),
        "other": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }


def _jwks(signing_keys: dict[str, Any]) -> dict[str, Any]:
    return {
        "keys": [
            _jwk(signing_keys["rsa"].public_key(), "rsa-1", "RS256"),
            _jwk(signing_keys["ec"].public_key(), "ec-1", "ES256"),
        ]
    }


async def test_jwks_file_rs256_and_es256(
    settings: Settings, db: Database, tmp_path: Path, signing_keys: dict[str, Any]
) -> None:
    jwks_path = tmp_path / "jwks.json"
    jwks_path.write_text(json.dumps(_jwks(signing_keys)))
    user = await make_user(db)
    claims = _claims(user.id, email=user.email)
    rs = jwt.encode(claims, signing_keys["rsa"], algorithm="RS256", headers={"kid": "rsa-1"})
    es = jwt.encode(claims, signing_keys["ec"], algorithm="ES256", headers={"kid": "ec-1"})
    unknown_kid = jwt.encode(
        claims, signing_keys["other"], algorithm="RS256", headers={"kid": "rsa-2"}
    )
    wrong_key = jwt.encode(
        claims, signing_keys["other"], algorithm="RS256", headers={"kid": "rsa-1"}
    )
    async with graphql_client(settings, db, jwks_file=jwks_path) as client:
        for token in (rs, es):
            response = await client.execute(VIEWER, token=token)
            assert response.status == 200, response.body
            assert response.data["viewer"]["id"] == gid(user, "Viewer")
        for token in (unknown_kid, wrong_key):
            response = await client.execute(VIEWER, token=token)
            assert response.status == 401
            assert response.codes == ["UNAUTHENTICATED"]


@pytest.fixture
def jwks_server(signing_keys: dict[str, Any]) -> Iterator[tuple[str, list[int]]]:
    hits: list[int] = []
    body = json.dumps(_jwks(signing_keys)).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(1)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json", hits
    server.shutdown()


async def test_jwks_url_is_fetched_once_and_cached(
    settings: Settings,
    db: Database,
    signing_keys: dict[str, Any],
    jwks_server: tuple[str, list[int]],
) -> None:
    url, hits = jwks_server
    user = await make_user(db)
    token = jwt.encode(
        _claims(user.id), signing_keys["rsa"], algorithm="RS256", headers={"kid": "rsa-1"}
    )
    async with graphql_client(settings, db, differential=False, jwks_url=url) as client:
        for _ in range(3):
            response = await client.execute(VIEWER, token=token)
            assert response.status == 200, response.body
            assert response.data["viewer"]["id"] == gid(user, "Viewer")
    assert len(hits) == 1


async def test_issuer_is_checked_when_configured(settings: Settings, db: Database) -> None:
    user = await make_user(db)
    good = jwt.encode(_claims(user.id, iss="https://auth.caregraph.dev"), TEST_JWT_SECRET)
    bad = jwt.encode(_claims(user.id, iss="https://evil.example"), TEST_JWT_SECRET)
    no_issuer = jwt.encode(_claims(user.id), TEST_JWT_SECRET)
    async with graphql_client(settings, db, jwt_issuer="https://auth.caregraph.dev") as client:
        assert (await client.execute(VIEWER, token=good)).data["viewer"]["id"] == gid(
            user, "Viewer"
        )
        response = await client.execute(VIEWER, token=bad)
        assert response.status == 401
        assert "issuer" in response.errors[0]["message"]
        assert (await client.execute(VIEWER, token=no_issuer)).status == 401
