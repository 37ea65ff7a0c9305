"""Measuring the market facts of `../shared/data/README.md`, on real data or the simulator.

One definition of each fact, applied the same way to SeatGeek MLB 2024 and to
`MarketSimulator` output, so the simulator's calibration is checked against the numbers
the real data gives (tests/unit/test_simulator.py). Snapshots are reduced to a daily
panel (event x whole days before the start; the latest snapshot of a day wins), the
shape the MLB data comes in.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml.simulator import MarketSimulator

DAY = 86_400.0
EARLY_DAYS = (30, 60)  # "1-2 months out"


@dataclass(frozen=True, slots=True)
class Facts:
    """The measured facts (ratios are medians over events; shares and MAPE are means).

    Attributes:
        avg_ratio_early: average price 30-60 days out over its game-day level.
        getin_ratio_early: the same for the get-in (minimum) price.
        getin_ratio_t14: get-in 14 days out over its game-day level.
        getin_ratio_t7: get-in 7 days out over its game-day level.
        rise_share: events whose game-day get-in is above their get-in 14 days out.
        unchanged_share: consecutive days on which the get-in did not change.
        mape_1d: persistence error of the get-in 1 day ahead (|future - now| / future).
        mape_3d: the same 3 days ahead.
        mape_7d: the same 7 days ahead.
        sellout_auc_price: ROC-AUC of the get-in 7 days out for final fill >= 95%
            (within each group, e.g. category, weighted by events).
        sellout_auc_inventory: the same for scarcity (fewer listed tickets per seat of
            capacity 7 days out).
        events: events in the panel.
    """

    avg_ratio_early: float
    getin_ratio_early: float
    getin_ratio_t14: float
    getin_ratio_t7: float
    rise_share: float
    unchanged_share: float
    mape_1d: float
    mape_3d: float
    mape_7d: float
    sellout_auc_price: float
    sellout_auc_inventory: float
    events: int


def measure_simulator(sim: MarketSimulator) -> Facts:
    """Measure the facts on everything `sim` generated."""
    cols = sim.columns()
    events = sim.events
    starts = np.array([e.info.starts_at.timestamp() for e in events])
    days = np.floor((starts[cols.event] - cols.observed_at) / DAY).astype(np.int64)
    capacity = np.array([e.info.capacity or np.nan for e in events], dtype=float)
    sold_out = np.array([e.sold_out for e in events], dtype=float)
    groups = np.unique([e.info.category or "" for e in events], return_inverse=True)[1]
    return measure(
        cols.event,
        days,
        cols.min_price,
        cols.avg_price,
        cols.ticket_count.astype(float),
        capacity,
        sold_out,
        groups,
    )


def measure_mlb(path: Path) -> Facts:
    """Measure the facts on `seatgeek-mlb-2024/mlb_2024_snapshots_tidy.csv` (blocking)."""
    import pandas as pd

    df = pd.read_csv(path)
    df = df[df["days_before"] >= 0]
    codes, uniques = pd.factorize(df["event_id"])
    per_event = df.groupby(codes)[["stadium_capacity", "percent_capacity"]].first()
    per_event = per_event.reindex(range(len(uniques)))
    fill = per_event["percent_capacity"].to_numpy(dtype=float)
    sold_out = np.where(np.isnan(fill), np.nan, (fill >= 0.95).astype(float))
    return measure(
        codes,
        df["days_before"].to_numpy(np.int64),
        df["lowest_price"].to_numpy(float),
        df["avg_price"].to_numpy(float),
        df["ticket_count"].to_numpy(float),
        per_event["stadium_capacity"].to_numpy(float),
        sold_out,
        np.zeros(len(uniques), dtype=np.int64),
    )


def measure(
    event: np.ndarray,
    days_before: np.ndarray,
    min_price: np.ndarray,
    avg_price: np.ndarray,
    ticket_count: np.ndarray,
    capacity: np.ndarray,
    sold_out: np.ndarray,
    group: np.ndarray,
) -> Facts:
    """Measure the facts from per-snapshot arrays and per-event arrays.

    Args:
        event: per snapshot, the event's index (0..E-1); rows in time order.
        days_before: per snapshot, whole days before the start (>= 0 are kept).
        min_price: per snapshot, the get-in price.
        avg_price: per snapshot, the average price.
        ticket_count: per snapshot, listed tickets.
        capacity: per event, the venue capacity (NaN unknown).
        sold_out: per event, 1.0 if the final fill was >= 95%, 0.0 if not, NaN unknown.
        group: per event, a stratum for the sell-out AUC (e.g. category code).
    """
    n_events = capacity.size
    keep = days_before >= 0
    event, days_before = event[keep], days_before[keep]
    low = _panel(event, days_before, min_price[keep], n_events)
    avg = _panel(event, days_before, avg_price[keep], n_events)
    tickets = _panel(event, days_before, ticket_count[keep], n_events)
    lo, hi = EARLY_DAYS
    return Facts(
        avg_ratio_early=_median_ratio(_row_median(avg[:, lo : hi + 1]), avg[:, 0]),
        getin_ratio_early=_median_ratio(_row_median(low[:, lo : hi + 1]), low[:, 0]),
        getin_ratio_t14=_median_ratio(low[:, 14], low[:, 0]),
        getin_ratio_t7=_median_ratio(low[:, 7], low[:, 0]),
        rise_share=_share(low[:, 0] > low[:, 14], low[:, 0] + low[:, 14]),
        unchanged_share=_share(low[:, 1:] == low[:, :-1], low[:, 1:] + low[:, :-1]),
        mape_1d=_mape(low, 1),
        mape_3d=_mape(low, 3),
        mape_7d=_mape(low, 7),
        sellout_auc_price=_stratified_auc(low[:, 7], sold_out, group),
        sellout_auc_inventory=_stratified_auc(-tickets[:, 7] / capacity, sold_out, group),
        events=int(np.unique(event).size),
    )


def roc_auc(score: np.ndarray, label: np.ndarray) -> float:
    """ROC-AUC of `score` for boolean `label` (ties count half); NaN with one class."""
    label = label.astype(bool)
    n_pos = int(label.sum())
    n_neg = label.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)
    ranks = (upper - (counts - 1) / 2.0)[inverse]
    return float((ranks[label].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _panel(event: np.ndarray, day: np.ndarray, value: np.ndarray, n_events: int) -> np.ndarray:
    width = max(int(day.max(initial=0)) + 1, EARLY_DAYS[1] + 1)
    out = np.full((n_events, width), np.nan)
    key = event.astype(np.int64) * width + day
    _, last = np.unique(key[::-1], return_index=True)  # the latest snapshot of each day
    rows = key.size - 1 - last
    out[event[rows], day[rows]] = value[rows]
    return out


def _row_median(block: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows with no early snapshot
        medians: np.ndarray = np.nanmedian(block, axis=1)
    return medians


def _median_ratio(num: np.ndarray, den: np.ndarray) -> float:
    ratio = num / den
    ratio = ratio[np.isfinite(ratio)]
    return float(np.median(ratio)) if ratio.size else float("nan")


def _share(hit: np.ndarray, both: np.ndarray) -> float:
    valid = np.isfinite(both)
    return float(hit[valid].mean()) if valid.any() else float("nan")


def _mape(low: np.ndarray, h: int) -> float:
    now, future = low[:, h:], low[:, :-h]
    valid = np.isfinite(now) & np.isfinite(future) & (future > 0)
    return float(np.mean(np.abs(future[valid] - now[valid]) / future[valid]))


def _stratified_auc(score: np.ndarray, sold_out: np.ndarray, group: np.ndarray) -> float:
    valid = np.isfinite(score) & np.isfinite(sold_out)
    total, weight = 0.0, 0
    for g in np.unique(group[valid]):
        mask = valid & (group == g)
        auc = roc_auc(score[mask], sold_out[mask])
        if np.isfinite(auc):
            total += auc * int(mask.sum())
            weight += int(mask.sum())
    return total / weight if weight else float("nan")
