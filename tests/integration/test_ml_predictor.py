"""The xgboost Predictor: forecasts in a thread, caches per snapshot, falls back."""

from __future__ import annotations

import logging
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.domain import Advice, EventRef, MarketPoint
from core.ports import ForecastRequest
from ml import datasets, train
from ml.predictor import SHIPPED_MODEL, ModelPredictor

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    models = train.fit(datasets.load("simulator", events=120, seed=5))[0]
    path = tmp_path_factory.mktemp("model")
    models.save(path)
    return path


def _request(event_id: int, prices: list[float], capacity: int | None = 20_000) -> ForecastRequest:
    event = EventRef(
        event_id, f"game {event_id}", NOW + timedelta(days=5), "mlb", capacity=capacity
    )
    history = [
        MarketPoint(
            event_id,
            NOW - timedelta(days=len(prices) - 1 - i),
            p,
            None,
            p * 3,
            None,
            100,
            900 - 10 * i,
        )
        for i, p in enumerate(prices)
    ]
    return ForecastRequest(event, history, NOW)


async def test_forecasts_with_the_model_and_caches(model_dir: Path) -> None:
    predictor = ModelPredictor(model_dir)
    assert predictor.name == "xgboost"
    requests = [
        _request(1, [31, 30, 30, 28, 27]),
        _request(2, [45, 48, 50, 55, 60], capacity=None),
        _request(3, []),
    ]
    first = await predictor.forecast(requests)
    assert [f.prediction.model for f in first] == ["xgboost", "xgboost", "heuristic"]
    p = first[0].prediction
    assert 0 <= p.p_drop_72h <= 1 and p.p_sellout is not None and p.p_dip_before_deadline
    assert p.p10_72h is not None and p.p90_72h is not None and p.p10_72h <= p.p90_72h
    assert first[1].prediction.p_sellout is None
    assert first[0].recommendation.advice in set(Advice) and first[0].recommendation.sentence
    again = await predictor.forecast(requests[:1])
    assert again[0] is first[0]  # cached for the same newest snapshot
    later = requests[0]
    newer = MarketPoint(1, NOW + timedelta(hours=1), 20.0, None, 60.0, None, 100, 850)
    step = ForecastRequest(later.event, [*later.history, newer], NOW + timedelta(hours=1))
    moved = await predictor.forecast([step])
    assert moved[0] is not first[0]


async def test_falls_back_to_the_heuristic_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="ml.predictor"):
        predictor = ModelPredictor(tmp_path / "missing")
    assert predictor.name == "heuristic"
    assert "using the heuristic" in caplog.text
    out = await predictor.forecast([_request(1, [30, 29, 28])])
    assert out[0].prediction.model == "heuristic"


async def test_one_batch_computes_each_event_once_and_matches_single_requests(
    model_dir: Path,
) -> None:
    a, b = _request(1, [31, 30, 30, 28, 27]), _request(2, [48, 50, 55, 60, 58])
    batch = await ModelPredictor(model_dir).forecast([a, b, a, b, a])
    assert batch[0] is batch[2] is batch[4] and batch[1] is batch[3]
    assert batch[0] is not batch[1]
    alone = await ModelPredictor(model_dir).forecast([a])
    assert alone[0] == batch[0]  # the same numbers as a batch of one
    no_median = ForecastRequest(
        b.event, [replace(p, median_price=None, listing_count=None) for p in b.history], NOW
    )
    (forecast,) = await ModelPredictor(model_dir).forecast([no_median])
    assert forecast.prediction.model == "xgboost"


async def test_the_shipped_mlb_model_forecasts_mlb_and_leaves_other_categories_alone() -> None:
    predictor = ModelPredictor(SHIPPED_MODEL)
    card = (SHIPPED_MODEL / "MODEL_CARD.md").read_text()
    assert predictor.categories == {"mlb"} and "MIT" in card and "hdtickets train" in card
    game = _request(1, [31, 30, 30, 28, 27])
    concert = replace(game, event=replace(game.event, id=2, category="concert"))
    unknown = replace(game, event=replace(game.event, id=3, category=None))

    out = await predictor.forecast([game, concert, unknown, game])

    assert [f.prediction.model for f in out] == ["xgboost", "heuristic", "heuristic", "xgboost"]
    assert out[3] is out[0]


def test_forecasting_leaves_scikit_learn_unloaded_and_still_importable() -> None:
    """xgboost would import scikit-learn (~90 MB) for wrappers we never use."""
    script = (
        "import sys\n"
        "from ml.predictor import SHIPPED_MODEL, ModelPredictor\n"
        "assert ModelPredictor(SHIPPED_MODEL).models is not None\n"
        "assert 'sklearn' not in sys.modules and 'xgboost' in sys.modules\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "print(LogisticRegression.__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "LogisticRegression"


def _sightings(event_id: int, count: int, every: timedelta, days_out: float) -> ForecastRequest:
    """`count` snapshots at one flat price, one every `every`, the newest at NOW."""
    event = EventRef(event_id, "game", NOW + timedelta(days=days_out), "mlb", capacity=40_000)
    history = [
        MarketPoint(event_id, NOW - every * (count - 1 - i), 30.0, None, 90.0, None, 100, 900)
        for i in range(count)
    ]
    return ForecastRequest(event, history, NOW)


@pytest.mark.parametrize(
    ("count", "every"),
    [
        (1, timedelta(days=1)),
        (2, timedelta(days=1)),
        (4, timedelta(days=1)),
        (6, timedelta(hours=4)),
    ],
    ids=["first sighting", "two days", "four days", "six in 20 hours"],
)
async def test_a_thin_history_is_forecast_by_the_heuristic_as_a_low_confidence_watch(
    count: int, every: timedelta
) -> None:
    """The boosters said "wait" at ~90% for an event seen once, its change features all
    missing; under 5 snapshots or 24 h the heuristic answers, and it does not say wait."""
    predictor = ModelPredictor(SHIPPED_MODEL)
    far = _sightings(1, count, every, days_out=60)
    near = _sightings(2, count, every, days_out=1)

    out = await predictor.forecast([far, near])

    assert [f.prediction.model for f in out] == ["heuristic", "heuristic"]
    wait = out[0].recommendation
    assert wait.advice is Advice.WATCH and wait.confidence <= 0.35
    assert wait.sentence.endswith("but little price history yet — watch")
    assert out[1].recommendation.confidence < 0.6  # a buy now, but not a sure one


async def test_five_snapshots_over_a_day_or_more_are_forecast_by_the_model() -> None:
    predictor = ModelPredictor(SHIPPED_MODEL)
    daily = _sightings(1, 5, timedelta(days=1), days_out=60)
    hourly = _sightings(2, 25, timedelta(hours=1), days_out=60)  # exactly 24 h

    out = await predictor.forecast([daily, hourly])

    assert [f.prediction.model for f in out] == ["xgboost", "xgboost"]
