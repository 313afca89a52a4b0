"""Read statements built once per shape and run with each request's values.

Building a SQLAlchemy statement (policy predicates, windowed subqueries over aliased
entities) costs more CPU than running it, and an ORM `Session` around a batch costs as
much again. Yet a loader's statement differs between requests only in values: the
viewer's ids, the parent ids, the page size. So a read here is

- built once per *key* (the call site and whatever changes its structure, e.g. a status
  filter) and *viewer shape*: role, app roles, and whether the viewer has a user and a
  doctor profile, which is all a policy's `read` branches on. It is built for a stand-in
  viewer whose ids are the named bind parameters `viewer_user_id` / `viewer_doctor_id`,
  so the very same policy code (`resolvers/policies`) writes the predicate;
- run in autocommit, like every read, with the request's values bound by name: the
  viewer's ids and the builder's own parameters (`any_of(column)`'s `keys`, a
  `limit`). Its first run goes through SQLAlchemy Core; from then on its compiled SQL
  goes straight to asyncpg (`Database.rows`);
- turned into model objects straight from the rows (`instances`), as the ORM would load
  them, without an identity map: reads never write back.

A builder must reach the viewer's ids only through SQL expressions. One that compares a
viewer id in Python fails while it is built for the stand-in (the stand-in's ids raise
on `==`), and is then built for the real viewer on every call. One that closed over the
real viewer instead of its argument is refused: the template is checked for the ids of
the viewer it was first built for.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar, cast

from sqlalchemy import BindParameter, ColumnElement, ColumnOperators, any_, bindparam, inspect
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ClauseElement

from resolvers.core.database import Database
from resolvers.core.identity import Viewer

ModelT = TypeVar("ModelT")
AnySelect = Select[*tuple[Any, ...]]
"""A SELECT of any columns."""


class _ViewerId(BindParameter[uuid.UUID]):
    """A stand-in viewer id: a named bind parameter in SQL. Comparing it with a Python
    value (`viewer.user_id == row.owner_id`) would silently be false, so it raises,
    and the statement is then built per call for the real viewer."""

    inherit_cache = True

    def __eq__(self, other: Any) -> Any:
        if isinstance(other, ClauseElement | ColumnOperators):
            return super().__eq__(other)
        raise TypeError("A stand-in viewer id is compared in Python.")

    def __ne__(self, other: Any) -> Any:
        if isinstance(other, ClauseElement | ColumnOperators):
            return super().__ne__(other)
        raise TypeError("A stand-in viewer id is compared in Python.")

    __hash__ = BindParameter.__hash__


_VIEWER_USER_ID = _ViewerId("viewer_user_id", type_=UUID(as_uuid=True))
_VIEWER_DOCTOR_ID = _ViewerId("viewer_doctor_id", type_=UUID(as_uuid=True))
_MAX_TEMPLATES = 2048


def any_of(column: Any, name: str = "keys") -> ColumnElement[bool]:
    """`column = ANY(:name)`: one statement text for any number of keys (an IN list
    would change with their count), bound as an array of the column's type."""
    return cast(ColumnElement[bool], column == any_(bindparam(name, type_=ARRAY(column.type))))


def _viewer_shape(viewer: Viewer) -> tuple[Any, ...]:
    return (viewer.role, viewer.app_roles, viewer.user_id is None, viewer.doctor_id is None)


def _stand_in(viewer: Viewer) -> Viewer:
    """The viewer as a policy sees it while a template is built: same role and app
    roles, ids as named bind parameters."""
    return replace(
        viewer,
        user_id=cast(uuid.UUID, _VIEWER_USER_ID) if viewer.user_id is not None else None,
        doctor_id=cast(uuid.UUID, _VIEWER_DOCTOR_ID) if viewer.doctor_id is not None else None,
        email=None,
        profile=None,
    )


def _check_no_viewer_values(key: object, statement: AnySelect, viewer: Viewer) -> None:
    """A template is shared by every viewer of a shape: it must reach the viewer only
    through the stand-in. A builder that closed over the real viewer (`self.viewer`
    instead of its argument) would bind this viewer's ids for all of them; refuse it."""
    own = {value for value in (viewer.user_id, viewer.doctor_id) if value is not None}
    if not own:
        return
    compiled = statement.compile(dialect=postgresql.dialect())
    for bind in compiled.binds.values():
        values = bind.value if isinstance(bind.value, list | tuple) else [bind.value]
        if any(isinstance(value, uuid.UUID) and value in own for value in values):
            raise RuntimeError(
                f"Statement template {key!r} binds the viewer's id as a value: its builder "
                "must use the viewer it is given."
            )


