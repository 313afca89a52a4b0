"""Reads that Postgres answers as JSON: the sources a selection is compiled from
(schema/engine/sql_json.py), and the SQL that writes a value the way the API writes it.

A source says where a field's rows come from, always through the table's policy: the
`build(viewer)` of a source is the same `visible(...)`/`readable(...)` statement its
loader runs, and the compiler adds only the correlation to the parent row, the order,
the page's limit and the JSON. So a field answered in SQL reads exactly the rows its
resolver would, and the differential tests (every query of the suite on graphql-core's
executor too) check that the bytes agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, ColumnElement, Float, Text, case, cast, func, literal_column
from sqlalchemy.dialects.postgresql import UUID

from resolvers.core.identity import Viewer
from resolvers.core.pagination import SortKey
from resolvers.core.statement_templates import AnySelect

Build = Callable[[Viewer], AnySelect]


@dataclass(frozen=True)
class RelatedRow:
    """A to-one field: the row of `build(viewer)` whose `key` column equals the parent
    row's `via` column (null when there is none the viewer may read)."""

    build: Build
    key: Any
    via: str


@dataclass(frozen=True)
class CountOf:
    """A count: rows of `build(viewer)` whose `parent` column equals the parent's `via`."""

    build: Build
    parent: Any
    via: str = "id"


@dataclass(frozen=True)
class AnyOf:
    """Whether any row of `build(viewer)` has `parent` equal to the parent's `via`."""

    build: Build
    parent: Any
    via: str = "id"


@dataclass(frozen=True)
class PageOf:
    """A nested connection: rows of `build(viewer)` whose `parent` column equals the
    parent's `via`, ordered by `sort`, `first` defaulting to `default` and at most
    `maximum` (None: the settings' page sizes); `totalCount` counts `count(viewer)`
    (default: `build`) likewise. `filters`: the field's other arguments, each a function
    of its value (as graphql-core gives it, an enum's stored value) to a condition, or to
    None for no condition."""

    build: Build
    parent: Any
    sort: SortKey
    default: int | None = None
    maximum: int | None = None
    via: str = "id"
    count: Build | None = None
    filters: tuple[tuple[str, Callable[[Any], ColumnElement[bool] | None]], ...] = ()


@dataclass(frozen=True)
class ListOf:
    """A nested list: every row of `build(viewer)` whose `parent` column equals the
    parent's `via`, in the order of `order` (columns, ascending)."""

    build: Build
    parent: Any
    order: tuple[Any, ...]
    via: str = "id"


@dataclass(frozen=True)
class NodeOf:
    """A field of the `Node` interface: the row of one of `targets` ((GraphQL type name,
    `build(viewer)` of that table under its policy, its id column)) named by the parent's
    `type_via` column (a type name) and `via` column (its id), as `node(id)` resolves it;
    null when the viewer may not read it or its type is none of the targets."""

    type_via: str
    via: str
    targets: tuple[tuple[str, Build, Any], ...]


@dataclass(frozen=True)
class Computed:
    """A value computed from the row's columns: `value(columns)` is the SQL expression,
    written as the API writes it (`columns` are the row's, by column name, with any
    labelled column its source selects too)."""

    value: Callable[..., ColumnElement[Any]]
    with_viewer: bool = False
    """Whether `value` also takes the viewer: `value(columns, viewer)`."""


@dataclass(frozen=True)
class RootPage:
    """A root connection for one request: rows of `build(viewer)` in `sort` order,
    `first` of them after the cursor values `after` (None: from the start). `key` names
    the statement's shape for the template cache; None when its values vary without
    bound (a tag filter), so it is built per request."""

    build: Build
    sort: SortKey
    first: int
    after: list[Any] | None
    key: object
    values: dict[str, Any] = field(default_factory=dict)
    """Values of the named parameters of `build`'s statement."""


# --- values written the way the API writes them ------------------------------------------


def _literal(text: str) -> ColumnElement[str]:
    return literal_column("'" + text.replace("'", "''") + "'", Text)


def _joined(*parts: ColumnElement[Any]) -> ColumnElement[str]:
    """`a || b || ...`: null when any part is null."""
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.op("||", return_type=Text)(part)
    return joined


