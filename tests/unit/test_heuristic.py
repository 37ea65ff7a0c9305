"""The heuristic Predictor: sane numbers, advice that follows the market, cheap and cached."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from core.domain import Advice, EventRef, MarketPoint
from core.ports import Forecast, ForecastRequest, Predictor
from ml.heuristic import HeuristicPredictor, dip_chance
from ml.simulator import MarketSimulator

NOW = datetime(2024, 5, 1, 17, 0, tzinfo=UTC)


def event(days_out: float, *, event_id: int = 1, capacity: int | None = 40_000) -> EventRef:
    return EventRef(
        id=event_id,
        name="Rockies at Diamondbacks",
        starts_at=NOW + timedelta(days=days_out),
        category="mlb",
        capacity=capacity,
        timezone="America/Phoenix",
    )


def history(
    prices: Sequence[float],
    tickets: Sequence[int],
    *,
    avg: Sequence[float] | None = None,
    step_hours: float = 24.0,
    event_id: int = 1,
) -> tuple[MarketPoint, ...]:
    """Points ending at NOW, oldest first, one every `step_hours`."""
    n = len(prices)
    averages = avg if avg is not None else [p * 4 for p in prices]
    return tuple(
        MarketPoint(
            event_id=event_id,
            observed_at=NOW - timedelta(hours=step_hours * (n - 1 - i)),
            min_price=prices[i],
            median_price=None,
            avg_price=averages[i],
            max_price=averages[i] * 6,
            listing_count=max(tickets[i] // 4, 1),
            ticket_count=tickets[i],
        )
        for i in range(n)
    )


def one(predictor: HeuristicPredictor, ev: EventRef, points: Sequence[MarketPoint]) -> Forecast:
    return predictor.forecast_one(ForecastRequest(ev, points, NOW))


def percentages(sentence: str) -> set[str]:
    return set(re.findall(r"\d+%", sentence))


def simulated_requests(count: int) -> list[ForecastRequest]:
    """Requests built from simulated markets, at every snapshot of each event."""
    sim = MarketSimulator(8, start=NOW - timedelta(days=60), events=120, listings=0)
    ids: dict[str, EventRef] = {}
    points: dict[str, list[MarketPoint]] = defaultdict(list)
    requests: list[ForecastRequest] = []
    for snap in sim.iter_snapshots():
        info = snap.event
        ref = ids.setdefault(
            info.external_id,
            EventRef(
                len(ids),
                info.name,
                info.starts_at,
                info.category,
                info.performers,
                info.venue,
                info.city,
                info.capacity,
                info.timezone,
            ),
        )
        points[info.external_id].append(
            MarketPoint(
                ref.id,
                snap.observed_at,
                snap.min_price,
                snap.median_price,
                snap.avg_price,
                snap.max_price,
                snap.listing_count,
                snap.ticket_count,
            )
        )
        requests.append(ForecastRequest(ref, tuple(points[info.external_id]), snap.observed_at))
    return requests[:count]


def test_is_a_predictor() -> None:
    predictor: Predictor = HeuristicPredictor()
    assert predictor.name == "heuristic"


async def test_numbers_are_well_formed_on_simulated_markets() -> None:
    requests = simulated_requests(3000)
    forecasts = await HeuristicPredictor().forecast(requests)
    assert len(forecasts) == len(requests)
    advice = set()
    for request, forecast in zip(requests, forecasts, strict=True):
        p, r = forecast.prediction, forecast.recommendation
        assert p.model == "heuristic"
        for value in (p.p_drop_72h, p.p_rise_72h, p.demand, r.availability_risk, r.confidence):
            assert 0.0 <= value <= 1.0
        assert (p.p_sellout is None) == (request.event.capacity is None)
        assert p.p_sellout is None or 0.0 <= p.p_sellout <= 1.0
        assert p.p10_72h is not None and p.p50_72h is not None and p.p90_72h is not None
        assert p.p10_72h <= p.p50_72h <= p.p90_72h
        assert p.hours_to_depletion is None or p.hours_to_depletion >= 0.0
        assert r.expected_saving >= 0.0
        # A sentence states the probability it rests on, or the drain pace it extrapolates.
        assert percentages(r.sentence) or "at this pace" in r.sentence or "likely" in r.sentence
        assert "100%" not in r.sentence, r.sentence
        assert r.sentence.endswith(("— wait", "— buy now", "— watch"))
        advice.add(r.advice)
    assert advice == set(Advice)  # a real market gets every kind of advice


def test_draining_market_gets_higher_availability_risk_and_buy_now() -> None:
    predictor = HeuristicPredictor()
    prices = [31.0, 31.0, 32.0, 32.0]
    steady = one(predictor, event(5), history(prices, [3000, 3010, 2990, 3000]))
    ev = event(5, event_id=2)
    draining = one(predictor, ev, history(prices, [3000, 2100, 1200, 400], event_id=2))
    assert draining.recommendation.availability_risk > steady.recommendation.availability_risk
    assert draining.recommendation.availability_risk >= 0.5
    assert draining.recommendation.advice is Advice.BUY_NOW
    hours = draining.prediction.hours_to_depletion
    assert hours is not None and hours < 5 * 24  # gone before the event at this pace
    assert draining.prediction.demand > steady.prediction.demand
    assert draining.prediction.p_sellout is not None and steady.prediction.p_sellout is not None
    assert draining.prediction.p_sellout > steady.prediction.p_sellout
    sentence = draining.recommendation.sentence
    # The pace extrapolation is stated as such, never as a "100% risk" (it read as
    # contradicting the model's sell-out chance in the same alert).
    assert "%" not in sentence and sentence.startswith("at this pace the listed tickets run out")
    assert " 0 h" not in sentence and sentence.endswith("before the event — buy now")


def test_clearly_falling_market_far_from_the_event_gets_wait() -> None:
    prices = [33.0, 33.0, 32.0, 32.0, 31.0, 31.0, 30.0, 30.0]  # -10% over a week, steadily
    averages = [150.0, 147.0, 144.0, 141.0, 138.0, 135.0, 132.0, 130.0]
    tickets = [2600, 2650, 2700, 2720, 2760, 2800, 2850, 2900]  # supply keeps growing
    forecast = one(HeuristicPredictor(), event(45), history(prices, tickets, avg=averages))
    rec = forecast.recommendation
    assert rec.advice is Advice.WAIT
    assert rec.expected_saving > 0.0
    assert rec.availability_risk < 0.35
    dip = dip_chance(45.0, math.log(30 / 33), math.log(130 / 150))
    assert f"{dip:.0%}" in rec.sentence  # the sentence states the probability it rests on
    assert rec.sentence.endswith("— wait")


def test_sharp_fall_is_likely_to_bounce_back() -> None:
    """Real get-in prices revert: after a >= 15% fall in 3 days a rise is the likelier move."""
    predictor = HeuristicPredictor()
    prices = [40.0, 40.0, 40.0, 40.0, 40.0, 40.0, 40.0, 32.0]
    tickets = [2500] * 8
    fallen = one(predictor, event(30), history(prices, tickets))
    flat = one(predictor, event(30, event_id=2), history([40.0] * 8, tickets, event_id=2))
    assert fallen.prediction.p_rise_72h > fallen.prediction.p_drop_72h
    assert fallen.prediction.p_rise_72h > flat.prediction.p_rise_72h
    assert fallen.recommendation.advice is not Advice.WAIT


def test_undecided_market_says_watch_with_both_probabilities() -> None:
    prices = [30.0, 30.0, 31.0, 30.0]
    forecast = one(HeuristicPredictor(), event(3.5), history(prices, [2000] * 4))
    rec, p = forecast.recommendation, forecast.prediction
    assert rec.advice is Advice.WATCH
    assert {f"{p.p_drop_72h:.0%}", f"{p.p_rise_72h:.0%}"} <= percentages(rec.sentence)


def test_probabilities_follow_time_to_event() -> None:
    predictor = HeuristicPredictor()
    points = history([25.0] * 4, [3000] * 4)
    near = one(predictor, event(5), points).prediction
    far = one(predictor, event(50, event_id=2), points).prediction
    assert near.p_drop_72h > far.p_drop_72h and near.p_rise_72h > far.p_rise_72h
    assert (near.p90_72h or 0) - (near.p10_72h or 0) > (far.p90_72h or 0) - (far.p10_72h or 0)


def test_cache_hit_returns_the_same_object() -> None:
    predictor = HeuristicPredictor()
    points = history([30.0, 29.0, 29.0], [3000, 2900, 2800])
    first = one(predictor, event(10), points)
    assert one(predictor, event(10), points) is first
    later = predictor.forecast_one(ForecastRequest(event(10), points, NOW + timedelta(hours=1)))
    assert later is first  # same newest snapshot: same forecast
    newer = (*points[1:], points[-1].__class__(1, NOW + timedelta(hours=2), 27.0, None, 100.0,
                                              600.0, 700, 2700))  # fmt: skip
    assert one(predictor, event(10), newer) is not first


def test_cache_is_bounded() -> None:
    predictor = HeuristicPredictor(cache_size=2)

    def ask(i: int) -> Forecast:
        return one(predictor, event(10, event_id=i), history([30.0], [3000], event_id=i))

    first = [ask(i) for i in range(3)]  # the third evicts the oldest
    assert ask(2) is first[2]
    assert ask(0) is not first[0]


@pytest.mark.parametrize(
    ("days_out", "points"),
    [(10.0, ()), (-1.0, history([30.0], [100])), (10.0, history([0.0], [100]))],
)
def test_no_price_or_started_event_gives_a_calm_watch(
    days_out: float, points: tuple[MarketPoint, ...]
) -> None:
    forecast = one(HeuristicPredictor(), event(days_out), points)
    assert forecast.recommendation.advice is Advice.WATCH
    assert forecast.prediction.p10_72h is None
    assert forecast.recommendation.confidence <= 0.1


async def test_ten_thousand_requests_are_answered_then_served_from_cache() -> None:
    """Speed is measured in bench/, not here: this checks the batch and the cache."""
    base = simulated_requests(2500)
    requests = [
        ForecastRequest(event(r.event.starts_at.timestamp() % 40 + 1, event_id=i), r.history, NOW)
        for i, r in enumerate(base * 4)
    ]
    predictor = HeuristicPredictor()
    forecasts = await predictor.forecast(requests)
    again = await predictor.forecast(requests)
    assert len(forecasts) == 10_000
    assert all(a is b for a, b in zip(forecasts, again, strict=True))


def test_nothing_listed_is_said_so_not_run_out_in_under_a_minute() -> None:
    """QA: an event with no tickets listed read "at this pace the listed tickets run out
    in under a minute, before the event — buy now" (0 h to depletion)."""
    prices = [31.0, 31.0, 32.0, 32.0]
    gone = one(HeuristicPredictor(), event(5), history(prices, [3000, 2100, 1200, 0]))

    assert gone.prediction.hours_to_depletion == 0.0
    assert gone.recommendation.advice is Advice.BUY_NOW
    assert gone.recommendation.sentence == (
        "no tickets are listed right now — buy as soon as some appear"
    )
