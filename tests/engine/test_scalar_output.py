"""DateTime output is remembered per instant, zone and fold: values that compare equal
but read differently (one instant in two zones; a repeated local hour's two occurrences)
keep their own text."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import dateutil.parser

from schema import schema

LONDON = zoneinfo.ZoneInfo("Europe/London")


def _text(value: dt.datetime) -> str:
    return str(schema._schema.get_type("DateTime").serialize(value))  # type: ignore[union-attr]


def test_equal_instants_keep_their_own_zone_and_fold() -> None:
    instant = dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC)
    assert _text(instant) == "2026-03-29T01:30:00+00:00"
    assert _text(instant.astimezone(LONDON)) == "2026-03-29T02:30:00+01:00"
    assert _text(instant) == "2026-03-29T01:30:00+00:00"  # read back from the cache
    first = dt.datetime(2026, 10, 25, 1, 30, tzinfo=LONDON)
    second = first.replace(fold=1)
    assert first == second
    assert (_text(first), _text(second)) == (
        "2026-10-25T01:30:00+01:00",
        "2026-10-25T01:30:00+00:00",
    )
    assert _text(dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC)) == (
        "2026-01-02T03:04:05.000006+00:00"
    )


def test_an_input_instant_with_an_unhashable_zone_is_written_too() -> None:
    """Parsed inputs carry dateutil's tzutc, which cannot be hashed (a booking's refused
    `startsAt` is echoed back)."""
    parsed = dateutil.parser.isoparse("2026-05-01T09:00:00Z")
    assert _text(parsed) == "2026-05-01T09:00:00+00:00"
