"""`market <what>`: one event's newest snapshot (none from the future), its start, the forecast.

A team's nickname that matches nothing ("dbacks") reads as the team's name, as in `watch`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import select

from core.chat import Choice, Reply
from core.command_types import MarketCommand
from core.db.models import Event, MarketSnapshot
from core.domain import plural
from core.errors import NotFoundError
from core.event_search import SearchResult, search_events
from core.formatting import (
    event_label,
    event_zone,
    humanize_delta,
    local_time,
    money,
    place,
    resample_last,
    sparkline,
)
from core.ingest import FUTURE_TOLERANCE
from core.team_nicknames import nicknamed, read_as, teams_playing
from core.turn import Turn
from core.watch_choices import SHOWN, either, narrow


async def market(turn: Turn, cmd: MarketCommand) -> Reply:
    """Describe the market of the one event `cmd` names, or offer choices."""
    if cmd.event_id is not None:
        event = await turn.session.get(Event, cmd.event_id)
        if event is None:
            raise NotFoundError(f"there is no event #{cmd.event_id}, e.g. market yankees")
        return await _describe(turn, event)
    found = await search_events(turn.session, cmd.what, now=turn.now)
    if found.total == 1:
        return await _describe(turn, found.events[0])
    zone = (await turn.user()).timezone
    if found.total == 0:
        teams = nicknamed(cmd.what)
        playing = await teams_playing(turn.session, teams, now=turn.now) if teams else {}
        if playing:
            return await _nickname(turn, cmd, playing, zone)
        return await _narrowed(turn, cmd, zone)
    lines = [f"'{cmd.what}' matches {found.total} upcoming events — which one?"]
    return _choices(lines, found.events, found.total, zone)


async def _nickname(
    turn: Turn, cmd: MarketCommand, playing: dict[str, SearchResult], zone: str
) -> Reply:
    """A nickname ("dbacks") read as the name of the one team it names that plays, said
    so; when several play ("cards"), the choice among their events."""
    if len(playing) == 1:
        [team] = playing
        reply = await market(turn, replace(cmd, what=team))
        return replace(reply, lines=(read_as(cmd.what, team), *reply.lines))
    listed = [e for found in playing.values() for e in found.events]
    events = {e.id: e for e in sorted(listed, key=lambda e: (e.starts_at, e.id))}
    total = sum(found.total for found in playing.values()) - (len(listed) - len(events))
    teams = ", ".join(playing)
    lines = [f"'{cmd.what}' is a nickname of {len(playing)} teams ({teams}) — which one?"]
    return _choices(lines, tuple(events.values())[:SHOWN], total, zone)


async def _narrowed(turn: Turn, cmd: MarketCommand, zone: str) -> Reply:
    """Choices among fewer words ("yankees" of "yankees sat"), or the words respelt, when
    `cmd.what` matches no upcoming event; else a reason with something else to type."""
    narrowing = await narrow(turn.session, cmd.what, now=turn.now, person_tz=zone)
    if narrowing is None:
        raise NotFoundError(
            f"no upcoming event matches '{cmd.what}'; try a team, performer, venue or city,"
            f" e.g. {_example(cmd.what)}"
        )
    if narrowing.respelt:
        asked = either(narrowing.respelt)
        return Reply(
            lines=(f"No upcoming event matches '{cmd.what}'; did you mean {asked}?",),
            choices=tuple(Choice(label=n, command=f"market {n}") for n in narrowing.respelt),
        )
    events = narrowing.events
    count = plural(len(events), "upcoming event")
    lines = [
        f"No upcoming event matches '{cmd.what}'.",
        f"'{narrowing.name}' matches {count}{narrowing.where} — "
        + ("which one?" if len(events) > 1 else "this one?"),
    ]
    return _choices(lines, events[:SHOWN], len(events), zone)


def _choices(lines: list[str], events: tuple[Event, ...], total: int, zone: str) -> Reply:
    """`lines` and a choice of `events`, the first of `total`."""
    if total > len(events):
        lines.append(f"Showing the first {len(events)}; add an opponent, venue or city.")
    choices = tuple(
        Choice(
            label=event_label(e.name, e.venue, e.city, e.starts_at, zone, e.timezone),
            command=f"market #{e.id}",
        )
        for e in events
    )
    return Reply(lines=tuple(lines), choices=choices)


def _example(what: str) -> str:
    """An example that is not what was just typed (it found nothing)."""
    return "market red sox" if "yankees" in what.casefold() else "market yankees"


async def _describe(turn: Turn, event: Event) -> Reply:
    zone = (await turn.user()).timezone
    where = place(event.venue, event.city)
    when = local_time(event.starts_at, event_zone(zone, event.timezone))
    if event.starts_at > turn.now:
        when += f" (in {humanize_delta((event.starts_at - turn.now).total_seconds())})"
    else:
        when += " (started)"
    lines = [f"{event.name} — {where}" if where else event.name, when]
    snap = await _newest(turn, event.id, before=turn.now + FUTURE_TOLERANCE)
    if snap is None:
        lines.append("No market data yet.")
    else:
        lines += await _snapshot_lines(turn, snap, zone)
        trend = await _trend(turn, event, snap)
        if trend:
            lines.append(trend)
    image = None
    if turn.market is not None:
        insight = await turn.market.insight(event.id, now=turn.now)
        if insight is not None:
            if insight.sentence:
                lines.append(insight.sentence)
            image = insight.chart_png
    return Reply(lines=tuple(lines), image=image)


async def _newest(
    turn: Turn, event_id: int, *, before: datetime, priced: bool = False
) -> MarketSnapshot | None:
    """The newest snapshot of the event observed at or before `before` (with a cheapest
    price when `priced`); ties go to the one stored last."""
    query = select(MarketSnapshot).where(
        MarketSnapshot.event_id == event_id, MarketSnapshot.observed_at <= before
    )
    if priced:
        query = query.where(MarketSnapshot.min_price.is_not(None))
    order = (MarketSnapshot.observed_at.desc(), MarketSnapshot.id.desc())
    return (await turn.session.execute(query.order_by(*order).limit(1))).scalar_one_or_none()


async def _snapshot_lines(turn: Turn, snap: MarketSnapshot, zone: str | None) -> list[str]:
    """The headline: prices and counts of one snapshot, the newest not in the future.

    A sender's clock may run ahead by the FUTURE_TOLERANCE ingest accepts; a snapshot
    stamped later than that is not the newest news. Every figure comes from `snap`:
    when it has no cheapest price, that is said, with the newest earlier price and its
    time ("Last priced at ..."), never a price of another snapshot passed off as its own.
    """
    prices = (snap.min_price, snap.median_price, snap.max_price)
    if all(v is None for v in prices):
        lines = ["No prices in the latest snapshot"]
    else:
        low, mid, high = (_price(v, snap.currency) for v in prices)
        lines = [f"Cheapest {low} · median {mid} · highest {high}"]
    listings = plural(snap.listing_count, "listing") if snap.listing_count is not None else None
    if snap.ticket_count is not None:
        counts = f"{plural(snap.ticket_count, 'ticket')} left"
        counts += f" in {listings}" if listings else ""
    else:  # a feed without counts: say so, not "? tickets"
        counts = f"{listings}, tickets not reported" if listings else "Tickets left not reported"
    lines.append(f"{counts} (as of {_ago(turn, snap)}, {snap.source})")
    if snap.min_price is None:
        last = await _newest(turn, snap.event_id, before=snap.observed_at, priced=True)
        if last is None:
            lines.append("No price reported yet.")
        else:
            at, price = local_time(last.observed_at, zone), _price(last.min_price, last.currency)
            lines.append(f"Last priced at {at} ({_ago(turn, last)}): cheapest {price}")
    return lines


def _ago(turn: Turn, snap: MarketSnapshot) -> str:
    seconds = (turn.now - snap.observed_at).total_seconds()
    return f"{humanize_delta(seconds)} ago" if seconds >= 1 else "just now"


TREND_DAYS = 7
TREND_BARS = 24


async def _trend(turn: Turn, event: Event, snap: MarketSnapshot) -> str | None:
    """The cheapest price over the last week up to the headline's snapshot `snap`, as a
    sparkline, for every platform (the chart image is only shown where images are):
    "Cheapest over the last 7 days: ▇▇▆▅▅▄▃▂ $112 → $97 (low $95)"."""
    since = turn.now - timedelta(days=TREND_DAYS)
    currency = snap.currency
    rows = (
        await turn.session.execute(
            select(MarketSnapshot.observed_at, MarketSnapshot.min_price)
            .where(
                MarketSnapshot.event_id == event.id,
                MarketSnapshot.observed_at >= since,
                MarketSnapshot.observed_at <= snap.observed_at,
                MarketSnapshot.min_price.is_not(None),
            )
            .order_by(MarketSnapshot.observed_at, MarketSnapshot.id)
        )
    ).all()
    points = [(at, float(price)) for at, price in rows if price is not None]
    if len(points) < 2:
        return None
    values = resample_last(points, TREND_BARS)
    if len(values) < 2:
        return None
    span = humanize_delta((points[-1][0] - points[0][0]).total_seconds())
    first, last = _price(values[0], currency), _price(values[-1], currency)
    low, high = min(v for _, v in points), max(v for _, v in points)
    if low == high:  # the sticky minimum: a flat line says less than words
        return f"Cheapest over the last {span}: unchanged at {last}"
    return (
        f"Cheapest over the last {span}: {sparkline(values)} {first} → {last}"
        f" (low {_price(low, currency)})"
    )


def _price(value: float | None, currency: str | None) -> str:
    return "—" if value is None else money(value, currency)
