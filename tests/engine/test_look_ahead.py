"""Look-ahead (`schema.engine.look_ahead.selects`): a list resolver loads what the fields below it
will ask for, in the same statements, so they resolve without a wait each. Answers are
the same whether the fields are selected inline, through fragments or not at all, and a
field that is not selected costs no statement."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from graphql import FieldNode, FragmentDefinitionNode, OperationDefinitionNode, parse

from resolvers.community import CommentByIdLoader
from resolvers.core.database import Database, StatementCounter, statement_counter
from resolvers.core.identity import Viewer
from resolvers.core.loaders import Loaders, PolicyLoader
from resolvers.core.settings import Settings
from schema.engine.look_ahead import selects
from tests.appointments.factories import make_appointment
from tests.client import GraphQLClient, graphql_client
from tests.community.factories import like_comment, like_post, make_comment, make_post
from tests.factories import gid, make_doctor, make_user
from tests.lessons.factories import make_entitlement, make_lesson, make_progress

INLINE = """
query { lessons(first: 10) { edges { node { slug locked viewerProgress { positionSec } } } } }
"""
FRAGMENTS = """
query { lessons(first: 10) { ...Page } }
fragment Page on LessonConnection { edges { node { slug ... on Lesson { ...Viewer } } } }
fragment Viewer on Lesson { locked viewerProgress { positionSec } }
"""
ALIASED = """
query {
  lessons(first: 10) { all: edges { item: node { slug mine: viewerProgress { positionSec } } } }
}
"""
NEITHER = "query { lessons(first: 10) { edges { node { slug } } } }"


@pytest.fixture
async def client(settings: Settings, db: Database) -> AsyncIterator[GraphQLClient]:
    """Look-ahead is the resolvers' path: Postgres answering a root field as JSON reads
    everything in one statement instead (tests/engine/test_sql_json.py)."""
    async with graphql_client(settings, db, sql_json_execution=False) as on_resolvers:
        yield on_resolvers


@contextmanager
def _loaded_ahead(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    """The loaders a request asked with `load_each`: what look-ahead queued (fields load
    one key at a time)."""
    loaders: set[str] = set()
    load_each = PolicyLoader.load_each

    def recording(self: PolicyLoader[Any, Any], keys: Any) -> Any:
        loaders.add(type(self).__name__)
        return load_each(self, keys)

    with monkeypatch.context() as patch:
        patch.setattr(PolicyLoader, "load_each", recording)
        yield loaders


async def test_selected_fields_are_loaded_ahead_the_same_way_however_selected(
    client: GraphQLClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    viewer = await make_user(db)
    free = await make_lesson(db, slug="a-free", position=1)
    await make_lesson(db, slug="b-paid", position=2, paywall=True)
    await make_progress(db, viewer, free, position_sec=42)

    with _loaded_ahead(monkeypatch) as inline_ahead:
        inline = await client.execute(INLINE, as_user=viewer)
    with _loaded_ahead(monkeypatch) as fragments_ahead:
        fragments = await client.execute(FRAGMENTS, as_user=viewer)
    assert inline_ahead == fragments_ahead == {"ProgressByLessonIdLoader"}
    expected = [
        {"slug": "a-free", "locked": False, "viewerProgress": {"positionSec": 42}},
        {"slug": "b-paid", "locked": True, "viewerProgress": None},
    ]
    assert [edge["node"] for edge in inline.data["lessons"]["edges"]] == expected
    assert [edge["node"] for edge in fragments.data["lessons"]["edges"]] == expected
    # viewer, lessons, then progress and the entitlement in one round (two statements).
    assert inline.statements == fragments.statements == 4

    aliased = await client.execute(ALIASED, as_user=viewer)
    assert [edge["item"]["mine"] for edge in aliased.data["lessons"]["all"]] == [
        {"positionSec": 42},
        None,
    ]
    assert aliased.statements == 3  # no entitlement: nothing asks whether content is locked
    with _loaded_ahead(monkeypatch) as nothing_ahead:
        neither = await client.execute(NEITHER, as_user=viewer)
    assert neither.statements == 2
    assert nothing_ahead == set()

    await make_entitlement(db, viewer)
    entitled = await client.execute(INLINE, as_user=viewer)
    assert [edge["node"]["locked"] for edge in entitled.data["lessons"]["edges"]] == [False, False]


def _info(document: str) -> Any:
    """What `selects` reads of a resolver's info: the root field's nodes and fragments."""
    parsed = parse(document)
    operation = next(d for d in parsed.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {
        d.name.value: d for d in parsed.definitions if isinstance(d, FragmentDefinitionNode)
    }
    (root,) = operation.selection_set.selections
    assert isinstance(root, FieldNode)
    return SimpleNamespace(_raw_info=SimpleNamespace(field_nodes=[root], fragments=fragments))


def test_selects_follows_fragments_and_field_names_not_aliases() -> None:
    for document in (INLINE, FRAGMENTS):
        info = _info(document)
        assert selects(info, "edges", "node", "viewerProgress")
        assert selects(info, "edges", "node", "locked")
        assert not selects(info, "edges", "node", "videoId")
        assert not selects(info, "pageInfo")
    aliased = _info(ALIASED)
    assert selects(aliased, "edges", "node", "viewerProgress")
    assert not selects(aliased, "all", "item", "mine")
    assert not selects(_info(NEITHER), "edges", "node", "viewerProgress")
    cyclic = _info(
        "query { lessons { ...A } } fragment A on LessonConnection { ...A edges { cursor } }"
    )
    assert selects(cyclic, "edges", "cursor")
    assert not selects(cyclic, "edges", "node")


FEED = """
query ($comments: Int) {
  feed(first: 10) {
    edges { node {
      id likeCount commentCount viewerHasLiked author { displayName }
      comments(first: $comments) { edges { node {
        id body likeCount viewerHasLiked author { displayName }
        replies(first: 2) { edges { node { id body author { displayName } } } }
      } } }
    } }
  }
}
"""
# The same fields with `comments` selected twice (equal arguments): the feed then does not
# load comment pages ahead, and each field loads its own.
FEED_TWICE = FEED.replace(
    "comments(first: $comments) {",
    "again: comments(first: $comments) { edges { node { id } } }\n"
    "      comments(first: $comments) {",
)
TOO_MANY = """
query { feed(first: 10) { edges { node { id comments(first: 1000) {
  edges { node { id } } } } } } }
