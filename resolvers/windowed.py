"""Per-parent pages for nested connections: one query for many parents, limited per
parent with `row_number() OVER (PARTITION BY parent ...)`, and per-parent counts with one
GROUP BY. Never one query per parent."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import InstrumentedAttribute, aliased

from resolvers.database import Database
from resolvers.pagination import Page, SortKey, decode_cursor_for, encode_cursor

RowT = TypeVar("RowT")


async def pages_per_parent(
    db: Database,
    model: type[RowT],
    statement: Select[Any],
    parent: InstrumentedAttribute[Any],
    parent_ids: Iterable[Hashable],
    sort: SortKey,
    key_of: Callable[[RowT], Sequence[Any]],
    *,
    first: int,
    after: str | None,
    count: Callable[[Hashable], Any],
) -> dict[Any, Page[RowT]]:
    """A page for each of `parent_ids` (empty when a parent has no rows). `statement`
    selects `model` already filtered by policy and filters; the parents are added here.
    `count(parent_id)` returns an awaitable total for that parent."""
    parent_ids = list(parent_ids)
    statement = statement.where(parent.in_(parent_ids))
    if after is not None:
        statement = statement.where(sort.after(decode_cursor_for(sort, after)))
    position = func.row_number().over(partition_by=parent, order_by=sort.order_by())
    ranked = statement.add_columns(position.label("position")).subquery()
    entity = aliased(model, ranked)
    query = (
        select(entity)
        .where(ranked.c.position <= first + 1)
        .order_by(ranked.c[parent.key], ranked.c.position)
    )
    grouped: dict[Any, list[RowT]] = defaultdict(list)
    async with db.read() as session:
        for row in (await session.scalars(query)).all():
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
        cursors=[encode_cursor(key_of(row)) for row in rows],
        has_next_page=has_next,
        has_previous_page=after is not None,
        count=count,
    )


async def counts_per_parent(
    db: Database, statement: Any, parent: Any, parent_ids: Iterable[Hashable]
) -> dict[Any, int]:
    """`statement` is `select(parent, func.count())` filtered by policy and filters; the
    parents and the GROUP BY are added here. Every parent gets a count (0 when none)."""
    parent_ids = list(parent_ids)
    async with db.read() as session:
        rows = (
            await session.execute(statement.where(parent.in_(parent_ids)).group_by(parent))
        ).all()
    found = {row[0]: int(row[1]) for row in rows}
    return {parent_id: found.get(parent_id, 0) for parent_id in parent_ids}
