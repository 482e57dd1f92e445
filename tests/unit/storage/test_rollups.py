"""The shared rollup rules: query planning, merging partial aggregates, late marks, retention."""

from __future__ import annotations

from itertools import pairwise

import pytest

from storage.clock import DAY_MS, HOUR_MS, MINUTE_MS
from storage.rollups import Retention, Source, adaptive_chunks, late_marks, plan, reduce
from storage.telemetry import Aggregation, RangeQuery, Reading, SeriesPoint

D0 = 20_000 * DAY_MS  # a UTC midnight


def query(start: int, end: int, every_s: int | None = 3600,
          agg: Aggregation | None = Aggregation.MEAN) -> RangeQuery:
    return RangeQuery("vwc_pct", start, end, device_id="sm-1", every_s=every_s, agg=agg)


def test_plan_reads_whole_rolled_up_days_hours_and_raw_edges() -> None:
    start, end = D0 + 30 * MINUTE_MS, D0 + 3 * DAY_MS + 90 * MINUTE_MS
    assert plan(query(start, end, every_s=86_400), rolled_until_ms=D0 + 2 * DAY_MS + 5 * HOUR_MS) == [
        (Source.RAW, start, D0 + HOUR_MS),
        (Source.HOUR, D0 + HOUR_MS, D0 + DAY_MS),
        (Source.DAY, D0 + DAY_MS, D0 + 2 * DAY_MS),
        (Source.HOUR, D0 + 2 * DAY_MS, D0 + 2 * DAY_MS + 5 * HOUR_MS),
        (Source.RAW, D0 + 2 * DAY_MS + 5 * HOUR_MS, end),
    ]
    # hourly windows never read daily rollups
    assert plan(query(D0, D0 + 2 * DAY_MS), rolled_until_ms=D0 + 3 * DAY_MS) == [
        (Source.HOUR, D0, D0 + 2 * DAY_MS)]


@pytest.mark.parametrize("q", [
    query(D0, D0 + DAY_MS, every_s=None, agg=None),  # raw
    query(D0, D0 + DAY_MS, every_s=900),  # not whole hours
    query(D0 + 10 * MINUTE_MS, D0 + 50 * MINUTE_MS),  # no whole hour in range
])
def test_plan_leaves_to_raw_what_rollups_cannot_answer(q: RangeQuery) -> None:
    assert plan(q, rolled_until_ms=D0 + 10 * DAY_MS) is None


def test_nothing_rolled_up_reads_raw() -> None:
    assert plan(query(D0, D0 + DAY_MS), rolled_until_ms=D0) is None


def test_reduce_merges_partials_exactly() -> None:
    partials = [("sm-1", D0, 10.0, 4, 1.0, 4.0), ("sm-1", D0, 2.0, 1, 2.0, 2.0),
                ("sm-2", D0, 3.0, 3, 0.5, 1.5), ("sm-1", D0 + DAY_MS, 0.0, 0, 0.0, 0.0)]
    q = query(D0, D0 + DAY_MS, every_s=86_400)
    assert reduce(partials, q) == [SeriesPoint("sm-1", "vwc_pct", D0, 12.0 / 5),
                                   SeriesPoint("sm-2", "vwc_pct", D0, 1.0)]
    values = {agg: [p.value for p in reduce(partials, query(D0, D0 + DAY_MS, 86_400, agg))]
              for agg in Aggregation}
    assert values == {Aggregation.MEAN: [2.4, 1.0], Aggregation.MIN: [1.0, 0.5],
                      Aggregation.MAX: [4.0, 1.5], Aggregation.SUM: [12.0, 3.0],
                      Aggregation.COUNT: [5.0, 3.0]}
    assert len(reduce(partials, RangeQuery("vwc_pct", D0, D0 + 1, device_id="x", every_s=3600,
                                           agg=Aggregation.MEAN, limit=1))) == 1


def test_late_marks_only_for_batches_with_closed_hours() -> None:
    now = D0 + 5 * HOUR_MS + 10 * MINUTE_MS
    live = [Reading("sm-1", "vwc_pct", 1.0, D0 + 5 * HOUR_MS + k) for k in range(3)]
    assert late_marks(live, now) == set()
    late = [*live, Reading("sm-1", "vwc_pct", 1.0, D0 + 2 * HOUR_MS + 1),
            Reading("sm-2", "ec_ds_m", 1.0, D0 + 2 * HOUR_MS + 2)]
    assert late_marks(late, now) == {("sm-1", D0 + 5 * HOUR_MS), ("sm-1", D0 + 2 * HOUR_MS),
                                     ("sm-2", D0 + 2 * HOUR_MS)}
    assert late_marks([], now) == set()


def test_retention_horizons_are_utc_midnights() -> None:
    now = D0 + 13 * HOUR_MS
    assert Retention().raw_horizon_ms(now) == D0 - 400 * DAY_MS
    assert Retention(raw_days=2, rollup_days=3650).rollup_horizon_ms(now) == D0 - 3650 * DAY_MS
    with pytest.raises(ValueError):
        Retention(raw_days=0)


def test_adaptive_chunks_cover_the_range_in_whole_hours() -> None:
    chunks = list(adaptive_chunks(D0 + 3 * HOUR_MS, D0 + 40 * DAY_MS))
    assert chunks[0][0] == D0 + 3 * HOUR_MS and chunks[-1][1] == D0 + 40 * DAY_MS
    assert all(a % HOUR_MS == 0 and b % HOUR_MS == 0 for a, b in chunks)
    assert all(b == c for (_, b), (c, _) in pairwise(chunks))
    assert len(chunks) < 10  # fast work: chunks grow
