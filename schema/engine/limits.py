"""Request limits that run after parsing and before execution: depth, aliases and a cost
budget (a field that takes `first` multiplies its subtree by `first`, or by the argument's
default when it is not given), plus production-mode introspection
for admins only. Each error names the limit, the allowed value and how far it was exceeded."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
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
    parse,
    visit,
)
from graphql.language import Visitor
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult

from resolvers.core.context import Context

INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})


@dataclass
class Measurement:
    depth: int = 0
    aliases: int = 0
    cost: int = 0
    introspection: bool = False
    selections: int = 0
    """Field selections in the operation with every fragment spread expanded."""
    visited: int = 0
    """Selection nodes the measurement looked at: each node of the document once, however
    often its fragment is spread (what tests check grows linearly with the document)."""


@dataclass(frozen=True)
class _Summary:
    """What a selection set adds where it is selected: its cost, the depth it reaches
    below its parent, its aliases and expanded field selections, and whether it asks
    for introspection. Summaries add up, so a fragment is summarised once and its
    summary reused at every spread: measuring takes time linear in the document's size
    even when fragments spread each other many times over."""

    cost: int = 0
    depth: int = 0
    aliases: int = 0
    selections: int = 0
    introspection: bool = False


_EMPTY = _Summary()


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
        self.variables_read: dict[str, Any] = {}
        self.visited = 0
        self._fragment_summaries: dict[str, _Summary] = {}
        self._in_progress: set[str] = set()

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

    def _fragment(self, name: str) -> _Summary:
        """A fragment's summary, measured on its first spread. A fragment that spreads
        itself (directly or not) adds nothing the second time: validation reports the
        cycle."""
        summary = self._fragment_summaries.get(name)
        if summary is not None:
            return summary
        fragment = self.fragments.get(name)
        if fragment is None or name in self._in_progress:  # unknown or cyclic
            return _EMPTY
        self._in_progress.add(name)
        on = self._type(fragment.type_condition.name.value, None)
        summary = self.summarise(fragment.selection_set, on)
        self._in_progress.discard(name)
        self._fragment_summaries[name] = summary
        return summary

    def summarise(
        self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None
    ) -> _Summary:
        if selection_set is None:
            return _EMPTY
        cost = depth = aliases = selections = 0
        introspection = False
        for selection in selection_set.selections:
            self.visited += 1
            if isinstance(selection, FieldNode):
                selections += 1
                name = selection.name.value
                if name in INTROSPECTION_FIELDS:
                    introspection = True
                    continue
                if name == "__typename":
                    continue
                if selection.alias is not None:
                    aliases += 1
                definition = (
                    parent.fields.get(name)
                    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType)
                    else None
                )
                child_type = get_named_type(definition.type) if definition is not None else None
                child = self.summarise(selection.selection_set, child_type)
                cost += 1 + child.cost * self._page_size(selection, definition)
                depth = max(depth, 1 + child.depth)
                aliases += child.aliases
                selections += child.selections
                introspection = introspection or child.introspection
                continue
            if isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                on = self._type(condition.name.value if condition else None, parent)
                child = self.summarise(selection.selection_set, on)
            elif isinstance(selection, FragmentSpreadNode):
                child = self._fragment(selection.name.value)
            else:  # pragma: no cover - the grammar has no other selection
                continue
            cost += child.cost
            depth = max(depth, child.depth)
            aliases += child.aliases
            selections += child.selections
            introspection = introspection or child.introspection
        return _Summary(cost, depth, aliases, selections, introspection)


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
    measurement = Measurement()
    for operation in operations[:1]:
        root = schema.get_root_type(operation.operation)
        summary = measurer.summarise(operation.selection_set, root)
        measurement = Measurement(
            depth=summary.depth,
            aliases=summary.aliases,
            cost=summary.cost,
            introspection=summary.introspection,
            selections=summary.selections,
        )
    measurement.visited = measurer.visited
    return measurement, measurer.variables_read


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
        context = self.execution_context
        return limit_errors(
            context.schema._schema,
            document,
            request,
            query=context.query,
            operation_name=context.operation_name,
            variables=context.variables,
        )


@lru_cache(maxsize=1024)
def parse_document(query: str, max_tokens: int) -> DocumentNode:
    """One parse per query text (at most `max_tokens` tokens), shared by every request and
    subscription that sends it: so also one measurement (`MeasurementCache` keys on the
    document) and, for a thousand subscribers of one subscription, one AST."""
    return parse(query, max_tokens=max_tokens)


class ParsedDocuments(SchemaExtension):
    """The parse step: `parse_document`, so one parse per query text and token limit,
    shared with the endpoint (which parses first, to pick the operation), the WebSocket
    and SSE transports and every per-document cache. Replaces strawberry's `ParserCache`
    and `MaxTokensLimiter`: the same token limit, without a second cache of documents."""

    def __init__(self, max_tokens: int) -> None:
        super().__init__()
        self.max_tokens = max_tokens

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        assert context.query is not None  # strawberry refuses a request without one
        context.graphql_document = parse_document(context.query, self.max_tokens)
        yield


def limit_errors(
    schema: GraphQLSchema,
    document: DocumentNode,
    request: Context,
    *,
    query: str | None,
    operation_name: str | None,
    variables: dict[str, Any] | None,
) -> list[GraphQLError]:
    """The limits an operation breaks (depth, aliases, cost, selections, NUL characters,
    introspection for viewers without it), for any operation: `RequestLimits` applies
    them to queries and mutations, `schema/engine/websocket.start_operation` to
    subscriptions (strawberry does not stop a subscription for an `on_execute` result)."""
    settings = request.settings
    measured = _measurements.measure(
        schema,
        document,
        operation_name,
        variables,
        settings.default_page_size,
    )
    request.operation_cost = measured.cost  # for the rate limits (schema/engine/rate_limits.py)
    errors = []
    if contains_nul(document, query, variables):
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
    if measured.selections > settings.max_selections:
        errors.append(
            _limit_error(
                "selections", settings.max_selections, measured.selections, "selection count"
            )
        )
    return errors


def introspection_allowed(request: Context) -> bool:
    if not request.settings.is_production:
        return True
    viewer = request.viewer
    return viewer.is_admin or viewer.is_service


def variables_problem(variables: Mapping[str, Any], max_depth: int, max_values: int) -> str | None:
    """Why the request's variables are refused before coercion, if they are: nested
    deeper than `max_depth` objects and lists, or more than `max_values` values in all.
    graphql-core coerces input values recursively: a JSON value nested a few hundred
    levels deep would exhaust the interpreter's stack. Walks without recursion."""
    pending: list[tuple[Any, int]] = [(value, 1) for value in variables.values()]
    count = 0
    while pending:
        value, depth = pending.pop()
        count += 1
        if count > max_values:
            return f"`variables` hold more than {max_values} values."
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > max_depth:
            return f"`variables` are nested deeper than {max_depth} levels."
        pending.extend((child, depth + 1) for child in children)
    return None
