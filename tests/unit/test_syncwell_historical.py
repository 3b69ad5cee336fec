"""Historical jobs' chunk plan: contiguous 7-day windows, as many as the API announces."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "stacks" / "syncwell" / "src"))

from syncwell.historical import plan_chunks
from syncwell.users import chunks_for


@pytest.mark.parametrize("days", [0, 1, 6, 7, 8, 13, 14, 30, 364, 365, 5 * 365])
def test_chunks_cover_the_range_without_gaps_or_overlap(days: int) -> None:
    start = date(2024, 2, 27)
    end = start + timedelta(days=days)
    chunks = plan_chunks(start.isoformat(), end.isoformat())
    assert len(chunks) == chunks_for(
        "historical", {"startDate": start.isoformat(), "endDate": end.isoformat()}
    )
    assert chunks[0].start == start and chunks[-1].end == end
    for before, after in pairwise(chunks):
        assert after.start == before.end + timedelta(days=1)
    assert all((c.end - c.start).days <= 6 for c in chunks)
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_a_chunk_window_in_provider_terms() -> None:
    chunk = plan_chunks("2025-01-01", "2025-01-10")[1]
    assert (chunk.since, chunk.until) == ("2025-01-07T23:59:59Z", "2025-01-10")


def test_a_reversed_range_is_refused() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        plan_chunks("2025-02-01", "2025-01-01")
