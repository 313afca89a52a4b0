"""Root fields that Postgres answers as JSON, in one statement.

For a root field whose resolver declares a SQL source (`sql_root`) and a selection in
which every field has one (a column of the row, a global id, a count, a to-one row, a
nested page, all declared with `sql_row` and `sql_field` beside the types), the compiled
executor (schema/engine/execution.py) asks Postgres for the field's whole value: one
statement with `json_build_object` per object and `json_agg` per page, each page limited
per parent in a correlated subquery, each table read through its policy
(resolvers/core/json_reads.py says what a source is). The process then only parses and
writes the bytes; none of the per-object work of resolvers, loaders and completion.

Whatever is not declared (a field computed in Python, an enum, a union) leaves the root
field to the resolvers, unchanged; so does any error (a bad cursor, `first` too large):
the operation then runs on graphql-core as every failing query does, which answers with
its located error.

The statement is a template per shape of selection, arguments and viewer
(resolvers/core/statement_templates.py), so it is built and compiled once and then runs
prepared with the viewer's ids bound. `CAREGRAPH_SQL_JSON_EXECUTION=false` turns it off.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any

import orjson
from graphql import (
    GraphQLEnumType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
)
from graphql.execution.values import get_argument_values
from sqlalchemy import (
    ARRAY,
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    Numeric,
    String,
    Text,
    bindparam,
    case,
    cast,
    false,
    func,
    inspect,
    literal_column,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.visitors import replacement_traverse
from strawberry.types.field import StrawberryField

from resolvers.core.identity import Viewer
from resolvers.core.json_reads import (
    AnyOf,
    Computed,
    CountOf,
    ListOf,
    NodeOf,
    PageOf,
    RelatedRow,
    RootPage,
    cursor_sql,
    cursor_supported,
    global_id_sql,
    isoformat_date,
    isoformat_datetime,
    python_float,
)
from resolvers.core.pagination import SortKey, decode_cursor_for, page_size
from resolvers.core.statement_templates import AnySelect, fetch_rows

if TYPE_CHECKING:
    from graphql.execution.collect_fields import FieldDetailsList

    from resolvers.core.context import Context

SQL_SOURCE = "caregraph.sql_source"
"""Field metadata: the field's source (a `RelatedRow`, `CountOf`, `AnyOf` or `PageOf`)."""
SQL_ROOT = "caregraph.sql_root"
"""Root field metadata: `(context, **arguments) -> RootPage` for this request."""
SQL_ROOT_SORT = "caregraph.sql_root_sort"
"""Root field metadata: the sort its pages may have, when cursors in SQL cannot write it."""
_DEFINITION = "strawberry-definition"
_MAX_KEYS = 50  # json_build_object takes at most 100 arguments


class RawJson:
    """JSON text that the HTTP endpoint writes into the answer as it is: parsing it into
    Python values only to write them again costs more than the rest of a request."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class NotCompiled(Exception):
    """This selection has a field without a SQL source: the resolvers answer it."""


@dataclass(frozen=True)
class RowType:
    """How a strawberry type's plain fields read the columns of `model`'s row."""

    model: type[Any]
    ids: dict[str, tuple[str, str]]
    """Field -> (GraphQL type of the id, model attribute): global ids."""
    attributes: dict[str, str]
    """Field -> model attribute, where not of the same name."""
    computed: dict[str, Computed]
    """Field -> its value computed in SQL from the row's columns."""


_ROW_TYPES: dict[type[Any], RowType] = {}
_ISLAND = RowType(object, {}, {}, {})


def sql_row(
    type_: type[Any],
    model: type[Any],
    *,
    ids: dict[str, tuple[str, str]] | None = None,
    attributes: dict[str, str] | None = None,
    computed: dict[str, Callable[[Any], Any]] | None = None,
) -> None:
    """Declares that `type_`'s plain fields are columns of `model`'s rows: of the same
    name, or another (`attributes`), global ids (`ids`), or computed from the row in SQL
    (`computed`). Check the type's `from_model` before declaring: a plain field that
    it computes in Python must be in `computed`, with the same result."""
    _ROW_TYPES[type_] = RowType(
        model,
        ids or {},
        attributes or {},
        {name: Computed(value) for name, value in (computed or {}).items()},
    )


