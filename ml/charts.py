"""Small price-history charts (PNG) for chat messages; matplotlib Figure (Agg), no pyplot.

Blocking: call `price_chart_png_blocking` through `asyncio.to_thread` (see `price_chart_png`).
matplotlib (~30 MB) is imported by the first chart, not at start-up: a process that never
draws one never pays for it. matplotlib is not thread-safe (its text layout and math-text
parser share state: concurrent charts raised ParseExceptions and once crashed the process
in the allocator), so charts are drawn one at a time; drawing holds the GIL anyway.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

WIDTH_IN, HEIGHT_IN, DPI = 6.4, 3.2, 100


@dataclass(frozen=True, slots=True)
class Outlook:
    """Where the forecast puts the cheapest price at `at`: p10, median and p90."""

    at: datetime
    low: float
    mid: float
    high: float


def axis_label(currency: str | None) -> str:
    """The price axis's label: the prices' ISO 4217 code ("GBP"), or "Price" when the
    caller does not know it (never a currency the prices may not be in)."""
    return currency or "Price"


def price_chart_png_blocking(
    points: Sequence[tuple[datetime, float]],
    *,
    title: str,
    max_price: float | None,
    outlook: Outlook | None = None,
    currency: str | None = None,
    seats_price: float | None = None,
    starts_at: datetime | None = None,
) -> bytes:
    """Draw the cheapest price over time, with the person's max as a dashed line and,
    when given, the forecast as a widening band from the last price to `outlook`.

    Args:
        points: (time, cheapest price) pairs; at least one.
        title: shown above the chart (shortened to 60 characters).
        max_price: the watch's maximum price, if it has one.
        outlook: the forecast p10-p90 band and median at a later time.
        currency: the prices' ISO 4217 code (the event's snapshots'), labelling the axis.
        seats_price: the alert's own price when it is not the event's cheapest (a zone
            or quantity watch): the line is then labelled the whole event's, and this
            price is a marked point at the last time, "your seats".
        starts_at: the event's start: a vertical line, "starts", when it falls within the
            chart (a forecast band that reaches it ends there).

    Returns:
        PNG bytes (640x320).
    """
    if not points:
        raise ValueError("a chart needs at least one point")
    with _DRAWING:
        figure = _figure(points, title, max_price, outlook, currency, seats_price, starts_at)
        out = io.BytesIO()
        figure.savefig(out, format="png")
        return out.getvalue()


_DRAWING = threading.Lock()


def _figure(
    points: Sequence[tuple[datetime, float]],
    title: str,
    max_price: float | None,
    outlook: Outlook | None,
    currency: str | None,
    seats_price: float | None = None,
    starts_at: datetime | None = None,
) -> Figure:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
    from matplotlib.figure import Figure

    ordered = sorted(points)
    times = [float(date2num(t)) for t, _ in ordered]  # type: ignore[no-untyped-call]
    prices = [p for _, p in ordered]
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    axes = figure.subplots()
    line = "cheapest" if seats_price is None else "cheapest, whole event"
    axes.step(times, prices, where="post", color="#1f6feb", linewidth=2, label=line)
    axes.fill_between(times, prices, step="post", alpha=0.08, color="#1f6feb")
    if max_price is not None:
        axes.axhline(max_price, color="#d1242f", linestyle="--", linewidth=1, label="your max")
    if outlook is not None and outlook.at > ordered[-1][0]:
        span = [times[-1], float(date2num(outlook.at))]  # type: ignore[no-untyped-call]
        last = prices[-1]
        axes.fill_between(
            span, [last, outlook.low], [last, outlook.high], color="#8250df", alpha=0.15,
            label="forecast p10-p90",
        )  # fmt: skip
        axes.plot(span, [last, outlook.mid], color="#8250df", linestyle=":", linewidth=1.5)
    end = max(ordered[-1][0], outlook.at) if outlook is not None else ordered[-1][0]
    if starts_at is not None and ordered[0][0] <= starts_at <= end:
        when = float(date2num(starts_at))  # type: ignore[no-untyped-call]
        axes.axvline(when, color="#57606a", linestyle="-.", linewidth=1, label="starts")
    if seats_price is not None:
        axes.plot(
            [times[-1]], [seats_price], marker="o", color="#bf8700", linestyle="none",
            label="your seats",
        )  # fmt: skip
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    axes.set_ylabel(axis_label(currency))
    axes.set_title(_drawable(title), fontsize=10, parse_math=False)  # "$28" is no formula
    axes.grid(alpha=0.3)
    # Below the plot, in one row: inside it, it covered the forecast band it names.
    handles = axes.get_legend_handles_labels()[0]
    axes.legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=len(handles), fontsize=8,
        frameon=False,
    )  # fmt: skip
    figure.tight_layout()
    return figure


def _drawable(title: str) -> str:
    """The title without emoji (the bundled font has none), at most 60 characters."""
    kept = "".join(c for c in title if ord(c) < 0x2190 or 0x2200 <= ord(c) < 0x2300).strip()
    return kept if len(kept) <= 60 else kept[:59] + "…"


async def price_chart_png(
    points: Sequence[tuple[datetime, float]],
    title: str,
    max_price: float | None,
    outlook: Outlook | None = None,
    *,
    currency: str | None = None,
    seats_price: float | None = None,
    starts_at: datetime | None = None,
) -> bytes:
    """`price_chart_png_blocking` off the event loop (the channels' ChartRenderer).

    Charts are cached by what they show: when a price drop alerts everyone watching an
    event, their alerts carry the same history, title and max, and one drawing (~75 ms)
    serves them all. Requests for a chart being drawn wait for that drawing.
    """
    key = (tuple(points), title, max_price, outlook, currency, seats_price, starts_at)
    cached = _CACHE.get(key)
    if isinstance(cached, bytes):
        _CACHE.move_to_end(key)
        return cached
    loop = asyncio.get_running_loop()
    if cached is None or cached.get_loop() is not loop:
        draw = asyncio.to_thread(
            price_chart_png_blocking,
            points,
            title=title,
            max_price=max_price,
            outlook=outlook,
            currency=currency,
            seats_price=seats_price,
            starts_at=starts_at,
        )
        cached = _CACHE[key] = loop.create_task(draw)
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    try:
        png = await asyncio.shield(cached)
    except Exception:
        if _CACHE.get(key) is cached:
            del _CACHE[key]  # a failed drawing is not remembered
        raise
    if _CACHE.get(key) is cached:
        _CACHE[key] = png
    return png


CACHE_SIZE = 256
_CACHE: OrderedDict[tuple[object, ...], bytes | asyncio.Task[bytes]] = OrderedDict()
