"""The simulator's market dynamics: every event's paths in one vectorised numpy pass.

All snapshots of all events live in flat arrays sorted by (event, time); per-event
parameters are broadcast with `arr[ev]`, and per-event running state (the random walk,
the last jump of the sticky minimum, the current listings) uses cumulative tricks over
the flat arrays instead of Python loops. Constants are calibrated against SeatGeek MLB
2024 (see `ml.calibration` and tests/unit/test_simulator.py for the measured targets).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.domain import EventInfo
from ml.simulator_catalog import CATEGORIES, DrawnEvent

DAY = 86_400.0
MISSED = 0.02  # share of scheduled snapshots a scraper misses
# Get-in drift: fraction of an event's early-to-final move still ahead at tau days out
# (MLB median ratio to the final get-in: 1.12 at 30-60 d, 1.10 at 14, 1.09 at 7, 1.03 at 3).
RAMP_X = np.array([0.0, 1.0, 2.0, 3.0, 5.0, 7.0, 14.0, 30.0, 1e4])
RAMP_Y = np.array([0.0, 0.05, 0.15, 0.3, 0.55, 0.72, 0.88, 1.0, 1.0])
# Average price over its final level by days out: the shape of the MLB median curve
# (1.1 at 1 day, 1.32 at 14, 1.4 from 21), stretched so the median event, after its own
# amplitude and noise, lands on the measured 1.37 at 30-60 days.
AVG_X = np.array([0.0, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 14.0, 21.0, 28.0, 1e4])
AVG_Y = 1.0 + 1.2 * np.array([0.0, 0.1, 0.16, 0.19, 0.22, 0.24, 0.28, 0.32, 0.38, 0.4, 0.4])
BETA_PRICE = 0.33  # log get-in per unit of demand: sell-outs list ~1.8x the typical price
EPS_PRICE = 0.12  # other event-to-event spread of the get-in price (team, seats, market)
FILL_SLOPE = 0.23  # final fill per unit of demand (MLB fill: mean 0.66, sd 0.25)
RISE_LOGIT = (-0.6, 0.7)  # P(get-in trends up) = sigmoid(a + b * demand): ~1/3 of events
JUMP_RATE = 0.25  # moves of the get-in per day far out (gamma across events)
JUMP_SHAPE = 2.0
# Markets get busier and more volatile close to the event (MLB: the get-in changes on 22%
# of days 30+ days out, 45% at 7-14 days, 75% in the last 3 days).
NEAR_TAU = 7.0
NEAR_RATE = 9.0
NEAR_VOL = 0.8
SIGMA_X = 0.06  # scale (Laplace) of each move's transient, which reverts at the next move
SIGMA_W = 0.035  # per sqrt(day): slow wander of the get-in level
SIGMA_AVG = 0.05
PLACEHOLDERS = np.array([9_999.0, 25_000.0])  # real feeds carry placeholder max prices
PLACEHOLDER_RATE = 0.002
LISTING_CHURN = 0.3  # per day: a shown (non-cheapest) listing is replaced
QUANTITIES = np.array([1, 2, 2, 2, 2, 3, 4, 4, 6, 8])


@dataclass(frozen=True, slots=True)
class SimulatedEvent:
    """One simulated event and its hidden truth (what a model should learn to predict).

    Attributes:
        info: the event as the source describes it.
        demand: latent demand, about standard normal; drives price level and fill.
        final_fill: attendance / capacity at the start (can exceed 1: standing room).
        sold_out: final_fill >= 0.95, the sell-out definition of issue 5.
        rising: the get-in price trends up into the event instead of down.
    """

    info: EventInfo
    demand: float
    final_fill: float
    sold_out: bool
    rising: bool


@dataclass(frozen=True, slots=True)
class MarketColumns:
    """Every snapshot as numpy columns, in observed_at order (row i of each array).

    `event` indexes `MarketSimulator.events`; `observed_at` is epoch seconds (UTC).
    """

    event: np.ndarray
    observed_at: np.ndarray
    min_price: np.ndarray
    median_price: np.ndarray
    avg_price: np.ndarray
    max_price: np.ndarray
    listing_count: np.ndarray
    ticket_count: np.ndarray


@dataclass(frozen=True, slots=True)
class Paths:
    """Drawn paths: truth per event, numpy columns, and listing columns (N x slots)."""

    events: tuple[SimulatedEvent, ...]
    columns: MarketColumns
    listing_gen: np.ndarray
    listing_price: np.ndarray
    listing_section: np.ndarray
    listing_row: np.ndarray
    listing_qty: np.ndarray


def draw_paths(
    gen: np.random.Generator,
    drawn: Sequence[DrawnEvent],
    start_s: float,
    end_s: float,
    cadence_s: float,
    jitter: float,
    slots: int,
) -> Paths:
    """Draw every event's market from `start_s` to `end_s` (epoch seconds)."""
    e = _event_params(gen, drawn)
    ev, t = _schedule(gen, e, start_s, end_s, cadence_s, jitter)
    n = t.size
    idx = np.arange(n)
    first = np.ones(n, dtype=bool)
    first[1:] = ev[1:] != ev[:-1]
    gstart = np.maximum.accumulate(np.where(first, idx, 0))
    dt = np.zeros(n)
    dt[1:] = np.diff(t) / DAY
    dt[first] = 0.0
    tau = (e["starts"][ev] - t) / DAY
    near = np.exp(-tau / NEAR_TAU)

    # The get-in price: a sticky process that only moves at Poisson-timed jumps.
    rate = e["jump_rate"][ev] * (1.0 + NEAR_RATE * near)
    jump = first | (gen.random(n) < -np.expm1(-rate * dt))
    a = e["drift"][ev]
    drift = np.log1p(a * np.interp(tau, RAMP_X, RAMP_Y)) - np.log1p(
        a * np.interp(7.0, RAMP_X, RAMP_Y)
    )
    # The level wanders, pinned at the event (where price reflects demand) and looser the
    # further out: real prices separate sell-outs better as the event nears.
    walk = np.cumsum(SIGMA_W * np.sqrt(dt) * gen.standard_normal(n))
    last = np.append(first[1:], True)[:n]
    gend = np.minimum.accumulate(np.where(last, idx, n)[::-1])[::-1]
    walk = walk[gend] - walk
    transient = SIGMA_X * (1.0 + NEAR_VOL * near) * gen.laplace(0.0, 1.0, n)
    latent = np.log(e["ref"][ev]) + drift + walk + transient
    last_jump = np.maximum.accumulate(np.where(jump, idx, 0))
    min_price = np.maximum(1.0, np.round(np.exp(latent[last_jump])))

    avg = e["avg_final"][ev] * np.interp(tau, AVG_X, AVG_Y) ** e["avg_amp"][ev]
    avg = np.maximum(
        np.round(avg * np.exp(SIGMA_AVG * _daily_noise(gen, ev, tau))), np.ceil(min_price * 1.15)
    )
    median = np.round(min_price + (avg - min_price) * e["median_share"][ev])
    high = np.maximum(np.round(avg * np.exp(1.6 + 0.35 * _daily_noise(gen, ev, tau))), avg)
    placeholder = gen.random(n) < PLACEHOLDER_RATE
    high[placeholder] = np.maximum(
        gen.choice(PLACEHOLDERS, int(placeholder.sum())), avg[placeholder]
    )

    on_sale = e["on_sale_days"][ev]
    build = 0.55 + 0.45 * np.minimum(1.0, np.clip((on_sale - tau) / on_sale, 0, 1) / 0.6)
    end_share = e["end_share"][ev]
    drain = end_share + (1.0 - end_share) * -np.expm1(-tau / e["drain_days"][ev])
    tickets = e["peak"][ev] * build * drain * np.exp(0.04 * _daily_noise(gen, ev, tau))
    tickets = np.maximum(1, np.round(tickets)).astype(np.int64)
    per_listing = e["per_listing"][ev] * np.exp(0.03 * _daily_noise(gen, ev, tau))
    listings = np.clip(np.round(tickets / per_listing), 1, tickets).astype(np.int64)

    shown = _listings(gen, slots, n, idx, first, gstart, dt, last_jump, min_price)
    order = np.argsort(t, kind="stable")
    columns = MarketColumns(
        event=ev[order],
        observed_at=t[order].astype(np.int64),
        min_price=min_price[order],
        median_price=median[order],
        avg_price=avg[order],
        max_price=high[order],
        listing_count=listings[order],
        ticket_count=tickets[order],
    )
    truth = tuple(
        SimulatedEvent(d.info, float(z), float(f), bool(f >= 0.95), bool(r))
        for d, z, f, r in zip(drawn, e["demand"], e["fill"], e["rising"], strict=True)
    )
    return Paths(truth, columns, *(part[order] for part in shown))


