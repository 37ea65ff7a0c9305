"""Features known at time t only, vectorised over a cleaned frame (see `ml.datasets`).

Rows are sorted by (event, observed_at). Every feature of row i reads only rows of the
same event observed at or before row i: look-backs find "the newest point at or before
t - L" by binary search over (event, time) keys, and running statistics (cumulative
max, window sums, the last change of the minimum) run forward in time. Snapshots are
irregular, so changes are divided by the time that really elapsed (per day).
`SegmentCurve` (the typical log get-in by category and days out) is fitted on training
rows only and stored with the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

HOUR = 3600.0
DAY = 86_400.0
LOOKBACKS = {"6h": 6 * HOUR, "24h": DAY, "72h": 3 * DAY, "7d": 7 * DAY}
CATEGORIES = ("mlb", "nba", "nhl", "nfl", "concert", "theatre", "stubhub")
CURVE_DAYS = 90
FEATURES = (
    "hours_to_event", "log_hours", "start_dow", "start_hour", "obs_hour", "log_min",
    "log_avg", "log_median", "log_max", "spread_avg", "spread_median", "log_tickets",
    "log_listings", "tickets_per_listing", "inventory_per_capacity", "log_capacity",
    "chg_min_6h", "chg_min_24h", "chg_min_72h", "chg_min_7d", "chg_avg_24h", "chg_avg_72h",
    "chg_avg_7d", "chg_tickets_24h", "chg_tickets_72h", "chg_tickets_7d", "volatility_7d",
    "move_share_7d", "hours_since_min_change", "drawdown", "above_low", "curve_dev",
    "category", "last_move", "mean_dev", "chg_listings_72h", "curve_slope_24h",
    "curve_slope_72h", "curve_slope_7d", "below_max_7d", "above_min_7d", "up_share_7d",
    "down_share_7d", "tickets_below_max",
)  # fmt: skip
CURVE_SLOPES = {"24h": 24.0, "72h": 72.0, "7d": 168.0}


@dataclass(frozen=True, slots=True)
class SegmentCurve:
    """The typical log get-in price per category by whole days before the event."""

    curves: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def fit(cls, df: pd.DataFrame) -> SegmentCurve:
        """Fit medians of log get-in per (category, day); empty days are interpolated."""
        day = np.clip(df["hours_to_event"].to_numpy() // 24, 0, CURVE_DAYS).astype(int)
        logp = np.log(df["min_price"].to_numpy(float))
        curves: dict[str, list[float]] = {}
        cats = df["category"].fillna("").astype(str).to_numpy()
        for name in [*np.unique(cats), "*"]:
            mask = np.ones(len(cats), bool) if name == "*" else cats == name
            medians = pd.Series(logp[mask]).groupby(day[mask]).median()
            if medians.empty:
                continue
            grid = np.arange(CURVE_DAYS + 1)
            curves[str(name)] = np.interp(grid, medians.index, medians.to_numpy()).tolist()
        return cls(curves)

    def at(self, category: np.ndarray, hours: np.ndarray) -> np.ndarray:
        """The typical log get-in for each (category, hours to event); NaN if unknown."""
        day = np.clip(hours // 24, 0, CURVE_DAYS).astype(int)
        out = np.full(len(hours), np.nan)
        default = self.curves.get("*")
        codes, names = pd.factorize(category)
        for k, name in enumerate(names):
            curve = self.curves.get(str(name), default)
            if curve is not None:
                mask = codes == k
                out[mask] = np.asarray(curve)[day[mask]]
        return out


def seconds(times: pd.Series) -> np.ndarray:
    """Epoch seconds of an aware datetime column (any pandas resolution)."""
    epoch = pd.Timestamp(0, tz="UTC")
    return (times - epoch).dt.total_seconds().to_numpy(float)


def window_max(values: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """max(values[lo[i] : i + 1]) for every i (lo[i] <= i), by a sparse table: O(n log n)."""
    n = len(values)
    if n == 0:
        return values.copy()
    length = np.arange(n) - lo + 1
    level = np.floor(np.log2(np.maximum(length, 1))).astype(int)
    out = np.full(n, np.nan)
    table = values.astype(float)
    for k in range(int(level.max()) + 1):
        if k:
            half = 1 << (k - 1)
            table = np.fmax(table[:-half], table[half:])  # table[i] = max(values[i : i + 2^k])
        rows = np.flatnonzero(level == k)
        span = 1 << k
        out[rows] = np.fmax(table[lo[rows]], table[rows - span + 1])
    return out


def build(df: pd.DataFrame, curve: SegmentCurve | None = None) -> pd.DataFrame:
    """Features for every row of a cleaned, sorted frame (same index, columns FEATURES)."""
    n = len(df)
    ev = pd.factorize(df["event"])[0].astype(np.int64)
    t = seconds(df["observed_at"])
    t0 = t.min() if n else 0.0
    key = ev * 1e10 + (t - t0)
    idx = np.arange(n)
    first = np.ones(n, bool)
    first[1:] = ev[1:] != ev[:-1]
    start = np.maximum.accumulate(np.where(first, idx, 0))
    hours = df["hours_to_event"].to_numpy(float)
    logp = np.log(df["min_price"].to_numpy(float))
    log_avg = np.log(df["avg_price"].to_numpy(float))
    log_med = np.log(df["median_price"].to_numpy(float))
    tickets = df["tickets"].to_numpy(float)
    log_tickets = np.log1p(tickets)
    listings = df["listings"].to_numpy(float)
    capacity = df["capacity"].to_numpy(float)
    starts = df["starts_at"]
    category = df["category"].fillna("").astype(str).to_numpy()
    f: dict[str, np.ndarray] = {
        "hours_to_event": hours,
        "log_hours": np.log1p(np.maximum(hours, 0.0)),
        "start_dow": starts.dt.day_of_week.to_numpy(float),
        "start_hour": starts.dt.hour.to_numpy(float),
        "obs_hour": df["observed_at"].dt.hour.to_numpy(float),
        "log_min": logp,
        "log_avg": log_avg,
        "log_median": log_med,
        "log_max": np.log(df["max_price"].to_numpy(float)),
        "spread_avg": log_avg - logp,
        "spread_median": log_med - logp,
        "log_tickets": log_tickets,
        "log_listings": np.log1p(listings),
        "tickets_per_listing": tickets / np.where(listings > 0, listings, np.nan),
        "inventory_per_capacity": tickets / capacity,
        "log_capacity": np.log(capacity),
    }
    for name, lag in LOOKBACKS.items():
        j = np.searchsorted(key, key - lag, side="right") - 1
        ok = j >= start
        j = np.where(ok, j, idx)
        days = np.where(ok, (t - t[j]) / DAY, np.nan)
        f[f"chg_min_{name}"] = (logp - logp[j]) / days
        if name != "6h":
            f[f"chg_avg_{name}"] = (log_avg - log_avg[j]) / days
            f[f"chg_tickets_{name}"] = (log_tickets - log_tickets[j]) / days
        if name == "72h":
            log_listings = np.log1p(listings)
            f["chg_listings_72h"] = (log_listings - log_listings[j]) / days

    # Moves of the get-in over the last 7 days: volatility and how often it moved.
    d = np.zeros(n)
    d[1:] = np.diff(logp)
    d[first] = 0.0
    # Sums restart at each event, so no other event's rows touch them (not even by rounding).
    moves = {"d": d, "d2": d * d, "m": (d != 0).astype(float), "u": (d > 0).astype(float)}
    sums = pd.DataFrame(moves).groupby(ev).cumsum()
    c1, c2, cm, cu = (sums[k].to_numpy() for k in ("d", "d2", "m", "u"))
    lo = np.maximum(np.searchsorted(key, key - LOOKBACKS["7d"], side="right"), start + 1)
    count = idx + 1 - lo
    safe = np.maximum(count, 1)
    mean = (c1 - c1[lo - 1]) / safe
    var = np.maximum((c2 - c2[lo - 1]) / safe - mean * mean, 0.0)
    f["volatility_7d"] = np.where(count > 0, np.sqrt(var), np.nan)
    f["move_share_7d"] = np.where(count > 0, (cm - cm[lo - 1]) / safe, np.nan)
    up = (cu - cu[lo - 1]) / safe
    f["up_share_7d"] = np.where(count > 0, up, np.nan)
    f["down_share_7d"] = np.where(count > 0, f["move_share_7d"] - up, np.nan)
    # Extremes of the last 7 days (the window never reaches into another event).
    window = np.maximum(np.searchsorted(key, key - LOOKBACKS["7d"], side="left"), start)
    f["below_max_7d"] = logp - window_max(logp, window)
    f["above_min_7d"] = logp + window_max(-logp, window)
    changed = first | (d != 0)
    last_change = np.maximum.accumulate(np.where(changed, idx, 0))
    f["hours_since_min_change"] = (t - t[last_change]) / HOUR
    f["last_move"] = d[last_change]  # size of the newest move of the get-in (0: none yet)
    running = pd.Series(logp).groupby(ev).cumsum().to_numpy()
    f["mean_dev"] = logp - running / (idx - start + 1)  # vs the event's own average so far

    # Running extremes within each event (an offset per event keeps them apart).
    offset = ev * 100.0
    f["drawdown"] = logp - (np.maximum.accumulate(logp + offset) - offset)
    f["above_low"] = logp + (np.maximum.accumulate(offset - logp) - offset)
    f["tickets_below_max"] = log_tickets - (np.fmax.accumulate(log_tickets + offset) - offset)
    segment = curve or SegmentCurve.fit(df)
    typical = segment.at(category, hours)
    f["curve_dev"] = logp - typical
    for name, width in CURVE_SLOPES.items():  # the typical drift over the next window
        f[f"curve_slope_{name}"] = segment.at(category, np.maximum(hours - width, 0.0)) - typical
    codes = {c: float(i) for i, c in enumerate(CATEGORIES)}
    f["category"] = pd.Series(category).map(codes).to_numpy(float)
    out = pd.DataFrame(f, index=df.index)
    return out.replace([np.inf, -np.inf], np.nan).loc[:, list(FEATURES)]
