"""Choices made on held-out periods: the p50 dead zone, the wait threshold, window maxima."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml import features, train


def test_window_max_matches_a_plain_loop() -> None:
    rng = np.random.default_rng(4)
    values = rng.normal(size=300)
    values[rng.random(300) < 0.1] = np.nan
    lo = np.maximum(np.arange(300) - rng.integers(0, 40, 300), 0)
    got = features.window_max(values, lo)
    for i in range(300):
        window = values[lo[i] : i + 1]
        expected = np.nan if np.isnan(window).all() else np.nanmax(window)
        assert got[i] == pytest.approx(expected, nan_ok=True)


def test_dead_zone_prefers_persistence_on_a_tie_and_moves_when_it_helps() -> None:
    w = np.ones(6)
    actual = np.array([0.0, 0.0, 0.0, 0.05, -0.05, 0.2])
    noisy = np.array([0.01, -0.01, 0.02, 0.0, 0.0, 0.0])  # noise: never better than 0
    assert train.dead_zone(noisy, actual, w) == train.NEVER
    actual = np.array([0.0, 0.0, 0.05, -0.05, 0.05, -0.05])
    useful = actual.copy()  # exactly right where it moves
    assert train.dead_zone(useful, actual, w) < 0.06  # keeps the 5% moves


def _decisions(n: int, miss_above: float) -> tuple[pd.DataFrame, pd.Series, np.ndarray]:
    """`n` one-row events: P(dip) spread over [0.5, 1); rows below `miss_above` miss."""
    p = np.linspace(0.5, 0.99, n)
    miss = p < miss_above
    y = pd.DataFrame({
        "price_now": 100.0, "dip": np.where(miss, 0.0, 1.0),
        "paid_wait": np.where(miss, 130.0, 90.0), "price_final": np.where(miss, 130.0, 100.0),
    })  # fmt: skip
    return y, pd.Series([f"e{i}" for i in range(n)]), p


def test_wait_threshold_must_hold_in_every_period() -> None:
    y1, ev1, p1 = _decisions(100, 0.6)  # misses only below P(dip) 0.6
    y2, ev2, p2 = _decisions(100, 0.8)  # a later period: misses up to 0.8
    y = pd.concat([y1, y2], ignore_index=True)
    df = pd.DataFrame({"event": pd.concat([ev1, "b" + ev2], ignore_index=True)})
    first = np.r_[np.ones(100, bool), np.zeros(100, bool)]
    p = np.r_[p1, p2]
    alone = train.choose_threshold([(first, p)], y, df)
    both = train.choose_threshold([(first, p), (~first, p)], y, df)
    assert 0.55 <= alone < 0.62  # the first period alone allows waiting from ~0.6
    assert both >= 0.78  # the later period pushes it up
    for rows in (first, ~first):
        _, miss = train.buy_wait(p[rows] >= both, y[rows], df.loc[rows, "event"])
        assert miss <= train.MAX_MISS
    never = train.choose_threshold([(first, np.zeros(200))], y, df)
    assert never == 1.0  # nothing qualifies: never wait


def test_a_one_class_calibration_fold_still_trains_but_a_one_class_training_fold_not() -> None:
    target = pd.Series([0.0, 1.0, 0.0, 0.0, np.nan])
    fold = np.array([0, 0, 1, 1, 1])
    assert train._learnable(target, fold, classes=True)  # the dev split's sell-out case
    assert not train._learnable(pd.Series([0.0, 0.0, 0.0, 1.0, 1.0]), fold, classes=True)
    assert not train._learnable(pd.Series([np.nan] * 5), fold, classes=True)