def sql_field(source: Any) -> dict[str, Any]:
    """Metadata for a resolver field answered in SQL from `source`."""
    return {SQL_SOURCE: source}


def sql_root(make: Callable[..., RootPage], sort: SortKey | None = None) -> dict[str, Any]:
    """Metadata for a root connection answered in SQL: `make(context, **arguments)`.
    `sort`: its order, when a cursor of it may not be writable in SQL (a text column):
    a selection with cursors then stays on the resolvers."""
    return {SQL_ROOT: make, SQL_ROOT_SORT: sort}


# --- shapes: a selection mapped onto sources (planned once per document) ----------------


@dataclass(eq=False)
class _Page:
    source: PageOf | None
    via: str | None
    node: _Object
    fields: list[tuple[str, Any]]
    """Connection fields: (key, "totalCount" | "__typename:<name>" | ("edges", [...]) |
    ("pageInfo", [...]))."""
    cursors: bool = False
    """Whether a cursor is selected (`cursor`, `startCursor`, `endCursor`)."""
    arguments: tuple[Any, Any, Any] | None = None
    """(field definition, field node, fragment variables) of a nested page."""


@dataclass(eq=False)
class _Object:
    row: RowType
    entries: list[tuple[str, Any]] = field(default_factory=list)


def _column(model: type[Any], attribute: str) -> Any:
    try:
        columns = inspect(model).attrs[attribute].columns
    except (KeyError, AttributeError):
        raise NotCompiled(f"{model.__name__}.{attribute} is not a column") from None
    return columns[0]


def _strip(type_: GraphQLOutputType) -> GraphQLOutputType:
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_


def _writer(type_: GraphQLOutputType, column: Any) -> Callable[[Any], Any]:
    """How a column's value is written for the GraphQL type, as the resolvers write it."""
    type_ = _strip(type_)
    sql_type = column.type
    if isinstance(type_, GraphQLList):
        item = _strip(type_.of_type)
        if (
            isinstance(item, GraphQLScalarType)
            and item.name == "String"
            and isinstance(sql_type, ARRAY)
            and isinstance(sql_type.item_type, String)
        ):
            return _same
        raise NotCompiled(f"list column {column}")
    if isinstance(type_, GraphQLEnumType):
        return _enum_writer(type_, column)
    if not isinstance(type_, GraphQLScalarType):
        raise NotCompiled(f"{type_} of {column}")
    name = type_.name
    if name == "String" and isinstance(sql_type, String) and not _is_enum(sql_type):
        return _same
    if name == "Boolean" and isinstance(sql_type, Boolean):
        return _same
    if name == "Int" and isinstance(sql_type, Integer):
        return _same
    if name == "Float" and isinstance(sql_type, Numeric | Integer):
        return python_float
    if name == "DateTime" and isinstance(sql_type, DateTime) and sql_type.timezone:
        return isoformat_datetime
    if name == "Date" and isinstance(sql_type, Date) and not isinstance(sql_type, DateTime):
        return isoformat_date
    if name == "Decimal" and isinstance(sql_type, Numeric) and not isinstance(sql_type, Float):
        return _text
    if name == "JSON" and isinstance(sql_type, JSON):
        return _same
    raise NotCompiled(f"{name} from {column}")


def _enum_writer(type_: GraphQLEnumType, column: Any) -> Callable[[Any], Any]:
    """A text column holding an enum's values (`Enum(row.column)` in `from_model`)
    written as their GraphQL names (the tables' CHECK constraints keep other values out)."""
    if not isinstance(column.type, String) or _is_enum(column.type):
        raise NotCompiled(f"{type_.name} from {column}")
    names: list[tuple[str, str]] = []
    for name, value in type_.values.items():
        stored = value.value.value if isinstance(value.value, Enum) else value.value
        if not isinstance(stored, str):
            raise NotCompiled(f"{type_.name} values")
        names.append((stored, name))

    def write(value: Any) -> Any:
        return case(*[(value == _sql_text(stored), _sql_text(name)) for stored, name in names])

    return write


def _sql_text(text: str) -> Any:
    return literal_column("'" + text.replace("'", "''") + "'", Text)


