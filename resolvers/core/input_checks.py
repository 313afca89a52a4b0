"""Shared input checks."""

from __future__ import annotations

from decimal import Decimal
from zoneinfo import available_timezones

NOT_PLACES = frozenset({"localtime", "posixrules", "Factory"})
"""Files of a zoneinfo directory that are not IANA places: the host's own zone (which
Postgres does not know), the POSIX rules template, and tzdata's "-00" placeholder."""
TIMEZONES = frozenset(available_timezones()) - NOT_PLACES

MONEY_MAX = Decimal("99999999.99")
"""The largest amount a numeric(10, 2) column (fees, prices, coupons, payments) holds."""
CENT = Decimal("0.01")


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


def like_pattern(text: str) -> str:
    """`text` as a substring pattern for LIKE / ILIKE, its own `%`, `_` and `\\` taken
    literally (backslash is Postgres's default LIKE escape)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
