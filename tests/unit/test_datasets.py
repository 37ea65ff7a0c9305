"""Loaders: one schema, post-start snapshots and placeholder outliers cleaned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.domain import EventRef, MarketPoint
from ml import datasets

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
START = datetime(2024, 5, 1, 19, tzinfo=UTC)


def _row(hours_before: float, price: float, avg: float = 50.0) -> dict[str, object]:
    return {
        "event_id": 7,
        "observed_at": START - timedelta(hours=hours_before),
        "starts_at": START,
        "min_price": price,
        "median_price": None,
        "avg_price": avg,
        "max_price": 300.0,
        "listing_count": 10,
        "ticket_count": 40,
        "capacity": 1000,
        "category": "mlb",
    }


def test_snapshot_rows_are_cleaned_into_the_schema() -> None:
    rows = [
        _row(48, 20.0),
        _row(24, 21.0, avg=200_000.0),
        _row(-1, 19.0),
        _row(12, 0.0),
        _row(6, 22.0),
    ]
    df = datasets.from_snapshot_rows(rows)
    assert list(df.columns) == list(datasets.COLUMNS)
    assert df["min_price"].tolist() == [20.0, 21.0, 22.0]  # post-start and unpriced dropped
    assert np.isnan(df["avg_price"].iloc[1])  # the $200k placeholder
    assert df["hours_to_event"].tolist() == [48.0, 24.0, 6.0]
    assert (df["event"] == "db-7").all()


def test_points_after_now_are_never_seen() -> None:
    event = EventRef(1, "x", START, category="mlb", capacity=100)
    points = [
        MarketPoint(1, START - timedelta(hours=h), 10.0 + h, None, None, None, 5, 9)
        for h in (30, 20, 10)
    ]
    df = datasets.from_points([(event, points, START - timedelta(hours=15))])
    assert df["min_price"].tolist() == [40.0, 30.0]


def test_simulator_frame_has_outcomes() -> None:
    df = datasets.load("simulator", events=20, seed=1)
    assert df["event"].nunique() > 10 and df["final_fill"].notna().all()
    assert (df["observed_at"] < df["starts_at"]).all()
    assert df.groupby("event")["observed_at"].apply(lambda s: s.is_monotonic_increasing).all()


@pytest.mark.skipif(not (DATA / datasets.MLB_FILE).exists(), reason="no ../shared/data here")
def test_mlb_loads_cleaned() -> None:
    df = datasets.load_mlb(DATA)
    assert df["event"].nunique() > 1400
    assert (df["hours_to_event"] > 0).all() and (df["avg_price"].dropna() < 25 * 5021).all()
    assert pd.api.types.is_datetime64_any_dtype(df["observed_at"])
