"""Scalar overrides: one meaning for `DateTime` and `Decimal` inputs across every domain."""

from __future__ import annotations

import datetime as dt
import decimal

import dateutil.parser
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.types.scalar import ScalarDefinition


def _parse_datetime(value: object) -> dt.datetime:
    if not isinstance(value, str):
        raise StrawberryInputCoercionError(
            f'Value cannot represent a DateTime: "{value}". Expected a string.'
        )
    try:
        parsed = dateutil.parser.isoparse(value)
    except (ValueError, OverflowError) as error:
        raise StrawberryInputCoercionError(
            f'Value cannot represent a DateTime: "{value}". {error}'
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise StrawberryInputCoercionError(
            f'Value cannot represent a DateTime: "{value}". It must include a UTC offset, '
            'e.g. "2026-11-23T06:30:00Z" or "2026-11-23T10:30:00+04:00".'
        )
    return parsed


def _parse_decimal(value: object) -> decimal.Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise StrawberryInputCoercionError(
            f'Value cannot represent a Decimal: "{value}". Expected a string or a number.'
        )
    try:
        parsed = decimal.Decimal(str(value))
    except decimal.DecimalException:
        raise StrawberryInputCoercionError(
            f'Value cannot represent a Decimal: "{value}".'
        ) from None
    if not parsed.is_finite():
        raise StrawberryInputCoercionError(
            f'Value cannot represent a Decimal: "{value}". It must be a finite number.'
        )
    return parsed


DateTime = ScalarDefinition(
    name="DateTime",
    specified_by_url=None,
    parse_literal=None,
    origin=dt.datetime,
    description=(
        "An instant as an ISO 8601 string with a UTC offset, e.g. `2026-11-23T06:30:00Z` or "
        "`2026-11-23T10:30:00+04:00`. Inputs without an offset are rejected; stored "
        "instants are returned in UTC (`+00:00`)."
    ),
    serialize=lambda value: value.isoformat(),
    parse_value=_parse_datetime,
)

Decimal = ScalarDefinition(
    name="Decimal",
    specified_by_url=None,
    parse_literal=None,
    origin=decimal.Decimal,
    description=(
        'An exact decimal number, sent and returned as a string (e.g. `"200.00"`); '
        "NaN and Infinity are rejected. Money amounts have two decimal places."
    ),
    serialize=str,
    parse_value=_parse_decimal,
)

SCALAR_OVERRIDES: dict[object, ScalarDefinition] = {
    dt.datetime: DateTime,
    decimal.Decimal: Decimal,
}
