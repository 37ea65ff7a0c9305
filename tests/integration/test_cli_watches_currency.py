"""`hdtickets watches list` prints a watch's max in its event's currency (QA: a watch on
a game priced in yen listed as "under $7,500"); a watch on words keeps the default."""

from __future__ import annotations

from core.db.models import Watch
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


def test_a_watch_on_words_lists_its_own_currency(cli: Cli) -> None:
    # QA: "any yankees under £80" listed as "under $80" and matched dollar games at $79
    cli.ingest({"nyy-bos": 90.0, "bos-nyy": 95.0}, minutes_ago=30)  # dollars
    ada = add_user(cli, "Ada")
    cli.ok("watches", "add", str(ada), "any yankees under £80")
    cli.ok("watches", "add", str(ada), "any red sox under 90", "--currency", "jpy")

    [yankees, red_sox] = sorted(cli.rows(Watch), key=lambda w: w.id)
    assert (yankees.currency, red_sox.currency) == ("GBP", "JPY")
    listing = cli.ok("watches", "list").stdout
    assert "under £80" in listing and "under ¥90" in listing, listing
    assert "$80" not in listing and "$90" not in listing, listing


def test_a_bad_currency_option_is_refused_with_a_reason(cli: Cli) -> None:
    ada = add_user(cli, "Ada")

    bad = cli.refused("watches", "add", str(ada), "any yankees under 80", "--currency", "quid")
    assert bad == "error: --currency must be a 3-letter ISO 4217 code, e.g. --currency GBP"
    clash = cli.refused("watches", "add", str(ada), "any yankees under $80", "--currency", "GBP")
    assert clash.startswith("error: the price is in USD, the currency says GBP"), clash
    assert f"e.g. hdtickets watches add {ada} 'any yankees under $80'" in clash, clash
    none = cli.refused("watches", "add", str(ada), "any nba drop 10%", "--currency", "GBP")
    assert "a currency is for the max price" in none, none
    assert cli.rows(Watch) == []
