"""Support for the fuzz suite (tests/engine/test_fuzz.py): seeded data and the viewers that read
it, scalar strategies that mix real ids and strings into the generated values, cursors,
rewrites of a generated document (literal arguments as variables, an alias, `@skip`),
and a watch over what a request leaves behind (logged tracebacks, unraisable
exceptions, coroutines never awaited)."""

from __future__ import annotations

import gc
import io
import logging
import sys
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, TextIO

import graphql
from graphql import (
    ArgumentNode,
    DirectiveNode,
    DocumentNode,
    FieldNode,
    NameNode,
    OperationDefinitionNode,
    SelectionSetNode,
    TypeInfo,
    TypeInfoVisitor,
    VariableDefinitionNode,
    VariableNode,
    parse_type,
    value_from_ast_untyped,
    visit,
)
from graphql.language import Visitor
from hypothesis import strategies as st
from sqlalchemy import select, text

from models import Base, Coupon, Lesson, User
from resolvers.core.database import Database
from resolvers.core.pagination import encode_cursor
from resolvers.demo import load_demo_data
from schema.ids import decode_id, format_id
from tests.factories import TYPE_NAMES, make_user

ROLES: tuple[str, ...] = ("anon", "patient", "doctor", "coach", "staff", "admin")
"""The viewers every example is sent as; a role without a demo account gets a user of its
own with that role (see `seed`)."""

DEMO_ACCOUNTS = {
    "patient": "patient@caregraph.dev",
    "doctor": "doctor@caregraph.dev",
    "coach": "coach@caregraph.dev",
    "staff": "staff@caregraph.dev",
    "admin": "admin@caregraph.dev",
}


@dataclass
class Pool:
    """Real values read from the seeded database, which the scalar strategies mix into
    what they generate (so ids hit rows sometimes). Filled by `seed` before the first
    example; sorted, so a seed reproduces the same values."""

    ids: list[str] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)
    viewers: dict[str, tuple[uuid.UUID, str] | None] = field(default_factory=dict)


POOL = Pool()


async def seed(db: Database) -> Pool:
    """The demo clinic, a user for each role in `ROLES` without a demo account, and the
    ids and strings of its rows in `POOL`."""
    await load_demo_data(db)
    viewers: dict[str, tuple[uuid.UUID, str] | None] = {}
    for role in ROLES:
        if role == "anon":
            viewers[role] = None
        elif role in DEMO_ACCOUNTS:
            email = DEMO_ACCOUNTS[role]
            async with db.read() as session:
                user_id = (
                    await session.execute(select(User.id).where(User.email == email))
                ).scalar_one()
            viewers[role] = (user_id, email)
        else:
            user = await make_user(db, roles=(role,))
            viewers[role] = (user.id, user.email)
    ids: set[str] = set()
    strings: set[str] = set()
    async with db.read() as session:
        for mapper in Base.registry.mappers:
            model = mapper.class_
            column = model.__table__.columns.get("id")
            if column is None or str(column.type) != "UUID":
                continue
            type_name = TYPE_NAMES.get(model, model.__name__)
            rows = await session.execute(select(column).order_by(column).limit(40))
            for (value,) in rows:
                # The row's global id, the bare uuid of the previous id format, and the
                # id of the row as another type (refused where one type is expected).
                ids.update({str(format_id(type_name, value)), str(value)})
                ids.add(str(format_id("Post" if type_name != "Post" else "Goal", value)))
        for statement in (
            select(Lesson.slug),
            select(Coupon.code),
            select(User.email).order_by(User.email).limit(20),
            text("SELECT DISTINCT unnest(specialties) FROM doctors"),
            text("SELECT DISTINCT unnest(languages) FROM doctors"),
        ):
            strings.update(str(value) for (value,) in await session.execute(statement))
    POOL.ids = sorted(ids)
    POOL.strings = sorted(strings)
    POOL.viewers = viewers
    return POOL


# --- scalar strategies ------------------------------------------------------------------


def _string_node(value: str) -> graphql.StringValueNode:
    return graphql.StringValueNode(value=value)


def _from_pool(name: str) -> st.SearchStrategy[str]:
    """A value of `POOL.<name>` (read when drawn: the pool is filled after import)."""

    def pick(index: int) -> str:
        values: list[str] = getattr(POOL, name)
        return values[index % len(values)] if values else ""

    return st.integers(min_value=0, max_value=10_000).map(pick)


_TODAY = date.today()
_TEXT = st.characters(min_codepoint=1, exclude_categories=["Cs"])
"""Characters of generated text; NUL only among the odd values (every text field refuses
it before anything runs)."""
_ODD_TEXT = st.sampled_from(["", " ", "x", "null", "0", "-1", "9" * 40, "\x00", "\u202e", "'"])


