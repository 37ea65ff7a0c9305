"""Features use only what is known at time t: changing later rows changes nothing at t."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml import datasets, features


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return datasets.load("simulator", events=60, seed=3)


def test_no_leakage_changing_rows_after_t_changes_no_feature_at_t(frame: pd.DataFrame) -> None:
    curve = features.SegmentCurve.fit(frame)
    before = features.build(frame, curve)
    rng = np.random.default_rng(0)
    cut = frame["observed_at"].quantile(0.5)
    later = frame["observed_at"] > cut
    changed = frame.copy()
    for name in ("min_price", "avg_price", "median_price", "max_price", "tickets", "listings"):
        changed.loc[later, name] = changed.loc[later, name] * rng.uniform(0.5, 2.0, later.sum())
    dropped = changed.drop(changed.index[later & (rng.random(len(changed)) < 0.3)])
    for other in (changed, dropped):
        after = features.build(other, curve)
        early = ~later
        pd.testing.assert_frame_equal(before[early], after.loc[before.index[early]])
    assert not features.build(changed, curve)[later].equals(before[later])  # it can fail


def test_changes_are_per_day_of_elapsed_time() -> None:
    start = pd.Timestamp("2024-05-01", tz="UTC")
    times = [start, start + pd.Timedelta(hours=12), start + pd.Timedelta(days=3)]
    df = datasets.clean(pd.DataFrame({
        "event": "e", "observed_at": times, "starts_at": start + pd.Timedelta(days=10),
        "min_price": [100.0, 100.0, 50.0], "tickets": [100.0, 90.0, 80.0], "category": "mlb",
    }))  # fmt: skip
    x = features.build(df)
    assert x["chg_min_72h"].iloc[2] == pytest.approx(np.log(0.5) / 3.0)
    assert x["chg_min_24h"].iloc[2] == pytest.approx(np.log(0.5) / 2.5)  # newest point >= 24 h back
    assert np.isnan(x["chg_min_24h"].iloc[0])
    assert x["hours_since_min_change"].tolist() == [0.0, 12.0, 0.0]
    assert x["drawdown"].iloc[2] == pytest.approx(np.log(0.5))
    assert list(x.columns) == list(features.FEATURES)
