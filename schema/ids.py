"""How ids cross the API, in one place: every type formats its ids with `format_id`, and
every argument or input field that takes an id parses it with `parse_id`, which names the
argument in its error."""

from __future__ import annotations

import uuid

import strawberry

from resolvers.core.errors import ValidationFailed


def format_id(value: uuid.UUID) -> strawberry.ID:
    """The GraphQL `ID` of a row's uuid."""
    return strawberry.ID(str(value))


def format_optional_id(value: uuid.UUID | None) -> strawberry.ID | None:
    return None if value is None else format_id(value)


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
