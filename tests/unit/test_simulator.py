"""The market simulator: calibrated to the real-data facts, a well-behaved TicketSource."""

from __future__ import annotations

import itertools
import random
import zoneinfo
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from core.domain import SnapshotIn
from core.ingest.rules import check_snapshot
from core.ports import TicketSource
from ml.calibration import Facts, measure_mlb, measure_simulator
from ml.simulator import MarketSimulator

START = datetime(2024, 3, 20, 12, 0, tzinfo=UTC)
MLB_TIDY = Path(__file__).parents[3] / "shared/data/seatgeek-mlb-2024/mlb_2024_snapshots_tidy.csv"

# The facts of ../shared/data/README.md as (target, tolerance). Targets are what
# ml.calibration measures on SeatGeek MLB 2024; a seeded run of 1,000 events must land
# within the tolerance. Each tolerance is about 3x the seed-to-seed standard deviation
# measured over 8 seeds (in brackets), so the assertion fails when the calibration
# breaks, not when a seed is unlucky.
AVG_RATIO_EARLY = (1.37, 0.05)  # avg price 30-60 d out / game day: "~1.3-1.4x" (sd 0.007)
GETIN_RATIO_EARLY = (1.12, 0.05)  # the get-in falls ~10% (sd 0.018)
GETIN_RATIO_T14 = (1.10, 0.05)  # ... most of it in the last two weeks (sd 0.016)
RISE_SHARE = (0.34, 0.06)  # game-day get-in above T-14 (sd 0.02)
UNCHANGED_SHARE = (0.69, 0.03)  # the get-in sticks on ~70% of days (sd 0.005)
MAPE_1D = (0.041, 0.006)  # persistence misses ~4% at 1 day (sd 0.001)
MAPE_3D = (0.072, 0.008)  # ~7% at 3 days (sd 0.001)
MAPE_7D = (0.110, 0.010)  # ~11% at 7 days (sd 0.001)
SELLOUT_AUC_PRICE = (0.91, 0.04)  # get-in 7 d out ranks >= 95% fills (sd 0.011)
SELLOUT_AUC_INVENTORY = (0.64, 0.09)  # inventory per capacity is a weak signal (sd 0.028)


def within(value: float, target: tuple[float, float]) -> bool:
    return abs(value - target[0]) <= target[1]


@pytest.fixture(scope="module")
def calibrated() -> MarketSimulator:
    """Daily snapshots, like the MLB data, over a horizon long enough for 1-2 months out."""
    return MarketSimulator(2024, start=START, events=1000, horizon=timedelta(days=150), listings=0)


@pytest.fixture(scope="module")
def facts(calibrated: MarketSimulator) -> Facts:
    return measure_simulator(calibrated)


def test_average_price_drifts_down_into_the_event(facts: Facts) -> None:
    assert within(facts.avg_ratio_early, AVG_RATIO_EARLY), facts


def test_get_in_falls_about_ten_percent_mostly_in_the_last_two_weeks(facts: Facts) -> None:
    assert within(facts.getin_ratio_early, GETIN_RATIO_EARLY), facts
    assert within(facts.getin_ratio_t14, GETIN_RATIO_T14), facts
    # the get-in falls much less than the average price
    assert facts.getin_ratio_early - 1 < (facts.avg_ratio_early - 1) / 2
    # most of the early-to-final fall is still ahead two weeks out
    assert (facts.getin_ratio_t14 - 1) / (facts.getin_ratio_early - 1) >= 0.6


def test_about_a_third_of_events_rise_instead(facts: Facts) -> None:
    assert within(facts.rise_share, RISE_SHARE), facts


def test_minimum_price_is_sticky(facts: Facts) -> None:
    assert within(facts.unchanged_share, UNCHANGED_SHARE), facts


def test_persistence_error_grows_with_the_horizon_like_real_data(facts: Facts) -> None:
    assert within(facts.mape_1d, MAPE_1D), facts
    assert within(facts.mape_3d, MAPE_3D), facts
    assert within(facts.mape_7d, MAPE_7D), facts


def test_price_level_separates_sellouts_better_than_inventory(facts: Facts) -> None:
    assert within(facts.sellout_auc_price, SELLOUT_AUC_PRICE), facts
    assert within(facts.sellout_auc_inventory, SELLOUT_AUC_INVENTORY), facts
    assert facts.sellout_auc_price > facts.sellout_auc_inventory + 0.15


