"""The core.ports.Channel contract, checked against every Channel over its loopback fake.

What each channel guarantees, as asserted here. "n/a" means the fake cannot produce that
situation; the parameter id names it too, and the check asserts nothing for that case.

| case     | run()                 | same key twice         | refusal              | throttle  |
|----------|-----------------------|------------------------|----------------------|-----------|
| console  | waits until cancelled | 1 print, same receipt  | n/a (local printing) | n/a       |
| webhook  | waits; closes session | 2 POSTs, 1 webhook-id  | 410 -> RecipientGone | 429 + R-A |
| telegram | serves; needed first  | 1 message, same receipt| chat not found->Gone | 429 + r_a |
| sms      | returns at once       | 1 Message, same receipt| 21604 -> Permanent   | 20429+R-A |
| voice    | returns at once       | 1 Call, same receipt   | 21604 -> Permanent   | 20429+R-A |

| case     | lost response (timeout after the platform accepted), then a retry | EDIT  |
|----------|--------------------------------------------------------------------|-------|
| console  | n/a (nothing remote)                                               | yes   |
| webhook  | delivered again under the same webhook-id (receivers dedupe)       | no    |
| telegram | n/a (the fake cannot time out; the Bot API has no idempotency key) | yes   |
| sms      | looked up by To/From/body: still one Message                       | no    |
| voice    | looked up by To/From/start time: still one Call                    | no    |

R-A is the Retry-After header, r_a Telegram's `retry_after`; both must come out as
`RetryableDeliveryError.retry_after`. Without EDIT an `edit_of` message is a new delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from core.domain import Capability, DeliveryReceipt
from core.errors import PermanentDeliveryError, RetryableDeliveryError
from core.ports import Channel
from tests.contract.cases import CASES, RETRY_AFTER, WAIT_S, ChannelCase


@pytest.fixture(params=list(CASES), ids=list(CASES))
async def channel_case(request: pytest.FixtureRequest) -> AsyncIterator[ChannelCase]:
    """Each channel with its fake running and its `run()` started (as the process does)."""
    async with CASES[request.param]() as case:
        case.task = asyncio.create_task(case.channel.run())
        ready = getattr(case.channel, "ready", None)
        async with asyncio.timeout(WAIT_S):
            if ready is not None:
                await ready.wait()
            await asyncio.sleep(0)
        try:
            yield case
        finally:
            case.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await case.task


class TestChannelContract:
    async def test_declares_name_and_capabilities(self, channel_case: ChannelCase) -> None:
        channel = channel_case.channel
        assert isinstance(channel, Channel)
        assert isinstance(channel.name, str) and channel.name
        assert isinstance(channel.capabilities, Capability)

    async def test_run_stops_cleanly_when_cancelled(self, channel_case: ChannelCase) -> None:
        task = channel_case.task
        assert task is not None
        task.cancel()
        async with asyncio.timeout(WAIT_S):
            with contextlib.suppress(asyncio.CancelledError):
                await task  # any other exception fails the test
        assert task.done()

    async def test_send_returns_a_receipt_for_the_message(self, channel_case: ChannelCase) -> None:
        message = channel_case.message()
        receipt = await channel_case.channel.send(message)
        assert isinstance(receipt, DeliveryReceipt)
        assert receipt.channel == message.channel and receipt.address == message.address
        assert receipt.message_id and channel_case.delivered() == [receipt.message_id]

    async def test_same_key_twice_is_not_two_deliveries(self, channel_case: ChannelCase) -> None:
        first = await channel_case.channel.send(channel_case.message("n1"))
        again = await channel_case.channel.send(channel_case.message("n1"))
        if channel_case.dedupes:
            assert again == first and channel_case.delivered() == [first.message_id]
        else:  # delivered again under the same id, for the receiver to dedupe
            assert again.message_id == first.message_id
            assert channel_case.delivered() == ["n1", "n1"]

    async def test_platform_refusal_is_a_permanent_error(self, channel_case: ChannelCase) -> None:
        if channel_case.reject is None:
            return  # n/a (see the parameter id and the module docstring's table)
        address = channel_case.reject()
        with pytest.raises(PermanentDeliveryError) as caught:
            await channel_case.channel.send(channel_case.message(address=address))
        assert type(caught.value) is channel_case.refusal
        assert channel_case.delivered() == []

    async def test_throttle_is_retryable_with_retry_after(self, channel_case: ChannelCase) -> None:
        if channel_case.throttle is None:
            return  # n/a (see the parameter id and the module docstring's table)
        address = channel_case.throttle()
        with pytest.raises(RetryableDeliveryError) as caught:
            await channel_case.channel.send(channel_case.message(address=address))
        assert caught.value.retry_after == RETRY_AFTER
        retried = await channel_case.channel.send(channel_case.message(address=address))
        assert channel_case.delivered() == [retried.message_id]  # the retry goes through

    async def test_edit_of_edits_in_place_when_capable(self, channel_case: ChannelCase) -> None:
        channel = channel_case.channel
        first = await channel.send(channel_case.message("n1"))
        edited = await channel.send(channel_case.message("n1-ack", edit_of=first))
        if Capability.EDIT in channel.capabilities:
            assert edited.message_id == first.message_id and edited.channel == first.channel
            assert channel_case.delivered() == [first.message_id]
            assert channel_case.edits() == 1
        else:  # no edits: the update is delivered as a message of its own
            assert len(channel_case.delivered()) == 2 and channel_case.edits() == 0

    async def test_retry_after_a_lost_response(self, channel_case: ChannelCase) -> None:
        if channel_case.lose_response is None:
            return  # n/a (see the parameter id and the module docstring's table)
        message = channel_case.message("n1", address=channel_case.lose_response())
        with pytest.raises(RetryableDeliveryError):
            await channel_case.channel.send(message)  # accepted, but the answer never came
        retried = await channel_case.channel.send(message)
        if channel_case.dedupes:
            assert channel_case.delivered() == [retried.message_id]
        else:
            assert channel_case.delivered() == ["n1", "n1"] and retried.message_id == "n1"
