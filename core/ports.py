"""The ports: what the engine needs from the outside world, as Protocols.

Each docstring says what the port hides and names a reference implementation. Adapters
and `ml/` implement them; `bot/bootstrap.py` wires the implementations in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from core.domain import (
    Capability,
    DeliveryReceipt,
    EventRef,
    MarketPoint,
    OutboundMessage,
    Prediction,
    Recommendation,
    SnapshotIn,
)


class Clock(Protocol):
    """Hides the wall clock so time can be faked. Reference: `core.clock.SystemClock`."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` (a FakeClock advances instead of waiting)."""
        ...


class TicketSource(Protocol):
    """Hides where market snapshots come from (simulator, CSV replay, HTTP feed).

    Reference implementation: `ml.simulator.MarketSimulator`.
    """

    name: str

    def poll(self, now: datetime) -> AsyncIterator[Sequence[SnapshotIn]]:
        """Yield batches of snapshots observed up to `now` that were not yielded before.

        Args:
            now: the time of this poll; a source never yields observations after it.
        """
        ...


@dataclass(frozen=True, slots=True)
class ForecastRequest:
    """One event to forecast: its description and its history, oldest first, up to `now`."""

    event: EventRef
    history: Sequence[MarketPoint]
    now: datetime


@dataclass(frozen=True, slots=True)
class Forecast:
    prediction: Prediction
    recommendation: Recommendation


class Predictor(Protocol):
    """Hides how price and availability are forecast (xgboost models or heuristics).

    Implementations never block the event loop and cache per event per snapshot.
    Reference implementations: `ml.heuristic.HeuristicPredictor`, `ml.predictor`.
    """

    name: str

    async def forecast(self, requests: Sequence[ForecastRequest]) -> list[Forecast]:
        """Forecast every request, in order.

        Args:
            requests: events with their market history; the last point is the newest.

        Returns:
            One Forecast per request, in the same order.
        """
        ...


@runtime_checkable
class Channel(Protocol):
    """Hides one kind of destination (console, webhook, Telegram, Slack, Discord, SMS, voice).

    `send` is idempotent on `message.idempotency_key` and edits in place when
    `message.edit_of` holds an earlier receipt and the channel has Capability.EDIT.
    It raises only `RetryableDeliveryError`, `PermanentDeliveryError` or `RecipientGone`.
    Reference implementation: `adapters.console.channel.ConsoleChannel`.
    """

    name: str
    capabilities: Capability

    async def run(self) -> None:
        """Connect and serve (inbound updates, gateways) until cancelled."""
        ...

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """Deliver one message and return the platform's receipt."""
        ...
