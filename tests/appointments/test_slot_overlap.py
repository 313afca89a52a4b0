"""The overlap index used by slot computation agrees with a plain scan."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from resolvers.slots import Busy, _OverlapIndex


def test_overlap_index_matches_a_linear_scan() -> None:
    rng = random.Random(7)
    base = datetime(2026, 3, 29, tzinfo=UTC)
    for _ in range(200):
        busy = []
        for _ in range(rng.randint(0, 12)):
            start = base + timedelta(minutes=rng.randint(0, 600))
            busy.append(Busy(start, start + timedelta(minutes=rng.randint(5, 180)), True))
        index = _OverlapIndex(busy)
        for _ in range(50):
            low = base + timedelta(minutes=rng.randint(-60, 700))
            high = low + timedelta(minutes=rng.randint(1, 120))
            expected = any(low < b.ends_at and b.starts_at < high for b in busy)
            assert index.any_between(low, high) is expected