def base64url(text: ColumnElement[Any]) -> ColumnElement[str]:
    """Unpadded url-safe base64 of `text`'s UTF-8 bytes (Postgres breaks base64 lines
    every 76 characters: the newlines go too)."""
    encoded = func.encode(func.convert_to(text, _literal("UTF8")), _literal("base64"))
    return func.rtrim(
        func.translate(encoded, literal_column("E'+/\\n'", Text), _literal("-_")),
        _literal("="),
        type_=Text,
    )


def global_id_sql(type_name: str, column: ColumnElement[Any]) -> ColumnElement[str]:
    """`resolvers.core.global_ids.global_id` in SQL (null for a null id)."""
    if not type_name.isidentifier():
        raise ValueError(type_name)
    return base64url(_joined(_literal(f"{type_name}:"), cast(column, Text)))


def global_id_of(type_column: ColumnElement[Any], column: ColumnElement[Any]) -> ColumnElement[str]:
    """A global id whose type name is in a column (an audit entry's target)."""
    return base64url(_joined(type_column, _literal(":"), cast(column, Text)))


def python_float(value: ColumnElement[Any]) -> ColumnElement[Any]:
    """A number written as Python writes a float (`repr`): Postgres writes an integral
    float8 without the `.0`. (Past 1e15 the two differ in where exponents start.)"""
    number = cast(value, Float)
    text = cast(number, Text)
    return cast(
        case(
            (
                (func.trunc(number) == number) & (func.abs(number) < literal_column("1e15")),
                _joined(text, _literal(".0")),
            ),
            else_=text,
        ),
        JSON,
    )


def _utc(column: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.timezone(_literal("UTC"), column)


def isoformat_datetime(column: ColumnElement[Any]) -> ColumnElement[str]:
    """`datetime.isoformat()` of a timestamptz as the driver returns it (in UTC): the
    microseconds only when not zero, then `+00:00`."""
    local = _utc(column)
    micro = func.to_char(local, _literal("US"), type_=Text)
    return _joined(
        func.to_char(local, _literal('YYYY-MM-DD"T"HH24:MI:SS'), type_=Text),
        case((micro == _literal("000000"), _literal("")), else_=_joined(_literal("."), micro)),
        _literal("+00:00"),
    )


def isoformat_date(column: ColumnElement[Any]) -> ColumnElement[str]:
    return func.to_char(column, _literal("YYYY-MM-DD"), type_=Text)


def cursor_sql(sort: SortKey, column_of: Callable[[Any], ColumnElement[Any]]) -> ColumnElement[str]:
    """`resolvers.core.pagination.encode_cursor` of a row's sort key, in SQL; raises
    ValueError for a sort on a column whose text could need JSON escapes (Python escapes
    every non-ASCII character, Postgres none)."""
    parts: list[ColumnElement[Any]] = []
    for sort_column in sort.columns:
        column = column_of(sort_column)
        text: ColumnElement[Any]
        python_type = sort_column.type.python_type
        if python_type is bool:
            tag, text = "b", case((column, _literal("1")), else_=_literal("0"))
        elif python_type.__name__ == "datetime" and getattr(sort_column.type, "timezone", False):
            tag, text = "t", isoformat_datetime(column)
        elif python_type.__name__ == "date":
            tag, text = "D", isoformat_date(column)
        elif isinstance(sort_column.type, UUID):
            tag, text = "u", cast(column, Text)
        elif python_type is int:
            tag, text = "i", cast(column, Text)
        else:
            raise ValueError(f"no cursor in SQL for {sort_column}")
        parts.append(_joined(_literal(f'["{tag}","'), text, _literal('"]')))
    separated: list[ColumnElement[Any]] = [_literal("[")]
    for index, part in enumerate(parts):
        separated += [part] if index == 0 else [_literal(","), part]
    return base64url(_joined(*separated, _literal("]")))


def cursor_supported(sort: SortKey) -> bool:
    """Whether `cursor_sql` can write this sort's cursors."""
    try:
        cursor_sql(sort, lambda column: column)
    except ValueError:
        return False
    return True
