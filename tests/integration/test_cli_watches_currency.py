"""`hdtickets watches list` prints a watch's max in its event's currency (QA: a watch on
a game priced in yen listed as "under $7,500"); a watch on words keeps the default."""

from __future__ import annotations

from tests.integration.test_cli_admin import Cli, add_user, cli

__all__ = ["cli"]  # the fixture, shared with test_cli_admin


def test_watches_list_prints_the_max_in_the_events_currency(cli: Cli) -> None:
    cli.ingest({"rockies": 300.0}, minutes_ago=30, currency="JPY")
    cli.ingest({"nyy-bos": 90.0, "bos-nyy": 95.0}, minutes_ago=30, currency="GBP")
    ada = add_user(cli, "Ada")
    cli.ok("watches", "add", str(ada), "rockies under 7500")
    cli.ok("watches", "add", str(ada), "fenway under £80")
    cli.ok("watches", "add", str(ada), "any yankees under 70")

    listing = cli.ok("watches", "list").stdout
    assert "under ¥7,500" in listing and "under £80" in listing, listing
    assert "under $70" in listing, listing  # words span events: the default
    assert "$7,500" not in listing and "$80" not in listing, listing
