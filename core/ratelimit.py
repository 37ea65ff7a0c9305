"""Token buckets per destination scope, fed by platform limits and Retry-After.

A scope is a tuple of strings naming what a platform throttles, e.g. `("webhook", "7")`,
`("telegram", "bot")`, `("telegram", "chat", "12345")`. One send may be governed by
several scopes at once (Telegram: 30/s per bot AND 1/s per chat); it may go only when
every one of them allows it. Limits are configured per scope *prefix*: the longest
configured prefix of a scope gives that scope its own bucket. Scopes with no configured
prefix are unlimited, except while a 429 penalty blocks them.

Hand-written rather than a third-party limiter because `core` may import only the
standard library, SQLAlchemy and pydantic. Pure: time comes from the injected Clock and
nothing here sleeps; callers decide how to wait.

Adaptive: a 429 on a limited scope also lowers that scope's rate (multiplicative
decrease, never below half the configured rate), and the rate creeps back up while no
429 arrives (additive increase). A receiver whose real limit sits a little under what we
were told is then met just below it, instead of stalling on a Retry-After every few
seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from core.backoff import clamp_retry_after
from core.ports import Clock

Scope = tuple[str, ...]

# Buckets that are full and unblocked carry no state worth keeping; drop them past this.
_PRUNE_ABOVE = 10_000
# A 429 multiplies the scope's rate by this, never going below _FLOOR of the limit...
_DECREASE = 0.97
_FLOOR = 0.5
# ...and each second without one gives back this share of the configured rate.
_RECOVERY_PER_S = 0.002
# `pace` lets sends through no closer than this share of the 1/rate spacing.
_PACE_SHARE = 0.9


@dataclass(frozen=True, slots=True)
class Limit:
    rate_per_s: float
    burst: float


# The bucket of a scope with no configured limit: it only carries 429 penalties.
_UNLIMITED = Limit(0.0, 1.0)


@dataclass(slots=True)
class _Bucket:
    limit: Limit
    tokens: float
    updated: datetime
    blocked_until: datetime | None = None
    rate: float = 0.0  # the current, adaptive rate; 0 = the limit's own
    last_sent: datetime | None = None  # the last send let through by `pace`

    def current_rate(self) -> float:
        return self.rate if self.rate > 0 else self.limit.rate_per_s


class RateLimiter:
    """Token buckets keyed by destination scope; see the module docstring."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._limits: dict[Scope, Limit] = {}
        self._buckets: dict[Scope, _Bucket] = {}

    def configure(self, scope_prefix: Scope | str, rate_per_s: float, burst: float) -> None:
        """Limit every scope starting with `scope_prefix` to `rate_per_s`, bursting to `burst`.

        Each matching scope gets its own bucket: configuring `("webhook",)` limits each
        webhook endpoint separately; `("telegram", "bot")` limits exactly that scope.

        Raises:
            ValueError: when the rate is not positive or the burst is below 1.
        """
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        prefix = (scope_prefix,) if isinstance(scope_prefix, str) else tuple(scope_prefix)
        self._limits[prefix] = Limit(float(rate_per_s), float(burst))
        self._buckets = {s: b for s, b in self._buckets.items() if not _starts(s, prefix)}

    def limit_for(self, scope: Scope) -> Limit | None:
        """The limit governing `scope` (its longest configured prefix), or None."""
        for size in range(len(scope), -1, -1):
            limit = self._limits.get(scope[:size])
            if limit is not None:
                return limit
        return None

    def reserve(self, scopes: tuple[Scope, ...], max_wait: float = 0.0) -> float:
        """Ask to send once through every scope in `scopes`.

        Args:
            scopes: the scopes governing this send.
            max_wait: when the wait is at most this, the send's slot is booked now (the
                buckets go into debt) and the caller must wait the returned seconds
                before sending. With the default 0 the tokens are taken only when the
                send may go at once.

        Returns:
            Seconds to wait before the send is allowed. 0 means go now; a value above
            `max_wait` means nothing was taken: ask again later.
        """
        now = self._clock.now()
        buckets = [self._bucket(scope, now) for scope in scopes]
        wait = max((_wait(bucket, now) for bucket in buckets), default=0.0)
        if wait > max_wait:
            return wait
        for bucket in buckets:
            if bucket.limit.rate_per_s > 0:
                bucket.tokens -= 1.0
        self._prune()
        return wait

    def pace(self, scopes: tuple[Scope, ...]) -> float:
        """Space actual sends at least ~1/rate apart; call right before sending.

        `reserve` books slots ahead of time; a send that wakes late (a busy event loop)
        would otherwise go out together with the ones booked after it, as a burst the
        receiver answers with 429. Returns 0 and records the send when it may go now,
        else the seconds to wait before asking again.
        """
        now = self._clock.now()
        limited = [
            bucket for scope in scopes if (bucket := self._bucket(scope, now)).limit.rate_per_s > 0
        ]
        wait = 0.0
        for bucket in limited:
            if bucket.last_sent is not None:
                spacing = _PACE_SHARE / bucket.current_rate()
                wait = max(wait, spacing - (now - bucket.last_sent).total_seconds())
        if wait > 1e-6:  # below a microsecond is float noise, not a wait
            return wait
        for bucket in limited:
            bucket.last_sent = now
        return 0.0

    def blocked_for(self, scopes: tuple[Scope, ...]) -> float:
        """Seconds until every 429 penalty on `scopes` has passed (0 when none)."""
        now = self._clock.now()
        waits = [
            (bucket.blocked_until - now).total_seconds()
            for scope in scopes
            if (bucket := self._buckets.get(scope)) and bucket.blocked_until
        ]
        return max([0.0, *waits])

    def penalise(self, scope: Scope, retry_after: float) -> None:
        """Block `scope` for `retry_after` seconds (a platform's 429) and empty its bucket.

        The block lasts at most `core.backoff.MAX_RETRY_AFTER_S`, however long was asked.
        """
        now = self._clock.now()
        bucket = self._bucket(scope, now)
        until = now + timedelta(seconds=clamp_retry_after(retry_after) or 0.0)
        if bucket.blocked_until is None or until > bucket.blocked_until:
            bucket.blocked_until = until
        bucket.tokens = min(bucket.tokens, 0.0)
        if bucket.limit.rate_per_s > 0:
            floor = bucket.limit.rate_per_s * _FLOOR
            bucket.rate = max(floor, bucket.current_rate() * _DECREASE)

    def rate_for(self, scope: Scope) -> float:
        """The current (adaptive) rate of `scope`'s bucket; 0 when it is unlimited."""
        bucket = self._bucket(scope, self._clock.now())
        return bucket.current_rate()

    def _bucket(self, scope: Scope, now: datetime) -> _Bucket:
        bucket = self._buckets.get(scope)
        if bucket is None:
            limit = self.limit_for(scope) or _UNLIMITED
            bucket = self._buckets[scope] = _Bucket(limit, limit.burst, now)
            return bucket
        elapsed = (now - bucket.updated).total_seconds()
        if elapsed > 0 and bucket.limit.rate_per_s > 0:
            rate = bucket.current_rate()
            bucket.tokens = min(bucket.limit.burst, bucket.tokens + elapsed * rate)
            if bucket.rate > 0:
                recovered = rate + elapsed * bucket.limit.rate_per_s * _RECOVERY_PER_S
                bucket.rate = 0.0 if recovered >= bucket.limit.rate_per_s else recovered
        bucket.updated = max(bucket.updated, now)
        if bucket.blocked_until is not None and bucket.blocked_until <= now:
            bucket.blocked_until = None
        return bucket

    def _prune(self) -> None:
        if len(self._buckets) <= _PRUNE_ABOVE:
            return
        now = self._clock.now()
        self._buckets = {
            scope: bucket
            for scope, bucket in self._buckets.items()
            if (bucket.blocked_until is not None and bucket.blocked_until > now)
            or _not_full(bucket)
        }