"""
BAD_CURSOR = """
query { feed(first: 10) { edges { node { id comments(first: 2, after: "garbage") {
  edges { node { id } } } } } } }
"""


async def test_the_feed_loads_ahead_what_its_fields_would_load(
    client: GraphQLClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    viewer, writer = await make_user(db), await make_user(db)
    for p in range(3):
        post = await make_post(db, writer, title=f"Post {p}")
        await like_post(db, post, viewer)
        for c in range(3):
            comment = await make_comment(db, post, await make_user(db), body=f"Comment {p}.{c}")
            await like_comment(db, comment, viewer)
            for r in range(3):
                await make_comment(db, post, writer, parent=comment, body=f"Reply {p}.{c}.{r}")

    with _loaded_ahead(monkeypatch) as loaded:
        ahead = await client.execute(FEED, {"comments": 2}, as_user=viewer)
    assert loaded == {
        "LikeCountByPostIdLoader",
        "CommentCountByPostIdLoader",
        "ViewerLikedPostLoader",
        "AuthorByIdLoader",
        "TopCommentsByPostIdLoader",
        "LikeCountByCommentIdLoader",
        "ViewerLikedCommentLoader",
        "RepliesByCommentIdLoader",
    }
    with _loaded_ahead(monkeypatch) as loaded_twice:
        each = await client.execute(FEED_TWICE, {"comments": 2}, as_user=viewer)
    assert "TopCommentsByPostIdLoader" not in loaded_twice
    assert ahead.errors == each.errors == []
    posts = ahead.data["feed"]["edges"]
    assert len(posts) == 3
    assert all(edge["node"]["viewerHasLiked"] for edge in posts)
    assert [len(edge["node"]["comments"]["edges"]) for edge in posts] == [2, 2, 2]
    for edge in each.data["feed"]["edges"]:
        del edge["node"]["again"]
    assert each.data == ahead.data
    # The same loaders, so the same statements, either way.
    assert ahead.statements == each.statements

    bad = await client.execute(BAD_CURSOR, as_user=viewer)
    assert bad.codes == ["BAD_USER_INPUT"]  # as without look-ahead: the field reports it
    too_many = await client.execute(TOO_MANY, as_user=viewer)
    assert too_many.codes == ["BAD_USER_INPUT"]
    assert too_many.errors[0]["path"][:1] == ["feed"]
    assert too_many.errors[0]["path"][-1] == "comments"  # the field's error, not the feed's


async def test_a_nested_page_size_refused_by_its_field_does_not_fail_an_empty_feed(
    client: GraphQLClient, db: Database
) -> None:
    viewer = await make_user(db)
    empty = await client.execute(TOO_MANY, as_user=viewer)
    assert empty.errors == []
    assert empty.data == {"feed": {"edges": []}}


class _Doubling(PolicyLoader[int, int]):
    """Doubles its keys in one batch; a negative key fails on its own."""

    batches: list[list[int]]

    async def batch_load_fn(self, keys: Sequence[int]) -> list[int | Exception]:  # type: ignore[override]
        self.batches.append(list(keys))
        return [ValueError(f"negative {key}") if key < 0 else key * 2 for key in keys]


async def test_load_each_queues_every_key_in_one_batch_and_raises_a_failure_once(
    db: Database,
) -> None:
    loader = _Doubling(db, Viewer(role="anon"))
    loader.batches = []
    first, second = loader.load_each([1, 2]), loader.load_each([3])
    assert await second == [6]
    assert await first == [2, 4]
    assert loader.batches == [[1, 2, 3]]  # both calls joined one batch before any await
    with pytest.raises(ValueError, match="negative -1"):
        await loader.load_each([4, -1, 5])
    assert await loader.load_each([4, 5]) == [8, 10]  # the others were loaded and kept


APPOINTMENTS_WITH_DOCTORS = """
query { appointments(first: 10) { edges { node { id doctor { id fullName } } } } }
"""
APPOINTMENTS_ONLY = "query { appointments(first: 10) { edges { node { id } } } }"
ONE_APPOINTMENT = "query ($id: ID!) { appointment(id: $id) { id doctor { id fullName } } }"


async def test_appointment_doctors_are_read_with_the_page_under_the_doctors_policy(
    client: GraphQLClient, db: Database
) -> None:
    patient = await make_user(db)
    shown = await make_doctor(db)
    unverified_user = await make_user(db, roles=("doctor",))
    unverified = await make_doctor(db, user=unverified_user, verified=False)
    start = datetime.now(UTC) + timedelta(days=3)
    for offset, doctor in enumerate((shown, unverified)):
        await make_appointment(
            db, doctor=doctor, patient=patient, starts_at=start + timedelta(hours=offset)
        )

    joined = await client.execute(APPOINTMENTS_WITH_DOCTORS, as_user=patient)
    nodes = [edge["node"] for edge in joined.data["appointments"]["edges"]]
    # The patient sees the verified doctor and not the unverified one (doctors policy).
    assert [node["doctor"] for node in nodes] == [
        {"id": gid(shown), "fullName": shown.full_name},
        None,
    ]
    # Each is what the doctor loader gives on its own, with no statement of its own.
    for node in nodes:
        alone = await client.execute(ONE_APPOINTMENT, {"id": node["id"]}, as_user=patient)
        assert alone.data["appointment"]["doctor"] == node["doctor"]
    only = await client.execute(APPOINTMENTS_ONLY, as_user=patient)
    assert joined.statements == only.statements

    owner = await client.execute(APPOINTMENTS_WITH_DOCTORS, as_user=unverified_user)
    # The unverified doctor sees their own profile on their own appointment.
    [own] = [edge["node"] for edge in owner.data["appointments"]["edges"]]
    assert own["doctor"] == {"id": gid(unverified), "fullName": unverified.full_name}


async def test_comments_read_in_a_thread_are_served_by_id_without_a_statement(
    db: Database,
) -> None:
    writer = await make_user(db)
    post = await make_post(db, writer)
    comment = await make_comment(db, post, writer, body="First")
    viewer = Viewer(role="authenticated", user_id=writer.id)
    loaders = Loaders(db, viewer)
    read = loaders.get(CommentByIdLoader)
    stale = SimpleNamespace(id=comment.id, body="as read by the thread")

    counter = StatementCounter()
    token = statement_counter.set(counter)
    try:
        read.remember([stale])  # type: ignore[list-item]
        assert await read.load(comment.id) is stale
        assert counter.count == 0
        read.remember([stale])  # type: ignore[list-item]
        read.clear(comment.id)  # a write's clear drops what a thread read, too
        fresh = await read.load(comment.id)
        assert fresh is not None and fresh.body == "First"
        assert counter.count == 1
    finally:
        statement_counter.reset(token)
        loaders.close()