@dataclass(frozen=True)
class _Untemplatable:
    """Marks a key whose statement must be built for each real viewer."""


_UNTEMPLATABLE = _Untemplatable()
_templates: dict[Hashable, AnySelect | _Untemplatable] = {}


def statement_for(
    key: object, viewer: Viewer, build: Callable[[Viewer], AnySelect]
) -> tuple[AnySelect, dict[str, Any], bool]:
    """The statement `build` makes for `viewer`, built once per key and viewer shape,
    with the viewer's values to bind, and whether it is such a kept template. A key of
    None builds it for this call only (when it holds values that vary without bound,
    like a decoded cursor)."""
    if key is None:
        return build(viewer), {}, False
    cache_key = (key, _viewer_shape(viewer))
    statement = _templates.get(cache_key)
    if statement is None:
        try:
            statement = build(_stand_in(viewer))
        except Exception:
            # A builder that needs real values (e.g. compares an id in Python).
            statement = _UNTEMPLATABLE
        else:
            _check_no_viewer_values(key, statement, viewer)
        if len(_templates) >= _MAX_TEMPLATES:
            _templates.clear()
        _templates[cache_key] = statement
    if isinstance(statement, _Untemplatable):
        return build(viewer), {}, False
    viewer_ids = {"viewer_user_id": viewer.user_id, "viewer_doctor_id": viewer.doctor_id}
    return statement, viewer_ids, True


async def fetch_rows(
    db: Database,
    key: object,
    viewer: Viewer,
    build: Callable[[Viewer], AnySelect],
    **values: Any,
) -> Sequence[Any]:
    """Runs `build`'s statement (see `statement_for`) with `values` for its own named
    parameters. Rows are tuples with their columns as attributes too."""
    statement, parameters, reusable = statement_for(key, viewer, build)
    parameters.update(values)
    return await db.rows(statement, parameters, reusable=reusable)


async def fetch_models(
    db: Database,
    key: object,
    viewer: Viewer,
    model: type[ModelT],
    build: Callable[[Viewer], AnySelect],
    **values: Any,
) -> list[ModelT]:
    """`fetch_rows` of a `select(model)`, as model objects."""
    return instances(model, await fetch_rows(db, key, viewer, build, **values))


_columns_to_attributes: dict[type[Any], dict[str, str]] = {}


def _attributes_by_column(model: type[Any]) -> dict[str, str]:
    found = _columns_to_attributes.get(model)
    if found is None:
        mapper = inspect(model)
        found = {
            column.key: mapper.get_property_by_column(column).key
            for column in mapper.local_table.columns
        }
        _columns_to_attributes[model] = found
    return found


def instances(model: type[ModelT], rows: Sequence[Any], prefix: str = "") -> list[ModelT]:
    """Model objects from rows with the model's columns by name (what `select(model)`
    returns, also from an aliased subquery); other columns (a window's position, a
    label) are left out. With a `prefix`, the columns named `prefix` + column (a joined
    table's, see `RelatedColumns`).

    They are read-only values of the model's class, without SQLAlchemy's instance state:
    reads never add them to a session (a write loads its rows in its own transaction),
    and a column they hold is a plain attribute read. Making the state took longer than
    the rest of building a row: about a tenth of a feed or catalog request."""
    if not rows:
        return []
    by_column = _attributes_by_column(model)
    start = len(prefix)
    pairs = [
        (index, by_column[name[start:]])
        for index, name in enumerate(rows[0]._fields)
        if name.startswith(prefix) and name[start:] in by_column
    ]
    new = object.__new__
    found: list[ModelT] = []
    for row in rows:
        instance = new(model)
        instance.__dict__.update([(attribute, row[index]) for index, attribute in pairs])
        found.append(instance)
    return found


@dataclass(frozen=True)
class RelatedColumns:
    """Columns of a related table read in the same statement as the rows, e.g. to prime
    another loader with them (`read(rows)`) so the fields that need them resolve without
    a statement and a wait of their own. `join(query, entity, viewer)` adds the columns
    (with labels that are not the model's column names) and the join to the outer query,
    under the related table's policy for `viewer` (the template's stand-in)."""

    join: Callable[[AnySelect, Any, Viewer], AnySelect]
    read: Callable[[Sequence[Any]], None]