def _starts(scope: Scope, prefix: Scope) -> bool:
    return scope[: len(prefix)] == prefix


def _not_full(bucket: _Bucket) -> bool:
    return bucket.limit.rate_per_s > 0 and bucket.tokens < bucket.limit.burst


def _wait(bucket: _Bucket, now: datetime) -> float:
    blocked = (bucket.blocked_until - now).total_seconds() if bucket.blocked_until else 0.0
    if bucket.limit.rate_per_s <= 0 or bucket.tokens >= 1.0:
        return max(0.0, blocked)
    refill = (1.0 - bucket.tokens) / bucket.current_rate()
    return max(0.0, blocked, refill)


# --- the platforms' documented limits (DESIGN.md §7) -----------------------------------

# The share of a receiver's own limit we send at. Sends reach it with network and
# event-loop jitter, so a bucket run at exactly the receiver's rate slowly drains the
# receiver's bucket and draws a 429 every ~15 s from it alone, each one blocking the scope
# for its Retry-After (at least a second) - 5-8% of the time at 200/s. 2% under it, the
# receiver's bucket refills instead.
HEADROOM = 0.98

PLATFORM_LIMITS: dict[Scope, Limit] = {
    # Telegram's documented 30/s. A burst of a third of it: starting with a burst of 30
    # emptied the Bot API's own bucket, and the jitter of the first seconds then drew a 429
    # every ~0.6 s until HEADROOM refilled it (bench/telegram_fanout.py: 22-24 429s against
    # 0-10 with a burst of 10, at 29.9 messages/s either way).
    ("telegram", "bot"): Limit(30.0 * HEADROOM, 10.0),
    ("telegram", "chat"): Limit(1.0, 1.0),
    ("telegram", "group"): Limit(20.0 / 60.0, 1.0),  # 20 messages a minute per group
    ("slack", "channel"): Limit(1.0, 3.0),
    ("discord", "global"): Limit(50.0, 50.0),
    ("discord", "channel"): Limit(1.0, 5.0),
    ("sms", "from"): Limit(1.0, 1.0),
    ("voice", "from"): Limit(1.0, 1.0),
}


