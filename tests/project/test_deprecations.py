"""No silent breaks: against the SDL of the last release (`schema.release.graphql`), the
committed `schema.graphql` may only remove what that release had already marked
`@deprecated`; every other breaking change (a type, field, argument or enum value gone, a
type changed, a new required argument) fails here. At a release, copy `schema.graphql`
to `schema.release.graphql`."""

from __future__ import annotations

import re

from graphql import (
    BreakingChange,
    BreakingChangeType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    find_breaking_changes,
)

from server import ROOT


def _deprecated_in(schema: GraphQLSchema, change: BreakingChange) -> bool:
    """Whether the field or argument `change` removes was deprecated in `schema`."""
    match = re.search(r"(\w+)\.(\w+)(?:\((\w+):\))? was removed", change.description)
    if match is None:
        return False
    type_name, field_name, argument = match.groups()
    type_ = schema.get_type(type_name)
    if not isinstance(type_, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
        return False
    field = type_.fields.get(field_name)
    if field is None:
        return False
    if argument is None:
        return field.deprecation_reason is not None
    arg = getattr(field, "args", {}).get(argument)
    return arg is not None and arg.deprecation_reason is not None


def breaking_changes(release: str, current: str) -> list[str]:
    old, new = build_schema(release), build_schema(current)
    removals = {BreakingChangeType.FIELD_REMOVED, BreakingChangeType.ARG_REMOVED}
    return [
        f"{change.type.name}: {change.description}"
        for change in find_breaking_changes(old, new)
        if not (change.type in removals and _deprecated_in(old, change))
    ]


def test_the_committed_schema_breaks_nothing_the_release_did_not_deprecate() -> None:
    release = (ROOT / "schema.release.graphql").read_text()
    current = (ROOT / "schema.graphql").read_text()
    assert breaking_changes(release, current) == []


def test_removing_a_field_needs_a_deprecation_first() -> None:
    release = (
        'type Query {\n  kept: Int\n  old: Int @deprecated(reason: "Use kept.")\n  live: Int\n}'
    )
    assert breaking_changes(release, "type Query {\n  kept: Int\n  live: Int\n}") == []
    assert breaking_changes(release, "type Query {\n  kept: Int\n  old: Int\n}") == [
        "FIELD_REMOVED: Field Query.live was removed."
    ]
    release_args = 'type Query {\n  a(x: Int, y: Int @deprecated(reason: "No.")): Int\n}'
    assert breaking_changes(release_args, "type Query {\n  a(x: Int): Int\n}") == []
    assert breaking_changes(release_args, "type Query {\n  a(y: Int): Int\n}") != []
    assert breaking_changes("type Query { a(x: Int): Int }", "type Query { a(x: Int!): Int }")
