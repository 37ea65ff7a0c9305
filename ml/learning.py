"""Per-person factor weights learned online from feedback (acknowledged, bought, pressed
vs ignored, muted).

Each person has a small online logistic model: P(engages | factor values) =
sigmoid(bias + sum(w_i * x_i)), updated by one SGD step per feedback event. Their
weights are the defaults until `MIN_FEEDBACK` events, then the defaults scaled by
exp(coefficient), clipped to [LOW, HIGH] x default and renormalised: no factor can fall
below half its default, so a critical alert (high on the factors that make it critical)
is never silenced. The result is what `users.learned_weights` stores.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

FACTORS = ("price", "availability", "urgency", "preference", "demand", "reliability")
DEFAULTS = (0.25, 0.20, 0.20, 0.15, 0.10, 0.10)
MIN_FEEDBACK = 10
LOW, HIGH = 0.5, 4.0
POSITIVE = frozenset({"acknowledged", "bought", "clicked", "snoozed"})
NEGATIVE = frozenset({"ignored", "muted"})


@dataclass(slots=True)
class PersonModel:
    """One person's online model; `to_json`/`from_json` round-trip it."""

    coef: list[float] = field(default_factory=lambda: [0.0] * len(FACTORS))
    bias: float = 0.0
    count: int = 0
    rate: float = 0.3

    def update(self, factors: Mapping[str, float], outcome: str) -> None:
        """One SGD step on one feedback event (unknown outcomes are ignored).

        Args:
            factors: the alert's factor values in [0, 1] by name.
            outcome: acknowledged, bought, clicked or snoozed (engaged); ignored or muted.
        """
        if outcome not in POSITIVE and outcome not in NEGATIVE:
            return
        target = 1.0 if outcome in POSITIVE else 0.0
        x = [float(factors.get(name, 0.0)) - 0.5 for name in FACTORS]  # centred
        z = self.bias + sum(c * v for c, v in zip(self.coef, x, strict=True))
        error = target - 1.0 / (1.0 + math.exp(-max(min(z, 30.0), -30.0)))
        step = self.rate / math.sqrt(1.0 + self.count / 50.0)
        self.bias += step * error
        self.coef = [c + step * (error * v - 0.01 * c) for c, v in zip(self.coef, x, strict=True)]
        self.count += 1

    def weights(self) -> dict[str, float]:
        """The person's weights by factor name (defaults until MIN_FEEDBACK events)."""
        if self.count < MIN_FEEDBACK:
            return dict(zip(FACTORS, DEFAULTS, strict=True))
        raw = [
            d * min(max(math.exp(c), LOW), HIGH) for d, c in zip(DEFAULTS, self.coef, strict=True)
        ]
        floor = [LOW * d for d in DEFAULTS]
        total = sum(raw)
        weights = [max(r / total, f) for r, f in zip(raw, floor, strict=True)]
        total = sum(weights)
        return {name: w / total for name, w in zip(FACTORS, weights, strict=True)}

    def to_json(self) -> dict[str, object]:
        """What `users.learned_weights` stores: the weights and the model state."""
        return {**self.weights(), "_coef": self.coef, "_bias": self.bias, "_count": self.count}

    @classmethod
    def from_json(cls, doc: Mapping[str, object] | None) -> PersonModel:
        """Rebuild from `to_json` output (or a fresh model for None / bad data)."""
        try:
            coef = [float(c) for c in doc["_coef"]]  # type: ignore[index, union-attr]
            if len(coef) != len(FACTORS):
                raise ValueError("wrong length")
            return cls(coef, float(doc["_bias"]), int(doc["_count"]))  # type: ignore[index, arg-type]
        except (KeyError, TypeError, ValueError):
            return cls()