def _int_node(value: int) -> graphql.IntValueNode:
    return graphql.IntValueNode(value=str(value))


def _pool_uuid(text: str) -> uuid.UUID:
    """The row key inside a pool id (a global id or a bare uuid), for cursors."""
    decoded = decode_id(text)
    if decoded is not None:
        return decoded[1]
    return uuid.UUID(text) if text else uuid.UUID(int=0)


# Values of each type a cursor holds, odd ones as likely as plain ones: what a client
# sends back need not be what the server encoded.
_ANY_TEXT = st.one_of(
    st.text(_TEXT, max_size=30),
    st.text(st.sampled_from(["a", "\x00", "\ud800", "\U0001f600", "\\", '"']), max_size=5),
)
_ANY_INT = st.one_of(
    st.integers(min_value=-5, max_value=100),
    st.sampled_from([2**31, -(2**31) - 1, 2**63, -(2**63) - 1, 10**30]),
    st.integers(),
)
_ANY_DECIMAL = st.one_of(
    st.decimals(min_value=0, max_value=1000, places=2),
    st.sampled_from(["NaN", "sNaN", "-Infinity", "1E-100000", "1E+100000", "1E+200000"]).map(
        Decimal
    ),
    st.decimals(),
)
_ODD_OFFSET = st.builds(
    timezone,
    st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23)),
)
_ANY_INSTANT = st.one_of(
    st.datetimes(min_value=datetime(2000, 1, 1), timezones=st.just(UTC)),
    st.builds(
        datetime.replace,
        st.sampled_from([datetime.min, datetime.max]),
        tzinfo=_ODD_OFFSET | st.none(),
    ),
    st.datetimes(timezones=st.none() | st.timezones() | _ODD_OFFSET),
)
_CURSOR_ID = _from_pool("ids").map(_pool_uuid)
CURSORS = st.one_of(
    # The shapes of the lists' sort keys, with values of the right types (any of them:
    # a cursor comes back from the client), and lists of anything.
    st.tuples(_CURSOR_ID),
    st.tuples(_ANY_INSTANT, _CURSOR_ID),
    st.tuples(st.dates(), _CURSOR_ID),
    st.tuples(_ANY_TEXT, _CURSOR_ID),
    st.tuples(_ANY_DECIMAL, _CURSOR_ID),
    st.tuples(st.booleans(), _ANY_INSTANT, _CURSOR_ID),
    st.tuples(_ANY_TEXT, _ANY_INT, _CURSOR_ID),
    st.lists(
        st.one_of(st.booleans(), _ANY_TEXT, _ANY_INT, _ANY_DECIMAL, st.uuids(), _ANY_INSTANT),
        min_size=1,
        max_size=3,
    ),
).map(encode_cursor)

VALID_SCALARS: dict[str, st.SearchStrategy[graphql.ValueNode]] = {
    "ID": st.one_of(_from_pool("ids"), _from_pool("ids"), st.uuids().map(str)).map(_string_node),
    "String": st.one_of(_from_pool("strings"), st.text(_TEXT, max_size=60)).map(_string_node),
    "Int": st.integers(min_value=0, max_value=30).map(_int_node),
    "Date": st.integers(min_value=-400, max_value=400)
    .map(lambda days: str(_TODAY + timedelta(days)))
    .map(_string_node),
    "DateTime": st.integers(min_value=-400 * 24, max_value=400 * 24)
    .map(lambda hours: f"{_TODAY + timedelta(hours // 24)}T{hours % 24:02d}:00:00Z")
    .map(_string_node),
    "Time": st.times().map(lambda moment: moment.isoformat()).map(_string_node),
    "Decimal": st.decimals(min_value=0, max_value=10_000, places=2).map(str).map(_string_node),
    "JSON": st.recursive(
        st.one_of(
            st.just(graphql.NullValueNode()),
            st.booleans().map(lambda value: graphql.BooleanValueNode(value=value)),
            st.integers(min_value=-(2**31), max_value=2**31 - 1).map(_int_node),
            st.text(_TEXT, max_size=20).map(_string_node),
        ),
        lambda children: st.one_of(
            st.lists(children, max_size=4).map(
                lambda items: graphql.ListValueNode(values=tuple(items))
            ),
            st.dictionaries(
                st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), children, max_size=4
            ).map(
                lambda fields: graphql.ObjectValueNode(
                    fields=tuple(
                        graphql.ObjectFieldNode(name=NameNode(value=key), value=value)
                        for key, value in fields.items()
                    )
                )
            ),
        ),
        max_leaves=8,
    ),
}
"""Values each scalar accepts (ids of real rows mostly; dates around today), so that
valid documents run."""

