"""Request limits that run after parsing and before execution: depth, aliases and a cost
budget (a field that takes `first` multiplies its subtree by `first`, or by the argument's
default when it is not given), plus production-mode introspection
for admins only. Each error names the limit, the allowed value and how far it was exceeded."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    get_named_type,
    visit,
)
from graphql.language import Visitor
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult

from resolvers.context import Context

INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})


@dataclass
class Measurement:
    depth: int = 0
    aliases: int = 0
    cost: int = 0
    introspection: bool = False


class _Measurer:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        default_page_size: int,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.default_page_size = default_page_size
        self.result = Measurement()
        self.variables_read: dict[str, Any] = {}

    def _page_size(self, node: FieldNode, definition: GraphQLField | None) -> int:
        """How many items a field may return: its `first` (given, from a variable, or the
        argument's default); 1 for a field without a `first` argument."""
        if definition is None or "first" not in definition.args:
            return 1
        for argument in node.arguments or ():
            if argument.name.value != "first":
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return max(int(value.value), 1)
            if isinstance(value, VariableNode):
                given = self.variables.get(value.name.value)
                self.variables_read[value.name.value] = given
                if isinstance(given, int):
                    return max(given, 1)
        default = definition.args["first"].default_value
        return max(default, 1) if isinstance(default, int) else self.default_page_size

    def _type(self, name: str | None, fallback: GraphQLNamedType | None) -> GraphQLNamedType | None:
        return self.schema.get_type(name) if name is not None else fallback

    def fields(
        self,
        selection_set: SelectionSetNode | None,
        parent: GraphQLNamedType | None,
        stack: tuple[str, ...],
    ) -> Iterator[tuple[GraphQLNamedType | None, FieldNode]]:
        """The fields of a selection set with the type each is selected on."""
        if selection_set is None:
            return
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                yield parent, selection
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                on = self._type(condition.name.value if condition else None, parent)
                yield from self.fields(selection.selection_set, on, stack)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in stack:  # unknown or cyclic: validation reports
                    continue
                on = self._type(fragment.type_condition.name.value, parent)
                yield from self.fields(fragment.selection_set, on, (*stack, name))

    def measure(
        self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None, depth: int
    ) -> int:
        """Returns the cost of the selection set; records depth, aliases, introspection."""
        cost = 0
        for on, node in self.fields(selection_set, parent, ()):
            name = node.name.value
            if name in INTROSPECTION_FIELDS:
                self.result.introspection = True
                continue
            if name == "__typename":
                continue
            if node.alias is not None:
                self.result.aliases += 1
            self.result.depth = max(self.result.depth, depth)
            definition = (
                on.fields.get(name)
                if isinstance(on, GraphQLObjectType | GraphQLInterfaceType)
                else None
            )
            child = get_named_type(definition.type) if definition is not None else None
            child_cost = self.measure(node.selection_set, child, depth + 1)
            cost += 1 + child_cost * self._page_size(node, definition)
        return cost


def _measure(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any],
    default_page_size: int,
) -> tuple[Measurement, dict[str, Any]]:
    """The measurement and the variables it read (those given to `first`)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    measurer = _Measurer(schema, fragments, variables, default_page_size)
    for operation in operations[:1]:
        root = schema.get_root_type(operation.operation)
        measurer.result.cost = measurer.measure(operation.selection_set, root, 1)
    return measurer.result, measurer.variables_read


class MeasurementCache:
    """Measurements of the documents seen lately. A measurement depends on the document,
    the operation and only the variables given to `first`, so it is kept with the values
    those variables had, and reused while they have the same ones (same type and value).
    Documents come from the parser cache, so a repeated query is the same object."""

    def __init__(self, max_documents: int = 512, variants_per_document: int = 8) -> None:
        self._max_documents = max_documents
        self._variants = variants_per_document
        self._entries: dict[
            tuple[int, str | None, int],
            tuple[DocumentNode, list[tuple[dict[str, Any], Measurement]]],
        ] = {}

    def measure(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
        default_page_size: int,
    ) -> Measurement:
        given = variables or {}
        key = (id(document), operation_name, default_page_size)
        entry = self._entries.get(key)
        if entry is not None and entry[0] is document:
            for read, measured in entry[1]:
                if all(_same(given.get(name), value) for name, value in read.items()):
                    return measured
        measured, read = _measure(schema, document, operation_name, given, default_page_size)
        if entry is None or entry[0] is not document:
            if len(self._entries) >= self._max_documents:
                self._entries.clear()
            entry = (document, [])
            self._entries[key] = entry
        if len(entry[1]) < self._variants:
            entry[1].append((read, measured))
        return measured


def _same(given: Any, kept: Any) -> bool:
    return type(given) is type(kept) and given == kept


_measurements = MeasurementCache()


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_has_nul(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_has_nul(item) for item in value)
    return False


class _NulFinder(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        if "\x00" in node.value:
            self.found = True


def contains_nul(
    document: DocumentNode, source: str | None, variables: Mapping[str, Any] | None
) -> bool:
    """Postgres text cannot hold U+0000: a string argument or variable with it is rejected
    before execution instead of failing in the database. The document is only walked when
    its source has a NUL or a unicode escape that could spell one."""
    if _has_nul(variables or {}):
        return True
    if source is not None and "\x00" not in source and "\\u" not in source:
        return False
    finder = _NulFinder()
    visit(document, finder)
    return finder.found


def _limit_error(limit: str, maximum: int, actual: int, what: str) -> GraphQLError:
    return GraphQLError(
        f"Query {what} {actual} exceeds the limit of {maximum} by {actual - maximum}.",
        extensions={
            "code": "BAD_USER_INPUT",
            "limit": limit,
            "maximum": maximum,
            "actual": actual,
        },
    )


class RequestLimits(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        request_context = context.context
        if document is not None and isinstance(request_context, Context):
            errors = self._check(document, request_context)
            if errors:
                context.result = ExecutionResult(data=None, errors=errors)
        yield

    def _check(self, document: DocumentNode, request: Context) -> list[GraphQLError]:
        settings = request.settings
        measured = _measurements.measure(
            self.execution_context.schema._schema,
            document,
            self.execution_context.operation_name,
            self.execution_context.variables,
            settings.default_page_size,
        )
        errors = []
        if contains_nul(document, self.execution_context.query, self.execution_context.variables):
            errors.append(
                GraphQLError(
                    "Text must not contain the NUL character (\\u0000).",
                    extensions={"code": "BAD_USER_INPUT"},
                )
            )
        if measured.introspection and not introspection_allowed(request):
            errors.append(
                GraphQLError(
                    "Introspection is disabled for this viewer.",
                    extensions={"code": "FORBIDDEN"},
                )
            )
        if measured.depth > settings.max_query_depth:
            errors.append(_limit_error("depth", settings.max_query_depth, measured.depth, "depth"))
        if measured.aliases > settings.max_aliases:
            errors.append(
                _limit_error("aliases", settings.max_aliases, measured.aliases, "alias count")
            )
        if measured.cost > settings.max_query_cost:
            errors.append(_limit_error("cost", settings.max_query_cost, measured.cost, "cost"))
        return errors


def introspection_allowed(request: Context) -> bool:
    if not request.settings.is_production:
        return True
    viewer = request.viewer
    return viewer.is_admin or viewer.is_service
