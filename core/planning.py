"""Pure decisions about alerts: open or not, notify again or stay silent, resolve.

- One active alert per dedup key "watch:event:kind".
- Re-scored alerts notify again only when their level rises above the level last
  notified, or when the price fell by more than the hysteresis band and the watch's
  cooldown has passed; otherwise the update is silent.
- Acknowledging means "stop escalating", not "never tell me again": an acknowledged
  alert is told once more when it rises to critical, by message only (no SMS, call or
  emergency contact); any other change stays silent.
- After a resolve, the same key re-opens within the cooldown only for a price under
  max * (1 - hysteresis), or at a level above the one the resolved alert last told (a
  rise is news, as it is for an open alert); a resolve itself needs the condition to
  stay false for `resolve_hold_s` (hard reasons such as "event started" resolve at once).

When and where the messages go (quiet hours, digests, channels) is `core.delivery_plan`.
Nothing here does I/O; `now` is always an argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.domain import Level, TriggerKind, WatchSpec
from core.formatting import money
from core.scoring import DEFAULT_WEIGHTS

PRICE_KINDS = frozenset({TriggerKind.PRICE_BELOW, TriggerKind.DROP_PCT, TriggerKind.NEW_LISTING})


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Settings of the alert engine; `bot/bootstrap.py` fills it from `bot.settings`.

    Attributes:
        weights: six factor weights (price, availability, urgency, preference, demand,
            reliability).
        cooldown_s: the shortest cooldown of any watch (a floor: a watch may ask for a
            longer one in `watches.cooldown_s`, never a shorter one).
        hysteresis_pct: the band, in percent of the price, that a price must move by.
        resolve_hold_s: how long a condition must stay false before its alert resolves.
        digest: the digest schedule of people who set none ("hourly", "daily",
            "daily@HH:MM").
        public_url: base of links in payloads (None: no links).
        person_cache_s: how long a person's destinations stay cached.
        max_snapshot_age_s: older snapshots only feed history, never alerts.
        history_points: market points kept in memory per event.
    """

    weights: tuple[float, ...] = DEFAULT_WEIGHTS
    cooldown_s: int = 3600
    hysteresis_pct: float = 2.0
    resolve_hold_s: int = 900
    digest: str = "hourly"
    public_url: str | None = None
    person_cache_s: float = 300.0
    max_snapshot_age_s: float = 6 * 3600.0
    history_points: int = 128


def dedup_key(watch_id: int, event_id: int, kind: str) -> str:
    """The key that allows one active alert per watch, event and trigger kind."""
    return f"{watch_id}:{event_id}:{kind}"


# --- open, update, resolve ------------------------------------------------------------


def cooldown_of(watch: WatchSpec, config: EngineConfig) -> int:
    """The watch's cooldown in seconds, never below the engine's."""
    return max(watch.cooldown_s, config.cooldown_s)


@dataclass(frozen=True, slots=True)
class RecentResolve:
    """The last resolved alert of a key: when, at what price, and the level it last told
    (None: unknown)."""

    resolved_at: datetime
    price: float | None
    level: int | None = None


def plan_open(
    watch: WatchSpec,
    kind: TriggerKind,
    price: float | None,
    level: Level,
    recent: RecentResolve | None,
    config: EngineConfig,
    now: datetime,
) -> str | None:
    """Return None to open a new alert, or the reason not to."""
    if level < watch.min_level:
        return f"level {level.label} is below the watch's minimum {Level(watch.min_level).label}"
    if recent is None or (now - recent.resolved_at).total_seconds() >= cooldown_of(watch, config):
        return None
    if recent.level is not None and level > recent.level:
        return None  # a rise (to critical, say) is told at once, as for an open alert
    if kind in PRICE_KINDS and watch.max_price is not None and price is not None:
        band = watch.max_price * (1.0 - config.hysteresis_pct / 100.0)
        if price <= band:
            return None
        return f"hysteresis: {money(price)} is not under {money(band)} within the cooldown"
    return "cooldown: resolved moments ago"


@dataclass(frozen=True, slots=True)
class AlertState:
    """An active alert as the planner sees it."""

    status: str
    notified_level: Level
    last_notified_at: datetime | None
    last_notified_price: float | None
    snoozed_until: datetime | None = None
    snooze_below: float | None = None


@dataclass(frozen=True, slots=True)
class UpdatePlan:
    notify: bool
    wake: bool
    reason: str


# The common outcomes, shared (the plan is immutable).
_ACKED = UpdatePlan(False, False, "acknowledged: silent update")
_ACKED_CRITICAL = UpdatePlan(True, False, "level rose to critical since you acknowledged it")
_SNOOZED = UpdatePlan(False, False, "snoozed: silent update")
_SILENT = UpdatePlan(False, False, "silent update")


def plan_update(
    state: AlertState,
    watch: WatchSpec,
    level: Level,
    price: float | None,
    config: EngineConfig,
    now: datetime,
    *,
    watch_snoozed: bool = False,
    currency: str | None = None,
) -> UpdatePlan:
    """Decide what a re-score of an active alert does: notify, wake or stay silent (the
    reason, for the timeline, names prices in `currency`)."""
    if state.status == "acknowledged":
        # Told once: the round it starts freezes critical as the level told, and no
        # escalation (`Decider._freeze`).
        rose = level == Level.CRITICAL and state.notified_level < Level.CRITICAL
        return _ACKED_CRITICAL if rose and not watch_snoozed else _ACKED
    if state.status == "snoozed":
        by_time = state.snoozed_until is not None and state.snoozed_until <= now
        by_price = (
            state.snooze_below is not None and price is not None and price <= state.snooze_below
        )
        if not (by_time or by_price):
            return _SNOOZED
        under = f"price {money(price or 0, currency)} under your snooze price"
        reason = "snooze over" if by_time else under
        return UpdatePlan(level >= watch.min_level, True, reason)
    if watch_snoozed or level < watch.min_level:
        return _SILENT
    if level > state.notified_level:
        return UpdatePlan(True, False, f"level rose to {level.label}")
    last = state.last_notified_at
    cooled = last is None or (now - last).total_seconds() >= cooldown_of(watch, config)
    ref = state.last_notified_price
    band = 1.0 - config.hysteresis_pct / 100.0
    if cooled and ref is not None and price is not None and price < ref * band:
        fell = f"price fell from {money(ref, currency)} to {money(price, currency)}"
        return UpdatePlan(True, False, fell)
    return _SILENT


@dataclass(frozen=True, slots=True)
class ClearPlan:
    resolve: bool
    clear_since: datetime | None
    reason: str | None = None


# The plan of every alert whose condition holds and has no hard reason to resolve.
HOLDS = ClearPlan(False, None)


def plan_clear(
    clear_since: datetime | None,
    holds: bool,
    *,
    hard_reason: str | None,
    soft_reason: str,
    config: EngineConfig,
    now: datetime,
) -> ClearPlan:
    """Decide whether an alert resolves: at once for a hard reason, else after the hold."""
    if hard_reason is not None:
        return ClearPlan(True, clear_since or now, hard_reason)
    if holds:
        return HOLDS
    since = clear_since or now
    if (now - since).total_seconds() >= config.resolve_hold_s:
        return ClearPlan(True, since, soft_reason)
    return ClearPlan(False, since)
