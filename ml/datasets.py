"""Loaders: real market data, the simulator and our own snapshots, in one pandas schema.

Every loader returns a frame with the columns of `COLUMNS`, one row per snapshot, sorted
by (event, observed_at), cleaned by `clean`: snapshots at or after the start and
non-positive get-in prices are dropped, placeholder outliers in the average and highest
price (listings up to $200k) become NaN. `final_fill` (attendance / capacity) is the
sell-out outcome where it is known, NaN elsewhere.

Sources: SeatGeek MLB 2024 (tidy file + attendance), the StubHub-derived get-in
histories (`seatdata-stubhub-2025`), `MarketSimulator` output and rows of our
`market_snapshots` table (fetched by the caller; ml/ never touches the database).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.domain import EventRef, MarketPoint

COLUMNS = (
    "event", "observed_at", "starts_at", "hours_to_event", "min_price", "median_price",
    "avg_price", "max_price", "listings", "tickets", "capacity", "category", "final_fill",
)  # fmt: skip
MLB_FILE = "seatgeek-mlb-2024/mlb_2024_snapshots_tidy.csv"
STUBHUB_FILE = "seatdata-stubhub-2025/seatdata_clean.csv"
OUTLIER_RATIO = 25.0  # an average price this many times the get-in is a placeholder
MAX_RATIO = 250.0  # the same for the highest price
MIN_RATIO = 8.0  # a get-in this many times the event's median get-in is a placeholder
MLB_SNAPSHOT_HOUR = 17  # SeatGeek snapshots were taken at ~17:01 UTC
# Local UTC offsets (hours, daylight time) of home teams outside US Eastern.
_MLB_OFFSETS = {
    "los-angeles-dodgers": -7, "los-angeles-angels": -7, "san-francisco-giants": -7,
    "san-diego-padres": -7, "seattle-mariners": -7, "oakland-athletics": -7,
    "arizona-diamondbacks": -7, "colorado-rockies": -6, "chicago-cubs": -5,
    "chicago-white-sox": -5, "milwaukee-brewers": -5, "minnesota-twins": -5,
    "st-louis-cardinals": -5, "kansas-city-royals": -5, "houston-astros": -5,
    "texas-rangers": -5,
}  # fmt: skip


def load_mlb(data_dir: Path) -> pd.DataFrame:
    """Load SeatGeek MLB 2024 (`<data_dir>/seatgeek-mlb-2024`, MIT) into the schema (blocking).

    Snapshot times are the snapshot date at 17:00 UTC; start times are the local first
    pitch converted with the home team's UTC offset. Category is "mlb".
    """
    raw = pd.read_csv(data_dir / MLB_FILE)
    observed = pd.to_datetime(raw["snapshot_date"]).dt.tz_localize("UTC") + pd.Timedelta(
        hours=MLB_SNAPSHOT_HOUR
    )
    local = pd.to_datetime(raw["event_date"] + " " + raw["event_time_local"], format="mixed")
    offset = raw["home_team"].map(_MLB_OFFSETS).fillna(-4.0)
    starts = (local - pd.to_timedelta(offset, unit="h")).dt.tz_localize("UTC")
    df = pd.DataFrame(
        {
            "event": "mlb-" + raw["event_id"].astype(str),
            "observed_at": observed,
            "starts_at": starts,
            "min_price": raw["lowest_price"].astype(float),
            "median_price": np.nan,
            "avg_price": raw["avg_price"].astype(float),
            "max_price": raw["highest_price"].astype(float),
            "listings": raw["listing_count"].astype(float),
            "tickets": raw["ticket_count"].astype(float),
            "capacity": raw["stadium_capacity"].astype(float),
            "category": "mlb",
            "final_fill": raw["percent_capacity"].astype(float),
        }
    )
    return clean(df)


def _number(value: Any) -> float:
    """A CSV cell read by pandas as a float (NaN when empty)."""
    return float(value)


def load_stubhub(data_dir: Path) -> pd.DataFrame:
    """Load the StubHub-derived get-in histories (research use only) into the schema.

    One row per (event, day) of `get_in_price_history_json` at 12:00 UTC; listings are
    known only for the newest day. Duplicate event ids keep their first row.
    """
    raw = pd.read_csv(data_dir / STUBHUB_FILE).drop_duplicates("event_id")
    rows: list[dict[str, Any]] = []
    for rec in raw.itertuples(index=False):
        starts = pd.Timestamp(f"{str(rec.event_date_time)[:10]} {rec.event_time}", tz="UTC")
        capacity = pd.to_numeric(str(rec.venue_capacity_sd).replace(",", ""), errors="coerce")
        history = ast.literal_eval(str(rec.get_in_price_history_json))
        priced = [(d, p) for d, p in history if p is not None]
        for i, (day, price) in enumerate(priced):
            newest = i == len(priced) - 1
            rows.append(
                {
                    "event": f"sd-{rec.event_id}",
                    "observed_at": pd.Timestamp(day, tz="UTC") + pd.Timedelta(hours=12),
                    "starts_at": starts,
                    "min_price": float(price),
                    "median_price": _number(rec.median_listing_price) if newest else np.nan,
                    "listings": _number(rec.active_listings_count) if newest else np.nan,
                    "capacity": float(capacity),
                    "category": "stubhub",
                }
            )
    return clean(pd.DataFrame(rows))


def from_simulator(sim: Any) -> pd.DataFrame:
    """Everything a `MarketSimulator` generated, with its hidden final fill, in the schema."""
    cols = sim.columns()
    events = sim.events
    ev = cols.event
    infos = [e.info for e in events]
    df = pd.DataFrame(
        {
            "event": np.array([i.external_id for i in infos], dtype=object)[ev],
            "observed_at": pd.to_datetime(cols.observed_at, unit="s", utc=True),
            "starts_at": pd.to_datetime(
                np.array([i.starts_at.timestamp() for i in infos])[ev], unit="s", utc=True
            ),
            "min_price": cols.min_price.astype(float),
            "median_price": cols.median_price.astype(float),
            "avg_price": cols.avg_price.astype(float),
            "max_price": cols.max_price.astype(float),
            "listings": cols.listing_count.astype(float),
            "tickets": cols.ticket_count.astype(float),
            "capacity": np.array([float(i.capacity or np.nan) for i in infos])[ev],
            "category": np.array([i.category or "" for i in infos], dtype=object)[ev],
            "final_fill": np.array([e.final_fill for e in events])[ev],
        }
    )
    return clean(df)


def from_snapshot_rows(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows of our `market_snapshots` joined with `events`, as plain mappings, in the schema.

    Each mapping has event_id, observed_at, starts_at, min_price, median_price, avg_price,
    max_price, listing_count, ticket_count, capacity and category (naive times are UTC).
    """
    frame = pd.DataFrame(list(rows))
    if frame.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    df = pd.DataFrame(
        {
            "event": "db-" + frame["event_id"].astype(str),
            "observed_at": pd.to_datetime(frame["observed_at"], utc=True),
            "starts_at": pd.to_datetime(frame["starts_at"], utc=True),
            "min_price": frame["min_price"].astype(float),
            "median_price": frame["median_price"].astype(float),
            "avg_price": frame["avg_price"].astype(float),
            "max_price": frame["max_price"].astype(float),
            "listings": frame["listing_count"].astype(float),
            "tickets": frame["ticket_count"].astype(float),
            "capacity": frame["capacity"].astype(float),
            "category": frame["category"].fillna("").astype(str),
        }
    )
    return clean(df)