@pytest.mark.skipif(not MLB_TIDY.exists(), reason=f"real data not present at {MLB_TIDY}")
def test_the_targets_are_what_the_real_data_measures() -> None:
    """The same measuring code on SeatGeek MLB 2024 gives the README's facts."""
    real = measure_mlb(MLB_TIDY)
    for value, target in [
        (real.avg_ratio_early, AVG_RATIO_EARLY),
        (real.getin_ratio_early, GETIN_RATIO_EARLY),
        (real.getin_ratio_t14, GETIN_RATIO_T14),
        (real.rise_share, RISE_SHARE),
        (real.unchanged_share, UNCHANGED_SHARE),
        (real.mape_1d, MAPE_1D),
        (real.mape_3d, MAPE_3D),
        (real.mape_7d, MAPE_7D),
        (real.sellout_auc_price, SELLOUT_AUC_PRICE),
        (real.sellout_auc_inventory, SELLOUT_AUC_INVENTORY),
    ]:
        assert abs(value - target[0]) <= 0.01, (value, target)


def test_inventory_builds_then_drains_and_some_events_sell_out(
    calibrated: MarketSimulator,
) -> None:
    cols = calibrated.columns()
    events = calibrated.events
    starts = np.array([e.info.starts_at.timestamp() for e in events])
    capacity = np.array([e.info.capacity for e in events], dtype=float)
    days = (starts[cols.event] - cols.observed_at) / 86_400
    share = cols.ticket_count / capacity[cols.event]
    early = np.median(share[days >= 40])
    peak = np.median(share[(days >= 7) & (days < 21)])
    last_day = np.median(share[days < 1])
    assert peak > early * 1.1  # builds after the on-sale
    assert last_day < peak * 0.7  # drains into the event

    sold_out = np.array([e.sold_out for e in events])
    assert 0.05 < sold_out.mean() < 0.5
    final = share[days < 0.5]
    final_sold = sold_out[cols.event[days < 0.5]]
    assert np.median(final[final_sold]) < np.median(final[~final_sold]) / 2
    assert (final[final_sold] < 0.01).any()  # some sell-outs are nearly gone


def test_snapshots_are_valid_irregular_and_before_each_start(
    calibrated: MarketSimulator,
) -> None:
    snapshots = calibrated.generate(until=START + timedelta(days=20))
    assert snapshots, "no snapshots in the first 20 days"
    now = START + timedelta(days=200)
    for snap in snapshots[:3000]:
        assert START <= snap.observed_at < snap.event.starts_at
        assert check_snapshot(snap, now) == snap  # passes ingest unchanged
        assert snap.min_price is not None and snap.max_price is not None
        assert snap.min_price <= snap.median_price <= snap.max_price  # type: ignore[operator]
        assert snap.min_price <= snap.avg_price <= snap.max_price  # type: ignore[operator]
        assert 1 <= snap.listing_count <= snap.ticket_count  # type: ignore[operator]
        zoneinfo.ZoneInfo(snap.event.timezone or "")
    times: dict[str, list[datetime]] = defaultdict(list)
    for snap in snapshots:
        times[snap.event.external_id].append(snap.observed_at)
    gaps = [
        (b - a).total_seconds() / 3600
        for series in times.values()
        for a, b in itertools.pairwise(series)
    ]
    assert 20 < float(np.median(gaps)) < 28 and float(np.std(gaps)) > 1.0
    assert all(e.info.starts_at <= START + timedelta(days=150) for e in calibrated.events)
    names = {e.info.name for e in calibrated.events if e.info.category == "mlb"}
    assert any(" at " in name for name in names)


def test_listings_persist_across_snapshots_and_new_ones_appear() -> None:
    sim = MarketSimulator(5, start=START, events=20, horizon=timedelta(days=40), listings=3)
    by_event: dict[str, list[SnapshotIn]] = defaultdict(list)
    for snap in sim.iter_snapshots():
        by_event[snap.event.external_id].append(snap)
        assert len(snap.listings) == 3
        low = snap.listings[0].price
        assert low == snap.min_price  # the cheapest is shown first
        assert all(x.price >= low for x in snap.listings)
    series = max(by_event.values(), key=len)
    ids = [{x.listing_id for x in snap.listings} for snap in series]
    kept = sum(len(a & b) for a, b in itertools.pairwise(ids))
    assert kept > len(series)  # most listings survive to the next snapshot
    assert len(set().union(*ids)) > 6  # and new ones keep appearing


