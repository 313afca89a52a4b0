"""Keyset pagination with opaque cursors, and lazily counted totals."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    SmallInteger,
    bindparam,
    func,
    select,
    tuple_,
)

from resolvers.core.database import Database
from resolvers.core.errors import BadUserInput
from resolvers.core.identity import Viewer
from resolvers.core.statement_templates import AnySelect, RelatedColumns, fetch_rows, instances

RowT = TypeVar("RowT")

# Checked in order with isinstance: bool before int, datetime before date; asyncpg's
# UUID subclasses uuid.UUID.
_ENCODERS: list[tuple[type[Any], str]] = [
    (bool, "b"),
    (str, "s"),
    (int, "i"),
    (Decimal, "d"),
    (uuid.UUID, "u"),
    (datetime, "t"),
    (date, "D"),
]
_DECODERS: dict[str, Callable[[str], Any]] = {
    "s": str,
    "i": int,
    "d": Decimal,
    "u": uuid.UUID,
    "t": datetime.fromisoformat,
    "D": date.fromisoformat,
    "b": lambda value: value == "1",
}


def encode_cursor(values: Sequence[Any]) -> str:
    parts = []
    for value in values:
        tag = next((tag for kind, tag in _ENCODERS if isinstance(value, kind)), None)
        if tag is None:
            raise TypeError(f"Cannot put {type(value).__name__} in a cursor")
        text = (
            ("1" if value else "0")
            if tag == "b"
            else (value.isoformat() if isinstance(value, date) else str(value))
        )
        parts.append([tag, text])
    raw = json.dumps(parts, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, expected_length: int) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
        if not isinstance(parts, list) or len(parts) != expected_length:
            raise ValueError("wrong shape")
        return [_DECODERS[tag](text) for tag, text in parts]
    except (ValueError, KeyError, TypeError) as exc:
        raise BadUserInput(
            "Invalid cursor: pass an `endCursor` or `cursor` from this list."
        ) from exc


def _fits(type_: Any, value: Any) -> bool:
    """Whether a row's `type_` column could hold `value`. Cursors are made from rows; a
    value none could hold (text with NUL or a lone surrogate, an integer past the column's
    range, an instant past the calendar in UTC, more digits than the column keeps) fails
    in the driver or in Postgres as a parameter, so it is a bad cursor, not a query."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return False
        return "\x00" not in value
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        bits = (
            64 if isinstance(type_, BigInteger) else 16 if isinstance(type_, SmallInteger) else 32
        )
        return -(2 ** (bits - 1)) <= value < 2 ** (bits - 1)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return not getattr(type_, "timezone", False)
        try:
            value.astimezone(UTC)
        except OverflowError:
            return False
        return True
    if isinstance(value, Decimal):
        exponent = value.normalize().as_tuple().exponent
        if not isinstance(exponent, int):  # NaN, Infinity
            return False
        scale = getattr(type_, "scale", None)
        precision = getattr(type_, "precision", None)
        if scale is not None and exponent < -scale:
            return False
        return precision is None or value == 0 or value.adjusted() < precision - (scale or 0)
    return True


def decode_cursor_for(sort: SortKey, cursor: str) -> list[Any]:
    """Decodes a cursor for `sort`. A cursor from another list or ordering (e.g. one from
    `orderBy: NAME` reused with `FEE`), or with a value no row holds, is rejected as
    invalid instead of reaching SQL with values of the wrong type."""
    values = decode_cursor(cursor, len(sort.columns))
    for column, value in zip(sort.columns, values, strict=True):
        try:
            expected = column.type.python_type
        except NotImplementedError:
            continue
        if not isinstance(value, expected) or not _fits(column.type, value):
            raise BadUserInput(
                "Invalid cursor: pass an `endCursor` or `cursor` from this list, "
                "with the same order."
            )
    return values


def page_size(first: int | None, *, default: int, maximum: int) -> int:
    if first is None:
        return default
    if first < 0:
        raise BadUserInput("`first` must not be negative.")
    if first > maximum:
        raise BadUserInput(f"`first` must be at most {maximum}; got {first}.")
    return first


@dataclass(frozen=True)
class SortKey:
    """The ordered columns of a list (the last one unique, e.g. the id) and one direction."""

    columns: tuple[ColumnElement[Any], ...]
    descending: bool = False

    def order_by(self) -> list[ColumnElement[Any]]:
        return [column.desc() if self.descending else column.asc() for column in self.columns]

    def after(self, values: Sequence[Any]) -> ColumnElement[bool]:
        left = tuple_(*self.columns)
        right = tuple_(*values)
        return left < right if self.descending else left > right


@dataclass
class Page(Generic[RowT]):
    rows: list[RowT]
    key_of: Callable[[RowT], Sequence[Any]]
    """A row's sort key, encoded as its cursor only when a query asks for it."""
    has_next_page: bool
    has_previous_page: bool
    count: Callable[[], Awaitable[int]]

    def cursor(self, row: RowT) -> str:
        return encode_cursor(self.key_of(row))

    @property
    def start_cursor(self) -> str | None:
        return self.cursor(self.rows[0]) if self.rows else None

    @property
    def end_cursor(self) -> str | None:
        return self.cursor(self.rows[-1]) if self.rows else None


async def paginate(
    db: Database,
    viewer: Viewer,
    key: object,
    model: type[RowT],
    build: Callable[[Viewer], AnySelect],
    sort: SortKey,
    key_of: Callable[[RowT], Sequence[Any]],
    *,
    first: int,
    after: str | None,
    values: dict[str, Any] | None = None,
    joined: RelatedColumns | None = None,
) -> Page[RowT]:
    """Runs one keyset-paginated query of `model`; `count` runs a COUNT only when
    awaited. `build(viewer)` selects the rows (policy and filters): a statement template
    (`resolvers/core/statement_templates.py`) for every call with this `key` and sort,
    `values` bound by name; a key of None builds it per call (filters with values that vary
    without bound and no named parameters). `joined` reads related columns with the rows
    (`RelatedColumns`)."""
    values = values or {}
    after_values = decode_cursor_for(sort, after) if after is not None else None

    def paged(for_viewer: Viewer) -> AnySelect:
        statement = build(for_viewer)
        if joined is not None:
            statement = joined.join(statement, model, for_viewer)
        if after_values is not None:
            statement = statement.where(sort.after(after_values))
        return statement.order_by(*sort.order_by()).limit(bindparam("limit"))

    template_key = (
        None
        if key is None or after_values is not None
        else ("paginate", key, sort, joined is not None)
    )
    fetched = await fetch_rows(db, template_key, viewer, paged, limit=first + 1, **values)
    if joined is not None:
        joined.read(fetched)
    rows = instances(model, fetched)
    has_next = len(rows) > first
    rows = rows[:first]

    async def count() -> int:
        counted = await fetch_rows(
            db,
            None if key is None else ("count", key),
            viewer,
            lambda for_viewer: select(func.count()).select_from(
                build(for_viewer).order_by(None).subquery()
            ),
            **values,
        )
        return int(counted[0][0])

    return Page(
        rows=rows,
        key_of=key_of,
        has_next_page=has_next,
        has_previous_page=after is not None,
        count=count,
    )