def from_points(
    requests: Sequence[tuple[EventRef, Sequence[MarketPoint], datetime]],
) -> pd.DataFrame:
    """Histories of events being forecast, (EventRef, points, now), in the schema; the
    `event` column is the request's position. Points after `now` are never seen."""
    rows = [
        (position, p.observed_at.timestamp(), p.min_price, p.median_price, p.avg_price,
         p.max_price, p.listing_count, p.ticket_count)
        for position, (_, points, now) in enumerate(requests)
        for p in points
        if p.observed_at <= now
    ]  # fmt: skip
    names = (
        "event", "observed_at", "min_price", "median_price", "avg_price", "max_price",
        "listings", "tickets",
    )  # fmt: skip
    table = np.array(rows, dtype=float).reshape(len(rows), len(names))
    cols: dict[str, Any] = {name: table[:, k] for k, name in enumerate(names)}
    position = table[:, 0].astype(np.int64)
    events = [r[0] for r in requests]
    cols["event"] = position
    cols["starts_at"] = np.array([e.starts_at.timestamp() for e in events], float)[position]
    cols["capacity"] = np.array([e.capacity or np.nan for e in events], float)[position]
    cols["category"] = np.array([e.category or "" for e in events], object)[position]
    cols["final_fill"] = np.full(len(rows), np.nan)
    df = pd.DataFrame(cols)
    for name in ("observed_at", "starts_at"):
        df[name] = pd.to_datetime(df[name], unit="s", utc=True)
    return clean(df)


def clean(df: pd.DataFrame) -> pd.DataFrame:
    """Drop post-start and unpriced snapshots, blank placeholder outliers, sort, add hours."""
    out = df.copy()
    for name in COLUMNS:
        if name not in out:
            out[name] = np.nan
    for name in ("min_price", "median_price", "avg_price", "max_price", "listings", "tickets"):
        out[name] = pd.to_numeric(out[name], errors="coerce").astype(float)
    out = out[(out["observed_at"] < out["starts_at"]) & (out["min_price"] > 0)]
    typical = out.groupby("event")["min_price"].transform("median")
    out = out[out["min_price"] <= MIN_RATIO * typical]
    for name, ratio in (
        ("avg_price", OUTLIER_RATIO),
        ("median_price", OUTLIER_RATIO),
        ("max_price", MAX_RATIO),
    ):
        bad = out[name] > ratio * out["min_price"]
        out.loc[bad, name] = np.nan
    out = out.drop_duplicates(["event", "observed_at"], keep="last")
    out = out.sort_values(["event", "observed_at"], kind="stable").reset_index(drop=True)
    out["hours_to_event"] = (out["starts_at"] - out["observed_at"]).dt.total_seconds() / 3600.0
    return out.loc[:, list(COLUMNS)]


def load(source: str, data_dir: Path | None = None, **kwargs: Any) -> pd.DataFrame:
    """Load `source` ("mlb", "stubhub" or "simulator"; the database is bot/cli/ml.py's job).

    Args:
        source: which data set.
        data_dir: the shared data folder (for mlb and stubhub).
        **kwargs: for "simulator": seed, events, days (MarketSimulator arguments).
    """
    if source == "mlb" and data_dir is not None:
        return load_mlb(data_dir)
    if source == "stubhub" and data_dir is not None:
        return load_stubhub(data_dir)
    if source == "simulator":
        return from_simulator(simulate(**kwargs))
    raise ValueError(f"unknown source {source!r} (or no data folder), e.g. mlb, stubhub, simulator")


def simulate(seed: int = 7, events: int = 400, days: int = 60) -> Any:
    """A MarketSimulator with `events` over `days`, fully backfilled (training data)."""
    from datetime import UTC, timedelta

    from ml.simulator import MarketSimulator

    start = datetime(2024, 3, 20, tzinfo=UTC)
    return MarketSimulator(
        seed, start=start, events=events, horizon=timedelta(days=days), listings=0
    )
