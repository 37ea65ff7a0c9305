"""Prices read in the event's currency: the formatter, titles, trigger and factor reasons,
the market payload and the chart's axis (a GBP event used to read "$45")."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.telegram.render import render_alert
from bot.telegram_hooks import _chart as telegram_chart
from core.domain import (
    ChannelKind,
    EventRef,
    Level,
    MarketPoint,
    OutboundMessage,
    TriggerKind,
    WatchSpec,
)
from core.engine_support import soft_reason
from core.factors import MarketContext, price_factor
from core.formatting import money
from core.handlers_market import _price
from core.render import AlertView, market_dict, title
from core.triggers import check
from ml import charts

NOW = datetime(2024, 3, 20, 12, 0, tzinfo=UTC)
GAME = EventRef(id=1, name="Arsenal v Spurs", starts_at=NOW + timedelta(days=9))


def _point(price: float, currency: str | None) -> MarketPoint:
    return MarketPoint(1, NOW, price, None, None, None, 12, 400, currency)


@pytest.mark.parametrize(
    ("value", "currency", "text"),
    [
        (28.0, "USD", "$28"),
        (28.5, "USD", "$28.50"),
        (1344.0, "USD", "$1,344"),
        (28, None, "$28"),  # a snapshot without a currency reads as USD, as before
        (28.0, "EUR", "€28"),
        (28.5, "GBP", "£28.50"),
        (3200.0, "JPY", "¥3,200"),
        (3200.4, "JPY", "¥3,200"),  # no decimals in yen
        (28.0, "CAD", "CAD 28"),
        (1344.5, "AUD", "AUD 1,344.50"),
        (0.0, "USD", "$0"),
        (-5.0, "USD", "-$5"),
    ],
)
def test_money_writes_the_currency(value: float, currency: str | None, text: str) -> None:
    assert money(value, currency) == text


def test_money_defaults_to_dollars() -> None:
    assert [money(28.0), money(28.5), money(1344.0)] == ["$28", "$28.50", "$1,344"]


def test_a_tiny_amount_never_reads_as_zero() -> None:
    assert money(0.004) == "<$0.01"  # it read "$0.00"
    assert money(1e-9) == "<$0.01"
    assert money(0.004, "GBP") == "<£0.01"
    assert money(0.004, "CHF") == "<CHF 0.01"
    assert money(0.2, "JPY") == "<¥1"
    assert money(0.005) == "$0.01" and money(0.01) == "$0.01"


def test_the_market_command_uses_the_same_formatter() -> None:
    assert _price(28.5, "EUR") == money(28.5, "EUR") == "€28.50"
    assert _price(28.0, None) == "$28"
    assert _price(None, "GBP") == "—"


def test_title_names_price_and_max_in_the_events_currency() -> None:
    view = AlertView(
        alert_id=12,
        kind="price_below",
        status="open",
        level=Level.HIGH,
        score=0.72,
        event=GAME,
        price=45.0,
        max_price=50.0,
        currency="GBP",
    )
    assert title(view) == "🔥 Arsenal v Spurs — £45 (your max £50)"


def test_trigger_and_price_reasons_use_the_snapshots_currency() -> None:
    watch = WatchSpec(id=3, user_id=1, event_id=1, max_price=50.0)
    point = _point(45.0, "EUR")
    match = check(watch, TriggerKind.PRICE_BELOW, GAME, point, None)
    assert match is not None
    assert match.reason == "cheapest €45 is at or under your max €50"
    _, why = price_factor(match, MarketContext(point, None, 60.0, 400))
    assert why == "€45 is 10% under your max €50; down 25% vs the 24 h high €60"
    drop = WatchSpec(id=4, user_id=1, event_id=1, triggers=frozenset({TriggerKind.DROP_PCT}))
    fell = check(drop, TriggerKind.DROP_PCT, GAME, _point(45.0, "GBP"), 60.0)
    assert fell is not None and fell.reason == "down 25% to £45 from £60 in 24 h"
    assert "$" not in match.reason + why + fell.reason


def test_the_resolve_reason_names_the_max_in_the_events_currency() -> None:
    watch = WatchSpec(id=3, user_id=1, event_id=1, max_price=50.0)
    reason = soft_reason(TriggerKind.PRICE_BELOW, watch, currency="GBP")
    assert reason.startswith("price back above your max £50")
    assert soft_reason(TriggerKind.PRICE_BELOW, watch).startswith("price back above your max $50")


def test_the_market_payload_says_its_currency() -> None:
    assert market_dict(_point(45.0, "GBP"))["currency"] == "GBP"
    assert market_dict(_point(45.0, None))["currency"] is None


def test_the_chart_axis_is_labelled_with_the_events_currency() -> None:
    points = [(NOW + timedelta(hours=i), 50.0 - i) for i in range(5)]
    gbp = charts._figure(points, "Arsenal v Spurs — £45", 50.0, None, "GBP")
    assert gbp.axes[0].get_ylabel() == "GBP"
    unknown = charts._figure(points, "Game", None, None, None)
    assert unknown.axes[0].get_ylabel() == "Price"  # never "USD" for prices that may not be
    png = charts.price_chart_png_blocking(points, title="Game", max_price=None, currency="EUR")
    assert png.startswith(b"\x89PNG")


async def test_the_telegram_alert_chart_is_labelled_with_the_alerts_currency(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The payload's `data.market.currency` reaches the axis (a GBP alert's read "Price")."""
    labels: list[str] = []
    real = charts._figure

    def spied(*args: Any) -> Any:
        figure = real(*args)
        labels.append(figure.axes[0].get_ylabel())
        return figure

    monkeypatch.setattr(charts, "_figure", spied)
    monkeypatch.setattr(charts, "_CACHE", OrderedDict())
    history = [[(NOW - timedelta(hours=h)).isoformat(), 50.0 - h] for h in range(4)]
    message = OutboundMessage(
        notification_id=1,
        idempotency_key="k1",
        channel=ChannelKind.TELEGRAM,
        address="900",
        level=Level.HIGH,
        title="🔥 Arsenal v Spurs — £45 (your max £50)",
        body="High priority",
        payload={"data": {"market": {"min_price": 45.0, "currency": "GBP", "history": history}}},
    )
    chart = render_alert(message).chart
    assert chart is not None and chart.currency == "GBP"
    png = await telegram_chart(chart)
    assert png.startswith(b"\x89PNG") and labels == ["GBP"]
