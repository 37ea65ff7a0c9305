"""The trained model set: xgboost boosters, their calibration, and its files on disk.

A model directory holds one xgboost JSON file per target (`<target>.json`),
`model.json` (features, the segment curve, Platt calibration per probability, the
quantile widening per horizon, the wait threshold and the metadata: data, date range,
metrics, licence) and `MODEL_CARD.md`. `ModelSet.predict` turns a feature frame into
every output at once, in a few vectorised calls.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.features import FEATURES, SegmentCurve

# xgboost's package imports scikit-learn, when it is installed, for its sklearn-style
# wrappers (and most of scipy with it: ~90 MB of RSS). We use only its native API
# (Booster, DMatrix, train), so a process that only forecasts hides scikit-learn while
# xgboost is imported; code that wants scikit-learn (training, backtests) imports it as
# usual afterwards. Where scikit-learn is already imported, nothing changes.
_HIDE_SKLEARN = "sklearn" not in sys.modules
if _HIDE_SKLEARN:
    sys.modules["sklearn"] = None  # type: ignore[assignment]
try:
    import xgboost as xgb
finally:
    if _HIDE_SKLEARN:
        del sys.modules["sklearn"]

HORIZONS = {"24h": 24.0, "72h": 72.0, "7d": 168.0}
QUANTILES = (0.1, 0.5, 0.9)
PROBABILITIES = (
    *(f"{kind}_{h}" for kind in ("drop", "rise") for h in HORIZONS), "sellout", "dip",
)  # fmt: skip
REGRESSIONS = (*(f"quant_{h}" for h in HORIZONS), "drain_72h")
PARAMS: dict[str, Any] = {
    "tree_method": "hist", "nthread": 2, "max_depth": 4, "eta": 0.1, "subsample": 0.8,
    "colsample_bytree": 0.5, "min_child_weight": 5.0, "lambda": 2.0, "max_bin": 128,
}  # fmt: skip
FORMAT = 1


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)), clipped away from 0 and 1."""
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return np.asarray(np.log(q / (1 - q)))


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function."""
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


@dataclass(slots=True)
class ModelSet:
    """Every booster with its calibration; `predict` gives all outputs for a feature frame.

    Attributes:
        boosters: target name -> booster (see PROBABILITIES and REGRESSIONS).
        platt: probability target -> (a, b): calibrated = sigmoid(a * logit(raw) + b).
        widen: horizon -> (lower, upper) factors applied to (q10 - q50) and (q90 - q50).
        still: horizon -> a median log change smaller than this is "no change" (the
            get-in is sticky; snapping it to zero beats noise around persistence).
        curve: the segment curve used by `ml.features.build`.
        wait_threshold: P(dip before the deadline) above which waiting is advised.
        meta: data source, date range, metrics, licence, training time.
    """

    boosters: dict[str, xgb.Booster]
    platt: dict[str, tuple[float, float]] = field(default_factory=dict)
    widen: dict[str, tuple[float, float]] = field(default_factory=dict)
    curve: SegmentCurve = field(default_factory=SegmentCurve)
    still: dict[str, float] = field(default_factory=dict)
    wait_threshold: float = 0.7
    meta: dict[str, Any] = field(default_factory=dict)

    def raw(self, name: str, x: np.ndarray) -> np.ndarray:
        """The uncalibrated output of one booster for a float32 matrix in FEATURES order."""
        return np.asarray(self.boosters[name].inplace_predict(x))

    def predict(
        self, features: pd.DataFrame, targets: Collection[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Every output for each row: calibrated probabilities, quantiles of the log change
        of the get-in (`q10_72h`, ...), and `drain_72h` (log change of listed tickets).
        `targets` (booster names, e.g. "quant_72h") limits the work to those."""
        x = np.ascontiguousarray(features.loc[:, list(FEATURES)].to_numpy(np.float32))
        out: dict[str, np.ndarray] = {}
        wanted = set(self.boosters if targets is None else targets) & set(self.boosters)
        for name in PROBABILITIES:
            if name in wanted:
                p = self.raw(name, x)
                a, b = self.platt.get(name, (1.0, 0.0))
                out[name] = sigmoid(a * logit(p) + b)
        for h in HORIZONS:
            name = f"quant_{h}"
            if name not in wanted:
                continue
            q = np.sort(self.raw(name, x).reshape(len(x), -1), axis=1)
            lo, hi = self.widen.get(h, (1.0, 1.0))
            mid = np.where(np.abs(q[:, 1]) < self.still.get(h, 0.0), 0.0, q[:, 1])
            out[f"q50_{h}"] = mid
            out[f"q10_{h}"] = np.minimum(mid + lo * (q[:, 0] - q[:, 1]), mid)
            out[f"q90_{h}"] = np.maximum(mid + hi * (q[:, 2] - q[:, 1]), mid)
        if "drain_72h" in wanted:
            out["drain_72h"] = self.raw("drain_72h", x)
        return out

    def save(self, directory: Path, card: str | None = None) -> None:
        """Write the boosters, `model.json` and the model card into `directory`."""
        directory.mkdir(parents=True, exist_ok=True)
        for name, booster in self.boosters.items():
            booster.save_model(directory / f"{name}.json")
        doc = {
            "format": FORMAT,
            "features": list(FEATURES),
            "targets": sorted(self.boosters),
            "platt": self.platt,
            "widen": self.widen,
            "still": self.still,
            "curve": self.curve.curves,
            "wait_threshold": self.wait_threshold,
            "meta": self.meta,
        }
        (directory / "model.json").write_text(json.dumps(doc, indent=1, default=float))
        if card is not None:
            (directory / "MODEL_CARD.md").write_text(card)

    @classmethod
    def load(cls, directory: Path) -> ModelSet:
        """Read a model directory written by `save`.

        Raises:
            FileNotFoundError: a file is missing.
            ValueError: a file does not read as what `save` writes; the message is one
                line naming the file (a hand-edited or damaged model must not stop the
                process with a traceback: the caller falls back).
        """
        doc = json.loads((directory / "model.json").read_text())
        if not isinstance(doc, dict):
            raise ValueError("model.json holds no model description")
        if doc.get("format") != FORMAT or doc.get("features") != list(FEATURES):
            raise ValueError(f"{directory} holds a model for other features; retrain it")
        try:
            parts = (
                {k: (float(v[0]), float(v[1])) for k, v in doc["platt"].items()},
                {k: (float(v[0]), float(v[1])) for k, v in doc["widen"].items()},
                SegmentCurve(doc["curve"]),
                {k: float(v) for k, v in doc["still"].items()},
                float(doc["wait_threshold"]),
                dict(doc["meta"]),
            )
            targets = [str(name) for name in doc["targets"]]
        except KeyError as exc:
            raise ValueError(f"model.json has no {exc}") from exc
        except (AttributeError, IndexError, TypeError, ValueError) as exc:
            raise ValueError(f"model.json does not read as a model ({exc})") from exc
        boosters = {}
        for name in targets:
            booster = xgb.Booster()
            try:
                booster.load_model(directory / f"{name}.json")
            except xgb.core.XGBoostError as exc:
                raise ValueError(f"{name}.json is unreadable ({_first_line(exc)})") from exc
            booster.set_param({"nthread": 1})
            boosters[name] = booster
        return cls(boosters, *parts)


def _first_line(exc: BaseException) -> str:
    """xgboost's message without its source location and native stack trace."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return re.sub(r"^\[[^\]]*\]\s*\S+:\d+:\s*", "", first)