def _is_enum(sql_type: Any) -> bool:
    return getattr(sql_type, "enums", None) is not None


def _same(value: Any) -> Any:
    return value


def _text(value: Any) -> Any:
    return cast(value, Text)


class ShapePlanner:
    """Maps a root field's selection onto SQL sources; `NotCompiled` when any field
    has none. `collect(object_type, details)` collects a selection's fields."""

    def __init__(
        self, collect: Callable[[GraphQLObjectType, FieldDetailsList], Any], schema: GraphQLSchema
    ) -> None:
        self.collect = collect
        self.schema = schema

    def root_page(self, type_: GraphQLOutputType, details: FieldDetailsList) -> _Page:
        return self._page(type_, details, None, None)

    def _page(
        self,
        type_: GraphQLOutputType,
        details: FieldDetailsList,
        source: PageOf | None,
        via: str | None,
    ) -> _Page:
        connection = _strip(type_)
        if not isinstance(connection, GraphQLObjectType) or "edges" not in connection.fields:
            raise NotCompiled(f"{type_} is not a connection")
        edge_type = _strip(_strip(connection.fields["edges"].type).of_type)  # type: ignore[union-attr]
        assert isinstance(edge_type, GraphQLObjectType)
        node_type = _strip(edge_type.fields["node"].type)
        if not isinstance(node_type, GraphQLObjectType):
            raise NotCompiled(f"{node_type} is abstract")
        node = _Object(self._row_type(node_type))
        node_details: list[Any] = []
        fields: list[tuple[str, Any]] = []
        for key, field_details in self.collect(connection, details).items():
            name = field_details[0].node.name.value
            if name == "__typename":
                fields.append((key, f"__typename:{connection.name}"))
            elif name == "totalCount":
                fields.append((key, "totalCount"))
            elif name == "pageInfo":
                page_info = _strip(connection.fields["pageInfo"].type)
                assert isinstance(page_info, GraphQLObjectType)
                fields.append((key, ("pageInfo", self._parts(page_info, field_details))))
            elif name == "edges":
                parts = self._parts(edge_type, field_details, node_details)
                fields.append((key, ("edges", parts)))
            else:
                raise NotCompiled(f"{connection.name}.{name}")
        keys = {key for key, _ in node_details}
        if len(keys) > 1:
            raise NotCompiled("node selected under several keys")
        cursors = any(
            part in ("cursor", "startCursor", "endCursor")
            for _key, group in fields
            if not isinstance(group, str)
            for _part_key, part in group[1]
        )
        if cursors and source is not None and not cursor_supported(source.sort):
            raise NotCompiled(f"cursors of {connection.name} in SQL")
        for _key, edge_details in node_details:
            self._fill(node, node_type, edge_details)
        return _Page(source, via, node, fields, cursors=cursors)

    def _parts(
        self,
        object_type: GraphQLObjectType,
        details: FieldDetailsList,
        node_details: list[Any] | None = None,
    ) -> list[tuple[str, str]]:
        """(key, field name) of a page's edge or pageInfo selection, `__typename` as
        `__typename:<type>`; an edge's `node` details go to `node_details`."""
        parts = []
        for key, field_details in self.collect(object_type, details).items():
            name = field_details[0].node.name.value
            if name == "__typename":
                name = f"__typename:{object_type.name}"
            elif name == "node" and node_details is not None:
                node_details.append((key, field_details))
            parts.append((key, name))
        return parts

    def _row_type(self, object_type: GraphQLObjectType) -> RowType:
        definition = (object_type.extensions or {}).get(_DEFINITION)
        row = _ROW_TYPES.get(getattr(definition, "origin", None))  # type: ignore[arg-type]
        if row is None:
            raise NotCompiled(f"{object_type.name} has no rows in SQL")
        return row

    def _fill(self, shape: _Object, object_type: GraphQLObjectType, details: Any) -> None:
        row = shape.row
        for key, field_details in self.collect(object_type, details).items():
            node = field_details[0].node
            name = node.name.value
            if name == "__typename":
                shape.entries.append((key, ("typename", object_type.name)))
                continue
            field_def = object_type.fields[name]
            definition = (field_def.extensions or {}).get(_DEFINITION)
            if not isinstance(definition, StrawberryField) or definition.extensions:
                raise NotCompiled(f"{object_type.name}.{name}")
            python_name = definition.python_name
            metadata: Mapping[str, Any] = definition.metadata or {}
            if definition.base_resolver is None:
                if python_name in row.computed:
                    shape.entries.append((key, ("computed", row.computed[python_name])))
                    continue
                if python_name in row.ids:
                    type_name, attribute = row.ids[python_name]
                    shape.entries.append(
                        (key, ("id", type_name, _column(row.model, attribute).name))
                    )
                    continue
                column = _column(row.model, row.attributes.get(python_name, python_name))
                writer = _writer(field_def.type, column)
                shape.entries.append((key, ("column", column.name, writer)))
                continue
            source = metadata.get(SQL_SOURCE)
            if source is None:
                raise NotCompiled(f"{object_type.name}.{name} is computed")
            if isinstance(source, Computed):
                shape.entries.append((key, ("computed", source)))
                continue
            if isinstance(source, NodeOf):
                shape.entries.append(
                    (key, self._node(object_type, field_def, field_details, source, row))
                )
                continue
            via = _column(row.model, source.via).name
            shape.entries.append(
                (key, self.related(object_type, field_def, field_details, source, via))
            )
        if len(shape.entries) > _MAX_KEYS:
            raise NotCompiled("too many fields for one object")

    def related(
        self,
        object_type: GraphQLObjectType,
        field_def: Any,
        field_details: Any,
        source: Any,
        via: str,
    ) -> tuple[Any, ...]:
        """The entry of a field read from rows related to its parent's `via`."""
        node = field_details[0].node
        name = node.name.value
        if isinstance(source, PageOf):
            allowed = {"first", "after", *(argument for argument, _ in source.filters)}
            if any(argument.name.value not in allowed for argument in node.arguments):
                raise NotCompiled(f"{object_type.name}.{name} arguments")
            page = self._page(field_def.type, field_details, source, via)
            page.arguments = (field_def, node, field_details[0].fragment_variable_values)
            return ("page", page)
        if isinstance(source, RelatedRow | ListOf):
            target_type = _strip(field_def.type)
            if isinstance(source, ListOf):
                if not isinstance(target_type, GraphQLList):
                    raise NotCompiled(f"{object_type.name}.{name} is not a list")
                target_type = _strip(target_type.of_type)
            if not isinstance(target_type, GraphQLObjectType):
                raise NotCompiled(f"{object_type.name}.{name} is abstract")
            target = _Object(self._row_type(target_type))
            self._fill(target, target_type, field_details)
            return ("one" if isinstance(source, RelatedRow) else "list", source, via, target)
        if isinstance(source, CountOf):
            return ("count", source, via)
        if isinstance(source, AnyOf):
            return ("any", source, via)
        raise NotCompiled(f"{object_type.name}.{name}: {source!r}")

    def _node(
        self,
        object_type: GraphQLObjectType,
        field_def: Any,
        field_details: Any,
        source: NodeOf,
        row: RowType,
    ) -> tuple[Any, ...]:
        """A Node field: only `__typename` and `id` of each possible type are selected."""
        abstract = _strip(field_def.type)
        if not isinstance(abstract, GraphQLInterfaceType | GraphQLUnionType):
            raise NotCompiled(f"{object_type.name}.{field_def} is not abstract")
        targets = []
        for type_name, build, id_column in source.targets:
            concrete = self.schema.get_type(type_name)
            if not isinstance(concrete, GraphQLObjectType):
                raise NotCompiled(f"{type_name} is not an object type")
            fields = []
            for key, details in self.collect(concrete, field_details).items():
                name = details[0].node.name.value
                if name not in ("__typename", "id"):
                    raise NotCompiled(f"{type_name}.{name} under a node")
                fields.append((key, name))
            targets.append((type_name, build, id_column, tuple(fields)))
        type_column = _column(row.model, source.type_via).name
        id_column = _column(row.model, source.via).name
        return ("node", source, type_column, id_column, tuple(targets))

    def island(
        self, object_type: GraphQLObjectType, field_def: Any, field_details: Any
    ) -> tuple[Any, ...]:
        """A field of an object the resolvers made (not in a list) whose source is read
        in one statement, with the parent's `via` value bound (`answer_island`)."""
        definition = (field_def.extensions or {}).get(_DEFINITION)
        metadata: Mapping[str, Any] = getattr(definition, "metadata", None) or {}
        source = metadata.get(SQL_SOURCE)
        if source is None or isinstance(source, Computed):
            raise NotCompiled(f"{object_type.name}.{field_def} has no related rows")
        return self.related(object_type, field_def, field_details, source, source.via)


