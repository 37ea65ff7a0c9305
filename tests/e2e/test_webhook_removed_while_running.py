"""`hdtickets webhooks remove` from another process while the bot runs (SQLite and PG).

The running engine keeps its endpoint list cached for five minutes and the command line
cannot invalidate it, so the next alert is still planned for the removed endpoint. The
removal keeps the endpoint's row, so that outbox row inserts: the ingest succeeds, the
alert is created, and delivery cancels the row unsent with the reason. (The endpoint used
to be deleted: the insert failed its foreign key, the ingest transaction rolled back and
the person was never told.)
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli import app as cli_app
from core.db.models import Alert, AuditEntry
from tests.e2e.proc_helpers import post_batch, snapshot, utc_now, wait_until
from tests.e2e.test_ingest_to_webhook import Stack, stack  # noqa: F401


def remove_blocking(endpoint_id: int) -> None:
    """`hdtickets webhooks remove ID`, as another process would run it."""
    result = CliRunner().invoke(cli_app, ["webhooks", "remove", str(endpoint_id)])
    assert result.exit_code == 0, result.output


async def test_an_alert_after_a_removal_elsewhere_is_created_and_its_webhook_cancelled(
    stack: Stack,  # noqa: F811
) -> None:
    now = utc_now()
    await post_batch(
        stack.http,
        stack.base_url,
        [snapshot(e, 60.0, now - timedelta(minutes=3)) for e in ("9001", "9002")],
    )
    reply = await stack.container.handlers.handle_text(stack.ctx, "watch mlb under 40")
    assert not reply.is_error, reply.text
    # The first alert loads the endpoint list into the engine's cache.
    first = await post_batch(
        stack.http, stack.base_url, [snapshot("9001", 28.0, now - timedelta(minutes=2))]
    )
    assert first[0] == 202, first
    [sent] = await stack.wait_all_sent(1)

    await asyncio.to_thread(remove_blocking, stack.endpoint.id)
    status, report = await post_batch(
        stack.http, stack.base_url, [snapshot("9002", 28.0, now - timedelta(minutes=1))]
    )

    assert (status, report) == (202, {"accepted": 1, "duplicates": 0, "rejected": []})
    async with stack.container.sessions() as session:
        alerts = list((await session.execute(select(Alert).order_by(Alert.id))).scalars())
    assert len(alerts) == 2, "the second alert was lost"

    async def cancelled() -> bool:
        rows = await stack.webhook_rows()
        return len(rows) == 2 and rows[1].status == "cancelled"

    await wait_until(cancelled, 10.0, "the removed endpoint's row to be cancelled")
    first_row, second_row = await stack.webhook_rows()
    assert second_row.alert_id == alerts[1].id  # planned from the stale cache
    assert second_row.last_error == f"webhook endpoint {stack.endpoint.id} was removed; not sent"
    async with stack.container.sessions() as session:
        withdrawn = await session.scalars(
            select(AuditEntry.detail).where(
                AuditEntry.alert_id == alerts[1].id, AuditEntry.kind == "delivery_cancelled"
            )
        )
        assert list(withdrawn) == [f"webhook message withdrawn: {second_row.last_error}"]
    assert (first_row.id, first_row.status) == (sent.id, "sent")  # its history stays
    assert len(stack.receiver.requests) == 1  # nothing was sent after the removal