_ODD: dict[str, st.SearchStrategy[graphql.ValueNode]] = {
    "ID": st.one_of(
        st.text(_TEXT, max_size=40).map(_string_node),
        st.integers(min_value=-(2**31), max_value=2**31 - 1).map(_int_node),
    ),
    "String": st.one_of(st.text(max_size=60), st.text(_TEXT, min_size=500, max_size=3000)).map(
        _string_node
    ),
    "Int": st.integers(min_value=-(2**31), max_value=2**31 - 1).map(_int_node),
    "Date": st.one_of(
        st.dates().map(str),
        st.sampled_from(["0001-01-01", "9999-12-31", "2024-02-30", "2024-13-01", "20240101"]),
    ).map(_string_node),
    "DateTime": st.one_of(
        st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat()),
        st.sampled_from(
            [
                "0001-01-01T00:00:00Z",
                "9999-12-31T23:59:59-14:00",
                "0001-01-01T00:00:00+14:00",
                "2026-01-01T00:00:00",
                "2026-01-01T00:00:00+23:59",
            ]
        ),
    ).map(_string_node),
    "Time": st.sampled_from(["00:00", "23:59:59.999999", "24:00", "09:00:00+04:00", "9am"]).map(
        _string_node
    ),
    "Decimal": st.one_of(
        st.decimals().map(str).map(_string_node),
        st.sampled_from(["-0", "1e400", "0.001", "1e-400", "-1"]).map(_string_node),
        st.integers().map(_int_node),
        st.floats(allow_nan=False, allow_infinity=False).map(
            lambda value: graphql.FloatValueNode(value=repr(value))
        ),
    ),
}

ODD_SCALARS: dict[str, st.SearchStrategy[graphql.ValueNode]] = {
    name: st.one_of(valid, _ODD.get(name, valid), _ODD_TEXT.map(_string_node))
    for name, valid in VALID_SCALARS.items()
}
"""A third valid, a third odd (out of range, wrong format, extreme), a third junk text."""


# --- cursors ---------------------------------------------------------------------------


class _Cursors(Visitor):
    def __init__(self, cursors: list[str | None]) -> None:
        super().__init__()
        self.cursors = cursors
        self.used = 0

    def enter_argument(self, node: ArgumentNode, *_args: Any) -> Any:
        if node.name.value != "after" or not self.cursors:
            return None
        cursor = self.cursors[self.used % len(self.cursors)]
        self.used += 1
        value = graphql.NullValueNode() if cursor is None else _string_node(cursor)
        return ArgumentNode(name=node.name, value=value)


def with_cursors(document: DocumentNode, cursors: list[str | None]) -> DocumentNode:
    """`document` with its `after` arguments given `cursors` in turn (None: null): what
    decides how far a request gets is a cursor's shape and values, which generated
    strings seldom have."""
    changed: DocumentNode = visit(document, _Cursors(cursors))
    return changed


# --- literals as variables ---------------------------------------------------------------


