"""Per-person learning: simulated people with known preferences are learned."""

from __future__ import annotations

import math
import random

import pytest

from ml.learning import DEFAULTS, FACTORS, LOW, MIN_FEEDBACK, PersonModel


def _simulate(cares_about: str, events: int, rng: random.Random) -> PersonModel:
    model = PersonModel()
    for _ in range(events):
        factors = {name: rng.random() for name in FACTORS}
        engaged = rng.random() < 1.0 / (1.0 + math.exp(-10.0 * (factors[cares_about] - 0.5)))
        model.update(factors, rng.choice(["acknowledged", "bought"]) if engaged else "ignored")
    return model


@pytest.mark.parametrize("cares_about", ["price", "availability", "demand"])
def test_learns_what_a_simulated_person_cares_about(cares_about: str) -> None:
    model = _simulate(cares_about, 400, random.Random(7))
    weights = model.weights()
    default = dict(zip(FACTORS, DEFAULTS, strict=True))
    assert weights[cares_about] > 1.5 * default[cares_about]
    others = [n for n in FACTORS if n != cares_about]
    assert all(weights[cares_about] > weights[n] for n in others)
    assert sum(weights.values()) == pytest.approx(1.0)


def test_defaults_until_enough_feedback_and_bounded() -> None:
    model = _simulate("price", MIN_FEEDBACK - 1, random.Random(1))
    assert list(model.weights().values()) == list(DEFAULTS)
    model = _simulate("price", 2000, random.Random(2))
    for name, default in zip(FACTORS, DEFAULTS, strict=True):
        assert model.weights()[name] >= LOW * default * 0.9  # never silenced


def test_round_trips_and_ignores_bad_state() -> None:
    model = _simulate("urgency", 100, random.Random(3))
    again = PersonModel.from_json(model.to_json())
    assert again.weights() == model.weights()
    assert PersonModel.from_json({"_coef": "nonsense"}).count == 0
