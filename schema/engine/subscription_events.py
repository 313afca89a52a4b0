"""One resolution of a subscription event for all the subscribers it would answer alike.

The hub puts the same row object in the queue of every subscriber whose policy lets it
read the row (resolvers/core/realtime.py), and each subscription resolver yields that
row's object as `from_model` makes it, which depends on the row alone. Two subscribers
of one event then get the same payload when they sent the same operation with the same
variables and either

- they are the same viewer (several tabs or devices), or
- every field their selection reaches is the same for every reader: a field read
  straight from the object (no resolver, no permission), `__typename`, or a resolver
  marked `SAME_FOR_EVERY_READER` (one whose answer depends on its parent alone, such as
  an author's public name: the parent was already read through its policy).

The first of them resolves it, with its own context and loaders; the others take that
result, also while it is still being resolved. So a subscriber's nested fields cost
statements per distinct answer, not per subscriber; any other selection (a field whose
resolver consults the viewer's policies) is resolved per subscriber, as a query would
be. Results are kept per event in a small table on the hub (`RealtimeHub.payloads`)."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLObjectType,
    InlineFragmentNode,
    SelectionSetNode,
    get_named_type,
)

from resolvers.core.realtime import RealtimeHub, viewer_key

SAME_FOR_EVERY_READER: dict[str, Any] = {"same_for_every_reader": True}
"""`strawberry.field(metadata=SAME_FOR_EVERY_READER)`: this resolver's answer depends on
its parent object only, never on the viewer (review that before marking one)."""

_KEPT = 1024
_DEFINITION = "strawberry-definition"
_readers: dict[int, tuple[Any, bool]] = {}


class _Recompute(Exception):
    """The subscriber resolving a shared payload failed or went away: resolve it alone."""


def execute_event(executor: Any, execute: Callable[[], Any]) -> Any:
    """`execute()` resolves the event for `executor`'s subscriber; its result, or a shared
    one (see the module's docstring). Anything but a subscription event runs as is."""
    context = executor.context_value
    row = getattr(context, "delivering", None)
    hub: RealtimeHub | None = getattr(context, "realtime", None)
    if row is None or hub is None:
        return execute()
    operation = executor.operation
    key = (
        id(row),
        id(operation),
        json.dumps(executor.variable_values, sort_keys=True, default=str),
        None if same_for_every_reader(executor) else viewer_key(context.viewer),
    )
    payloads: OrderedDict[Any, tuple[Any, Any, Any]] = hub.payloads
    kept = payloads.get(key)
    if kept is not None and kept[0] is row and kept[1] is operation:
        hub.payloads_shared += 1
        value = kept[2]
        if isinstance(value, asyncio.Future):
            return _follow(value, execute)
        return value
    hub.payloads_resolved += 1
    result = execute()
    if not executor.is_awaitable(result):
        _keep(payloads, key, (row, operation, result))
        return result
    pending: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    _keep(payloads, key, (row, operation, pending))
    return _lead(result, pending, payloads, key, (row, operation))


async def _lead(
    result: Awaitable[Any],
    pending: asyncio.Future[Any],
    payloads: OrderedDict[Any, tuple[Any, Any, Any]],
    key: Any,
    identity: tuple[Any, Any],
) -> Any:
    try:
        value = await result
    except BaseException:
        pending.set_exception(_Recompute())
        pending.exception()  # retrieved: followers recompute, none need be waiting
        payloads.pop(key, None)
        raise
    pending.set_result(value)
    if key in payloads:
        payloads[key] = (*identity, value)
    return value


async def _follow(pending: asyncio.Future[Any], execute: Callable[[], Any]) -> Any:
    try:
        return await asyncio.shield(pending)
    except _Recompute:
        result = execute()
        return await result if inspect.isawaitable(result) else result


def _keep(payloads: OrderedDict[Any, Any], key: Any, entry: Any) -> None:
    payloads[key] = entry
    while len(payloads) > _KEPT:
        payloads.popitem(last=False)


def same_for_every_reader(executor: Any) -> bool:
    """Whether every field the subscription selects is the same for every reader of the
    event's row (decided once per operation)."""
    operation = executor.operation
    kept = _readers.get(id(operation))
    if kept is not None and kept[0] is operation:
        return kept[1]
    root = executor.schema.subscription_type
    answer = root is not None and all(
        isinstance(selection, FieldNode)
        and (field := root.fields.get(selection.name.value)) is not None
        and (
            selection.selection_set is None
            or _selection_alike(
                executor, get_named_type(field.type), selection.selection_set, set()
            )
        )
        for selection in operation.selection_set.selections
    )
    if len(_readers) >= _KEPT:
        _readers.pop(next(iter(_readers)))
    _readers[id(operation)] = (operation, answer)
    return answer


def _selection_alike(
    executor: Any, parent: Any, selection_set: SelectionSetNode, spread: set[str]
) -> bool:
    if not isinstance(parent, GraphQLObjectType):
        return False  # an interface or union: which fields run depends on the value
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            name = selection.name.value
            if name == "__typename":
                continue
            field = parent.fields.get(name)
            definition = field.extensions.get(_DEFINITION) if field is not None else None
            if field is None or definition is None:
                return False
            plain = (
                definition.base_resolver is None
                and not definition.extensions
                and not definition.permission_classes
            )
            if not (plain or definition.metadata.get("same_for_every_reader")):
                return False
            if selection.selection_set is not None and not _selection_alike(
                executor, get_named_type(field.type), selection.selection_set, spread
            ):
                return False
        elif isinstance(selection, InlineFragmentNode):
            if not _applies(parent, selection.type_condition):
                return False
            if not _selection_alike(executor, parent, selection.selection_set, spread):
                return False
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in spread:
                continue
            fragment = executor.fragments.get(name)
            definition = getattr(fragment, "definition", fragment)
            if definition is None or not _applies(parent, definition.type_condition):
                return False
            if not _selection_alike(executor, parent, definition.selection_set, spread | {name}):
                return False
        else:
            return False
    return True


def _applies(parent: GraphQLObjectType, condition: Any) -> bool:
    """A fragment on the parent's own type or one of its interfaces (anything else might
    not apply: the selection is not judged alike)."""
    if condition is None:
        return True
    name = condition.name.value
    return name == parent.name or any(
        isinstance(interface, GraphQLInterfaceType) and interface.name == name
        for interface in parent.interfaces
    )
