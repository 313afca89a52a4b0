"""The compiled executor (schema/engine/execution.py) against graphql-core's.

`tests.client.GraphQLClient` already sends every query of the suite to a second app on
graphql-core's executor and requires the same bytes back. These tests check that the
compiled executor really answers the shapes it covers (the differential check would also
pass if it always handed over), that it hands over what it does not cover, and that the
responses match on the cases that exercise the hand-over: errors, non-null and
selection-set features."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from models import User
from resolvers.core.database import Database
from resolvers.core.settings import Settings
from tests.client import GraphQLClient, Response
from tests.community.factories import like_post, make_comment, make_post
from tests.factories import gid, make_doctor, make_user

FEED = """
query Feed($first: Int!, $withBody: Boolean!, $skipLikes: Boolean!) {
  __typename
  feed(first: $first) {
    __typename
    edges {
      cursor
      node {
        ...PostFields
        text: body @include(if: $withBody)
        likeCount @skip(if: $skipLikes)
        author { displayName id }
        author { avatarUrl }
        comments(first: 2) {
          totalCount
          pageInfo { hasNextPage endCursor }
          edges { node { id body author { displayName } replies(first: 1) { edges { node {
            id parentId author { displayName } } } } } }
        }
        firstComment: comments(first: 1) { edges { node { id } } }
      }
    }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
fragment PostFields on Post { id title tags pinned createdAt viewerHasLiked commentCount }
"""


def _executors(caplog: pytest.LogCaptureFixture) -> list[str]:
    lines = [
        json.loads(record.getMessage())
        for record in caplog.records
        if record.name == "caregraph.access"
    ]
    return [line["executor"] for line in lines if line["path"] == "/graphql"]


async def _community(db: Database) -> User:
    viewer = await make_user(db)
    others = [await make_user(db) for _ in range(3)]
    for number in range(4):
        post = await make_post(db, others[number % 3], pinned=number == 0)
        await like_post(db, post, viewer, others[0])
        for author in others:
            comment = await make_comment(db, post, author)
            await make_comment(db, post, viewer, parent=comment)
            await make_comment(db, post, others[1], parent=comment)
    return viewer


async def _run(
    client: GraphQLClient,
    caplog: pytest.LogCaptureFixture,
    query: str,
    variables: dict[str, Any] | None = None,
    **options: Any,
) -> tuple[Response, str]:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="caregraph.access"):
        response = await client.execute(query, variables, **options)
    # The first line is this client's app; the second the graphql-core reference app's.
    executors = _executors(caplog)
    assert executors[1:] == ["graphql-core"]
    return response, executors[0]


async def test_nested_feed_is_compiled_and_equals_graphql_core(
    client: GraphQLClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    viewer = await _community(db)
    variables = {"first": 3, "withBody": True, "skipLikes": False}
    response, executor = await _run(client, caplog, FEED, variables, as_user=viewer)
    assert executor == "compiled"
    edges = response.data["feed"]["edges"]
    assert len(edges) == 3
    node = edges[0]["node"]
    assert list(node) == [
        *("id", "title", "tags", "pinned", "createdAt", "viewerHasLiked", "commentCount"),
        *("text", "likeCount", "author", "comments", "firstComment"),
    ]
    assert node["text"].startswith("Body of post") and node["likeCount"] == 2
    assert node["viewerHasLiked"] is True and node["commentCount"] == 9
    assert set(node["author"]) == {"displayName", "id", "avatarUrl"}
    assert node["comments"]["totalCount"] == 3
    replies = node["comments"]["edges"][0]["node"]["replies"]["edges"]
    assert len(replies) == 1 and replies[0]["node"]["parentId"]

    skipped, executor = await _run(
        client, caplog, FEED, {**variables, "withBody": False, "skipLikes": True}, as_user=viewer
    )
    assert executor == "compiled"
    assert "text" not in skipped.data["feed"]["edges"][0]["node"]
    assert "likeCount" not in skipped.data["feed"]["edges"][0]["node"]


async def test_nested_lists_batch_like_graphql_core(
    settings: Settings, db: Database, client: GraphQLClient
) -> None:
    """The same statements per request on both executors: the compiled one resumes every
    resolver waiting on a loader before the loader dispatches."""
    viewer = await _community(db)
    variables = {"first": 4, "withBody": True, "skipLikes": False}
    compiled = await client.execute(FEED, variables, as_user=viewer)
    reference = GraphQLClient(client.reference, settings)  # type: ignore[arg-type]
    graphql_core = await reference.execute(FEED, variables, as_user=viewer)
    assert compiled.body == graphql_core.body
    assert 0 < compiled.statements <= graphql_core.statements


async def test_errors_are_answered_by_graphql_core(
    client: GraphQLClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    viewer = await make_user(db)
    doctor = await make_doctor(db)
    query = """
    query ($id: ID!, $bad: ID!) {
      good: doctor(id: $id) { id fullName }
      bad: doctor(id: $bad) { id }
    }
    """
    variables = {"id": gid(doctor), "bad": "not-a-uuid"}
    response, executor = await _run(client, caplog, query, variables, as_user=viewer)
    assert executor == "graphql-core"
    assert response.body["data"]["good"]["id"] == gid(doctor)
    assert response.body["data"]["bad"] is None
    assert response.errors[0]["path"] == ["bad"]

    fine, executor = await _run(client, caplog, query, {**variables, "bad": gid(doctor)})
    assert executor == "compiled"
    assert fine.data["bad"]["id"] == gid(doctor)


async def test_what_it_does_not_cover_goes_to_graphql_core(
    client: GraphQLClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    viewer = await make_user(db)
    introspection, executor = await _run(
        client, caplog, "{ __schema { queryType { name } } }", as_user=viewer
    )
    assert executor == "graphql-core"
    assert introspection.data == {"__schema": {"queryType": {"name": "Query"}}}

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="caregraph.access"):
        mutation = await client.execute(
            'mutation { createPost(input: {title: "Hi", body: "There"}) { __typename } }',
            as_user=viewer,
        )
    assert mutation.data["createPost"]["__typename"] == "PostSaved"
    assert _executors(caplog) == ["graphql-core"]


async def test_switched_off_every_operation_runs_on_graphql_core(
    settings: Settings, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.client import graphql_client

    viewer = await make_user(db)
    async with graphql_client(settings, db, compiled_execution=False) as plain:
        assert plain.reference is None
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="caregraph.access"):
            response = await plain.execute("{ viewer { user { id } } }", as_user=viewer)
    assert response.data["viewer"]["user"]["id"] == gid(viewer)
    assert _executors(caplog) == ["graphql-core"]


async def test_a_kept_plan_takes_each_request_s_arguments_and_viewer(
    client: GraphQLClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Plans are kept per parsed document; arguments, variables and the viewer are bound
    per request, so the second request with other values answers for its own."""
    viewer = await _community(db)
    other = await make_user(db)
    query = """
    query Page($first: Int!) {
      feed(first: $first) { edges { node { id viewerHasLiked comments(first: $first) {
        edges { node { id } } } } } }
    }
    """
    one, executor = await _run(client, caplog, query, {"first": 1}, as_user=viewer)
    assert executor == "compiled"
    three, executor = await _run(client, caplog, query, {"first": 3}, as_user=viewer)
    assert executor == "compiled"
    assert len(one.data["feed"]["edges"]) == 1 and len(three.data["feed"]["edges"]) == 3
    assert [len(e["node"]["comments"]["edges"]) for e in three.data["feed"]["edges"]] == [3] * 3
    assert all(e["node"]["viewerHasLiked"] for e in three.data["feed"]["edges"])
    theirs, executor = await _run(client, caplog, query, {"first": 3}, as_user=other)
    assert executor == "compiled"
    assert not any(e["node"]["viewerHasLiked"] for e in theirs.data["feed"]["edges"])
