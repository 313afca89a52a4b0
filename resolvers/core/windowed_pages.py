"""Per-parent pages for nested connections: one query for many parents, limited per
parent with `row_number() OVER (PARTITION BY parent ...)`, and per-parent counts with one
query over the parent ids. Never one query per parent. Both are statement templates
(`resolvers/core/statement_templates.py`): built once per call site and viewer shape, run with the
parent ids and the page size bound."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import ARRAY, bindparam, column, func, select
from sqlalchemy.orm import InstrumentedAttribute, aliased

from resolvers.core.database import Database
from resolvers.core.identity import Viewer
from resolvers.core.pagination import Page, SortKey, decode_cursor_for
from resolvers.core.statement_templates import (
    AnySelect,
    RelatedColumns,
    any_of,
    fetch_rows,
    instances,
)

RowT = TypeVar("RowT")


async def pages_per_parent(
    db: Database,
    viewer: Viewer,
    key: object,
    model: type[RowT],
    build: Callable[[Viewer], AnySelect],
    parent: InstrumentedAttribute[Any],
    parent_ids: Iterable[Hashable],
    sort: SortKey,
    key_of: Callable[[RowT], Sequence[Any]],
    *,
    first: int,
    after: str | None,
    count: Callable[[Hashable], Any],
    values: dict[str, Any] | None = None,
    joined: RelatedColumns | None = None,
) -> dict[Any, Page[RowT]]:
    """A page for each of `parent_ids` (empty when a parent has no rows). `build(viewer)`
    selects `model` already filtered by policy and filters, the same for every call with
    this `key` (`values` bound by name); the parents are added here. `count(parent_id)`
    returns an awaitable total for that parent. `joined` reads related columns with the
    rows (see `RelatedColumns`)."""
    parent_ids = list(parent_ids)
    after_values = decode_cursor_for(sort, after) if after is not None else None

    def windowed(for_viewer: Viewer) -> AnySelect:
        statement = build(for_viewer).where(any_of(parent, "parent_ids"))
        if after_values is not None:
            statement = statement.where(sort.after(after_values))
        position = func.row_number().over(partition_by=parent, order_by=sort.order_by())
        ranked = statement.add_columns(position.label("position")).subquery()
        entity = aliased(model, ranked)
        query = (
            select(entity)
            .where(ranked.c.position <= bindparam("limit"))
            .order_by(ranked.c[parent.key], ranked.c.position)
        )
        return joined.join(query, entity, for_viewer) if joined is not None else query

    rows = await fetch_rows(
        db,
        # A cursor's values go into the statement: such pages are built per call.
        (
            ("pages_per_parent", key, parent, sort, joined is not None)
            if after_values is None and key is not None
            else None
        ),
        viewer,
        windowed,
        parent_ids=parent_ids,
        limit=first + 1,
        **(values or {}),
    )
    if joined is not None:
        joined.read(rows)
    grouped: dict[Any, list[RowT]] = defaultdict(list)
    for row in instances(model, rows):
        grouped[getattr(row, parent.key)].append(row)
    return {
        parent_id: _page(grouped[parent_id], first, after, key_of, partial(count, parent_id))
        for parent_id in parent_ids
    }


def _page(
    rows: list[RowT],
    first: int,
    after: str | None,
    key_of: Callable[[RowT], Sequence[Any]],
    count: Callable[[], Any],
) -> Page[RowT]:
    has_next = len(rows) > first
    rows = rows[:first]
    return Page(
        rows=rows,
        key_of=key_of,
        has_next_page=has_next,
        has_previous_page=after is not None,
        count=count,
    )


async def counts_per_parent(
    db: Database,
    viewer: Viewer,
    key: object,
    build: Callable[[Viewer], AnySelect],
    parent: Any,
    parent_ids: Iterable[Hashable],
    values: dict[str, Any] | None = None,
) -> dict[Any, int]:
    """`build(viewer)` selects from the counted table, filtered by policy and filters
    (its columns are replaced by `count(*)`), the same for every call with this `key`
    (`values` bound by name). Here it becomes a
    count per parent id: `SELECT k.id, (SELECT count(*) ... WHERE parent = k.id) FROM
    unnest(:parent_ids) AS k(id)`. Correlated on one parent at a time, the policy's own
    subqueries (e.g. "the comment's post is readable") are index lookups; counted for
    all parents in one GROUP BY, the planner may hash a whole table for them instead.
    Every parent gets a count (0 when none)."""
    parent_ids = list(parent_ids)

    def per_parent(for_viewer: Viewer) -> AnySelect:
        keys = (
            func.unnest(bindparam("parent_ids", type_=ARRAY(parent.type)))
            .table_valued(column("id", parent.type))
            .render_derived(name="parents")
        )
        counted = (
            build(for_viewer)
            .with_only_columns(func.count(), maintain_column_froms=True)
            .where(parent == keys.c.id)
            .scalar_subquery()
        )
        return select(keys.c.id, counted)

    rows = await fetch_rows(
        db,
        None if key is None else ("counts_per_parent", key),
        viewer,
        per_parent,
        parent_ids=parent_ids,
        **(values or {}),
    )
    found = {row[0]: int(row[1]) for row in rows}
    return {parent_id: found.get(parent_id, 0) for parent_id in parent_ids}