# --- statements: a shape, arguments and a viewer made into SQL ----------------------------


@dataclass(frozen=True)
class _PageArguments:
    first: int
    after: list[Any] | None
    filters: list[tuple[Callable[[Any], Any], Any]]
    """(condition maker, argument value): made into conditions only when a statement is
    built (a kept template is not), as an expression costs 50-100 us to make."""

    def conditions(self) -> list[Any]:
        made = (make(value) for make, value in self.filters)
        return [condition for condition in made if condition is not None]


class _Statement:
    """Writes one statement for a shape; subqueries get names r1, r2, ... so a deeper
    level refers to its parent's row by name (a FROM subquery is not correlated)."""

    def __init__(self, viewer: Viewer, arguments: dict[int, _PageArguments]) -> None:
        self.viewer = viewer
        self.arguments = arguments
        self.names = itertools.count(1)

    def root(self, page: _Page, source: RootPage) -> AnySelect:
        rows = source.build(self.viewer)
        counted = select(func.count()).select_from(rows.order_by(None).subquery())
        if source.after is not None:
            rows = rows.where(source.sort.after(source.after))
        return self._page(
            page,
            rows,
            source.sort,
            source.first,
            source.after is not None,
            counted.scalar_subquery(),
        )

    def _page(
        self,
        page: _Page,
        rows: AnySelect,
        sort: SortKey,
        first: int,
        after: bool,
        counted: Any,
    ) -> Any:
        name = f"r{next(self.names)}"
        position = func.row_number().over(order_by=sort.order_by()).label("_position")
        ranked = (
            rows.add_columns(position).order_by(*sort.order_by()).limit(first + 1).subquery(name)
        )
        in_page = ranked.c._position <= first

        def sort_column(sort_column: Any) -> Any:
            return ranked.c[_column_name(sort_column)]

        cursor = None
        pairs: list[Any] = []
        for key, part in page.fields:
            pairs.append(_key(key))
            if isinstance(part, str) and part.startswith("__typename:"):
                pairs.append(_key(part.partition(":")[2]))
            elif part == "totalCount":
                pairs.append(counted)
            elif part[0] == "edges":
                edge: list[Any] = []
                for edge_key, edge_part in part[1]:
                    edge.append(_key(edge_key))
                    if edge_part == "cursor":
                        cursor = cursor if cursor is not None else _cursor(sort, sort_column)
                        edge.append(cursor)
                    elif edge_part == "node":
                        edge.append(self._object(page.node, ranked, name))
                    else:
                        edge.append(_key(edge_part.partition(":")[2]))
                aggregated = func.json_agg(
                    aggregate_order_by(func.json_build_object(*edge), ranked.c._position)
                ).filter(in_page)
                pairs.append(func.coalesce(aggregated, literal_column("'[]'::json")))
            else:
                info: list[Any] = []
                for info_key, info_part in part[1]:
                    info.append(_key(info_key))
                    if info_part == "hasNextPage":
                        info.append(func.count() > first)
                    elif info_part == "hasPreviousPage":
                        info.append(true() if after else false())
                    elif info_part in ("startCursor", "endCursor"):
                        cursor = cursor if cursor is not None else _cursor(sort, sort_column)
                        order = (
                            ranked.c._position
                            if info_part == "startCursor"
                            else ranked.c._position.desc()
                        )
                        info.append(
                            func.array_agg(aggregate_order_by(cursor, order)).filter(in_page)[1]
                        )
                    else:
                        info.append(_key(info_part.partition(":")[2]))
                pairs.append(func.json_build_object(*info))
        # HAVING makes it one group, so one row even when no aggregate is selected
        # (`feed { __typename }`) or no row is in the page.
        return select(func.json_build_object(*pairs)).select_from(ranked).having(true())

    def _object(self, shape: _Object, row: Any, name: str) -> Any:
        pairs: list[Any] = []
        for key, entry in shape.entries:
            pairs.append(_key(key))
            kind = entry[0]
            if kind == "column":
                pairs.append(entry[2](row.c[entry[1]]))
            elif kind == "computed":
                computed = entry[1]
                pairs.append(
                    computed.value(row.c, self.viewer)
                    if computed.with_viewer
                    else computed.value(row.c)
                )
            elif kind == "id":
                pairs.append(global_id_sql(entry[1], row.c[entry[2]]))
            elif kind == "typename":
                pairs.append(_key(entry[1]))
            else:
                pairs.append(self.related(entry, lambda via: _outer(name, via)))
        return func.json_build_object(*pairs)

    def related(self, entry: tuple[Any, ...], parent_of: Callable[[str], Any]) -> Any:
        """The value of a field read from other rows: a count, a row, a list or a page
        of the rows related to the parent (`parent_of(via)`: the parent's column, or a
        bound value for a field of an object the resolvers made, see `answer_island`)."""
        kind = entry[0]
        if kind == "count":
            source = entry[1]
            return (
                source.build(self.viewer)
                .with_only_columns(func.count(), maintain_column_froms=True)
                .where(source.parent == parent_of(entry[2]))
                .scalar_subquery()
            )
        if kind == "any":
            source = entry[1]
            return source.build(self.viewer).where(source.parent == parent_of(entry[2])).exists()
        if kind == "one":
            source, via, target = entry[1], entry[2], entry[3]
            target_name = f"r{next(self.names)}"
            found = (
                source.build(self.viewer)
                .where(source.key == parent_of(via))
                .limit(1)
                .subquery(target_name)
            )
            return (
                select(self._object(target, found, target_name))
                .select_from(found)
                .scalar_subquery()
            )
        if kind == "node":
            type_of, id_of = parent_of(entry[2]), parent_of(entry[3])
            whens = []
            for type_name, build, id_column, fields in entry[4]:
                readable_row = build(self.viewer).where(id_column == id_of).exists()
                pairs = []
                for key, name in fields:
                    pairs.append(_key(key))
                    pairs.append(
                        _key(type_name) if name == "__typename" else global_id_sql(type_name, id_of)
                    )
                whens.append(
                    (
                        (type_of == _sql_text(type_name)) & readable_row,
                        func.json_build_object(*pairs),
                    )
                )
            return case(*whens)
        if kind == "list":
            source, via, target = entry[1], entry[2], entry[3]
            target_name = f"r{next(self.names)}"
            found = (
                source.build(self.viewer)
                .where(source.parent == parent_of(via))
                .subquery(target_name)
            )
            order = [found.c[_column_name(column)] for column in source.order]
            listed = func.json_agg(
                aggregate_order_by(self._object(target, found, target_name), *order)
            )
            return func.coalesce(
                select(listed).select_from(found).scalar_subquery(),
                literal_column("'[]'::json"),
            )
        page: _Page = entry[1]
        source = page.source
        assert source is not None and page.via is not None
        arguments = self.arguments[id(page)]
        parent = source.parent == parent_of(page.via)
        conditions = arguments.conditions()
        rows = source.build(self.viewer).where(parent, *conditions)
        if arguments.after is not None:
            rows = rows.where(source.sort.after(arguments.after))
        counted = (
            (source.count or source.build)(self.viewer)
            .with_only_columns(func.count(), maintain_column_froms=True)
            .where(parent, *conditions)
            .scalar_subquery()
        )
        return self._page(
            page, rows, source.sort, arguments.first, arguments.after is not None, counted
        ).scalar_subquery()


