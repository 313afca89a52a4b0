"""Look-ahead: what a query selects below a field, so a list resolver loads what its
fields will need in the same statement (`selects`, `selected_arguments`). `GraphQLInfo` is
the typed `info` every resolver receives."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
    value_from_ast_untyped,
)
from graphql.execution.values import VariableValues
from strawberry.types import Info

from resolvers.core.context import Context

GraphQLInfo = Info[Context, None]

# --- look-ahead ----------------------------------------------------------------------

_SELECTS_KEPT = 4096
_selects_seen: dict[tuple[int, tuple[str, ...]], tuple[FieldNode, tuple[FieldNode, ...]]] = {}


def selects(info: GraphQLInfo, *path: str) -> bool:
    """Whether the query selects the field at `path` (field names, not aliases) below
    the field being resolved, through fragments, e.g. `selects(info, "edges", "node",
    "viewerProgress")`. A resolver uses it to load ahead what the fields below it will
    ask for. `@skip`/`@include` are not evaluated: a field they leave out only loads
    what would not be used."""
    return bool(_selected_nodes(info, path))


def selected_arguments(info: GraphQLInfo, *path: str) -> list[dict[str, Any]]:
    """The arguments of each selection of the field at `path` (as `selects`), with
    variables replaced by their values; arguments not given are left out."""
    given: Any = info._raw_info.variable_values
    # graphql-core 3.3 types them as `VariableValues`; strawberry's executor passes a dict.
    variables: dict[str, Any] = given.coerced if isinstance(given, VariableValues) else given
    return [
        {
            argument.name.value: value_from_ast_untyped(argument.value, variables)
            for argument in node.arguments or ()
        }
        for node in _selected_nodes(info, path)
    ]


def _selected_nodes(info: GraphQLInfo, path: tuple[str, ...]) -> tuple[FieldNode, ...]:
    """The field nodes at `path`, kept per parsed field node (the parser cache hands out
    the same nodes for the same document)."""
    raw = info._raw_info
    node = raw.field_nodes[0]
    key = (id(node), path)
    kept = _selects_seen.get(key)
    if kept is not None and kept[0] is node:
        return kept[1]
    found = tuple(_at_path(raw.field_nodes, path, raw.fragments))
    if len(_selects_seen) >= _SELECTS_KEPT:
        _selects_seen.clear()
    _selects_seen[key] = (node, found)
    return found


def _at_path(
    nodes: Sequence[FieldNode],
    path: tuple[str, ...],
    fragments: Mapping[str, FragmentDefinitionNode],
) -> Iterator[FieldNode]:
    if not path:
        yield from nodes
        return
    name, rest = path[0], path[1:]
    for node in nodes:
        for child in _subfields(node.selection_set, fragments, frozenset()):
            if child.name.value == name:
                yield from _at_path([child], rest, fragments)


def _subfields(
    selection_set: SelectionSetNode | None,
    fragments: Mapping[str, FragmentDefinitionNode],
    spread: frozenset[str],
) -> Iterator[FieldNode]:
    if selection_set is None:
        return
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _subfields(selection.selection_set, fragments, spread)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in spread:
                yield from _subfields(fragment.selection_set, fragments, spread | {name})
