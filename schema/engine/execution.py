"""Compiled execution of queries: the same resolvers, policies and loaders as graphql-core's
executor, without its per-field, per-object machinery.

graphql-core completes every field of every object on its own: a resolve-info object, the
argument values, an awaitable check and a coroutine (and an asyncio task per list item)
for each. On a feed page that is some 20,000 field completions a request, and they cost
far more than the SQL behind them. This executor plans each selection set once instead
(fields collected with graphql-core's own `collect_subfields`; the plan kept per parsed
document unless a variable decides which fields it has), binds each resolver to the
request's argument values and info once, and then completes objects with a loop over
that plan:

- fields without a resolver are a `getattr` and an output coercion;
- resolvers are called directly with their converted arguments, `self` and `info`, as
  strawberry would call them; their coroutines are stepped by hand (no task each) and
  all coroutines waiting on loader futures are resumed together, so loaders batch
  exactly as they do under graphql-core;
- leaves are coerced by the schema's own scalar and enum types.

Anything it does not cover, it hands back: mutations (serial), `@defer`/`@stream`,
abstract types (unions and interfaces), fields with extensions, permission classes or
exception handlers, and every error. On a resolver error, a `null` in a non-null
position or a value that does not coerce, the whole operation runs again on graphql-core's
executor, which builds the response with its located errors. Queries only read, so the
second run answers the same data; it starts with empty loader caches, as graphql-core
alone would. Tests compare both executors on every query of the test suite.

graphql-core's executor itself (the hand-over, mutations, and the app without compiled
execution) gets one mend at import: see `gather_with_cancel` below.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import date, time
from decimal import Decimal
from enum import Enum
from typing import Any, cast
from uuid import UUID

import graphql.execution.executor as graphql_core_executor
from graphql import (
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLID,
    GraphQLInt,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLString,
    GraphQLUnionType,
    ListValueNode,
    ObjectValueNode,
    OperationType,
    VariableNode,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet, collect_subfields
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path
from graphql.pyutils import gather_with_cancel as graphql_core_gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.arguments import convert_arguments
from strawberry.types.base import get_object_definition
from strawberry.types.cast import get_strawberry_type_cast
from strawberry.types.field import StrawberryField

from resolvers.core.context import Context
from resolvers.core.json_reads import cursor_supported
from schema.engine.sql_json import (
    SQL_ROOT,
    SQL_ROOT_SORT,
    SQL_SOURCE,
    NotCompiled,
    ShapePlanner,
    SqlBatch,
    answer,
    answer_island,
    entry_signature,
    folds_levels,
    signature_of,
)
from schema.engine.subscription_events import execute_event

logger = logging.getLogger("caregraph.execution")

_DEFINITION = "strawberry-definition"
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_MAX_PLANS = 512

Completer = Callable[["_PlanRun", Any], Any]


class Unsupported(Exception):
    """The plan cannot cover this selection; graphql-core's executor runs it."""


class _Field:
    __slots__ = (
        "complete",
        "details",
        "field_def",
        "key",
        "literal_arguments",
        "name",
        "object_type",
        "path",
        "sql",
    )

    def __init__(
        self,
        key: str,
        name: str,
        complete: Completer,
        resolved: tuple[GraphQLObjectType, Any, FieldDetailsList, Path] | None = None,
    ) -> None:
        self.key = key
        self.name = name
        """The Python attribute for plain fields; the type name for `__typename`."""
        self.complete = complete
        self.object_type: GraphQLObjectType | None = None
        self.field_def: Any = None
        self.details: FieldDetailsList = []
        self.path: Path | None = None
        # Converted arguments, kept with the plan when they are literals of immutable
        # values (the same for every request of this document).
        self.literal_arguments: dict[str, Any] | None = None
        # A field answered by Postgres as JSON (schema/engine/sql_json.py): a root field
        # ("root", shape, signature, source maker), or a field of an object not in a list
        # ("island", entry, signature).
        self.sql: tuple[Any, ...] | None = None
        if resolved is not None:
            self.object_type, self.field_def, self.details, self.path = resolved


_TYPENAME = 0
_ATTRIBUTE = 1
_RESOLVER = 2


class _Selection:
    """One object type's collected fields, in response order."""

    __slots__ = ("fields",)

    def __init__(self, fields: list[tuple[int, _Field]]) -> None:
        self.fields = fields


