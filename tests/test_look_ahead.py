"""Look-ahead (`schema.common.selects`): a list resolver loads what the fields below it
will ask for, in the same statements, so they resolve without a wait each. Answers are
the same whether the fields are selected inline, through fragments or not at all, and a
field that is not selected costs no statement."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from graphql import FieldNode, FragmentDefinitionNode, OperationDefinitionNode, parse

from resolvers.database import Database
from schema.common import selects
from tests.client import GraphQLClient
from tests.factories import make_user
from tests.factories_lessons import make_entitlement, make_lesson, make_progress

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


async def test_selected_fields_are_loaded_ahead_the_same_way_however_selected(
    client: GraphQLClient, db: Database
) -> None:
    viewer = await make_user(db)
    free = await make_lesson(db, slug="a-free", position=1)
    await make_lesson(db, slug="b-paid", position=2, paywall=True)
    await make_progress(db, viewer, free, position_sec=42)

    inline = await client.execute(INLINE, as_user=viewer)
    fragments = await client.execute(FRAGMENTS, as_user=viewer)
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
    neither = await client.execute(NEITHER, as_user=viewer)
    assert neither.statements == 2

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
