"""The xgboost Predictor: loads the active model directory, forecasts in batches.

Implements `core.ports.Predictor`. Features and boosters run in a worker thread
(`asyncio.to_thread`), so the event loop never blocks; forecasts are cached per event
for its newest observation. Without a usable model directory (or for an event with no
priced history) it falls back to `ml.heuristic.HeuristicPredictor`, with one logged
warning; so do events of a category the model never saw (`categories`) and events with
too little history for the model's 24 h / 72 h / 7 d features (`ml.heuristic.THIN_POINTS`:
under 5 priced snapshots or 24 h). xgboost, scipy and pandas (~95 MB; see `ml.models` for
why not scikit-learn) are imported only when there is a model to load.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.domain import Advice, Prediction, Recommendation
from core.ports import Forecast, ForecastRequest
from ml.heuristic import (
    HeuristicPredictor,
    availability_buy_now_sentence,
    price_buy_now_sentence,
    thin_history,
)

if TYPE_CHECKING:
    from ml.models import ModelSet

logger = logging.getLogger(__name__)
MODEL = "xgboost"
# Trained on the MIT-licensed MLB data by `hdtickets train` (its MODEL_CARD.md says how);
# used when no other model is configured (`bot.bootstrap.load_predictor`).
SHIPPED_MODEL = Path(__file__).resolve().parent / "model"
DIP_GAIN = 0.16  # what waiting for a 5% lower price saved when it came (MLB)
MISS_LOSS = 0.30  # what not finding it cost
USED = ("drop_72h", "rise_72h", "quant_72h", "sellout", "dip", "drain_72h")  # what advice reads


def load_models(model_dir: Path | None) -> ModelSet:
    """The models of a directory written by `hdtickets train`.

    Raises:
        FileNotFoundError, ValueError, OSError: with a one-line reason (no directory, a
            missing or damaged file).
    """
    if model_dir is None:
        raise FileNotFoundError("no complete model folder was found")
    if not Path(model_dir).is_dir():
        raise FileNotFoundError(f"no directory {model_dir}")
    from ml.models import ModelSet

    return ModelSet.load(model_dir)


class ModelPredictor:
    """Implements `core.ports.Predictor` with the models of `model_dir`."""

    def __init__(
        self,
        model_dir: Path | None,
        *,
        cache_size: int = 100_000,
        models: ModelSet | None = None,
    ) -> None:
        """Load the models, or plan to fall back to the heuristic.

        Args:
            model_dir: a directory written by `hdtickets train` (None: heuristic only).
            cache_size: most events kept in the cache (the oldest is evicted first).
            models: `model_dir`'s models, when the caller has loaded them already
                (`load_models`).
        """
        self._fallback = HeuristicPredictor(cache_size=cache_size)
        self._cache: dict[int, tuple[object, Forecast]] = {}
        self._cache_size = cache_size
        self.models = models
        if models is None:
            try:
                self.models = load_models(model_dir)
            except (FileNotFoundError, ValueError, OSError) as exc:
                where = f" in {model_dir}" if model_dir is not None else ""
                logger.warning("no usable model%s (%s); using the heuristic", where, exc)
        self.name = MODEL if self.models is not None else self._fallback.name
        # Categories the model learned a price curve for: events of others (the MLB model
        # has never seen a concert) get the heuristic rather than a confident guess.
        self.categories = frozenset(
            name for name in (self.models.curve.curves if self.models else ()) if name != "*"
        )

    async def forecast(self, requests: Sequence[ForecastRequest]) -> list[Forecast]:
        """Forecast every request in order; cache misses run in one worker thread."""
        if self.models is None:
            return await self._fallback.forecast(requests)
        out: list[Forecast | None] = [self._cached(r) for r in requests]
        missing = [i for i, f in enumerate(out) if f is None]
        if missing:
            fresh = await asyncio.to_thread(self.forecast_blocking, [requests[i] for i in missing])
            for i, forecast in zip(missing, fresh, strict=True):
                out[i] = forecast
        return [f for f in out if f is not None]

    def _cached(self, request: ForecastRequest) -> Forecast | None:
        hit = self._cache.get(request.event.id)
        key = request.history[-1].observed_at if request.history else None
        return hit[1] if hit is not None and hit[0] == key else None

    def forecast_blocking(self, requests: Sequence[ForecastRequest]) -> list[Forecast]:
        """Forecast a batch (blocking: features + boosters) and fill the cache.

        Requests for the same event and newest snapshot (what the cache keys on) are
        computed once.
        """
        from ml import datasets, features

        models = self.models
        assert models is not None
        unique: dict[tuple[int, object, bool], int] = {}
        todo: list[ForecastRequest] = []
        slot: list[int] = []  # request -> its position in `todo`
        for request in requests:
            key = _key(request)
            if key not in unique:
                unique[key] = len(todo)
                todo.append(request)
            slot.append(unique[key])
        # A thin history leaves the change features missing and the boosters' answer
        # meaningless (a first sighting got "wait" at ~90%): the heuristic takes it.
        modeled = [
            i
            for i, r in enumerate(todo)
            if (r.event.category or "") in self.categories and not thin_history(r.history, r.now)
        ]
        df = datasets.from_points([(todo[i].event, todo[i].history, todo[i].now) for i in modeled])
        rows: dict[int, int] = {}
        if len(df):
            x = features.build(df, models.curve)
            newest = np.flatnonzero(
                np.r_[df["event"].to_numpy()[1:] != df["event"].to_numpy()[:-1], True]
            )
            out = models.predict(x.iloc[newest], USED)
            price = df["min_price"].to_numpy()[newest]
            tickets = df["tickets"].to_numpy()[newest]
            hours = df["hours_to_event"].to_numpy()[newest]
            rows = {modeled[int(e)]: k for k, e in enumerate(df["event"].to_numpy()[newest])}
        done: list[Forecast] = []
        for i, request in enumerate(todo):
            k = rows.get(i)
            if k is None or request.event.starts_at <= request.now:
                forecast = self._fallback.forecast_one(request)
            else:
                o = {n: float(v[k]) for n, v in out.items()}
                if "sellout" not in o and request.event.capacity:
                    # A model trained without outcomes has no sell-out booster: the
                    # heuristic's estimate (calibrated on MLB) stands in for it.
                    fallback = self._fallback.forecast_one(request).prediction.p_sellout
                    if fallback is not None:
                        o["sellout"] = fallback
                forecast = _forecast(
                    models, o, float(price[k]), float(tickets[k]), float(hours[k]), request
                )
            done.append(forecast)
        results = [done[k] for k in slot]
        for request, forecast in zip(requests, results, strict=True):
            self._store(request, forecast)
        return results

    def _store(self, request: ForecastRequest, forecast: Forecast) -> None:
        cache = self._cache
        if len(cache) >= self._cache_size and request.event.id not in cache:
            del cache[next(iter(cache))]
        key = request.history[-1].observed_at if request.history else None
        cache[request.event.id] = (key, forecast)


def _key(request: ForecastRequest) -> tuple[int, object, bool]:
    newest = request.history[-1].observed_at if request.history else None
    return request.event.id, newest, request.event.starts_at <= request.now


def _forecast(
    models: ModelSet,
    o: dict[str, float],
    price: float,
    tickets: float,
    hours: float,
    request: ForecastRequest,
) -> Forecast:
    per_day = -o.get("drain_72h", 0.0) / 3.0  # log tickets lost per day
    to_depletion = None
    if per_day > 0.005 and tickets == tickets:
        to_depletion = 24.0 * math.log1p(tickets) / per_day
    sellout = o.get("sellout") if request.event.capacity else None
    risk = 0.0
    if to_depletion is not None:
        ratio = min(hours, 168.0) / max(to_depletion, 0.1)
        risk = 1.0 - math.exp(-ratio * ratio)
    if sellout is not None:
        risk = max(risk, 0.6 * sellout)
    demand = 1.0 / (1.0 + math.exp(-(10.0 * per_day + 3.0 * ((sellout or 0.1) - 0.1))))
    prediction = Prediction(
        round(o["drop_72h"], 4), round(o["rise_72h"], 4), sellout,
        round(price * math.exp(o["q10_72h"]), 2), round(price * math.exp(o["q50_72h"]), 2),
        round(price * math.exp(o["q90_72h"]), 2), demand, to_depletion, MODEL,
        round(o["dip"], 4),
    )  # fmt: skip
    advice = advise(prediction, price, risk, hours, models.wait_threshold, listed=tickets)
    return Forecast(prediction, advice)


def advise(
    p: Prediction,
    price: float,
    risk: float,
    hours: float,
    threshold: float,
    *,
    listed: float | None = None,
) -> Recommendation:
    """BUY NOW / WAIT / WATCH with the expected saving, availability risk, confidence and
    one plain sentence; waiting needs P(dip before the event) >= the backtested threshold.
    `listed` is the tickets listed now (None or NaN: not known)."""
    dip = p.p_dip_before_deadline or 0.0
    gain = DIP_GAIN * dip - MISS_LOSS * (1.0 - dip)
    saving = round(price * abs(gain), 2)
    span = "within 3 days" if hours >= 72.0 else "before the event"
    if risk >= 0.5:
        sentence = availability_buy_now_sentence(p, hours, listed)
        return Recommendation(Advice.BUY_NOW, 0.0, risk, float(min(risk, 0.95)), sentence)
    confidence = float(np.clip(0.35 + 2.0 * abs(dip - threshold), 0.05, 0.95))
    if dip >= threshold and risk < 0.35:
        sentence = f"{dip:.0%} chance of a price 5% below today's before the event — wait"
        return Recommendation(Advice.WAIT, saving, risk, confidence, sentence)
    if p.p_rise_72h - p.p_drop_72h >= 0.15 or dip < 0.5:
        sentence = price_buy_now_sentence(p, dip, span)
        return Recommendation(Advice.BUY_NOW, 0.0, risk, confidence, sentence)
    sentence = (
        f"{p.p_drop_72h:.0%} chance the cheapest price drops 5% {span}, "
        f"{p.p_rise_72h:.0%} that it rises — watch"
    )
    return Recommendation(Advice.WATCH, 0.0, risk, confidence, sentence)