def _leaf(type_: GraphQLScalarType | GraphQLEnumType) -> Completer:
    coerce = type_.coerce_output_value

    def coerced(_run: _PlanRun, value: Any) -> Any:
        result = coerce(value)
        if result is None:
            raise Unsupported(f"{type_.name} does not coerce {value!r}")
        return result

    # Values that graphql-core's coercion returns unchanged skip the call.
    if type_ is GraphQLString or type_ is GraphQLID:

        def text(run: _PlanRun, value: Any) -> Any:
            return value if type(value) is str else coerced(run, value)

        return text
    if type_ is GraphQLBoolean:

        def boolean(run: _PlanRun, value: Any) -> Any:
            return value if type(value) is bool else coerced(run, value)

        return boolean
    if type_ is GraphQLInt:

        def integer(run: _PlanRun, value: Any) -> Any:
            if type(value) is int and _INT_MIN <= value <= _INT_MAX:
                return value
            return coerced(run, value)

        return integer
    return coerced


def _has_variable(node: Any) -> bool:
    if isinstance(node, VariableNode):
        return True
    if isinstance(node, ListValueNode):
        return any(_has_variable(item) for item in node.values)
    if isinstance(node, ObjectValueNode):
        return any(_has_variable(item.value) for item in node.fields)
    return False


_IMMUTABLE = (int, float, str, bool, type(None), Enum, UUID, date, time, Decimal)


def _immutable(value: Any) -> bool:
    """A value no resolver can change in place (shared by requests when kept)."""
    if isinstance(value, tuple | frozenset):
        return all(_immutable(item) for item in value)
    return isinstance(value, _IMMUTABLE)


def _is_list_like(value: Any) -> bool:
    return isinstance(value, Iterable) and not isinstance(value, (str, bytes, Mapping))