def configure_platform_limits(
    limiter: RateLimiter, webhook_rate_per_s: float, webhook_burst: float
) -> RateLimiter:
    """Apply PLATFORM_LIMITS and the per-endpoint webhook limit to `limiter`; return it.

    `webhook_rate_per_s` is what a receiver accepts (HDT_WEBHOOK_RATE_PER_S); sends are
    spaced for HEADROOM of it.
    """
    for prefix, limit in PLATFORM_LIMITS.items():
        limiter.configure(prefix, limit.rate_per_s, limit.burst)
    limiter.configure(("webhook",), webhook_rate_per_s * HEADROOM, webhook_burst)
    return limiter


def destination_scopes(
    channel: str, address: str, webhook_endpoint_id: int | None = None
) -> tuple[Scope, ...]:
    """The scopes that govern one send, most general first, most specific last.

    Args:
        channel: the notification's channel (a ChannelKind value).
        address: the destination address (chat id, channel id, URL, number).
        webhook_endpoint_id: the endpoint of a webhook row, when known.
    """
    if channel == "webhook":
        key = str(webhook_endpoint_id) if webhook_endpoint_id is not None else address
        return (("webhook", key),)
    if channel == "telegram":
        if address.startswith("-"):  # group and supergroup chat ids are negative
            return (
                ("telegram", "bot"),
                ("telegram", "chat", address),
                ("telegram", "group", address),
            )
        return (("telegram", "bot"), ("telegram", "chat", address))
    if channel == "slack":
        return (("slack", "channel", address),)
    if channel == "discord":
        return (("discord", "global"), ("discord", "channel", address))
    if channel in ("sms", "voice"):
        # Twilio throttles per sending number; there is one sending number.
        return ((channel, "from"),)
    return ((channel, address),)


# --- limits shared by several processes (DESIGN.md §11) ---------------------------------
#
# Each process keeps its own `RateLimiter` (adaptive rate, pacing); when several processes
# deliver, a shared store also books every send, so together they stay within a
# platform's limit. The store keeps, per limited scope, the GCRA "theoretical arrival
# time" of its next send and the end of any 429 block (seconds since the epoch): two
# numbers per scope, updated atomically for a whole claimed batch at a time.


@dataclass(slots=True)
class SharedSlot:
    """One scope's shared state: when its next send is due (GCRA) and any 429 block."""

    tat: float = 0.0
    blocked_until: float = 0.0


def scope_key(scope: Scope) -> str:
    """The store key of a scope (its parts joined by a unit separator)."""
    return "\x1f".join(scope)


def book_shared(
    slots: dict[Scope, SharedSlot],
    scopes: Sequence[Scope],
    limit_for: Callable[[Scope], Limit | None],
    now: float,
    max_wait: float,
) -> float:
    """Ask to send once through every scope of `scopes`, against shared state `slots`.

    GCRA: a scope limited to `rate` with `burst` lets a send go at once while its
    theoretical arrival time is at most (burst - 1) / rate ahead of `now`; each send
    moves it on by 1 / rate. A 429 block holds every send until it ends. When the wait is
    at most `max_wait` the slot is booked (each limited scope moves on) and the caller
    waits that long; otherwise nothing changes and the caller asks again later.

    Returns:
        Seconds to wait before sending (0: now).
    """
    wait = 0.0
    for scope in scopes:
        slot = slots[scope]
        wait = max(wait, slot.blocked_until - now)
        limit = limit_for(scope)
        if limit is not None and limit.rate_per_s > 0:
            tolerance = (limit.burst - 1.0) / limit.rate_per_s
            wait = max(wait, max(slot.tat, now) - tolerance - now)
    if wait > max_wait:
        return wait
    for scope in scopes:
        limit = limit_for(scope)
        if limit is not None and limit.rate_per_s > 0:
            slot = slots[scope]
            slot.tat = max(slot.tat, now) + 1.0 / limit.rate_per_s
    return max(wait, 0.0)


def penalise_shared(slot: SharedSlot, now: float, retry_after: float) -> None:
    """A platform's 429 on the slot's scope: block it for `retry_after` (at most
    `core.backoff.MAX_RETRY_AFTER_S`) and empty it."""
    until = now + (clamp_retry_after(retry_after) or 0.0)
    slot.blocked_until = max(slot.blocked_until, until)
    slot.tat = max(slot.tat, until)


class SharedLimits(Protocol):
    """Rate-limit state shared by every delivering process (PostgreSQL or Redis)."""

    async def reserve_many(
        self, requests: Sequence[tuple[Scope, ...]], max_wait: float
    ) -> list[float]:
        """`book_shared` for each request, in order, atomically; the waits in order."""
        ...

    async def penalise(self, scope: Scope, retry_after: float) -> None:
        """Record a platform's 429 on `scope` for every process."""
        ...

    async def ping(self) -> None:
        """Raise when the store cannot be reached (for /readyz)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
