"""Shared input checks."""

from __future__ import annotations

import uuid
from zoneinfo import available_timezones

from resolvers.errors import ValidationFailed

TIMEZONES = frozenset(available_timezones())


def parse_id(value: str, field: str = "id") -> uuid.UUID:
    """Turns a GraphQL `ID` into a uuid, or a `BAD_USER_INPUT` error naming the argument
    (in a mutation, a `ValidationError` whose `fields` name it)."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValidationFailed(
            {field: [f"not a valid id: {value!r}"]},
            message=f"`{field}` is not a valid id: {value!r}",
        ) from None


def parse_optional_id(value: str | None, field: str = "id") -> uuid.UUID | None:
    """`parse_id` for an optional argument: null means omitted; any other value, the empty
    string included, must be a valid id."""
    return None if value is None else parse_id(value, field)