class _PlanRun:
    """One operation's compiled execution: the plans, and the coroutines in flight."""

    def __init__(self, executor: CompiledExecutionContext) -> None:
        self.executor = executor
        self.waiting: list[tuple[Any, Any, dict[str, Any], _Field]] = []
        self.failure: BaseException | None = None
        self.calls: dict[_Field, Callable[[Any], Any]] = {}
        self._sql_batch: SqlBatch | None = None

    def sql_batch(self) -> SqlBatch:
        """The operation's fields answered by Postgres, read together (`SqlBatch`)."""
        if self._sql_batch is None:
            self._sql_batch = SqlBatch(cast(Context, self.executor.context_value))
        return self._sql_batch

    # --- planning ---------------------------------------------------------------------

    def selection(
        self,
        object_type: GraphQLObjectType,
        grouped: GroupedFieldSet,
        parent: Path | None,
        single: bool = True,
    ) -> _Selection:
        """`single`: the objects of this selection are not items of a list."""
        fields: list[tuple[int, _Field]] = []
        for key, details in grouped.items():
            node = details[0].node
            name = node.name.value
            if name == "__typename":
                fields.append((_TYPENAME, _Field(key, object_type.name, _same)))
                continue
            field_def = object_type.fields.get(name)
            if field_def is None:
                raise Unsupported(f"{object_type.name}.{name} is not a field")
            path = Path(parent, key, object_type.name)
            complete = self._completer(field_def.type, details, path, single)
            definition = (field_def.extensions or {}).get(_DEFINITION)
            if not isinstance(definition, StrawberryField):
                raise Unsupported(f"{object_type.name}.{name} is not a strawberry field")
            if definition.extensions:
                raise Unsupported(f"{object_type.name}.{name} has field extensions")
            if definition.base_resolver is None:
                attribute = _Field(key, definition.python_name, complete)
                fields.append((_ATTRIBUTE, attribute))
                continue
            resolved = (object_type, field_def, details, path)
            planned = _Field(key, name, complete, resolved)
            if parent is None:
                self._plan_sql(planned, definition, field_def, details)
            elif single:
                self._plan_island(planned, object_type, field_def, details)
            fields.append((_RESOLVER, planned))
        return _Selection(fields)

    def _plan_sql(
        self, field: _Field, definition: StrawberryField, field_def: Any, details: Any
    ) -> None:
        """Marks a root field that Postgres answers as JSON (schema/engine/sql_json.py)."""
        metadata = cast(dict[str, Any], definition.metadata or {})
        make = metadata.get(SQL_ROOT)
        context = self.executor.context_value
        if make is None or not (
            isinstance(context, Context) and context.settings.sql_json_execution
        ):
            return
        try:
            shape = ShapePlanner(self.collect, self.executor.schema).root_page(
                field_def.type, details
            )
        except NotCompiled as reason:
            logger.debug("resolvers answer %s: %s", field.name, reason)
            return
        sort = metadata.get(SQL_ROOT_SORT)
        if shape.cursors and sort is not None and not cursor_supported(sort):
            return  # a cursor of this order is written by the resolvers
        field.sql = ("root", shape, signature_of(shape), make)
        field.complete = _same

    def _plan_island(
        self, field: _Field, object_type: GraphQLObjectType, field_def: Any, details: Any
    ) -> None:
        """Marks a field of a single object (not in a list) whose related rows Postgres
        answers as JSON in one statement."""
        context = self.executor.context_value
        if not (isinstance(context, Context) and context.settings.sql_json_execution):
            return
        definition = (field_def.extensions or {}).get(_DEFINITION)
        if SQL_SOURCE not in (getattr(definition, "metadata", None) or {}):
            return
        try:
            entry = ShapePlanner(self.collect, self.executor.schema).island(
                object_type, field_def, details
            )
        except NotCompiled as reason:
            logger.debug("resolvers answer %s: %s", field.name, reason)
            return
        if not folds_levels(entry):
            return  # a row's or a list's own columns: one statement either way
        field.sql = ("island", entry, entry_signature(entry))
        field.complete = _same

    def _bind(self, field: _Field) -> Callable[[Any], Any]:
        """The field's resolver bound to this request's arguments and info."""
        executor = self.executor
        object_type, field_def, details, path = (
            field.object_type,
            field.field_def,
            field.details,
            field.path,
        )
        assert object_type is not None and path is not None
        definition = field_def.extensions[_DEFINITION]
        first = details[0]
        nodes = [detail.node for detail in details]
        graphql_info = executor.build_resolve_info(field_def, nodes, object_type, path)
        converter = executor.schema._strawberry_schema.schema_converter  # type: ignore[attr-defined]
        info = converter.config.info_class(_raw_info=graphql_info, _field=definition)
        if field.literal_arguments is not None:
            kwargs = dict(field.literal_arguments)
        else:
            raw_arguments = (
                get_argument_values(
                    field_def,
                    first.node,
                    executor.variable_values,
                    first.fragment_variable_values,
                    executor.hide_suggestions,
                )
                if field_def.args or first.node.arguments
                else {}
            )
            kwargs = convert_arguments(
                raw_arguments,
                definition.arguments,
                scalar_registry=converter.scalar_registry,
                config=converter.config,
                info=info,
            )
            if (
                first.fragment_variable_values is None
                and not any(
                    _has_variable(argument.value) for argument in first.node.arguments or ()
                )
                and all(_immutable(value) for value in kwargs.values())
            ):
                field.literal_arguments = dict(kwargs)
        if field.sql is not None and field.sql[0] == "root":
            return self._bind_sql(field.sql, field.name, kwargs)
        if field.sql is not None:
            return self._bind_island(field.sql, field.name)
        resolver = definition.base_resolver
        assert resolver is not None
        if resolver.info_parameter is not None:
            kwargs[resolver.info_parameter.name] = info
        source_names = [
            parameter.name
            for parameter in (resolver.parent_parameter, resolver.root_parameter)
            if parameter is not None
        ]
        function = resolver.wrapped_func
        if not callable(function):
            raise Unsupported(f"{object_type.name}.{field_def} has no callable resolver")
        if resolver.self_parameter is not None and not source_names:
            return lambda source: function(source, **kwargs)
        if resolver.self_parameter is not None:
            return lambda source: function(source, **kwargs, **dict.fromkeys(source_names, source))
        if source_names:
            return lambda source: function(**kwargs, **dict.fromkeys(source_names, source))
        return lambda _source: function(**kwargs)

    def _bind_sql(
        self, sql: tuple[Any, ...], field_name: str, kwargs: dict[str, Any]
    ) -> Callable[[Any], Any]:
        _kind, shape, signature, make = sql
        executor = self.executor
        context = cast(Context, executor.context_value)

        async def value() -> Any:
            source = make(context, **kwargs)
            answered = await answer(
                self.sql_batch(), shape, signature, source, executor.variable_values
            )
            context.sql_json_fields.append(field_name)
            return answered

        return lambda _source: value()

    def _bind_island(self, sql: tuple[Any, ...], field_name: str) -> Callable[[Any], Any]:
        _kind, entry, signature = sql
        via = entry[1].source.via if entry[0] == "page" else entry[1].via
        executor = self.executor
        context = cast(Context, executor.context_value)

        async def value(source: Any) -> Any:
            parent = getattr(getattr(source, "row", source), via)
            answered = await answer_island(
                self.sql_batch(), entry, signature, parent, executor.variable_values
            )
            context.sql_json_fields.append(field_name)
            return answered

        return value

    def _completer(
        self,
        type_: GraphQLOutputType,
        details: FieldDetailsList,
        path: Path,
        single: bool = True,
    ) -> Completer:
        if isinstance(type_, GraphQLNonNull):
            inner = self._completer(type_.of_type, details, path, single)

            def non_null(run: _PlanRun, value: Any) -> Any:
                if value is None:
                    raise Unsupported(f"null at non-null {path.as_list()}")
                return inner(run, value)

            return non_null
        if isinstance(type_, GraphQLList):
            item = self._completer(type_.of_type, details, path, single=False)

            def listed(run: _PlanRun, value: Any) -> Any:
                if value is None:
                    return None
                if type(value) is not list and not _is_list_like(value):
                    raise Unsupported(f"not a list at {path.as_list()}")
                return [item(run, entry) for entry in value]

            return listed
        if isinstance(type_, (GraphQLScalarType, GraphQLEnumType)):
            leaf = _leaf(type_)

            def nullable_leaf(run: _PlanRun, value: Any) -> Any:
                return None if value is None else leaf(run, value)

            return nullable_leaf
        if isinstance(type_, GraphQLObjectType):
            object_type = type_
            planned: list[_Selection] = []
            # Strawberry gives every type that implements an interface an `is_type_of`
            # (an isinstance check that ignores `info`); graphql-core calls it on every
            # value, and a value it refuses is an error, which graphql-core reports.
            is_type_of = type_.is_type_of

            def object_value(run: _PlanRun, value: Any) -> Any:
                if value is None:
                    return None
                if is_type_of is not None and not is_type_of(value, None):  # type: ignore[arg-type]
                    raise Unsupported(f"{object_type.name} refuses {type(value).__name__}")
                if not planned:
                    grouped = run.collect(object_type, details)
                    planned.append(run.selection(object_type, grouped, path, single))
                return run.complete_object(planned[0], value)

            return object_value
        if isinstance(type_, (GraphQLInterfaceType, GraphQLUnionType)):
            return self._abstract_completer(type_, details, path, single)
        raise Unsupported(f"abstract type {type_} at {path.as_list()}")

    def _abstract_completer(
        self,
        abstract: GraphQLInterfaceType | GraphQLUnionType,
        details: FieldDetailsList,
        path: Path,
        single: bool,
    ) -> Completer:
        """An interface or a union (a node's subject, a mutation's result): the value's
        type is its strawberry type, as strawberry's own type resolvers answer for a value
        neither cast (`strawberry.cast`) nor generic; planned once per concrete type. Any
        other value goes back to graphql-core (`Unsupported`)."""
        possible = {t.name: t for t in self.executor.schema.get_possible_types(abstract)}
        planned: dict[str, _Selection] = {}

        def abstract_value(run: _PlanRun, value: Any) -> Any:
            if value is None:
                return None
            definition = get_object_definition(value)
            if (
                definition is None
                or definition.is_graphql_generic
                or get_strawberry_type_cast(value) is not None
            ):
                raise Unsupported(f"{abstract.name}: a value strawberry resolves itself")
            concrete = possible.get(definition.name)
            if concrete is None:
                raise Unsupported(f"{definition.name} is not a type of {abstract.name}")
            if concrete.is_type_of is not None and not concrete.is_type_of(value, None):  # type: ignore[arg-type]
                raise Unsupported(f"{concrete.name} refuses {type(value).__name__}")
            selection = planned.get(concrete.name)
            if selection is None:
                grouped = run.collect(concrete, details)
                selection = planned[concrete.name] = run.selection(concrete, grouped, path, single)
            return run.complete_object(selection, value)

        return abstract_value

    def collect(self, object_type: GraphQLObjectType, details: FieldDetailsList) -> GroupedFieldSet:
        executor = self.executor
        collected = collect_subfields(
            executor.schema,
            executor.fragments,
            executor.variable_values,
            executor.operation,
            object_type,
            details,
            executor.hide_suggestions,
        )
        if collected.new_defer_usages:
            raise Unsupported("@defer")
        return collected.grouped_field_set

    # --- completion -------------------------------------------------------------------

    def complete_object(self, selection: _Selection, source: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kind, field in selection.fields:
            if kind == _ATTRIBUTE:
                out[field.key] = field.complete(self, getattr(source, field.name))
            elif kind == _RESOLVER:
                call = self.calls.get(field)
                if call is None:
                    call = self.calls[field] = self._bind(field)
                value = call(source)
                if hasattr(value, "__await__"):
                    out[field.key] = None
                    self._step(value.__await__(), out, field)
                else:
                    out[field.key] = field.complete(self, value)
            else:
                out[field.key] = field.name
        return out

    def _step(self, running: Any, out: dict[str, Any], field: _Field) -> None:
        """Advance one resolver's coroutine to its next suspension (or its end)."""
        try:
            yielded = running.send(None)
        except StopIteration as stop:
            if self.failure is None:
                try:
                    out[field.key] = field.complete(self, stop.value)
                except Exception as error:
                    self.failure = error
            return
        except Exception as error:
            self.failure = self.failure or error
            return
        if yielded is not None:
            if not asyncio.isfuture(yielded):
                running.close()
                self.failure = self.failure or RuntimeError(f"awaited {yielded!r}")
                return
            # What a task does with a future its coroutine yields: take over the wait.
            yielded._asyncio_future_blocking = False
        self.waiting.append((yielded, running, out, field))

    async def drain(self) -> None:
        """Resume suspended resolvers until none is left. All resolvers whose future is
        done are resumed before this waits again, so the loads they go on to make are
        queued before any loader dispatches: one batch per loader and round, as with
        graphql-core's gathered coroutines."""
        loop = asyncio.get_running_loop()
        while self.waiting:
            ready: list[Any] = []
            blocked: list[Any] = []
            for entry in self.waiting:
                (ready if entry[0] is None or entry[0].done() else blocked).append(entry)
            self.waiting = blocked
            if not ready:
                await self._first_done(loop, [entry[0] for entry in blocked])
                continue
            if any(entry[0] is None for entry in ready):
                await asyncio.sleep(0)
            for _yielded, running, out, field in ready:
                self._step(running, out, field)

    @staticmethod
    async def _first_done(loop: asyncio.AbstractEventLoop, futures: list[Any]) -> None:
        woken = loop.create_future()

        def wake(_future: Any) -> None:
            if not woken.done():
                woken.set_result(None)

        pending = {id(future): future for future in futures}.values()
        for future in pending:
            future.add_done_callback(wake)
        try:
            await woken
        finally:
            for future in pending:
                future.remove_done_callback(wake)


class CompiledExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor, with queries completed by `_PlanRun` when it covers them,
    and a subscription event resolved once for the subscribers it answers alike
    (schema/engine/subscription_events.py)."""

    def execute_operation(self, serially: bool | None = None) -> Any:
        if self.operation.operation is OperationType.SUBSCRIPTION:
            return execute_event(
                self, lambda: super(CompiledExecutionContext, self).execute_operation(serially)
            )
        return super().execute_operation(serially)

    def execute_collected_root_fields(
        self,
        root_type: GraphQLObjectType,
        root_value: Any,
        grouped_field_set: GroupedFieldSet,
        serially: bool,
        new_defer_usages: Sequence[Any],
    ) -> Any:
        if serially or new_defer_usages or self.operation.operation != OperationType.QUERY:
            return super().execute_collected_root_fields(
                root_type, root_value, grouped_field_set, serially, new_defer_usages
            )
        return self._execute_compiled(root_type, root_value, grouped_field_set)

    def _root_selection(
        self, run: _PlanRun, root_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet
    ) -> _Selection:
        """The operation's plan. The planned selection sets (and those planned lazily below
        them) are kept for the next request with the same parsed document (the parser
        cache hands out the same nodes), unless a variable decides which fields it has."""
        plans: dict[int, tuple[Any, _Selection | None]] = self.schema.__dict__.setdefault(
            "_compiled_plans", {}
        )
        operation = self.operation
        cached = plans.get(id(operation))
        if cached is not None and cached[0] is operation and cached[1] is not None:
            return cached[1]
        root = run.selection(root_type, grouped_field_set, None)
        if cached is None:
            if len(plans) >= _MAX_PLANS:
                plans.pop(next(iter(plans)))
            plans[id(operation)] = (operation, root if _fixed_selection(self) else None)
        return root

    async def _execute_compiled(
        self, root_type: GraphQLObjectType, root_value: Any, grouped_field_set: GroupedFieldSet
    ) -> dict[str, Any]:
        run = _PlanRun(self)
        try:
            root = self._root_selection(run, root_type, grouped_field_set)
            data = run.complete_object(root, root_value)
        except Exception as error:
            run.failure = error
            data = {}
        await run.drain()
        context = self.context_value
        if run.failure is None:
            if isinstance(context, Context):
                context.executor = "compiled"
            return data
        logger.debug("graphql-core executes this operation: %r", run.failure)
        # From the state graphql-core alone would start in: with the loader caches the
        # compiled run filled, fields would finish (and errors arrive) in another order.
        if isinstance(context, Context):
            context.reset_loaders()
            context.sql_json_fields.clear()
        result = super().execute_collected_root_fields(
            root_type, root_value, grouped_field_set, False, ()
        )
        if self.is_awaitable(result):
            return cast("dict[str, Any]", await result)
        return cast("dict[str, Any]", result)


def _same(_run: _PlanRun, value: Any) -> Any:
    return value


def _fixed_selection(executor: CompiledExecutionContext) -> bool:
    """Whether the fields collected from the operation are the same for any variables:
    no `@skip`/`@include` takes a variable, and no fragment takes arguments."""
    if any(fragment.variable_signatures for fragment in executor.fragments.values()):
        return False
    definitions = [executor.operation, *(f.definition for f in executor.fragments.values())]
    stack: list[Any] = [definition.selection_set for definition in definitions]
    while stack:
        selection_set = stack.pop()
        if selection_set is None:
            continue
        for selection in selection_set.selections:
            for directive in selection.directives or ():
                if any(
                    isinstance(argument.value, VariableNode) for argument in directive.arguments
                ):
                    return False
            stack.append(getattr(selection, "selection_set", None))
    return True


# --- graphql-core's executor ---------------------------------------------------------------


async def gather_with_cancel(*awaitables: Awaitable[Any]) -> list[Any]:
    """graphql-core's `gather_with_cancel` (how its executor awaits the async fields of an
    object and the async items of a list, each as a task), except that when it is itself
    cancelled, it cancels those tasks only once each has taken its first step.

    graphql-core cancels a field's task when a sibling fails into a non-null position (or
    the request's deadline cancels the operation). Under `asyncio.gather` that cancellation
    reached the tasks at once, and a task cancelled before its first step never runs its
    coroutine: graphql-core's coroutines there wrap others they were handed (an object's
    `get_results`, a resolver's coroutine), which were then never awaited (issue 13 item 6).
    `asyncio.wait` leaves the tasks alone when this coroutine is cancelled, and this
    coroutine cancels them: the cancellation reaches it through the event loop's queue, so
    after the first steps of the tasks it started, which were queued before. A failed task
    ends the wait as it ended the gather, after the same number of loop steps."""
    futures = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
    if not futures:
        return []
    try:
        await asyncio.wait(futures, return_when=asyncio.FIRST_EXCEPTION)
        for future in futures:
            if future.done() and (future.cancelled() or future.exception() is not None):
                future.result()  # raises, as gather did, the error of a failed task
        return [future.result() for future in futures]
    except BaseException:
        for future in futures:
            if not future.done():
                future.cancel()
        await asyncio.gather(*futures, return_exceptions=True)
        raise


# Where graphql-core's executor looks it up: every executor in the process (the compiled
# one's hand-over, mutations, and apps without compiled execution) runs with it.
if graphql_core_executor.gather_with_cancel not in (
    graphql_core_gather_with_cancel,
    gather_with_cancel,
):  # pragma: no cover - a graphql-core release that no longer has it where it was
    raise ImportError("graphql.execution.executor.gather_with_cancel moved: review the mend")
graphql_core_executor.gather_with_cancel = gather_with_cancel
