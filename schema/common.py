"""Shared GraphQL building blocks: connections, typed errors, error-code mapping."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from enum import Enum
from typing import Annotated, Any, Generic, TypeVar, overload

import strawberry
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    SelectionSetNode,
    value_from_ast_untyped,
)
from graphql.execution.values import VariableValues
from strawberry.extensions import SchemaExtension
from strawberry.types import Info

from resolvers.core import errors
from resolvers.core.context import Context
from resolvers.core.outages import unavailable
from resolvers.core.pagination import Page

logger = logging.getLogger("caregraph.errors")

NodeT = TypeVar("NodeT")
RowT = TypeVar("RowT")
SuccessT = TypeVar("SuccessT")
ErrorT = TypeVar("ErrorT")

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


First = Annotated[int | None, strawberry.argument(description="Page size.")]
"""The `first` argument of a keyset-paginated list."""
After = Annotated[str | None, strawberry.argument(description="Cursor to continue after.")]
"""The `after` argument of a keyset-paginated list."""


@strawberry.enum(description="Sort direction.")
class OrderDirection(Enum):
    ASC = "asc"
    DESC = "desc"


@strawberry.type(description="Where a page sits in its list (Relay).")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow this page.")
    has_previous_page: bool = strawberry.field(
        description="This page was requested with `after`, so items precede it."
    )
    _page: strawberry.Private[Page[Any]]

    @strawberry.field(description="Cursor of the first item.")
    def start_cursor(self) -> str | None:
        return self._page.start_cursor

    @strawberry.field(description="Cursor of the last item; pass it as `after` for the next page.")
    def end_cursor(self) -> str | None:
        return self._page.end_cursor


@strawberry.type(description="One item of a list and its cursor.")
class Edge(Generic[NodeT]):
    node: NodeT = strawberry.field(description="The item.")
    _page: strawberry.Private[Page[Any]]
    _row: strawberry.Private[Any]

    @strawberry.field(description="Opaque cursor of this item, for `after`.")
    def cursor(self) -> str:
        # Encoded only when a query selects it.
        return self._page.cursor(self._row)


@strawberry.type(description="A page of a list, keyset-paginated with `first` and `after`.")
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]] = strawberry.field(description="The items of this page.")
    page_info: PageInfo = strawberry.field(description="Pagination state.")
    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(
        description="Number of items in the whole list, for this viewer (computed when asked)."
    )
    async def total_count(self) -> int:
        return await self._count()


def connection_from_page(page: Page[RowT], to_node: Callable[[RowT], NodeT]) -> Connection[NodeT]:
    edges = [Edge(node=to_node(row), _page=page, _row=row) for row in page.rows]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            _page=page,
        ),
        _count=page.count,
    )


def _deleted_id(root: Any) -> strawberry.ID:
    return strawberry.ID(root.id)


def deprecated_id_field(description: str) -> Any:
    """The `id` of a delete payload that predates `deletedId`; see `deleted_id_field`."""
    return strawberry.field(
        description=description,
        deprecation_reason="Use `deletedId`, the name every delete payload uses.",
    )


def deleted_id_field(description: str) -> Any:
    """`deletedId`, read from the payload's deprecated `id`."""
    return strawberry.field(resolver=_deleted_id, description=description)


@strawberry.interface(description="An expected problem with a mutation; nothing was written.")
class UserError:
    message: str = strawberry.field(description="What went wrong, for people.")
    code: str = strawberry.field(
        description="Machine-readable code: BAD_USER_INPUT, FORBIDDEN, NOT_FOUND, ..."
    )


@strawberry.type(description="Messages about one input field.")
class FieldError:
    field: str = strawberry.field(
        description="Input field path in camelCase, e.g. `rules[1].endTime`."
    )
    messages: list[str] = strawberry.field(description="What is wrong with it.")


