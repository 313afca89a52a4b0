"""Tokens with made-up key ids cannot make every request fetch the JWKS."""

from __future__ import annotations

from typing import Any

import jwt

from resolvers.core.database import Database
from resolvers.core.settings import Settings
from tests.client import graphql_client
from tests.engine.test_auth import (  # noqa: F401  (fixtures)
    VIEWER,
    _claims,
    jwks_server,
    signing_keys,
)
from tests.factories import make_user


async def test_unknown_kids_refresh_the_key_set_at_most_once_per_cooldown(
    settings: Settings,
    db: Database,
    signing_keys: dict[str, Any],  # noqa: F811
    jwks_server: tuple[str, list[int]],  # noqa: F811
) -> None:
    url, hits = jwks_server
    user = await make_user(db)
    async with graphql_client(settings, db, differential=False, jwks_url=url) as client:
        good = jwt.encode(
            _claims(user.id), signing_keys["rsa"], algorithm="RS256", headers={"kid": "rsa-1"}
        )
        assert (await client.execute(VIEWER, token=good)).status == 200
        assert len(hits) == 1
        for attempt in range(5):
            forged = jwt.encode(
                _claims(user.id),
                signing_keys["other"],
                algorithm="RS256",
                headers={"kid": f"made-up-{attempt}"},
            )
            response = await client.execute(VIEWER, token=forged)
            assert response.status == 401
            assert response.codes == ["UNAUTHENTICATED"]
        assert len(hits) == 1, "unknown kids within the cooldown must not refetch the JWKS"
        assert (await client.execute(VIEWER, token=good)).status == 200
