"""`SharedLimits` in Redis (when `HDT_REDIS_URL` is set; DESIGN.md §11).

Each scope is a hash `hdt:rl:<scope>` with the GCRA arrival time `t` and the end of any
429 block `b` (seconds since the epoch). A Lua script books a whole claimed batch
atomically, with the same rule as `core.ratelimit.book_shared`; keys expire once they
carry no state worth keeping.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.ports import Clock
from core.ratelimit import Limit, Scope, scope_key

T = TypeVar("T")
PREFIX = "hdt:rl:"
# A key outlives its last booking or block by this much (then it is full and unblocked).
_KEEP_S = 120

# KEYS: the scopes. ARGV: now, max_wait, keep_s, then (rate, burst) per key (rate 0 =
# unlimited), then each request as its key count followed by 1-based key indices.
# Returns each request's wait as a string (Lua numbers would be truncated to integers).
_RESERVE = """
local now, max_wait, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local n = #KEYS
local tat, blocked, rate, tol, touched = {}, {}, {}, {}, {}
for i = 1, n do
  local v = redis.call('HMGET', KEYS[i], 't', 'b')
  tat[i] = tonumber(v[1]) or 0
  blocked[i] = tonumber(v[2]) or 0
  rate[i] = tonumber(ARGV[2 + 2 * i])
  tol[i] = rate[i] > 0 and (tonumber(ARGV[3 + 2 * i]) - 1) / rate[i] or 0
end
local pos, out = 4 + 2 * n, {}
while pos <= #ARGV do
  local count = tonumber(ARGV[pos])
  local wait = 0
  for j = 1, count do
    local i = tonumber(ARGV[pos + j])
    wait = math.max(wait, blocked[i] - now)
    if rate[i] > 0 then wait = math.max(wait, math.max(tat[i], now) - tol[i] - now) end
  end
  if wait <= max_wait then
    for j = 1, count do
      local i = tonumber(ARGV[pos + j])
      if rate[i] > 0 then
        tat[i] = math.max(tat[i], now) + 1 / rate[i]
        touched[i] = true
      end
    end
  end
  out[#out + 1] = string.format('%.6f', wait)
  pos = pos + count + 1
end
for i in pairs(touched) do
  redis.call('HSET', KEYS[i], 't', string.format('%.6f', tat[i]))
  local last = math.max(tat[i], blocked[i])
  redis.call('EXPIRE', KEYS[i], math.ceil(last - now) + keep)
end
return out
"""

# KEYS[1]: the scope. ARGV: now, retry_after, keep_s.
_PENALISE = """
local now, after, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local v = redis.call('HMGET', KEYS[1], 't', 'b')
local untilt = now + math.max(0, after)
local b = math.max(tonumber(v[2]) or 0, untilt)
local t = math.max(tonumber(v[1]) or 0, untilt)
redis.call('HSET', KEYS[1], 't', string.format('%.6f', t), 'b', string.format('%.6f', b))
redis.call('EXPIRE', KEYS[1], math.ceil(math.max(t, b) - now) + keep)
return 1
"""


# A store that does not answer within this is treated as away (the default socket
# timeout, none, would hold every delivery batch for as long as a hung server lets it).
TIMEOUT_S = 0.5
# After a failure, calls fail at once for this long, so delivery uses this process's own
# limits without waiting on the store batch after batch; then one call tries again.
RETRY_AFTER_S = 30.0


class SharedStoreAway(ConnectionError):
    """The store failed recently; not asked again until `RETRY_AFTER_S` has passed."""


class RedisLimits:
    """`SharedLimits` in Redis; see the module docstring."""

    def __init__(
        self,
        url: str,
        clock: Clock,
        limit_for: Callable[[Scope], Limit | None],
        *,
        timeout_s: float = TIMEOUT_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._clock = clock
        self._limit_for = limit_for
        self._reserve = self._redis.register_script(_RESERVE)
        self._penalise = self._redis.register_script(_PENALISE)
        self._monotonic = monotonic
        self._away_until = 0.0

    async def _call(self, work: Awaitable[T]) -> T:
        """Await `work` on the store, or fail at once while it is known to be away."""
        if self._monotonic() < self._away_until:
            close = getattr(work, "close", None)
            if close is not None:
                close()  # never awaited: the coroutine is dropped quietly
            raise SharedStoreAway("shared rate-limit store away; retrying it shortly")
        try:
            return await work
        except (RedisError, OSError):
            self._away_until = self._monotonic() + RETRY_AFTER_S
            raise

    async def reserve_many(
        self, requests: Sequence[tuple[Scope, ...]], max_wait: float
    ) -> list[float]:
        """Book each request in order (see `core.ratelimit.book_shared`), atomically."""
        order: dict[Scope, int] = {}
        for request in requests:
            for scope in request:
                order.setdefault(scope, len(order) + 1)
        if not order:
            return [0.0 for _ in requests]
        args: list[float | int | str] = [self._clock.now().timestamp(), max_wait, _KEEP_S]
        for scope in order:
            limit = self._limit_for(scope)
            args += [limit.rate_per_s, limit.burst] if limit else [0, 1]
        for request in requests:
            args += [len(request), *(order[scope] for scope in request)]
        keys = [PREFIX + scope_key(scope) for scope in order]
        waits = await self._call(self._reserve(keys=keys, args=args))
        return [float(w) for w in waits]

    async def penalise(self, scope: Scope, retry_after: float) -> None:
        """Block `scope` for every process (a platform's 429)."""
        now = self._clock.now().timestamp()
        await self._call(
            self._penalise(keys=[PREFIX + scope_key(scope)], args=[now, retry_after, _KEEP_S])
        )

    async def ping(self) -> None:
        await self._redis.ping()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()
