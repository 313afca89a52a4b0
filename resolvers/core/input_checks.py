"""Shared input checks."""

from __future__ import annotations

import uuid
from decimal import Decimal
from zoneinfo import available_timezones

from resolvers.core.errors import ValidationFailed

NOT_PLACES = frozenset({"localtime", "posixrules", "Factory"})
"""Files of a zoneinfo directory that are not IANA places: the host's own zone (which
Postgres does not know), the POSIX rules template, and tzdata's "-00" placeholder."""
TIMEZONES = frozenset(available_timezones()) - NOT_PLACES

MONEY_MAX = Decimal("99999999.99")
"""The largest amount a numeric(10, 2) column (fees, prices, coupons, payments) holds."""
CENT = Decimal("0.01")


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


def money_problem(value: Decimal, *, positive: bool = False) -> str | None:
    """What keeps `value` from being stored as a numeric(10, 2) amount (zero or more, or
    more than zero when `positive`), or None. Compares before quantizing: quantizing a
    huge value (`1e40`) raises instead of answering."""
    if not value.is_finite():
        return "must be a finite number"
    if positive and value <= 0:
        return "must be more than zero"
    if value < 0:
        return "must be zero or more"
    if value > MONEY_MAX:
        return f"must be at most {MONEY_MAX}"
    if value != value.quantize(CENT):
        return "at most 2 decimal places"
    return None
