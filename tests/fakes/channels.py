"""FakeChannel: an in-memory Channel that records sends and can be scripted to fail."""

from __future__ import annotations

import asyncio
from collections import deque

from core.domain import Capability, ChannelKind, DeliveryReceipt, OutboundMessage


class FakeChannel:
    """Satisfies core.ports.Channel.

    Every call to `send` is kept in `calls`; successful ones in `sent`. Scripted errors
    (or None for "succeed") are consumed one per call, first those scripted for the
    message's address, then the shared ones. Like a real channel, sending the same
    idempotency key twice returns the first receipt without a second delivery.

    Args:
        name: the ChannelKind value this channel serves.
        capabilities: what it claims to support.
        delay_s: real seconds each send takes (for concurrency and shutdown tests).
        gate: when given, every send waits until it is set.
    """

    def __init__(
        self,
        name: str = "webhook",
        capabilities: Capability = Capability.BUTTONS | Capability.EDIT,
        *,
        delay_s: float = 0.0,
        gate: asyncio.Event | None = None,
    ) -> None:
        self.name = name
        self.capabilities = capabilities
        self.delay_s = delay_s
        self.gate = gate
        self.calls: list[OutboundMessage] = []
        self.sent: list[OutboundMessage] = []
        self.started = 0
        self._errors: deque[BaseException | None] = deque()
        self._by_address: dict[str, deque[BaseException | None]] = {}
        self._receipts: dict[str, DeliveryReceipt] = {}

    def script(self, *errors: BaseException | None, address: str | None = None) -> None:
        """Queue outcomes for the next sends (to `address` only, when given)."""
        queue = self._errors if address is None else self._by_address.setdefault(address, deque())
        queue.extend(errors)

    def fail_always(self, error: BaseException, count: int = 1000) -> None:
        self.script(*([error] * count))

    @property
    def keys(self) -> list[str]:
        """Idempotency keys of successful first deliveries, in order."""
        return [message.idempotency_key for message in self.sent]

    @property
    def call_keys(self) -> list[str]:
        """Idempotency keys of every send call, in order, repeats included."""
        return [message.idempotency_key for message in self.calls]

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        self.calls.append(message)
        self.started += 1
        if self.delay_s > 0:
            await asyncio.sleep(self.delay_s)
        if self.gate is not None:
            await self.gate.wait()
        error = self._next_error(message.address)
        if error is not None:
            raise error
        known = self._receipts.get(message.idempotency_key)
        if known is not None:
            return known
        self.sent.append(message)
        receipt = DeliveryReceipt(
            channel=ChannelKind(self.name),
            address=message.address,
            message_id=f"{self.name}-{len(self.sent)}",
        )
        self._receipts[message.idempotency_key] = receipt
        return receipt

    def _next_error(self, address: str) -> BaseException | None:
        own = self._by_address.get(address)
        if own:
            return own.popleft()
        if self._errors:
            return self._errors.popleft()
        return None
