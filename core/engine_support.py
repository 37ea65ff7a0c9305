"""Small pieces the alert engine needs: watch details, resolve reasons, a neutral forecast.

`load_watch_index` builds the in-memory index from the database at start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Watch
from core.db.tables import WATCHES
from core.domain import (
    DEFAULT_CURRENCY,
    EVENT_STARTED,
    Advice,
    EventRef,
    MarketPoint,
    Prediction,
    Recommendation,
    TriggerKind,
    WatchSpec,
    max_priced_in,
)
from core.formatting import money
from core.ports import Forecast
from core.routing import Destination, watch_destination
from core.rules import WatchIndex, spec_from_row

# The triggers whose condition compares a price with the max.
_PRICED = frozenset({TriggerKind.PRICE_BELOW, TriggerKind.DROP_PCT, TriggerKind.NEW_LISTING})


@dataclass(frozen=True, slots=True)
class WatchInfo:
    """What payloads and channel choice need from a watch row beyond its WatchSpec."""

    id: int
    label: str
    max_price: float | None
    quantity: int
    triggers: tuple[str, ...]
    zones: tuple[str, ...]
    destination: Destination | None
    # ISO 4217 of the max when the person typed one on a watch spanning events (None: the
    # max is read in each event's currency).
    currency: str | None = None

    @classmethod
    def from_row(cls, row: Watch | Mapping[Any, Any]) -> WatchInfo:
        """From an ORM `Watch` or a Core row mapping."""
        get: Callable[[str], Any] = (
            row.__getitem__ if isinstance(row, Mapping) else partial(getattr, row)
        )
        destination = watch_destination(get("destination_channel"), get("destination_address"))
        return cls(
            id=get("id"),
            label=get("label"),
            max_price=get("max_price"),
            quantity=get("quantity"),
            triggers=tuple(str(t) for t in get("triggers") or ()),
            zones=tuple(str(z) for z in get("zones") or ()),
            destination=destination,
            currency=get("currency"),
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "label": self.label,
            "max_price": self.max_price,
            "currency": self.currency,
            "quantity": self.quantity,
            "triggers": list(self.triggers),
            "zones": list(self.zones),
        }


def hard_reason(
    spec: WatchSpec | None, event: EventRef, point: MarketPoint, now: datetime
) -> str | None:
    """A reason that resolves an alert at once (no hold time), or None."""
    if spec is None:
        return "watch removed"
    if not spec.active:
        return "watch paused or removed"
    if spec.expires_at is not None and spec.expires_at <= now:
        return "watch expired"
    if event.id in spec.muted_events:
        return "event muted"
    if event.starts_at <= now:
        return EVENT_STARTED
    if point.ticket_count == 0:
        return "tickets gone"
    return None


def soft_reason(
    kind: TriggerKind | None,
    spec: WatchSpec | None,
    price: float | None = None,
    currency: str | None = None,
) -> str:
    """Why an alert resolves after its condition stayed false for the hold time; a price
    reason names the price now (the edited message otherwise still shows the old one), in
    `currency`, the snapshot's (the max is in it too)."""
    now = f" (now {money(price, currency)})" if price is not None else ""
    if (
        kind in _PRICED
        and spec is not None
        and spec.max_price is not None
        and not max_priced_in(spec.currency, currency)
    ):  # the max holds only on prices in its currency, never converted
        return (
            f"the event is now priced in {currency or DEFAULT_CURRENCY}, not in the currency "
            f"of your max {money(spec.max_price, spec.currency)}{now}"
        )
    if kind is TriggerKind.PRICE_BELOW and spec is not None and spec.max_price is not None:
        return f"price back above your max {money(spec.max_price, currency)}{now}"
    if kind is TriggerKind.DROP_PCT:
        return f"the price drop is over{now}"
    if kind is TriggerKind.LOW_INVENTORY:
        return "inventory recovered"
    if kind is TriggerKind.NEW_LISTING:
        return "the new listings are gone"
    return "condition no longer holds"


def fallback_forecast() -> Forecast:
    """A neutral forecast for when the predictor fails: no opinion, low confidence."""
    return Forecast(
        prediction=Prediction(
            p_drop_72h=0.5,
            p_rise_72h=0.5,
            p_sellout=None,
            p10_72h=None,
            p50_72h=None,
            p90_72h=None,
            demand=0.5,
            hours_to_depletion=None,
            model="unavailable",
        ),
        recommendation=Recommendation(
            advice=Advice.WATCH,
            expected_saving=0.0,
            availability_risk=0.0,
            confidence=0.0,
            sentence="No forecast right now.",
        ),
    )


async def load_watch_index(session: AsyncSession) -> WatchIndex:
    """Build the index of every active, not removed watch (at start-up).

    Rows are streamed as plain tuples, so 100k watches never sit in memory as ORM
    objects at once.
    """
    watches = WATCHES
    index = WatchIndex()
    result = await session.stream(
        select(watches)
        .where(watches.c.active.is_(True), watches.c.removed_at.is_(None))
        .execution_options(yield_per=2000)
    )
    async for row in result:
        index.add(spec_from_row(row._mapping), stamp=row.updated_at)
    return index
