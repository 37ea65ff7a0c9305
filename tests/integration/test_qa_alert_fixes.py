"""QA fixes: `alerts list` fits 80 columns with whole times; `hdtickets chat` markets."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Alert, User
from tests.integration.test_cli_admin import Cli, cli, column_text, open_alert

__all__ = ["cli"]


def test_alerts_list_keeps_whole_opened_times_in_80_columns(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada, alert_id = open_alert(cli, currency="JPY")

    async def widen(session: AsyncSession) -> None:
        await session.execute(
            update(Alert)
            .where(Alert.id == alert_id)
            .values(status="acknowledged", level=5, price=1234567.0)
        )
        await session.execute(
            update(User).where(User.id == ada).values(display_name="Ada Lovelace-Byron")
        )
        await session.commit()

    cli.db(widen)
    monkeypatch.setenv("COLUMNS", "80")
    listing = cli.ok("alerts", "list").stdout.replace("🚨", "!!")  # the emoji is 2 wide
    assert all(len(line) <= 80 for line in listing.splitlines()), listing
    assert f"{cli.now:%m-%d %H:%M}".replace(" ", "") in column_text(listing, "Opened", "\n")
    assert "acknowledged" in column_text(listing, "Status", "Kind")
    assert "Diamondba" in listing and "…" not in listing.replace(
        "Lovelac…", ""
    )  # a name may be cut and "¥1,234,567" in listing