@strawberry.type(description="The input is invalid; `fields` says where. Nothing was written.")
class ValidationError(UserError):
    fields: list[FieldError] = strawberry.field(description="Problems per input field.")

    @classmethod
    def from_error(cls, error: errors.ValidationFailed) -> ValidationError:
        return cls(
            message=error.message,
            code="BAD_USER_INPUT",
            fields=[FieldError(field=name, messages=msgs) for name, msgs in error.fields.items()],
        )


@strawberry.type(description="The viewer may not make this change. Nothing was written.")
class NotAllowed(UserError):
    @classmethod
    def from_error(cls, error: errors.CaregraphError) -> NotAllowed:
        return cls(message=error.message, code="FORBIDDEN")


@strawberry.type(
    name="NotFound",
    description="The target does not exist or is not visible to the viewer. Nothing was written.",
)
class NotFoundError(UserError):
    @classmethod
    def from_error(cls, error: errors.CaregraphError) -> NotFoundError:
        return cls(message=error.message, code="NOT_FOUND")


def user_error(error: errors.CaregraphError) -> ValidationError | NotAllowed | NotFoundError:
    """The typed result for an expected mutation error."""
    if isinstance(error, errors.ValidationFailed):
        return ValidationError.from_error(error)
    if isinstance(error, errors.Forbidden | errors.Unauthenticated):
        return NotAllowed.from_error(error)
    if isinstance(error, errors.NotFound):
        return NotFoundError.from_error(error)
    return ValidationError(message=error.message, code=error.code, fields=[])


@overload
async def mutation_result(
    call: Callable[[], Awaitable[RowT]],
    success: Callable[[RowT], SuccessT],
) -> SuccessT | ValidationError | NotAllowed | NotFoundError: ...


@overload
async def mutation_result(
    call: Callable[[], Awaitable[RowT]],
    success: Callable[[RowT], SuccessT],
    on_error: Callable[[errors.CaregraphError], ErrorT],
) -> SuccessT | ErrorT: ...


async def mutation_result(
    call: Callable[[], Awaitable[RowT]],
    success: Callable[[RowT], SuccessT],
    on_error: Callable[[errors.CaregraphError], Any] = user_error,
) -> Any:
    """The union result of a mutation: `success` of what `call` returns, or the typed error
    `on_error` (default `user_error`) makes of an expected error. `call` is a thunk so that
    argument parsing (`parse_id`, ...) inside it is mapped like the resolver's own errors."""
    try:
        result = await call()
    except errors.CaregraphError as error:
        return on_error(error)
    return success(result)


class ErrorCodes(SchemaExtension):
    """Gives every error an `extensions.code`. Expected errors keep their message; a
    database that cannot answer is SERVICE_UNAVAILABLE (retryable); anything else is
    logged with its traceback and masked with the request id."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        request_id = getattr(self.execution_context.context, "request_id", None)
        result.errors = [self._process(error, request_id) for error in result.errors]

    def _process(self, error: GraphQLError, request_id: str | None) -> GraphQLError:
        original = error.original_error
        if isinstance(original, errors.CaregraphError):
            return _with_code(error, original.code)
        if original is None or isinstance(original, GraphQLError):
            code = (error.extensions or {}).get("code", "BAD_USER_INPUT")
            return _with_code(error, str(code))
        outage = unavailable(original)
        if outage is not None:
            logger.warning(
                "database unavailable in request %s at %s: %r", request_id, error.path, original
            )
            return GraphQLError(
                message=outage.message,
                nodes=error.nodes,
                source=error.source,
                positions=error.positions,
                path=error.path,
                original_error=outage,
                extensions={"code": outage.code, "retryable": True},
            )
        logger.error(
            "unexpected error in request %s at %s",
            request_id,
            error.path,
            exc_info=(type(original), original, original.__traceback__),
        )
        return GraphQLError(
            message=f"Internal server error (request id {request_id}).",
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
        )


def _with_code(error: GraphQLError, code: str) -> GraphQLError:
    extensions: dict[str, Any] = dict(error.extensions or {})
    extensions["code"] = code
    error.extensions = extensions
    return error
