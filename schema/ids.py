"""How ids cross the API, in one place: global object ids (Relay's Global Object
Identification). An id is the url-safe base64 of `<Type>:<uuid>`, so it is opaque, unique
across every type, and the same on every machine for the same row (the demo's rows have
fixed uuids). Every type formats its ids with `format_id(type_name, uuid)`; every argument
or input field that takes an id parses it with `parse_id(value, field, of=type_name)`,
which refuses an id of another type with a `BAD_USER_INPUT` error naming the argument.

Until the next release, an input may also carry a bare uuid, the id format before global
ids, so clients that stored ids keep working (README, "Ids").
"""

from __future__ import annotations

import base64
import binascii
import uuid

import strawberry

from resolvers.core.errors import ValidationFailed
from resolvers.core.global_ids import global_id


def format_id(type_name: str, value: uuid.UUID) -> strawberry.ID:
    """The global id of the row `value` of the GraphQL type `type_name`."""
    return strawberry.ID(global_id(type_name, value))


def format_optional_id(type_name: str, value: uuid.UUID | None) -> strawberry.ID | None:
    return None if value is None else format_id(type_name, value)


def decode_id(value: str) -> tuple[str, uuid.UUID] | None:
    """(type name, uuid) of a global id; None for anything else."""
    if not isinstance(value, str) or not 8 <= len(value) <= 200:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        type_name, _, key = raw.partition(":")
        return (type_name, uuid.UUID(key)) if type_name.isidentifier() else None
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def parse_id(value: str, field: str = "id", *, of: str | tuple[str, ...]) -> uuid.UUID:
    """The uuid of the global id `value` of type `of` (one of `of`); a `BAD_USER_INPUT`
    error naming `field` for anything else (in a mutation, a `ValidationError` whose
    `fields` name it)."""
    expected = (of,) if isinstance(of, str) else of
    decoded = decode_id(value)
    if decoded is not None:
        type_name, key = decoded
        if type_name in expected:
            return key
        problem = f"the id of a {type_name}, not of a {' or '.join(expected)}"
    else:
        try:
            return uuid.UUID(str(value))  # the bare uuid of the previous id format
        except ValueError:
            problem = f"not a valid id: {value!r}"
    raise ValidationFailed({field: [problem]}, message=f"`{field}` is {problem}")


def parse_optional_id(
    value: str | None, field: str = "id", *, of: str | tuple[str, ...]
) -> uuid.UUID | None:
    """`parse_id` for an optional argument: null means omitted; any other value, the empty
    string included, must be a valid id."""
    return None if value is None else parse_id(value, field, of=of)
