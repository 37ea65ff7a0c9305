"""A heuristic Predictor: time to event, recent moves, inventory drain and price level.

Pure Python and cheap: it runs for every batch on the hot path and is the fallback when
no trained model exists. Its numbers are measured on SeatGeek MLB 2024 daily get-in prices
(`../shared/data`; the same definitions as `ml.calibration`):

- how often the get-in drops / rises >= 5% at some point within 3 days, by days out
  (15% / 13% two months out, ~50% / ~45% in the last week);
- how moves revert: after a fall of >= 15% over 3 days the odds of a rise are ~3.7x
  those after a still price, and of a further drop about half;
- how often a price >= 5% below today's appears before the event (~85% from two weeks
  out, ~60% three days out; ~62% just after a sharp fall), what waiting for it saved
  (~16% when it came) and what not finding it cost (~20-45%, the rising third);
- sell-outs (>= 95% of capacity) list at ~1.8x the typical get-in: logit -3 + 2.9 log.
The advice weighs the expected gain of waiting for that dip against availability risk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from math import exp, log

from core.domain import (
    SCARCE_TICKETS,
    Advice,
    MarketPoint,
    Prediction,
    Recommendation,
    rough_duration,
)
from core.ports import Forecast, ForecastRequest

MODEL = "heuristic"
NOTHING_LISTED_BUY = "no tickets are listed right now — buy as soon as some appear"
CHUNK = 2000  # requests per slice before yielding to the event loop
# Typical get-in price (USD) a week out per category: MLB is measured ($22); the others
# are the simulator's priors. Unknown categories get no price-level signal.
TYPICAL_GET_IN = {
    "mlb": 22.0, "nba": 45.0, "nhl": 40.0, "nfl": 95.0, "concert": 70.0, "theatre": 90.0,
}  # fmt: skip
# (days out, P(drop >= 5% within 72 h), P(rise >= 5%), q10 and q90 of the 72 h log change,
#  P(a price 5% below today's before the event), fractional loss when it never comes)
KNOTS = (
    (0.0, 0.03, 0.03, -0.02, 0.02, 0.05, 0.10),
    (1.0, 0.30, 0.25, -0.15, 0.13, 0.41, 0.20),
    (3.5, 0.53, 0.45, -0.29, 0.245, 0.62, 0.26),
    (6.5, 0.49, 0.38, -0.29, 0.245, 0.71, 0.33),
    (11.0, 0.37, 0.32, -0.20, 0.165, 0.81, 0.42),
    (17.5, 0.25, 0.25, -0.14, 0.11, 0.81, 0.45),
    (25.0, 0.21, 0.195, -0.105, 0.083, 0.83, 0.45),
    (37.0, 0.19, 0.17, -0.105, 0.083, 0.85, 0.45),
    (60.0, 0.15, 0.13, -0.105, 0.083, 0.89, 0.45),
)
STEPS_PER_DAY = 4
DIP_GAIN = 0.16  # what waiting saved when a 5% lower price came
# Thin history: fewer than THIN_POINTS priced snapshots, or under THIN_HOURS from the
# oldest to the newest. The 24 h / 72 h / 7 d changes that forecasts rest on are then
# unknown, so `ml.predictor` leaves such events to this heuristic (its boosters, fed
# mostly missing features, said "wait" at ~90% on a first sighting), and this heuristic
# says watch where it would say wait: it cannot tell whether today's price has just
# fallen (after a sharp fall a 5% lower price comes ~62% of the time, not ~85%).
THIN_POINTS = 5
THIN_HOURS = 24.0
_THIN_SPAN = timedelta(hours=THIN_HOURS)
_H72 = timedelta(hours=72)
_D7 = timedelta(days=7)


def _table() -> tuple[tuple[float, ...], ...]:
    rows = []
    for i in range(int(KNOTS[-1][0] * STEPS_PER_DAY) + 1):
        day = i / STEPS_PER_DAY
        k = next(j for j in range(1, len(KNOTS)) if KNOTS[j][0] >= day)
        lo, hi = KNOTS[k - 1], KNOTS[k]
        w = (day - lo[0]) / (hi[0] - lo[0])
        rows.append(tuple(a + (b - a) * w for a, b in zip(lo[1:], hi[1:], strict=True)))
    return tuple(rows)


TABLE = _table()
_ROWS = len(TABLE)


def dip_chance(days_out: float, week_change: float, market_change: float) -> float:
    """P(a get-in >= 5% below today's appears before the event).

    Args:
        days_out: days until the event starts.
        week_change: log change of the get-in over the last ~7 days (0 if unknown).
        market_change: log change of the average (or median) price over the same time.
    """
    step = int(days_out * STEPS_PER_DAY) if days_out > 0 else 0
    return _dip(TABLE[step if step < _ROWS else -1][4], week_change, market_change)


def _dip(p: float, week_change: float, market_change: float) -> float:
    if week_change <= -0.15:
        p -= 0.21  # a sharp fall is usually the bottom: prices bounce back
    elif week_change <= -0.03:
        p -= 0.02
    elif week_change >= 0.03:
        p += 0.05
    if market_change >= 0.1:
        p -= 0.08  # the get-in lags a market that is moving up
    return 0.01 if p < 0.01 else 0.97 if p > 0.97 else p


def thin_history(history: Sequence[MarketPoint], now: datetime) -> bool:
    """Whether `history` is too thin to forecast a trend from (see THIN_POINTS).

    Args:
        history: the event's snapshots, oldest first.
        now: when the forecast is made; later snapshots and unpriced ones do not count.
    """
    n = len(history)
    if n < THIN_POINTS:
        return True
    first, last = history[0], history[-1]
    if last.observed_at <= now and (first.min_price or 0.0) > 0.0:
        for i in range(n - THIN_POINTS, n):  # the usual case: the newest are all priced
            if not (history[i].min_price or 0.0) > 0.0:
                break
        else:
            return last.observed_at - first.observed_at < _THIN_SPAN
    newest: datetime | None = None
    count = 0
    for point in reversed(history):
        if point.observed_at <= now and (point.min_price or 0.0) > 0.0:
            newest = newest or point.observed_at
            count += 1
            if count >= THIN_POINTS:
                break
    if newest is None or count < THIN_POINTS:
        return True
    oldest = next(p.observed_at for p in history if (p.min_price or 0.0) > 0.0)
    return newest - oldest < _THIN_SPAN


def availability_buy_now_sentence(p: Prediction, hours: float, listed: float | None = None) -> str:
    """The buy-now sentence when what is listed may run out before the event.

    It states the drain-pace extrapolation, never a percentage: a "100% risk" beside the
    model's sell-out chance reads as a contradiction, and a pace is no certainty. With
    nothing listed it says so: the models put that at 0 h to depletion, which read "run
    out in under a minute".

    Args:
        p: the prediction (its `hours_to_depletion` is the pace extrapolation).
        hours: hours until the event starts.
        listed: the tickets listed now (None or NaN: not known).
    """
    if listed is not None and listed <= 0:
        return NOTHING_LISTED_BUY
    ahead = p.hours_to_depletion
    if ahead is not None and ahead < hours:
        when = rough_duration(ahead * 3600.0)
        return f"at this pace the listed tickets run out in {when}, before the event — buy now"
    return "tickets likely to run out before the event — buy now"


def price_buy_now_sentence(p: Prediction, dip: float, span: str) -> str:
    """The sentence of a BUY NOW that rests on the price (not on tickets running out).

    It cites the rise when a rise is at least as likely as a drop, else how unlikely a
    lower price is; `ml.predictor` says it in the same words.

    Args:
        p: the forecast's numbers.
        dip: P(a price 5% below today's appears before the event).
        span: "within 3 days" or "before the event" (the 72 h window, cut by the start).
    """
    if p.p_rise_72h >= p.p_drop_72h:
        return f"{p.p_rise_72h:.0%} chance the cheapest price rises 5% {span} — buy now"
    return f"only {dip:.0%} chance of a price 5% below today's before the event — buy now"


class HeuristicPredictor:
    """Implements `core.ports.Predictor` with measured base rates; never blocks.

    Forecasts are cached per event for the observed_at of its newest point.
    """

    name = MODEL

    def __init__(self, *, cache_size: int = 100_000) -> None:
        """Create an empty cache.

        Args:
            cache_size: most events kept in the cache (the oldest is evicted first).
        """
        self._cache: dict[int, tuple[object, Forecast]] = {}
        self._cache_size = cache_size

    async def forecast(self, requests: Sequence[ForecastRequest]) -> list[Forecast]:
        """Forecast every request in order, yielding to the loop every CHUNK requests."""
        out: list[Forecast] = []
        for lo in range(0, len(requests), CHUNK):
            if lo:
                await asyncio.sleep(0)
            out.extend(self.forecast_one(r) for r in requests[lo : lo + CHUNK])
        return out

    def forecast_one(self, request: ForecastRequest) -> Forecast:
        """Forecast one request (cached per event and newest observation)."""
        history = request.history
        key = history[-1].observed_at if history else None
        hit = self._cache.get(request.event.id)
        if hit is not None and hit[0] == key:
            return hit[1]
        result = _forecast(request)
        cache = self._cache
        if len(cache) >= self._cache_size and request.event.id not in cache:
            del cache[next(iter(cache))]
        cache[request.event.id] = (key, result)
        return result


def _forecast(request: ForecastRequest) -> Forecast:
    """One forecast; a single inlined hot path (it runs for every snapshot)."""
    history = request.history
    event = request.event
    hours = (event.starts_at - request.now).total_seconds() / 3600.0
    n = len(history)
    last = history[-1] if n else None
    if last is None or not last.min_price or last.min_price < 0:
        last = _last_priced(history)
    if last is None or hours <= 0:
        return _nothing(hours)
    price: float = last.min_price  # type: ignore[assignment]
    step = int(hours * (STEPS_PER_DAY / 24.0))
    row = TABLE[step] if step < _ROWS else TABLE[-1]

    # The points about 3 and 7 days back, found from the mean spacing (series are irregular).
    observed = last.observed_at
    first = history[0]
    gap = (observed - first.observed_at).total_seconds()
    ref3 = ref7 = None
    if gap > 0:
        per = gap / (n - 1)
        ref3 = _back(history, observed - _H72, int(259_200.0 / per))
        if ref3 is not None:
            ref7 = _back(history, observed - _D7, int(604_800.0 / per)) or ref3
    change3 = change7 = market = 0.0
    if ref3 is not None and ref7 is not None:
        if ref3.min_price:
            change3 = change7 = log(price / ref3.min_price)
        if ref7.min_price:
            change7 = log(price / ref7.min_price)
        now_avg = last.avg_price or last.median_price
        old_avg = ref7.avg_price or ref7.median_price
        if now_avg and old_avg:
            market = log(now_avg / old_avg)

    # Inventory: drain rate since ~3 days back, hours until none is left at that pace.
    tickets = last.ticket_count
    drain, to_depletion = 0.0, None
    ref = ref3 if ref3 is not None else first
    if tickets is not None and tickets <= 0:
        drain, to_depletion = 1.0, 0.0
    elif tickets is not None and ref.ticket_count and ref.ticket_count > tickets:
        span = (observed - ref.observed_at).total_seconds()
        if span > 0:
            per_hour = (ref.ticket_count - tickets) * 3600.0 / span
            to_depletion = tickets / per_hour
            drain = per_hour * 24.0 / tickets
            drain = 1.0 if drain > 1.0 else drain
    draining = to_depletion is not None and to_depletion < hours
    risk = 0.0
    if to_depletion is not None:
        ratio = (hours if hours < 168.0 else 168.0) / (to_depletion if to_depletion > 0.1 else 0.1)
        risk = 1.0 - exp(-ratio * ratio)
    if tickets is not None and tickets <= SCARCE_TICKETS and risk < 0.8:
        risk = 0.8

    # Sell-out: price level against the category's typical get-in (MLB logistic fit).
    typical = TYPICAL_GET_IN.get(event.category or "")
    level = log(price / typical) if typical else 0.0
    sellout = None
    if event.capacity:
        logit = -3.0 + 2.9 * level + (1.5 if draining else 0.0)
        if tickets is not None and tickets < 0.01 * event.capacity:
            logit += 1.0
        sellout = 1.0 / (1.0 + exp(-logit))
        if 0.6 * sellout > risk:
            risk = 0.6 * sellout  # a full venue still leaves resale tickets

    # 72 h moves: base rates by days out, times the odds ratios of the recent move (MLB,
    # adjusted for days out): a sharp fall bounces back, a rise tends to give way.
    if ref3 is None:
        odds_drop = odds_rise = 1.0
    elif change3 <= -0.15:
        odds_drop, odds_rise = 0.41, 2.47
    elif change3 <= -0.05:
        odds_drop, odds_rise = 0.98, 1.40
    elif change3 < -1e-4:
        odds_drop, odds_rise = 0.87, 0.62
    elif change3 <= 1e-4:
        odds_drop, odds_rise = 0.78, 0.67  # a price that sits still tends to stay
    elif change3 <= 0.05:
        odds_drop, odds_rise = 0.96, 0.58
    elif change3 <= 0.15:
        odds_drop, odds_rise = 1.40, 0.85
    else:
        odds_drop, odds_rise = 1.26, 0.72
    if market >= 0.1:
        odds_drop, odds_rise = odds_drop * 0.78, odds_rise * 1.19
    elif market <= -0.1:
        odds_rise *= 0.81
    drop, rise = row[0], row[1]
    drop = drop * odds_drop / (1.0 - drop + drop * odds_drop)
    rise = rise * odds_rise / (1.0 - rise + rise * odds_rise)
    drop = 0.01 if drop < 0.01 else 0.95 if drop > 0.95 else drop
    rise = 0.01 if rise < 0.01 else 0.95 if rise > 0.95 else rise
    shift = 0.05 * (rise - drop)
    prediction = Prediction(
        drop,
        rise,
        sellout,
        int(price * exp(row[2] + shift) * 100.0 + 0.5) / 100.0,
        int(price * exp(shift) * 100.0 + 0.5) / 100.0,
        int(price * exp(row[3] + shift) * 100.0 + 0.5) / 100.0,
        1.0 / (1.0 + exp(-2.0 * level - 3.0 * drain)),
        to_depletion,
        MODEL,
    )
    dip = _dip(row[4], change7, market)
    thin = thin_history(history, request.now)
    listed = 0 if last.listing_count == 0 else tickets  # a feed may count listings alone
    advice = _advise(prediction, price, dip, row[5], risk, hours, n, thin, listed)
    return Forecast(prediction, advice)


def _advise(
    p: Prediction,
    price: float,
    dip: float,
    loss: float,
    risk: float,
    hours: float,
    n: int,
    thin: bool,
    listed: int | None,
) -> Recommendation:
    gain = DIP_GAIN * dip - loss * (1.0 - dip)  # expected share saved by waiting for a dip
    saving = int(price * (gain if gain > 0.0 else -gain) * 100.0 + 0.5) / 100.0
    sure = 0.6 + 0.08 * (n if n < 4 else 4) if thin else 1.0  # little history, less confidence
    span = "within 3 days" if hours >= 72.0 else "before the event"
    if risk >= 0.5:
        sentence = availability_buy_now_sentence(p, hours, listed)
        confidence = risk * sure
        return Recommendation(Advice.BUY_NOW, saving if gain < 0.0 else 0.0, risk,
                              0.95 if confidence > 0.95 else confidence, sentence)  # fmt: skip
    confidence = (0.35 + 4.0 * (gain if gain > 0.0 else -gain)) * sure
    confidence = 0.95 if confidence > 0.95 else confidence
    if gain > 0.015 and risk < 0.35:
        if thin:  # see THIN_POINTS: a base rate alone is no reason to hold off
            sentence = (
                f"{dip:.0%} chance of a price 5% below today's before the event, "
                "but little price history yet — watch"
            )
            return Recommendation(Advice.WATCH, 0.0, risk, 0.35 * sure, sentence)
        if p.p_drop_72h >= 0.5:
            sentence = f"{p.p_drop_72h:.0%} chance the cheapest price drops 5% {span} — wait"
        else:
            sentence = f"{dip:.0%} chance of a price 5% below today's before the event — wait"
        return Recommendation(Advice.WAIT, saving, risk, confidence, sentence)
    if gain < -0.015 or p.p_rise_72h - p.p_drop_72h >= 0.15:
        sentence = price_buy_now_sentence(p, dip, span)
        return Recommendation(Advice.BUY_NOW, saving if gain < 0.0 else 0.0, risk, confidence,
                              sentence)  # fmt: skip
    sentence = (
        f"{p.p_drop_72h:.0%} chance the cheapest price drops 5% {span}, "
        f"{p.p_rise_72h:.0%} that it rises — watch"
    )
    return Recommendation(Advice.WATCH, 0.0, risk, confidence, sentence)


def _nothing(hours: float) -> Forecast:
    started = hours <= 0
    prediction = Prediction(0.0, 0.0, None, None, None, None, 0.5, None, MODEL)
    sentence = (
        "the event has started — nothing left to decide"
        if started
        else "no price listed yet, so no forecast — watch"
    )
    return Forecast(prediction, Recommendation(Advice.WATCH, 0.0, 0.0, 0.05, sentence))


def _back(history: Sequence[MarketPoint], when: datetime, steps: int) -> MarketPoint | None:
    """The newest point at or before `when`: a guess `steps` from the end, then probed."""
    n = len(history)
    if history[0].observed_at > when:
        return None
    i = n - 1 - steps
    i = 0 if i < 0 else n - 1 if i >= n else i
    while history[i].observed_at > when:
        i -= 1
    while i + 1 < n and history[i + 1].observed_at <= when:
        i += 1
    return history[i]


def _last_priced(history: Sequence[MarketPoint]) -> MarketPoint | None:
    for i in range(len(history) - 1, max(len(history) - 6, 0) - 1, -1):
        point = history[i]
        if point.min_price is not None and point.min_price > 0:
            return point
    return None