async def test_poll_yields_each_snapshot_once_and_never_after_now() -> None:
    sim = MarketSimulator(
        11,
        start=START,
        events=60,
        horizon=timedelta(days=10),
        cadence=timedelta(hours=6),
        batch_size=50,
    )
    seen: list[SnapshotIn] = []
    now = START - timedelta(hours=1)
    while now <= START + timedelta(days=11):
        async for batch in sim.poll(now):
            assert 0 < len(batch) <= 50
            assert all(s.observed_at <= now for s in batch)
            assert all(s.observed_at > now - timedelta(hours=7) for s in batch)
            seen.extend(batch)
        now += timedelta(hours=7)
    async for batch in sim.poll(now):
        pytest.fail(f"a poll at the same time yielded again: {len(batch)}")
    keys = [(s.event.external_id, s.observed_at) for s in seen]
    assert len(keys) == len(set(keys)) == len(sim)
    assert keys == [(s.event.external_id, s.observed_at) for s in sim.generate()]


async def test_skip_to_leaves_out_what_an_earlier_run_stored_without_building_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = MarketSimulator(5, start=START, events=30, horizon=timedelta(days=5))
    stored = START + timedelta(days=2)
    expected = [s for s in sim.generate() if stored < s.observed_at <= START + timedelta(days=3)]
    built = 0
    build = MarketSimulator._snapshot

    def counting(self: MarketSimulator, i: int) -> SnapshotIn:
        nonlocal built
        built += 1
        return build(self, i)

    monkeypatch.setattr(MarketSimulator, "_snapshot", counting)
    sim.skip_to(stored)
    sim.skip_to(START)  # never backwards
    got = [s async for batch in sim.poll(START + timedelta(days=3)) for s in batch]
    assert got == expected
    assert built == len(expected)  # the skipped ones were never built


async def test_poll_before_start_yields_nothing() -> None:
    sim = MarketSimulator(3, start=START, events=10)
    async for _ in sim.poll(START - timedelta(seconds=1)):
        pytest.fail("yielded before the start")


async def test_backfill_gives_history_at_the_first_poll() -> None:
    sim = MarketSimulator(4, start=START, events=40, backfill=timedelta(days=14))
    first = [s async for batch in sim.poll(START) for s in batch]
    assert first and all(START - timedelta(days=14) <= s.observed_at <= START for s in first)
    assert min(s.observed_at for s in first) < START - timedelta(days=10)
    assert all(e.info.starts_at > START for e in sim.events)


def test_deterministic_for_a_seed() -> None:
    a = MarketSimulator(random.Random(99), start=START, events=50, listings=2).generate()
    b = MarketSimulator(random.Random(99), start=START, events=50, listings=2).generate()
    c = MarketSimulator(random.Random(98), start=START, events=50, listings=2).generate()
    assert a == b
    assert a != c


def test_is_a_ticket_source() -> None:
    source: TicketSource = MarketSimulator(1, start=START, events=5, source="demo-market")
    assert source.name == "demo-market"


def test_rejects_bad_settings_with_a_reason() -> None:
    with pytest.raises(ValueError, match="unknown categories"):
        MarketSimulator(1, start=START, categories=["curling"])
    with pytest.raises(ValueError, match="jitter"):
        MarketSimulator(1, start=START, jitter=0.7)
    only = MarketSimulator(1, start=START, events=30, categories=["theatre"])
    assert {e.info.category for e in only.events} == {"theatre"}


def test_bulk_generation_reaches_the_engine_benchmark_size() -> None:
    """5,000 events at a 20 h cadence give the ~200,000 snapshots bench/engine.py replays."""
    sim = MarketSimulator(
        7,
        start=START,
        events=5000,
        horizon=timedelta(days=90),
        cadence=timedelta(hours=20),
        listings=0,
    )
    count = sum(1 for _ in sim.iter_snapshots())
    assert count >= 200_000


def test_snapshots_are_the_columns_row_for_row_across_chunks(calibrated: MarketSimulator) -> None:
    """Rows are converted to Python a chunk at a time; every snapshot is still its row,
    read in order or out of it (a chunk boundary falls inside the first 5,000)."""
    cols = calibrated.columns()
    events = calibrated.events
    order = [*range(5000), 4096, 4095, 17, 4097, 0]
    snapshots = list(calibrated.iter_snapshots())
    assert len(snapshots) == len(cols.observed_at) > 5000
    for i in order:
        snap = calibrated._snapshot(i)
        assert snap == snapshots[i]
        assert snap.event == events[int(cols.event[i])].info
        assert snap.observed_at.timestamp() == cols.observed_at[i]
        assert (snap.min_price, snap.median_price, snap.avg_price, snap.max_price) == (
            cols.min_price[i],
            cols.median_price[i],
            cols.avg_price[i],
            cols.max_price[i],
        )
        assert (snap.listing_count, snap.ticket_count) == (
            cols.listing_count[i],
            cols.ticket_count[i],
        )
