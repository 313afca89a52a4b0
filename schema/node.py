"""Global object identification (what Relay requires): the `Node` interface that every
entity type implements, and `node(id)` / `nodes(ids)`, which refetch any object by its
global id through its table's policy.

Each entity type registers how to load its rows (`register_node`): through the same
per-request loaders as every other field, so `nodes` costs one statement per type asked
for, whatever the number of ids, and the rows it reads are shared with the rest of the
query."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import strawberry

from resolvers.core.errors import ValidationFailed
from schema.engine.look_ahead import GraphQLInfo
from schema.ids import decode_id

MAX_NODES = 100

ToNode = Callable[[GraphQLInfo, Any], Any]
_NODE_TYPES: dict[str, tuple[type[Any], ToNode]] = {}


@strawberry.interface(
    description="An object with a global id: refetch it with `node(id:)` (Relay's Global "
    "Object Identification)."
)
class Node:
    id: strawberry.ID = strawberry.field(
        description="Opaque, globally unique id; the same for the same object on every call."
    )


def register_node(type_name: str, loader_class: type[Any], to_node: ToNode) -> None:
    """Objects of type `type_name` load by primary key through `loader_class` (a
    `PolicyLoader`: None for a row the viewer may not read); `to_node(info, row)` makes
    the object, or None."""
    _NODE_TYPES[type_name] = (loader_class, to_node)


async def resolve_nodes(info: GraphQLInfo, ids: Sequence[str]) -> list[Node | None]:
    decoded = [decode_id(value) for value in ids]
    keys_by_type: dict[str, list[uuid.UUID]] = {}
    for found in decoded:
        if found is not None and found[0] in _NODE_TYPES:
            keys_by_type.setdefault(found[0], []).append(found[1])
    # Queue every type's keys before waiting, so each loader batches once: one statement
    # per type, whatever the mix of ids.
    waits = []
    for type_name, keys in keys_by_type.items():
        loader_class, _ = _NODE_TYPES[type_name]
        unique = list(dict.fromkeys(keys))
        waits.append((type_name, unique, info.context.loaders.get(loader_class).load_each(unique)))
    loaded: dict[tuple[str, uuid.UUID], Any] = {}
    try:
        for type_name, unique, wait in waits:
            _, to_node = _NODE_TYPES[type_name]
            for key, row in zip(unique, await wait, strict=True):
                loaded[(type_name, key)] = None if row is None else to_node(info, row)
    finally:
        for _, _, wait in waits:
            close = getattr(wait, "close", None)
            if close is not None:
                close()  # a no-op for one awaited; frees one left behind by an error
    return [None if found is None else loaded.get(found) for found in decoded]


@strawberry.type
class NodeQuery:
    @strawberry.field(
        description="Any object by its global id, through its table's policy; null when the "
        "id is unknown or the viewer may not read the object."
    )
    async def node(
        self,
        info: GraphQLInfo,
        id: Annotated[strawberry.ID, strawberry.argument(description="A global id.")],
    ) -> Node | None:
        return (await resolve_nodes(info, [id]))[0]

    @strawberry.field(
        description=f"Objects by global id, in the order asked (at most {MAX_NODES}); null "
        "for each id that is unknown or not readable by the viewer."
    )
    async def nodes(
        self,
        info: GraphQLInfo,
        ids: Annotated[list[strawberry.ID], strawberry.argument(description="Global ids.")],
    ) -> list[Node | None]:
        if len(ids) > MAX_NODES:
            raise ValidationFailed(
                {"ids": [f"at most {MAX_NODES} ids"]},
                message=f"`ids` takes at most {MAX_NODES} ids, got {len(ids)}",
            )
        return await resolve_nodes(info, ids)
