"""Shared input checks."""

from __future__ import annotations

import uuid
from zoneinfo import available_timezones

from resolvers.errors import BadUserInput

TIMEZONES = frozenset(available_timezones())


def parse_id(value: str, field: str = "id") -> uuid.UUID:
    """Turns a GraphQL `ID` into a uuid, or a `BAD_USER_INPUT` error naming the argument."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise BadUserInput(f"`{field}` is not a valid id: {value!r}") from None