def _column_name(column: Any) -> str:
    """The table column's name of a column or ORM attribute."""
    prop = getattr(column, "property", None)
    return str(prop.columns[0].name if prop is not None else column.name)


def _key(text: str) -> Any:
    if not text.replace("_", "a").isalnum():
        raise NotCompiled(f"name {text!r}")
    return literal_column(f"'{text}'", Text)


def _outer(name: str, column: str) -> Any:
    return literal_column(f"{name}.{column}")


def _cursor(sort: SortKey, column_of: Callable[[Any], Any]) -> Any:
    try:
        return cursor_sql(sort, column_of)
    except ValueError as error:
        raise NotCompiled(str(error)) from None


def _hashable(value: Any) -> Hashable:
    if isinstance(value, list):
        return tuple(_hashable(item) for item in value)
    if isinstance(value, str | int | bool | datetime | date | Decimal) or value is None:
        return value
    return repr(value)


def _pages_under(entries: list[tuple[str, Any]]) -> list[_Page]:
    found: list[_Page] = []
    stack = [entries]
    while stack:
        for _entry_key, entry in stack.pop():
            if entry[0] == "page":
                found.append(entry[1])
                stack.append(entry[1].node.entries)
            elif entry[0] in ("one", "list"):
                stack.append(entry[3].entries)
    return found