class _ToVariables(Visitor):
    def __init__(self, type_info: TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info
        self.definitions: list[VariableDefinitionNode] = []
        self.values: dict[str, Any] = {}

    def enter_argument(self, node: ArgumentNode, *_args: Any) -> Any:
        argument = self.type_info.get_argument()
        if argument is None:  # an argument the schema does not know (negative mode)
            return None
        name = f"v{len(self.definitions)}"
        self.definitions.append(
            VariableDefinitionNode(
                variable=VariableNode(name=NameNode(value=name)),
                type=parse_type(str(argument.type)),
                directives=(),
            )
        )
        self.values[name] = value_from_ast_untyped(node.value)
        return ArgumentNode(name=node.name, value=VariableNode(name=NameNode(value=name)))

    def leave_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> Any:
        return OperationDefinitionNode(
            operation=node.operation,
            name=node.name,
            variable_definitions=tuple(self.definitions),
            directives=node.directives,
            selection_set=node.selection_set,
        )


def with_variables(
    schema: graphql.GraphQLSchema, document: DocumentNode
) -> tuple[DocumentNode, dict[str, Any]]:
    """`document` with each argument the schema knows given as a variable of the
    argument's type, and the variables' JSON values."""
    type_info = TypeInfo(schema)
    visitor = _ToVariables(type_info)
    changed = visit(document, TypeInfoVisitor(type_info, visitor))
    return changed, visitor.values


# --- shapes of hand-written operations ----------------------------------------------------


def _with_directive(node: Any, directive: DirectiveNode) -> Any:
    values = {key: getattr(node, key) for key in node.keys if key != "loc"}
    values["directives"] = (*(node.directives or ()), directive)
    return type(node)(**values)


def with_shapes(
    document: DocumentNode, variables: dict[str, Any], *, alias: bool, hide: bool | None
) -> tuple[DocumentNode, dict[str, Any]]:
    """`document` with shapes hand-written operations have and generated ones lack: its
    first root field asked for again under an alias (`alias`), and the first selection
    below each root field under `@skip(if: $hide)` (unless `hide` is None). Each is
    another path through the compiled executor's plans (one a variable decides)."""
    operation = document.definitions[0]
    if not isinstance(operation, OperationDefinitionNode):
        return document, variables
    selections = list(operation.selection_set.selections)
    definitions = list(operation.variable_definitions or ())
    variables = dict(variables)
    if hide is not None:
        skip = DirectiveNode(
            name=NameNode(value="skip"),
            arguments=(
                ArgumentNode(
                    name=NameNode(value="if"), value=VariableNode(name=NameNode(value="hide"))
                ),
            ),
        )
        for index, selection in enumerate(selections):
            below = getattr(selection, "selection_set", None)
            if below is None or not below.selections:
                continue
            first, *rest = below.selections
            changed = SelectionSetNode(selections=(_with_directive(first, skip), *rest))
            values = {key: getattr(selection, key) for key in selection.keys if key != "loc"}
            selections[index] = type(selection)(**{**values, "selection_set": changed})
        definitions.append(
            VariableDefinitionNode(
                variable=VariableNode(name=NameNode(value="hide")),
                type=parse_type("Boolean!"),
                directives=(),
            )
        )
        variables["hide"] = hide
    if alias and selections and isinstance(selections[0], FieldNode):
        first_field = selections[0]
        values = {key: getattr(first_field, key) for key in first_field.keys if key != "loc"}
        selections.append(FieldNode(**{**values, "alias": NameNode(value="again")}))
    changed_operation = OperationDefinitionNode(
        operation=operation.operation,
        name=operation.name,
        variable_definitions=tuple(definitions),
        directives=operation.directives,
        selection_set=SelectionSetNode(selections=tuple(selections)),
    )
    return DocumentNode(definitions=(changed_operation, *document.definitions[1:])), variables


# --- what a request leaves behind ---------------------------------------------------------

_SIGNS = ("Traceback", "Exception ignored", "never awaited", "never retrieved")


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class _Tee(io.TextIOBase):
    """A stream that keeps what is written to it and passes it on."""

    def __init__(self, target: TextIO) -> None:
        super().__init__()
        self.target = target
        self.written: list[str] = []

    def write(self, text: str) -> int:
        self.written.append(text)
        return self.target.write(text)

    def flush(self) -> None:
        self.target.flush()


@dataclass
class Leftovers:
    unraisable: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    logged: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return [*self.unraisable, *self.warnings, *self.logged, *self.stderr]


@contextmanager
def watch() -> Iterator[Leftovers]:
    """Collects, while the block runs and through a `gc.collect()` at its end: unraisable
    exceptions (what Python prints as "Exception ignored in ..."), warnings (a coroutine
    never awaited is a RuntimeWarning), log records at ERROR or with a traceback or any
    of the signs above in their text, and what is written to stderr with those signs."""
    leftovers = Leftovers()
    handler = _Records()
    root = logging.getLogger()
    previous_hook = sys.unraisablehook
    previous_stderr = sys.stderr
    tee = _Tee(previous_stderr)

    def unraisable(info: Any) -> None:
        leftovers.unraisable.append(
            f"unraisable in {info.object!r}: {info.exc_type.__name__}: {info.exc_value}"
        )

    root.addHandler(handler)
    sys.unraisablehook = unraisable
    sys.stderr = tee
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            try:
                yield leftovers
            finally:
                gc.collect()
        leftovers.warnings.extend(
            f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught
        )
    finally:
        sys.stderr = previous_stderr
        sys.unraisablehook = previous_hook
        root.removeHandler(handler)
    written = "".join(tee.written)
    if any(sign in written for sign in _SIGNS):
        leftovers.stderr.append(f"stderr: {written}")
    for record in handler.records:
        message = record.getMessage()
        if (
            record.levelno >= logging.ERROR
            or record.exc_info
            or any(sign in message for sign in _SIGNS)
        ):
            leftovers.logged.append(f"{record.name} {record.levelname}: {message}")