def _daily_noise(gen: np.random.Generator, ev: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Standard-normal noise per event that moves once a day, linearly in between, so a
    fast cadence sees a smooth market instead of a fresh draw every snapshot."""
    if not ev.size:
        return np.zeros(0)
    knots = gen.standard_normal((int(ev.max()) + 1, int(tau.max()) + 2))
    day = np.floor(tau).astype(np.int64)
    w = tau - day
    noise: np.ndarray = knots[ev, day] * (1.0 - w) + knots[ev, day + 1] * w
    return noise


def _event_params(gen: np.random.Generator, drawn: Sequence[DrawnEvent]) -> dict[str, np.ndarray]:
    m = len(drawn)
    profiles = [CATEGORIES[d.category] for d in drawn]
    pop = np.array([d.popularity for d in drawn])
    weekend = np.array([d.weekend for d in drawn], dtype=float)
    demand = 0.85 * gen.standard_normal(m) + pop + 0.25 * weekend
    fill_base = np.array([p.fill for p in profiles])
    fill = np.clip(fill_base + FILL_SLOPE * demand + 0.05 * gen.standard_normal(m), 0.05, 1.15)
    sold_out = fill >= 0.95
    typical = np.array([p.get_in for p in profiles])
    ref = typical * np.exp(BETA_PRICE * demand + EPS_PRICE * gen.standard_normal(m))
    rising = gen.random(m) < 1.0 / (1.0 + np.exp(-(RISE_LOGIT[0] + RISE_LOGIT[1] * demand)))
    drift = np.where(rising, -gen.uniform(0.02, 0.18, m), gen.uniform(0.1, 0.5, m))
    lo = np.array([p.on_sale_days[0] for p in profiles])
    hi = np.array([p.on_sale_days[1] for p in profiles])
    capacity = np.array([d.info.capacity or 20_000 for d in drawn], dtype=float)
    return {
        "starts": np.array([d.info.starts_at.timestamp() for d in drawn]),
        "demand": demand,
        "fill": fill,
        "rising": rising,
        "ref": ref,
        "drift": drift,
        "jump_rate": gen.gamma(JUMP_SHAPE, JUMP_RATE / JUMP_SHAPE, m),
        "avg_final": ref * np.exp(np.log(3.6) + 0.25 * gen.standard_normal(m)),
        "avg_amp": np.clip(1.0 + 0.3 * gen.standard_normal(m), 0.2, 2.0)
        * np.where(rising, 0.8, 1.0),
        "median_share": gen.uniform(0.3, 0.5, m),
        "on_sale_days": gen.uniform(lo, hi),
        "peak": capacity * np.exp(np.log(0.075) + 0.3 * gen.standard_normal(m) - 0.05 * demand),
        "end_share": np.where(sold_out, gen.uniform(0.02, 0.2, m), gen.uniform(0.35, 0.6, m)),
        "drain_days": np.where(sold_out, 3.5, 2.5),
        "per_listing": np.array([p.tickets_per_listing for p in profiles])
        * np.exp(0.12 * gen.standard_normal(m)),
    }


def _schedule(
    gen: np.random.Generator,
    e: dict[str, np.ndarray],
    start_s: float,
    end_s: float,
    cadence_s: float,
    jitter: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Snapshot times per event (flat, sorted by event then time), jittered, some missed."""
    starts = e["starts"]
    first = np.maximum(start_s, starts - e["on_sale_days"] * DAY)
    first = first + gen.random(starts.size) * cadence_s
    last = np.minimum(starts - 600.0, end_s)
    count = np.where(last >= first, np.floor((last - first) / cadence_s) + 1, 0).astype(np.int64)
    ev = np.repeat(np.arange(starts.size), count)
    k = np.arange(ev.size) - np.repeat(np.cumsum(count) - count, count)
    t = first[ev] + k * cadence_s + cadence_s * jitter * gen.uniform(-1.0, 1.0, ev.size)
    keep = (t <= last[ev]) & (t >= start_s) & (gen.random(ev.size) >= MISSED)
    return ev[keep], np.floor(t[keep])


def _listings(
    gen: np.random.Generator,
    slots: int,
    n: int,
    idx: np.ndarray,
    first: np.ndarray,
    gstart: np.ndarray,
    dt: np.ndarray,
    last_jump: np.ndarray,
    min_price: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Shown listings (N x slots): slot 0 is the cheapest (new whenever the minimum moves);
    the others persist until churned, each keeping its price and seats."""
    gens = np.zeros((n, slots), dtype=np.int64)
    prices = np.zeros((n, slots))
    seats = gen.integers(0, 1 << 16, size=(n, slots, 3))
    sections = np.zeros((n, slots), dtype=np.int64)
    rows = np.zeros((n, slots), dtype=np.int64)
    qty = np.zeros((n, slots), dtype=np.int64)
    for s in range(slots):
        if s == 0:
            born = last_jump
            price = min_price
        else:
            churn = first | (gen.random(n) < -np.expm1(-LISTING_CHURN * dt))
            born = np.maximum.accumulate(np.where(churn, idx, 0))
            gap = gen.uniform(0.04, 0.3, n) * s
            price = np.maximum(np.round(min_price[born] * (1.0 + gap[born])), min_price + 1.0)
        gens[:, s] = born - gstart
        prices[:, s] = price
        sections[:, s] = seats[born, s, 0]
        rows[:, s] = seats[born, s, 1] % 30 + 1
        qty[:, s] = QUANTITIES[seats[born, s, 2] % QUANTITIES.size]
    return gens, prices, sections, rows, qty
