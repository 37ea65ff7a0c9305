"""Forecast wording shared by the model and the heuristic, and what counts as thin history."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from core.domain import Advice, EventRef, MarketPoint, Prediction
from core.ports import ForecastRequest
from ml.heuristic import HeuristicPredictor, price_buy_now_sentence, thin_history
from ml.predictor import advise

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)


def _prediction(drop: float, rise: float, dip: float) -> Prediction:
    return Prediction(drop, rise, None, 27.0, 30.0, 33.0, 0.5, None, "xgboost", dip)


def _points(prices: list[float | None], every: timedelta) -> list[MarketPoint]:
    n = len(prices)
    return [
        MarketPoint(1, NOW - every * (n - 1 - i), price, None, 90.0, None, 100, 900)
        for i, price in enumerate(prices)
    ]


def test_a_buy_now_from_a_low_dip_chance_does_not_cite_a_rise_less_likely_than_a_drop() -> None:
    """QA: "12% chance the cheapest price rises 5%" when a drop was likelier (30%)."""
    p = _prediction(drop=0.30, rise=0.12, dip=0.26)

    rec = advise(p, 30.0, 0.0, 120.0, 0.73)

    assert rec.advice is Advice.BUY_NOW
    assert rec.sentence == (
        "only 26% chance of a price 5% below today's before the event — buy now"
    )
    assert "12%" not in rec.sentence


def test_a_buy_now_from_a_likelier_rise_cites_the_rise() -> None:
    p = _prediction(drop=0.10, rise=0.40, dip=0.60)

    rec = advise(p, 30.0, 0.0, 48.0, 0.73)

    assert rec.advice is Advice.BUY_NOW
    assert rec.sentence == "40% chance the cheapest price rises 5% before the event — buy now"


@pytest.mark.parametrize(("drop", "rise"), [(0.30, 0.12), (0.12, 0.30), (0.2, 0.2)])
def test_the_model_and_the_heuristic_word_a_price_buy_now_alike(drop: float, rise: float) -> None:
    p = _prediction(drop, rise, dip=0.3)
    sentence = price_buy_now_sentence(p, 0.3, "within 3 days")
    assert advise(p, 30.0, 0.0, 120.0, 0.73).sentence == sentence
    cites_rise = sentence.startswith(f"{rise:.0%} chance the cheapest price rises")
    assert cites_rise == (rise >= drop)


@pytest.mark.parametrize(
    ("prices", "every", "thin"),
    [
        ([], timedelta(days=1), True),
        ([30.0], timedelta(days=1), True),
        ([30.0] * 4, timedelta(days=1), True),
        ([30.0] * 5, timedelta(hours=5), True),  # 20 h
        ([30.0] * 5, timedelta(hours=6), False),  # 24 h
        ([30.0] * 5, timedelta(days=1), False),
        ([30.0, 30.0, None, 30.0, 30.0], timedelta(days=1), True),  # 4 priced
        ([30.0, 0.0, 30.0, 30.0, 30.0, 30.0], timedelta(days=1), False),
        ([None] + [30.0] * 5, timedelta(hours=5), True),  # priced ones span 20 h
    ],
)
def test_thin_history_counts_priced_snapshots_and_their_span(
    prices: list[float | None], every: timedelta, thin: bool
) -> None:
    assert thin_history(_points(prices, every), NOW) is thin


def test_snapshots_after_now_do_not_make_a_history_less_thin() -> None:
    points = _points([30.0] * 5, timedelta(days=1))
    assert thin_history(points, NOW - timedelta(days=1)) is True
    assert thin_history(points, NOW) is False


def _request(prices: list[float | None], every: timedelta, days_out: float) -> ForecastRequest:
    event = EventRef(1, "game", NOW + timedelta(days=days_out), "mlb", capacity=40_000)
    return ForecastRequest(event, _points(prices, every), NOW)


def test_the_heuristic_says_watch_not_wait_for_a_first_sighting() -> None:
    """Far out the base rate alone gave "wait" at up to 66% confidence from 1-4 snapshots."""
    for count in (1, 2, 3, 4):
        forecast = HeuristicPredictor().forecast_one(
            _request([30.0] * count, timedelta(days=1), days_out=60)
        )
        rec = forecast.recommendation
        assert rec.advice is Advice.WATCH, (count, rec)
        assert rec.confidence <= 0.35 and rec.expected_saving == 0.0
        assert rec.sentence == (
            "89% chance of a price 5% below today's before the event, "
            "but little price history yet — watch"
        )


def test_the_heuristic_still_says_wait_once_it_has_a_week_of_history() -> None:
    request = _request([30.0] * 8, timedelta(days=1), days_out=60)
    rec = HeuristicPredictor().forecast_one(request).recommendation
    assert rec.advice is Advice.WAIT and rec.confidence > 0.5
    burst = replace(request, history=_points([30.0] * 8, timedelta(hours=2)))
    assert HeuristicPredictor().forecast_one(burst).recommendation.advice is Advice.WATCH


def test_the_model_says_nothing_is_listed_rather_than_a_depletion_in_under_a_minute() -> None:
    p = replace(_prediction(drop=0.2, rise=0.2, dip=0.3), hours_to_depletion=0.0)

    assert advise(p, 30.0, 0.9, 120.0, 0.73, listed=0.0).sentence == (
        "no tickets are listed right now — buy as soon as some appear"
    )
    # Tickets still listed: the pace may well empty them within the minute.
    listed = advise(p, 30.0, 0.9, 120.0, 0.73, listed=3.0).sentence
    assert listed.startswith("at this pace the listed tickets run out in under a minute")
    unknown = advise(p, 30.0, 0.9, 120.0, 0.73, listed=float("nan")).sentence
    assert unknown == listed
