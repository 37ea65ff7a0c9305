"""Forecast wording shared by the model and the heuristic."""

from __future__ import annotations

import pytest

from core.domain import Advice, Prediction
from ml.heuristic import price_buy_now_sentence
from ml.predictor import advise


def _prediction(drop: float, rise: float, dip: float) -> Prediction:
    return Prediction(drop, rise, None, 27.0, 30.0, 33.0, 0.5, None, "xgboost", dip)


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
