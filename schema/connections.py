"""Lists that can grow: Relay connections (`Connection`, `Edge`, `PageInfo`), their
arguments (`First`, `After`) and the sort direction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Annotated, Any, Generic, TypeVar

import strawberry

from resolvers.core.pagination import Page

NodeT = TypeVar("NodeT")
RowT = TypeVar("RowT")


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