def _page_arguments(
    context: Context, pages: list[_Page], variables: Any
) -> tuple[dict[int, _PageArguments], tuple[Any, ...], bool]:
    """Each nested page's arguments for this request, their key, and whether any page
    has a cursor (such a statement is built per request)."""
    arguments: dict[int, _PageArguments] = {}
    key_parts: list[Any] = []
    for nested in pages:
        assert nested.arguments is not None and nested.source is not None
        field_def, node, fragment_variables = nested.arguments
        raw = get_argument_values(field_def, node, variables, fragment_variables)
        nested_source = nested.source
        first = page_size(
            raw.get("first"),
            default=nested_source.default or context.settings.default_page_size,
            maximum=nested_source.maximum or context.settings.max_page_size,
        )
        after = raw.get("after")
        values = decode_cursor_for(nested_source.sort, after) if after is not None else None
        given = [(name, raw.get(name)) for name, _ in nested_source.filters]
        filters = [
            (make, value)
            for (_, make), (_, value) in zip(nested_source.filters, given, strict=True)
        ]
        arguments[id(nested)] = _PageArguments(first, values, filters)
        key_parts.append((first, None if values is None else _hashable(values), _hashable(given)))
    cursors = any(value.after is not None for value in arguments.values())
    return arguments, tuple(key_parts), cursors


