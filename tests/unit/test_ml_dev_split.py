"""The development split: it never reads a row of a real test-period event."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bot.cli import app
from ml import datasets, train

POISONED = ("min_price", "median_price", "avg_price", "max_price", "tickets", "listings")
EVENTS = 160  # the CLI simulates with the default seed


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return datasets.load("simulator", events=EVENTS)


def test_dev_frame_holds_no_test_period_event(frame: pd.DataFrame) -> None:
    test = train.final_test_events(frame)
    dev = train.development_frame(frame)
    assert test and dev["event"].nunique() == frame["event"].nunique() - len(test)
    assert set(dev["event"]).isdisjoint(test)
    folds = train.split(dev, train.labels(dev))
    dev_test = dev.loc[folds.price == 2, "starts_at"]
    real_test = frame.loc[frame["event"].isin(test), "starts_at"]
    assert not dev_test.empty and dev_test.max() <= real_test.max()
    assert set(folds.price) >= {0, 1, 2}  # the rest is split again: train, calibrate, dev test


def test_poisoned_test_period_rows_change_nothing_in_dev(frame: pd.DataFrame) -> None:
    test = frame["event"].isin(train.final_test_events(frame)).to_numpy()
    poisoned = frame.copy()
    rng = np.random.default_rng(0)
    for name in POISONED:  # the split reads start times and outcomes, never these
        poisoned.loc[test, name] = poisoned.loc[test, name] * rng.uniform(0.01, 100.0, test.sum())
    assert train.final_test_events(poisoned) == train.final_test_events(frame)
    dev = train.development_frame(frame)
    pd.testing.assert_frame_equal(train.development_frame(poisoned), dev)
    assert not poisoned.equals(frame)  # the poison is real


def test_backtest_dev_trains_and_scores_without_the_test_period(
    frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # reports/ goes here
    seen: list[set[str]] = []
    fit = train.fit

    def spy(df: pd.DataFrame, *args: object) -> tuple[object, ...]:
        seen.append(set(df["event"]))
        return fit(df, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(train, "fit", spy)
    args = ["backtest", "--data", "simulator", "--events", str(EVENTS), "--dev", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert '"auc_drop_72h"' in result.output
    (events,) = seen
    assert events and events.isdisjoint(train.final_test_events(frame))
