"""Names the argument or input field of a value the schema refused.

graphql-core reports a literal it cannot coerce (`availableSlots(from: "x")`) at the
literal, and a variable (`$from`) at the variable's definition, with the path inside the
variable when it is an input object (`at .rules[0].startTime`). Neither says which
argument the value was for; `input_field` finds it in the document, e.g. `from`,
`filter.from`, `input.rules[0].startTime`, for `extensions.field`."""

from __future__ import annotations

import re
from collections.abc import Iterator

from graphql import (
    DocumentNode,
    ExecutableDefinitionNode,
    FieldNode,
    GraphQLError,
    InlineFragmentNode,
    ListValueNode,
    Node,
    ObjectValueNode,
    SelectionSetNode,
    ValueNode,
    VariableDefinitionNode,
    VariableNode,
)

_VARIABLE_ERROR = re.compile(r"^Variable '\$\w+' has invalid value(?: at \.?([^\s:]+))?:")

Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    """`("input", "rules", 0, "startTime")` as `input.rules[0].startTime`."""
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else key)
    return text


def _values(value: ValueNode, path: Path) -> Iterator[tuple[Path, ValueNode]]:
    yield path, value
    if isinstance(value, ObjectValueNode):
        for field in value.fields:
            yield from _values(field.value, (*path, field.name.value))
    elif isinstance(value, ListValueNode):
        for index, item in enumerate(value.values):
            yield from _values(item, (*path, index))


def _selections(selection_set: SelectionSetNode | None) -> Iterator[FieldNode]:
    if selection_set is None:
        return
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection
            yield from _selections(selection.selection_set)
        elif isinstance(selection, InlineFragmentNode):
            yield from _selections(selection.selection_set)
        # A fragment spread's fields are read in its definition.


def _argument_values(document: DocumentNode) -> Iterator[tuple[Path, ValueNode]]:
    """Every value given to a field argument, at every depth, with its path from the
    argument (in document order: operations and fragments alike)."""
    for definition in document.definitions:
        if isinstance(definition, ExecutableDefinitionNode):
            for field in _selections(definition.selection_set):
                for argument in field.arguments or ():
                    yield from _values(argument.value, (argument.name.value,))


def input_field(error: GraphQLError, document: DocumentNode | None) -> str | None:
    """The argument or input field path the refused value of `error` was given for, or
    None when `error` is not about one input value."""
    nodes: list[Node] = list(error.nodes or ())
    if document is None or len(nodes) != 1:
        return None
    node = nodes[0]
    if isinstance(node, VariableDefinitionNode):
        match = _VARIABLE_ERROR.match(error.message)
        if match is None:
            return None
        name = node.variable.name.value
        for path, value in _argument_values(document):
            if isinstance(value, VariableNode) and value.name.value == name:
                inner = match.group(1)
                if not inner:
                    return format_path(path)
                return format_path(path) + ("" if inner.startswith("[") else ".") + inner
        return None
    for path, value in _argument_values(document):
        if value is node:
            return format_path(path)
    return None


def name_input_field(error: GraphQLError, document: DocumentNode | None) -> None:
    """Adds `extensions.field` to an error about one input value (see `input_field`)."""
    if error.original_error is not None and not isinstance(error.original_error, GraphQLError):
        return
    if "field" in (error.extensions or {}):
        return
    field = input_field(error, document)
    if field is not None:
        error.extensions = {**(error.extensions or {}), "field": field}