def _answered(context: Context, text: Any) -> Any:
    if text is None:
        return None
    if not isinstance(text, str):
        raise TypeError(f"{text!r} answered as JSON")
    return RawJson(text) if context.raw_json else orjson.loads(text)


@dataclass(eq=False)
class _Part:
    """One field's value in a batch: `value(viewer, index)` is its SQL expression (text),
    its bound values named with the index; `finish` turns the text into the answer."""

    key: Hashable | None
    value: Callable[[Viewer, int], Any]
    values: Callable[[int], dict[str, Any]]
    finish: Callable[[Any], Any]
    future: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class SqlBatch:
    """The fields of one operation that Postgres answers as JSON, read together: every
    root field and island started in the same round of the compiled executor (before it
    waits for anything) is one column of one statement."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.waiting: list[_Part] = []
        self.running: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    def add(self, part: _Part) -> asyncio.Future[Any]:
        if not self.waiting:
            # Runs once the executor has started every field it can in this round.
            task = asyncio.get_running_loop().create_task(self._dispatch())
            self.running.add(task)
            task.add_done_callback(self.running.discard)
        self.waiting.append(part)
        return part.future

    async def _dispatch(self) -> None:
        parts, self.waiting = self.waiting, []
        try:
            keys = tuple(part.key for part in parts)
            key = None if None in keys else ("sql_json", keys)

            def build(viewer: Viewer) -> AnySelect:
                return select(
                    *[
                        cast(part.value(viewer, index), Text).label(f"field_{index}")
                        for index, part in enumerate(parts)
                    ]
                )

            values: dict[str, Any] = {}
            for index, part in enumerate(parts):
                values.update(part.values(index))
            rows = await fetch_rows(self.context.db, key, self.context.viewer, build, **values)
        except BaseException as error:
            for part in parts:
                if not part.future.done():
                    part.future.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        for index, part in enumerate(parts):
            try:
                part.future.set_result(part.finish(rows[0][index]))
            except Exception as error:
                part.future.set_exception(error)


async def answer_island(
    batch: SqlBatch,
    entry: tuple[Any, ...],
    signature: Hashable,
    parent_value: Any,
    variables: Any,
) -> Any:
    """A field of an object the resolvers made, read with its parent's value bound: a
    count, a row (or null), a list or a page."""
    context = batch.context
    pages = [entry[1]] if entry[0] == "page" else []
    if entry[0] in ("one", "list"):
        pages = _pages_under(entry[3].entries)
    elif entry[0] == "page":
        pages += _pages_under(entry[1].node.entries)
    arguments, key_parts, cursors = _page_arguments(context, pages, variables)
    source = entry[1].source if entry[0] == "page" else entry[1]
    parent_type = (source.key if entry[0] == "one" else source.parent).type

    def value(viewer: Viewer, index: int) -> Any:
        parent = bindparam(f"island_parent_{index}", type_=parent_type)
        return _Statement(viewer, arguments).related(entry, lambda _via: parent)

    def finish(text: Any) -> Any:
        if entry[0] in ("count", "any"):
            return orjson.loads(text)
        return _answered(context, text)

    part = _Part(
        None if cursors else ("island", signature, key_parts),
        value,
        lambda index: {f"island_parent_{index}": parent_value},
        finish,
    )
    return await batch.add(part)


async def answer(
    batch: SqlBatch,
    page: _Page,
    signature: Hashable,
    source: RootPage,
    variables: Any,
) -> Any:
    """A root field's value."""
    context = batch.context
    arguments, key_parts, cursors = _page_arguments(
        context, _pages_under(page.node.entries), variables
    )

    def value(viewer: Viewer, index: int) -> Any:
        statement = _Statement(viewer, arguments).root(page, source).scalar_subquery()
        if not source.values:
            return statement
        # The source's named values, renamed for this field: another field of the batch
        # may have values of the same names (`appointments` twice under two aliases).
        names = {name: f"{name}_{index}" for name in source.values}

        def renamed(element: Any, **_: Any) -> Any:
            if isinstance(element, BindParameter) and element.key in names:
                return bindparam(names[element.key], type_=element.type)
            return None

        return replacement_traverse(statement, {}, renamed)

    def finish(text: Any) -> Any:
        answered = _answered(context, text)
        if answered is None:
            raise TypeError("null answered for a connection")
        return answered

    part = _Part(
        None
        if source.key is None or source.after is not None or cursors
        else ("root", signature, source.key, source.first, key_parts),
        value,
        lambda index: {f"{name}_{index}": value for name, value in source.values.items()},
        finish,
    )
    return await batch.add(part)


