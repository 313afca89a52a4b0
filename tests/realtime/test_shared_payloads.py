"""A subscription event's payload is resolved once for all the subscribers it answers
alike (schema/engine/subscription_events.py), against a real server process: the
statements and resolutions per event do not grow with readers of a selection that is the
same for every reader, and a field that differs by viewer is still resolved per viewer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from resolvers.core.database import Database
from tests.community.factories import like_post, make_comment, make_post
from tests.factories import gid, make_user
from tests.realtime.support import server_process, socket

COMMENTS = (
    "subscription ($post: ID!) { commentAdded(postId: $post) { body author { displayName } } }"
)
POST = "subscription ($id: ID!) { postChanged(id: $id) { title viewerHasLiked } }"


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[str]:
    with server_process(database_url) as base:
        yield base


async def _counters(base: str) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        lines = (await http.get("/metrics")).text.splitlines()
    names = ("payloads_resolved", "payloads_shared", "payload_statements")
    return {
        name: float(line.split()[1])
        for line in lines
        for name in names
        if line.startswith(f"caregraph_realtime_{name} ")
    }


def _spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before[name] for name in before}


async def test_one_resolution_and_statement_per_comment_however_many_readers(
    server: str, db: Database
) -> None:
    author = await make_user(db, full_name="Ada Author")
    post = await make_post(db, author)
    readers = [await make_user(db) for _ in range(8)]
    spent = []
    async with contextlib.AsyncExitStack() as stack:
        for count in (2, 8):
            sockets = []
            for reader in readers[:count]:
                client = await stack.enter_async_context(socket(server, reader))
                await client.subscribe("comments", COMMENTS, {"post": gid(post)})
                sockets.append(client)
            await asyncio.sleep(0.3)
            before = await _counters(server)
            await make_comment(db, post, author, body=f"to {count}")
            for client in sockets:
                assert await client.next_data() == {
                    "commentAdded": {"body": f"to {count}", "author": {"displayName": "Ada Author"}}
                }
            spent.append(_spent(before, await _counters(server)))
            for client in sockets:
                await client.send({"id": "comments", "type": "complete"})
            await asyncio.sleep(0.2)
    # The author's name is loaded once, by the one subscriber that resolves the payload.
    assert spent == [
        {"payloads_resolved": 1, "payloads_shared": 1, "payload_statements": 1},
        {"payloads_resolved": 1, "payloads_shared": 7, "payload_statements": 1},
    ]


async def test_a_field_that_differs_by_viewer_is_resolved_per_viewer(
    server: str, db: Database
) -> None:
    author = await make_user(db)
    post = await make_post(db, author)
    liker, other, third = await make_user(db), await make_user(db), await make_user(db)
    await like_post(db, post, liker)
    async with contextlib.AsyncExitStack() as stack:
        sockets = {}
        for name, user in (
            ("liker", liker),
            ("liker again", liker),
            ("other", other),
            ("third", third),
        ):
            sockets[name] = await stack.enter_async_context(socket(server, user))
            await sockets[name].subscribe("post", POST, {"id": gid(post)})
        await asyncio.sleep(0.3)
        before = await _counters(server)
        async with db.transaction() as session:
            await session.execute(
                text("UPDATE posts SET title = 'Edited' WHERE id = :id"), {"id": post.id}
            )
        for name, client in sockets.items():
            liked = name.startswith("liker")
            assert await client.next_data() == {
                "postChanged": {"title": "Edited", "viewerHasLiked": liked}
            }, name
        spent = _spent(before, await _counters(server))
    # Three viewers, three resolutions; the liker's second subscription shares the first's.
    assert (spent["payloads_resolved"], spent["payloads_shared"]) == (3, 1)
