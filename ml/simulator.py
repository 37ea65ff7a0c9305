"""A market simulator: believable secondary-market snapshots, calibrated to real MLB data.

`MarketSimulator` is a `TicketSource` (the demo runs on it) and a bulk generator for
benchmarks and training data. Every path is drawn up front, vectorised with numpy, from
one seed; snapshots are materialised as domain objects only when asked for.

The dynamics reproduce the facts measured on SeatGeek MLB 2024 (`../shared/data`, see
`ml.calibration`): the average price drifts down into the event (~1.37x its final level
1-2 months out), the get-in (minimum) price falls ~10%, mostly in the last two weeks,
about a third of events rise instead, the minimum is sticky (a Poisson process decides
when it moves; each move re-draws a transient, so moves revert like real get-in prices),
persistence misses by ~4/7/11% at 1/3/7 days, and the price level 7 days out separates
sell-outs. Inventory builds after the on-sale and drains into the event; the
highest-demand events drain almost to nothing. Concert and theatre events share the MLB
dynamics (no other real data has daily history, inventory and outcomes) at their own
price levels, capacities and listing sizes.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from core.domain import Listing, SnapshotIn
from ml.simulator_catalog import CATEGORIES, DEFAULT_WEIGHTS, sample_event
from ml.simulator_paths import MarketColumns, SimulatedEvent, draw_paths

__all__ = ["MarketColumns", "MarketSimulator", "SimulatedEvent"]

_ROWS_PER_CHUNK = 4096


class MarketSimulator:
    """A seeded, calibrated secondary market; implements `core.ports.TicketSource`.

    Snapshots are taken every `cadence` (each one shifted by up to `jitter` x cadence,
    and ~2% skipped, so series are irregular) from the later of `start` and the event's
    on-sale until just before it starts, never after `start + horizon`. Events start
    uniformly within the horizon; `backfill` adds the history a market already had at
    `start` (the first poll yields it), so a demo has charts and forecasts at once.
    Sizing: with a 24 h cadence an event yields about min(days observed, days on sale)
    snapshots; 5,000 events over 90 days at a 20 h cadence give ~230,000 snapshots.
    """

    def __init__(
        self,
        rng: random.Random | int,
        *,
        start: datetime,
        events: int = 200,
        horizon: timedelta | None = None,
        cadence: timedelta | None = None,
        backfill: timedelta | None = None,
        jitter: float = 0.15,
        categories: Sequence[str] | None = None,
        listings: int = 3,
        batch_size: int = 1000,
        source: str = "simulator",
    ) -> None:
        """Draw every event and path.

        Args:
            rng: a seeded `random.Random`, or an int seed.
            start: when observation starts (aware; naive is taken as UTC).
            events: how many events.
            horizon: how long observation lasts; events start within it (default 60 days).
            cadence: time between an event's snapshots (default 24 h).
            backfill: also observe this long before `start` (default none).
            jitter: each snapshot moves by up to this fraction of the cadence (< 0.5).
            categories: which of mlb, nba, nhl, nfl, concert, theatre (default all).
            listings: listings per snapshot (0 for none; ids persist across snapshots).
            batch_size: most snapshots per batch yielded by `poll`.
            source: the source name snapshots carry.
        """
        rng = rng if isinstance(rng, random.Random) else random.Random(rng)
        horizon = horizon if horizon is not None else timedelta(days=60)
        cadence = cadence if cadence is not None else timedelta(hours=24)
        chosen = tuple(categories) if categories else tuple(DEFAULT_WEIGHTS)
        unknown = [c for c in chosen if c not in CATEGORIES]
        if unknown:
            raise ValueError(f"unknown categories {unknown}; choose from {sorted(CATEGORIES)}")
        if not 0.0 <= jitter < 0.5:
            raise ValueError("jitter must be in [0, 0.5), e.g. 0.15")
        if events < 0 or listings < 0 or batch_size < 1:
            raise ValueError("events and listings must be >= 0 and batch_size >= 1")
        self.name = source
        self._listings = listings
        self._batch = batch_size
        self._start = _utc(start)
        self._end = self._start + horizon
        self._observe_from = self._start - (backfill or timedelta(0))
        self._np = np.random.default_rng(rng.getrandbits(64))
        prefix = f"sim-{rng.getrandbits(24):06x}"
        weights = [DEFAULT_WEIGHTS[c] for c in chosen]
        drawn = [
            sample_event(
                rng, f"{prefix}-{i:06d}", rng.choices(chosen, weights)[0], self._start, horizon
            )
            for i in range(events)
        ]
        self._drawn = drawn
        self._draw_paths(cadence.total_seconds(), jitter)
        self._cursor = 0

    # --- public ------------------------------------------------------------------------

    @property
    def events(self) -> tuple[SimulatedEvent, ...]:
        """Every event with its hidden truth, indexed like `columns().event`."""
        return self._events

    def columns(self) -> MarketColumns:
        """Every snapshot as numpy columns, in observed_at order (cheap; for training)."""
        return self._cols

    def __len__(self) -> int:
        return int(self._cols.observed_at.size)

    def iter_snapshots(self, until: datetime | None = None) -> Iterator[SnapshotIn]:
        """Yield snapshots in observed_at order, up to `until` (default: all), lazily."""
        stop = len(self) if until is None else self._index_after(until)
        for i in range(stop):
            yield self._snapshot(i)

    def generate(self, until: datetime | None = None) -> list[SnapshotIn]:
        """Return every snapshot up to `until` (default: all), in observed_at order."""
        return list(self.iter_snapshots(until))

    async def poll(self, now: datetime) -> AsyncIterator[Sequence[SnapshotIn]]:
        """Yield batches of snapshots observed up to `now` and not yielded before."""
        stop = self._index_after(now)
        while self._cursor < stop:
            lo, hi = self._cursor, min(stop, self._cursor + self._batch)
            self._cursor = hi
            yield [self._snapshot(i) for i in range(lo, hi)]

    def skip_to(self, when: datetime) -> None:
        """Never yield the snapshots observed up to `when` (an earlier run stored them)."""
        self._cursor = max(self._cursor, self._index_after(when))

    # --- drawing -----------------------------------------------------------------------

    def _draw_paths(self, cadence_s: float, jitter: float) -> None:
        paths = draw_paths(
            self._np,
            self._drawn,
            self._observe_from.timestamp(),
            self._end.timestamp(),
            cadence_s,
            jitter,
            self._listings,
        )
        self._events = paths.events
        self._cols = paths.columns
        self._paths = paths
        self._sections = [CATEGORIES[d.category].sections for d in self._drawn]
        self._chunk: tuple[int, list[tuple[Any, ...]]] = (-1, [])

    def _index_after(self, when: datetime) -> int:
        return int(np.searchsorted(self._cols.observed_at, _utc(when).timestamp(), side="right"))

    def _row(self, i: int) -> tuple[Any, ...]:
        """Row i as Python values, converted a chunk at a time: snapshots are read in
        order, and Python objects for every row (~80 MB at the engine bench's 250,000)
        would sit in memory beside the numpy columns for the whole run."""
        start = i - i % _ROWS_PER_CHUNK
        if self._chunk[0] != start:
            part = slice(start, start + _ROWS_PER_CHUNK)
            cols = self._cols
            self._chunk = (
                start,
                list(
                    zip(
                        cols.event[part].tolist(),
                        cols.observed_at[part].tolist(),
                        cols.min_price[part].tolist(),
                        cols.median_price[part].tolist(),
                        cols.avg_price[part].tolist(),
                        cols.max_price[part].tolist(),
                        cols.listing_count[part].tolist(),
                        cols.ticket_count[part].tolist(),
                        strict=True,
                    )
                ),
            )
        return self._chunk[1][i - start]

    def _snapshot(self, i: int) -> SnapshotIn:
        ev, observed_at, low, median, avg, high, listing_count, ticket_count = self._row(i)
        info = self._events[ev].info
        return SnapshotIn(
            self.name,
            info,
            datetime.fromtimestamp(observed_at, UTC),
            "USD",
            low,
            median,
            avg,
            high,
            listing_count,
            ticket_count,
            self._shown(i, info.external_id, self._sections[ev]) if self._listings else (),
        )

    def _shown(self, i: int, external_id: str, sections: tuple[str, ...]) -> tuple[Listing, ...]:
        p = self._paths
        return tuple(
            Listing(
                lid := f"{external_id}-{slot}.{gen}",
                price,
                sections[sec % len(sections)],
                str(row),
                qty,
                f"https://tickets.sim.invalid/l/{lid}",
            )
            for slot, (gen, price, sec, row, qty) in enumerate(
                zip(
                    p.listing_gen[i].tolist(),
                    p.listing_price[i].tolist(),
                    p.listing_section[i].tolist(),
                    p.listing_row[i].tolist(),
                    p.listing_qty[i].tolist(),
                    strict=True,
                )
            )
        )


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
