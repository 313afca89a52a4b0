"""Notifications delivered live (`notificationReceived`) by a real server process: to
their user, never to anyone else; anon is refused."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from models import Notification
from resolvers.core.database import Database
from tests.community.factories import make_post
from tests.factories import make_user
from tests.realtime.support import server_process, socket

RECEIVED = "subscription { notificationReceived { kind actorRole subject { __typename } } }"


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[str]:
    with server_process(database_url) as base:
        yield base


async def test_a_notification_reaches_its_user_only(server: str, db: Database) -> None:
    owner = await make_user(db)
    other = await make_user(db)
    admin = await make_user(db, roles=("admin",))
    async with (
        socket(server, owner) as mine,
        socket(server, other) as theirs,
        socket(server, admin) as admins,
    ):
        for client in (mine, theirs, admins):
            await client.subscribe("inbox", RECEIVED)
        await asyncio.sleep(0.3)
        post = await make_post(db, owner)
        async with db.transaction() as session:
            session.add(
                Notification(
                    user_id=owner.id,
                    kind="report_resolved",
                    subject_type="Post",
                    subject_id=post.id,
                    actor_role="coach",
                )
            )
        assert await mine.next_data() == {
            "notificationReceived": {
                "kind": "REPORT_RESOLVED",
                "actorRole": "coach",
                "subject": {"__typename": "Post"},
            }
        }
        await theirs.nothing()
        await admins.nothing()
    async with socket(server) as anon:
        await anon.subscribe("inbox", RECEIVED)
        errors = await anon.refused("inbox")
        assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
