"""Price charts: valid PNGs, safe to request from many threads at once."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from ml import charts
from ml.charts import Outlook, price_chart_png, price_chart_png_blocking

PNG = b"\x89PNG\r\n\x1a\n"
START = datetime(2024, 3, 20, tzinfo=UTC)


def _points(n: int, base: float) -> list[tuple[datetime, float]]:
    return [(START + timedelta(hours=6 * i), base - i * 0.5) for i in range(n)]


def test_a_chart_is_a_png_and_a_dollar_title_is_text() -> None:
    png = price_chart_png_blocking(
        _points(30, 80.0), title="Rockies at D-backs: $28 now, $40 max", max_price=40.0
    )
    assert png.startswith(PNG) and len(png) > 5_000


def test_the_forecast_band_is_drawn_after_the_last_price() -> None:
    points = _points(30, 80.0)
    last = points[-1][0]
    plain = price_chart_png_blocking(points, title="Game", max_price=None)
    band = Outlook(last + timedelta(hours=72), 50.0, 60.0, 75.0)
    with_band = price_chart_png_blocking(points, title="Game", max_price=None, outlook=band)
    assert with_band.startswith(PNG) and with_band != plain
    past = Outlook(last - timedelta(hours=1), 50.0, 60.0, 75.0)  # nothing to draw ahead
    assert price_chart_png_blocking(points, title="Game", max_price=None, outlook=past) == plain


def test_a_zone_alert_marks_its_seats_and_names_the_line_the_whole_events() -> None:
    points = _points(10, 40.0)
    plain = charts._figure(points, "Game", 60.0, None, "USD")
    zoned = charts._figure(points, "Game", 60.0, None, "USD", seats_price=45.0)

    def legend(figure: object) -> list[str]:
        axes = figure.axes[0]  # type: ignore[attr-defined]
        return [text.get_text() for text in axes.get_legend().get_texts()]

    assert legend(plain) == ["cheapest", "your max"]
    assert legend(zoned) == ["cheapest, whole event", "your max", "your seats"]
    [seats] = [line for line in zoned.axes[0].get_lines() if line.get_label() == "your seats"]
    assert list(seats.get_ydata()) == [45.0]
    png = price_chart_png_blocking(points, title="Game", max_price=60.0, seats_price=45.0)
    assert png.startswith(PNG)


async def test_many_charts_at_once_all_come_back() -> None:
    # matplotlib is not thread-safe: unserialised, concurrent charts raised
    # ParseExceptions and could crash the process.
    charts = await asyncio.gather(
        *(
            price_chart_png(_points(10 + i, 50.0 + i), f"Game {i} at ${20 + i}", 45.0)
            for i in range(24)
        )
    )
    assert len(charts) == 24 and all(png.startswith(PNG) for png in charts)
    assert len({len(png) for png in charts}) > 1  # each drew its own data


async def test_one_drawing_serves_everyone_alerted_about_the_same_chart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drawn: list[str] = []
    real = charts.price_chart_png_blocking

    def counted(
        points: Sequence[tuple[datetime, float]],
        *,
        title: str,
        max_price: float | None,
        **rest: object,
    ) -> bytes:
        drawn.append(title)
        if title == "broken":
            raise RuntimeError("no font")
        return real(points, title=title, max_price=max_price, **rest)  # type: ignore[arg-type]

    monkeypatch.setattr(charts, "price_chart_png_blocking", counted)
    monkeypatch.setattr(charts, "_CACHE", OrderedDict())
    points = _points(12, 70.0)
    same = await asyncio.gather(*(price_chart_png(points, "Drop!", 60.0) for _ in range(50)))
    assert drawn == ["Drop!"] and len(set(same)) == 1  # 50 alerts, one drawing
    assert await price_chart_png(points, "Drop!", 60.0) == same[0] and drawn == ["Drop!"]
    await price_chart_png(points, "Drop!", 55.0)  # another max is another chart
    assert drawn == ["Drop!", "Drop!"]
    for _ in range(2):  # a failure is not remembered: the next request tries again
        with pytest.raises(RuntimeError):
            await price_chart_png(points, "broken", None)
    assert drawn.count("broken") == 2


def test_the_start_is_marked_when_it_falls_within_the_chart() -> None:
    """A band that reaches the event's start ends there: the line says why."""
    points = _points(10, 40.0)
    last = points[-1][0]
    soon = last + timedelta(hours=20)
    band = Outlook(soon, 30.0, 38.0, 45.0)  # band_end: at the start, 20 h away

    def starts(figure: object) -> list[float]:
        lines = figure.axes[0].get_lines()  # type: ignore[attr-defined]
        return [line.get_xdata()[0] for line in lines if line.get_label() == "starts"]

    from matplotlib.dates import date2num

    assert starts(charts._figure(points, "Game", None, band, "USD", starts_at=soon)) == [
        date2num(soon)
    ]
    later = last + timedelta(days=30)  # beyond the chart: no line to squeeze the axis
    assert starts(charts._figure(points, "Game", None, band, "USD", starts_at=later)) == []
    assert starts(charts._figure(points, "Game", None, None, "USD")) == []
    png = price_chart_png_blocking(
        points, title="Game", max_price=None, outlook=band, starts_at=soon
    )
    assert png.startswith(PNG)


def test_the_legend_never_covers_the_prices_or_the_forecast() -> None:
    """The legend sat in the upper right, over the forecast band it names."""
    points = _points(30, 80.0)
    band = Outlook(points[-1][0] + timedelta(hours=72), 50.0, 60.0, 90.0)
    figure = charts._figure(points, "Game", 70.0, band, "USD", None, None)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    [axes] = figure.axes
    legend = axes.get_legend()
    assert legend is not None
    box, plot = legend.get_window_extent(renderer), axes.get_window_extent(renderer)
    assert box.y1 <= plot.y0 or box.x0 >= plot.x1, (box, plot)  # outside the plotting area
    assert box.y0 >= 0 and box.x1 <= figure.bbox.x1  # and inside the picture
