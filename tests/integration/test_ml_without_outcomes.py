"""Training on data with no sell-out outcomes or ticket counts (our own snapshots, the
StubHub histories): the models that cannot be taught are left out, nothing crashes."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.domain import EventRef, MarketPoint
from core.ports import ForecastRequest
from ml import backtest, datasets, report, train
from ml.heuristic import HeuristicPredictor
from ml.predictor import ModelPredictor


@pytest.fixture(scope="module")
def bare() -> pd.DataFrame:
    df = datasets.load("simulator", events=120, seed=3)
    df["final_fill"] = np.nan  # what `--data db` gives: no attendance, ever
    return df


def test_no_outcomes_leave_out_the_sell_out_model_and_still_backtest(
    bare: pd.DataFrame, tmp_path: Path
) -> None:
    models, x, y, folds = train.fit(bare)
    assert "sellout" not in models.boosters and "drop_72h" in models.boosters

    metrics = backtest.evaluate(models, bare, x, y, folds)

    assert metrics["sellout_t7"] == {"events": 0, "sellouts": 0}
    figures = backtest.headline(metrics)
    assert figures["auc_sellout_t7"] is None and figures["auc_drop_72h"] is not None
    json.loads(json.dumps(figures), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert "Not measured: this data has no sell-out outcomes" in report.markdown(metrics, "db")
    models.save(tmp_path)
    predictor = ModelPredictor(tmp_path)
    game = bare.iloc[0]
    start = game["starts_at"].to_pydatetime()
    now = start - timedelta(days=5)
    event = EventRef(1, "game", start, str(game["category"]), capacity=20_000)
    history = [MarketPoint(1, now - timedelta(days=4 - i), 30.0 - i, None, 90.0, None, 100, 900)
               for i in range(5)]  # fmt: skip
    request = ForecastRequest(event, history, now)
    (forecast,) = asyncio.run(predictor.forecast([request]))
    # No sell-out booster: the heuristic's sell-out estimate stands in for it.
    heuristic = HeuristicPredictor().forecast_one(request).prediction.p_sellout
    assert forecast.prediction.model == "xgboost" and heuristic is not None
    assert forecast.prediction.p_sellout == heuristic
    no_capacity = replace(request, event=replace(event, id=2, capacity=None))
    (unknown,) = asyncio.run(predictor.forecast([no_capacity]))
    assert unknown.prediction.p_sellout is None


def test_no_ticket_counts_leave_out_the_drain_model(bare: pd.DataFrame) -> None:
    prices_only = bare.assign(tickets=np.nan, listings=np.nan)
    models, *_ = train.fit(prices_only)
    assert "drain_72h" not in models.boosters and "dip" in models.boosters


def test_histories_too_short_for_a_horizon_are_refused_with_a_reason(bare: pd.DataFrame) -> None:
    """Two days of snapshots per event, all ten days or more before it (a young database
    of events still far off) know no 72 h outcome: training says so, instead of xgboost's
    'Check failed: dat[1] > 0'."""
    young = bare[bare["hours_to_event"].between(240.0, 288.0)].reset_index(drop=True)
    reason = r"^drop_\w+: no snapshot of the \w+ events has a known outcome"
    with pytest.raises(ValueError, match=reason):
        train.fit(young)
