"""Labels, the time split and tiny models trained on simulator data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml import backtest, datasets, train
from ml.models import ModelSet


@pytest.fixture(scope="module")
def fitted() -> tuple[object, ...]:
    df = datasets.load("simulator", events=160, seed=11)
    return (df, *train.fit(df))


def test_labels_look_forward_within_the_window() -> None:
    start = pd.Timestamp("2024-05-10 19:00", tz="UTC")
    times = [start - pd.Timedelta(days=d) for d in (5, 4, 3, 2, 1)]
    df = datasets.clean(pd.DataFrame({
        "event": "e", "observed_at": times, "starts_at": start,
        "min_price": [100.0, 100.0, 94.0, 100.0, 120.0], "category": "mlb",
    }))  # fmt: skip
    y = train.labels(df)
    assert y["drop_24h"].tolist()[:2] == [0.0, 1.0]
    assert y["drop_72h"].iloc[0] == 1.0 and y["rise_72h"].iloc[0] == 0.0
    assert y["rise_24h"].iloc[3] == 1.0
    assert np.isnan(y["drop_24h"].iloc[4])  # nothing after the last snapshot
    assert y["chg_72h"].iloc[0] == pytest.approx(np.log(1.0))  # 100 -> 100 three days on
    assert y["dip"].tolist()[:4] == [1.0, 1.0, 0.0, 0.0]
    assert y["paid_wait"].iloc[0] == 94.0 and y["paid_wait"].iloc[2] == 120.0


def test_time_split_trains_on_earlier_events(fitted: tuple[object, ...]) -> None:
    df, _, _, _, folds = fitted
    starts = df.groupby(df["event"])["starts_at"].first()
    fold = pd.Series(folds.price, index=df.index).groupby(df["event"]).first()
    used = fold[fold >= 0]
    assert set(used) == {0, 1, 2}
    assert starts[used.index[used == 0]].max() <= starts[used.index[used == 1]].min()
    assert starts[used.index[used == 1]].max() <= starts[used.index[used == 2]].min()


def test_models_beat_climatology_and_round_trip(fitted: tuple[object, ...], tmp_path: Path) -> None:
    df, models, x, y, folds = fitted
    m = backtest.evaluate(models, df, x, y, folds)
    assert m["drop_72h"]["model"]["auc"] > 0.6
    assert m["drop_72h"]["model"]["bss"] > 0.0
    assert 0.6 < m["quant_72h"]["model"]["coverage_p10_p90"] < 0.95
    out = models.predict(x)
    assert ((out["dip"] >= 0) & (out["dip"] <= 1)).all()
    assert (out["q10_72h"] <= out["q50_72h"]).all() and (out["q50_72h"] <= out["q90_72h"]).all()
    models.save(tmp_path)
    again = ModelSet.load(tmp_path).predict(x)
    for name, values in out.items():
        np.testing.assert_allclose(again[name], values, rtol=1e-5, atol=1e-6)