def folds_levels(entry: tuple[Any, ...]) -> bool:
    """Whether an island reads more than its loader would in one statement: a page, a
    count, or rows with related rows of their own. A row or list of plain columns is one
    statement on the resolvers too, which also share and prime loader caches (the
    viewer's own user row costs none)."""
    if entry[0] not in ("one", "list"):
        return True
    return any(nested[0] not in _OWN_VALUES for _key_, nested in entry[3].entries)


_OWN_VALUES = ("column", "computed", "id", "typename")


def entry_signature(entry: tuple[Any, ...]) -> Hashable:
    """An island's structure as a hashable value (see `signature_of`)."""
    return signature_of(_Page(None, None, _Object(_ISLAND, [("island", entry)]), []))


def signature_of(page: _Page) -> Hashable:
    """A shape's structure as a hashable value: the template key of its statements."""

    def of_object(shape: _Object) -> Hashable:
        parts: list[Hashable] = [id(shape.row)]
        for key, entry in shape.entries:
            kind = entry[0]
            if kind == "page":
                parts.append((key, kind, of_page(entry[1])))
            elif kind in ("one", "list"):
                parts.append((key, kind, entry[1], entry[2], of_object(entry[3])))
            elif kind == "node":
                parts.append((key, kind, entry[2], entry[3], entry[4]))
            elif kind == "column":
                parts.append((key, kind, entry[1], entry[2]))
            else:
                parts.append((key, *entry))
        return tuple(parts)

    def of_page(shape: _Page) -> Hashable:
        fields = tuple(
            (key, part if isinstance(part, str) else (part[0], tuple(part[1])))
            for key, part in shape.fields
        )
        return (shape.source, shape.via, fields, of_object(shape.node))

    return of_page(page)
