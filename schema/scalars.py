"""Scalar overrides: one meaning for `Date`, `DateTime`, `Time` and `Decimal` inputs across
every domain.

- `DateTime`: an ISO 8601 instant with a UTC offset of at most 14 hours either way (the
  most any time zone uses; ISO allows 23:59) that is an instant Python can hold in UTC
  (0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z): what is stored, compared and sent to
  Postgres is that UTC instant, and one past the calendar's end is a 500 waiting to
  happen (`OverflowError`, or a row no read can decode).
- `Time`: a wall-clock time without an offset (it is read in the doctor's time zone).
- `Date`: an ISO 8601 date, years 1 to 9999; ranges that would step past the calendar
  are checked where they are computed (`resolvers.slots.slot_range`, ...).
- `Decimal`: a finite number; money columns are checked by
  `resolvers.core.input_checks.money_problem`.

A value a scalar refuses is a `BAD_USER_INPUT` error before any resolver runs. A literal's
error carries its node (so its location, and `schema.engine.input_errors` can name the argument
or input field it was given for); a variable's names the variable. The descriptions of
the scalars are left as they were (the committed SDL); these rules show in the errors."""

from __future__ import annotations

import datetime as dt
import decimal
import functools
from collections.abc import Callable
from typing import Any

import dateutil.parser
from graphql import GraphQLError, ValueNode, value_from_ast_untyped
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.types.scalar import ScalarDefinition

MAX_UTC_OFFSET = dt.timedelta(hours=14)
"""The largest offset any time zone uses (UTC+14, UTC-12); ISO 8601 allows up to 23:59."""


def _rejected(type_name: str, value: object, reason: str) -> StrawberryInputCoercionError:
    return StrawberryInputCoercionError(
        f'Value cannot represent a {type_name}: "{value}". {reason}'.rstrip()
    )


def _string(type_name: str, value: object) -> str:
    if not isinstance(value, str):
        raise _rejected(type_name, value, "Expected a string.")
    return value


def _parse_datetime(value: object) -> dt.datetime:
    text = _string("DateTime", value)
    try:
        parsed = dateutil.parser.isoparse(text)
    except (ValueError, OverflowError) as error:
        raise _rejected("DateTime", text, str(error)) from None
    offset = parsed.utcoffset() if parsed.tzinfo is not None else None
    if offset is None:
        raise _rejected(
            "DateTime",
            text,
            'It must include a UTC offset, e.g. "2026-11-23T06:30:00Z" or '
            '"2026-11-23T10:30:00+04:00".',
        )
    if abs(offset) > MAX_UTC_OFFSET:
        raise _rejected("DateTime", text, "Its UTC offset must be between -14:00 and +14:00.")
    try:
        # Stored, compared and sent to Postgres as a UTC instant: it must be one.
        parsed.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise _rejected(
            "DateTime",
            text,
            "It is outside the supported range, 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.",
        ) from None
    return parsed


def _parse_date(value: object) -> dt.date:
    text = _string("Date", value)
    try:
        return dt.date.fromisoformat(text)
    except ValueError as error:
        raise _rejected("Date", text, str(error)) from None


def _parse_time(value: object) -> dt.time:
    text = _string("Time", value)
    try:
        parsed = dt.time.fromisoformat(text)
    except ValueError as error:
        raise _rejected("Time", text, str(error)) from None
    if parsed.tzinfo is not None:
        raise _rejected(
            "Time", text, "It must not include a UTC offset: times are local wall-clock times."
        )
    return parsed


def _parse_decimal(value: object) -> decimal.Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _rejected("Decimal", value, "Expected a string or a number.")
    try:
        parsed = decimal.Decimal(str(value))
    except decimal.DecimalException:
        raise _rejected("Decimal", value, "") from None
    if not parsed.is_finite():
        raise _rejected("Decimal", value, "It must be a finite number.")
    return parsed


def _literal_parser(parse: Callable[[object], object]) -> Callable[..., object]:
    """`parse` for a literal in the document: its error keeps the literal's node."""

    def parse_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> object:
        try:
            return parse(value_from_ast_untyped(node, variables))
        except GraphQLError as error:
            raise GraphQLError(error.message, node) from None

    return parse_literal


Date = ScalarDefinition(
    name="Date",
    specified_by_url=None,
    parse_literal=_literal_parser(_parse_date),
    origin=dt.date,
    # The descriptions of Date and Time stay strawberry's (the committed SDL).
    description="Date (isoformat)",
    serialize=lambda value: value.isoformat(),
    parse_value=_parse_date,
)


@functools.lru_cache(maxsize=8192)
def _instant_text(value: dt.datetime, _zone: dt.tzinfo | None, _fold: int) -> str:
    return value.isoformat()


def _serialize_datetime(value: dt.datetime) -> str:
    """`isoformat()` (2 us), remembered per instant and zone: a directory page writes the
    same few hundred slot instants for many doctors. The zone and the fold are part of the
    key: equal instants in two zones are equal datetimes with different texts, and so are
    a repeated local time's two occurrences in one zone."""
    try:
        return _instant_text(value, value.tzinfo, value.fold)
    except TypeError:  # a zone that cannot be a key (dateutil's tzutc, from parsed input)
        return value.isoformat()


DateTime = ScalarDefinition(
    name="DateTime",
    specified_by_url=None,
    parse_literal=_literal_parser(_parse_datetime),
    origin=dt.datetime,
    description=(
        "An instant as an ISO 8601 string with a UTC offset, e.g. `2026-11-23T06:30:00Z` or "
        "`2026-11-23T10:30:00+04:00`. Inputs without an offset are rejected; stored "
        "instants are returned in UTC (`+00:00`)."
    ),
    serialize=_serialize_datetime,
    parse_value=_parse_datetime,
)

Time = ScalarDefinition(
    name="Time",
    specified_by_url=None,
    parse_literal=_literal_parser(_parse_time),
    origin=dt.time,
    description="Time (isoformat)",
    serialize=lambda value: value.isoformat(),
    parse_value=_parse_time,
)

Decimal = ScalarDefinition(
    name="Decimal",
    specified_by_url=None,
    parse_literal=_literal_parser(_parse_decimal),
    origin=decimal.Decimal,
    description=(
        'An exact decimal number, sent and returned as a string (e.g. `"200.00"`); '
        "NaN and Infinity are rejected. Money amounts have two decimal places."
    ),
    serialize=str,
    parse_value=_parse_decimal,
)

SCALAR_OVERRIDES: dict[object, ScalarDefinition] = {
    dt.date: Date,
    dt.datetime: DateTime,
    dt.time: Time,
    decimal.Decimal: Decimal,
}
