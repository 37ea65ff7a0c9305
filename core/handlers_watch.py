"""`watch`, `watches`, `unwatch`, `pause`, `resume` and the watch buttons.

`watch` never guesses: one matching upcoming event -> a watch on it; several -> numbered
choices, each re-issuing the watch for one event id; none -> choices among fewer words
when a day, a bare number or a word no event knows makes the name miss ("rockies 40"),
else a watch on the words that matches future events (`core.watch_choices`). A team's
nickname that matches nothing ("dbacks") reads as the team's name. A category name
("mlb") watches the whole category.
"""

from __future__ import annotations

import re
from dataclasses import replace

from sqlalchemy import func, select

from core.alerts import resolve_for_watch
from core.chat import Reply, WatchChange
from core.command_types import WatchCommand
from core.command_values import check_currency
from core.commands import parse
from core.db.models import Event, Watch
from core.domain import ActionKind, Button, TriggerKind, plural
from core.errors import NotFoundError, ValidationError
from core.event_search import is_category, search_events, upcoming_event
from core.formatting import event_label, event_zone, local_time, money
from core.history import event_currencies
from core.rules import spec_from_row, words
from core.team_nicknames import nicknamed, read_as, teams_playing
from core.turn import Turn
from core.watch_change import WatchTerms, resolve_changed_watch
from core.watch_choices import ambiguous, narrowed, which_team

MAX_WATCHES = 100
DEFAULT_DROP_PCT = 10.0
LIST_BUTTONS = 10
_CURRENCY_CODE = re.compile(r"[A-Za-z]{3}")


def is_currency_code(text: str) -> bool:
    """Whether `text` reads as an ISO 4217 code: three letters ("GBP", "gbp")."""
    return _CURRENCY_CODE.fullmatch(text) is not None


def with_currency(cmd: WatchCommand, currency: str) -> WatchCommand:
    """`cmd` with its max in `currency`, a code given apart from the words (the API's
    "currency", the CLI's --currency): "arsenal under 80" and "GBP" -> under £80.

    Raises:
        ValidationError: not three letters, no max to price, or a max typed in another
            currency ("under $80" with "GBP").
    """
    if not is_currency_code(currency):
        raise ValidationError(
            f"currency must be a 3-letter ISO 4217 code like GBP, not {currency!r}"
        )
    code = currency.upper()
    what = f"any {cmd.what}" if cmd.any_event else cmd.what
    if cmd.max_price is None:
        raise ValidationError(
            f"a currency is for the max price; add one, e.g. watch {what} under 80"
        )
    if cmd.currency is not None and cmd.currency != code:
        raise ValidationError(
            f"the price is in {cmd.currency}, the currency says {code}; give one, "
            f"e.g. watch {what} under {money(cmd.max_price, cmd.currency)}"
        )
    return replace(cmd, currency=code)


def priced_watch(text: str, currency: str, example: str) -> WatchCommand:
    """The `watch` command of `text` ("watch any arsenal under 80") with its max in
    `currency` (`with_currency`): what the API's "currency" and the CLI's --currency do.

    Raises:
        ValidationError: the words or the currency, with a one-line reason.
    """
    command = parse(text)
    if not isinstance(command, WatchCommand):  # "watch ..." parses to nothing else
        raise ValidationError(f"say what to watch, e.g. {example}")
    return with_currency(command, currency)


async def watch(turn: Turn, cmd: WatchCommand) -> Reply:
    """Create (or update) a watch, or offer choices when the words match several events
    or, once days, bare numbers or unknown words are left out, fewer (`narrowed`)."""
    turn.require_admin()
    if cmd.event_id is not None:
        event = await upcoming_event(turn.session, cmd.event_id, now=turn.now)
        if event is None:
            raise NotFoundError(f"there is no upcoming event #{cmd.event_id}; try watch <name>")
        return await _save(turn, cmd, event=event)
    if not words(cmd.what):
        raise ValidationError(
            "say a team, performer, venue or event name, e.g. watch yankees under 80"
        )
    category = await is_category(turn.session, cmd.what)
    if category is not None:
        return await _save(turn, cmd, category=category)
    if not cmd.any_event:
        found = await search_events(turn.session, cmd.what, now=turn.now)
        if found.total == 1:
            return await _save(turn, cmd, event=found.events[0])
        zone = (await turn.user()).timezone
        if found.total > 1:
            return ambiguous(cmd, found.events, found.total, zone)
        teams = nicknamed(cmd.what)
        if teams:
            return await _nickname(turn, cmd, teams)
        offer = await narrowed(turn.session, cmd, now=turn.now, person_tz=zone)
        if offer is not None:
            return offer
    return await _save(turn, cmd)


async def _nickname(turn: Turn, cmd: WatchCommand, teams: tuple[str, ...]) -> Reply:
    """A nickname ("dbacks") watched as the team's name typed out, said so; when it names
    several teams ("cards"), the one with upcoming events, else the choice among them."""
    if len(teams) > 1:
        playing = tuple(await teams_playing(turn.session, teams, now=turn.now))
        if len(playing) != 1:
            return which_team(cmd, playing or teams)
        teams = playing
    team = teams[0]
    reply = await watch(turn, replace(cmd, what=team))
    head, *rest = reply.lines
    return replace(reply, lines=(head, read_as(cmd.what, team), *rest))


def _event_label(event: Event, zone: str) -> str:
    return event_label(event.name, event.venue, event.city, event.starts_at, zone, event.timezone)


async def _save(
    turn: Turn, cmd: WatchCommand, *, event: Event | None = None, category: str | None = None
) -> Reply:
    # A watch on words or a category spans events: its max keeps the currency typed
    # (amounts are not converted) and holds only on events priced in it; a bare number
    # (None) is read in each event's own currency. A watch on one event: the event's.
    currency = cmd.currency
    if event is not None:
        own = (await event_currencies(turn.session, [event.id])).get(event.id)
        if cmd.max_price is not None:  # "under £80" for a game priced in dollars: refused
            check_currency(cmd.currency, cmd.max_price, own, f"watch #{event.id} under")
        currency = own or cmd.currency  # "$80" on a game not priced yet: USD
    await turn.lock_user()  # two identical requests at once make one watch
    terms = [] if event is not None or category is not None else [" ".join(words(cmd.what))]
    same = select(Watch).where(*turn.watch_scope())
    if event is not None:
        same = same.where(Watch.event_id == event.id)
    else:
        same = same.where(Watch.event_id.is_(None), Watch.category == category)
    existing = [w for w in (await turn.session.execute(same)).scalars() if w.terms == terms]
    row = existing[0] if existing else None
    if row is None:
        count = await turn.session.scalar(
            select(func.count()).select_from(Watch).where(*turn.watch_scope())
        )
        if (count or 0) >= MAX_WATCHES:
            raise ValidationError(
                f"you have {MAX_WATCHES} watches; remove one first, e.g. unwatch 3"
            )
        row = Watch(
            user_id=turn.ctx.user_id,
            event_id=event.id if event is not None else None,
            category=category,
            terms=terms,
            created_at=turn.now,
        )
        if turn.ctx.is_group:
            row.destination_channel = turn.group_channel
            row.destination_address = turn.ctx.address
        turn.session.add(row)
    row.label = (event.name if event is not None else cmd.what)[:300]
    if event is not None and row.currency is None:
        row.currency = currency  # no change: its max was read in the event's currency
    before, was_active = WatchTerms.of(row), row.active
    # Watching the same thing again changes what was said and keeps the rest.
    if cmd.max_price is not None or row.max_price is None:
        row.max_price = cmd.max_price
        row.currency = currency if cmd.max_price is not None else None
    if event is not None:
        row.currency = currency  # the event's, with or without a max
    row.quantity = cmd.quantity or row.quantity or 1
    if cmd.zone is not None or not row.zones:
        row.zones = [cmd.zone] if cmd.zone else []
    if cmd.drop_pct is not None or row.drop_pct is None:
        row.drop_pct = cmd.drop_pct
    if row.max_price is None and row.drop_pct is None:
        row.drop_pct = DEFAULT_DROP_PCT
    triggers = [TriggerKind.PRICE_BELOW.value] if row.max_price is not None else []
    if row.drop_pct is not None:
        triggers.append(TriggerKind.DROP_PCT.value)
    row.triggers = triggers
    resumed = bool(existing) and not row.active
    row.active = True
    ended = 0
    after = WatchTerms.of(row)
    if existing and (after != before or not was_active):
        # Its open alerts that no longer hold close; the rest stay (snoozes kept), scored
        # again under the new terms.
        spec = spec_from_row(row)
        ended = await resolve_changed_watch(
            turn.session, spec, before, after, turn.now, weights=turn.weights
        )
    await turn.session.flush()
    turn.changed(spec_from_row(row), WatchChange.UPDATED if existing else WatchChange.CREATED)
    zone = (await turn.user()).timezone
    if event is not None:
        target = _event_label(event, zone)
    elif category is not None:
        target = f"every upcoming {category} event"
    elif cmd.any_event:
        target = f"any event matching '{cmd.what}', now and later"
    else:
        target = f"any event matching '{cmd.what}' (none on sale right now; future ones count)"
    verb = "Updated" if existing else "Watching"
    head = f"{verb} {target} — watch #{row.id}" + (" (it was paused; resumed)." if resumed else ".")
    head += _closed(ended)
    return Reply(
        lines=(head, _promise(row, turn.ctx.is_group, currency)),
        buttons=((_pause_button(turn, row.id), _remove_button(turn, row.id)),),
        created=None if existing else row.id,
    )


def _promise(row: Watch, group: bool, currency: str | None) -> str:
    """What the watch alerts on; its max in its own currency, else in `currency` (its
    event's; None reads as USD)."""
    who = "this group" if group else "you"
    tickets = f"{row.quantity} tickets" if row.quantity > 1 else "a ticket"
    zone = f" in zone '{row.zones[0]}'" if row.zones else ""
    conditions = []
    if row.max_price is not None:
        shown = money(row.max_price, row.currency or currency)
        conditions.append(f"{tickets}{zone} can be had under {shown}")
    if row.drop_pct is not None:
        conditions.append(f"the cheapest price{zone} drops {row.drop_pct:g}% or more")
    text = f"I'll alert {who} when " + " or when ".join(conditions) + "."
    if row.max_price is None:
        text += " Add 'under <price>' for a price target."
    return text


def _pause_button(turn: Turn, watch_id: int) -> Button:
    return Button(label=f"Pause #{watch_id}", token=turn.token(ActionKind.PAUSE_WATCH, watch_id))


def _remove_button(turn: Turn, watch_id: int) -> Button:
    return Button(label=f"Remove #{watch_id}", token=turn.token(ActionKind.REMOVE_WATCH, watch_id))


async def watches(turn: Turn) -> Reply:
    """List this chat's watches with pause/remove buttons."""
    rows = list(
        (
            await turn.session.execute(
                select(Watch, Event)
                .outerjoin(Event, Event.id == Watch.event_id)
                .where(*turn.watch_scope())
                .order_by(Watch.id)
            )
        ).all()
    )
    whose = _whose(turn)
    if not rows:
        return _empty(turn)
    zone = (await turn.user()).timezone
    currencies = await event_currencies(turn.session, {e.id for _, e in rows if e is not None})
    lines = [f"{whose} watches:"]
    buttons: list[tuple[Button, ...]] = []
    for row, event in rows:
        currency = currencies.get(event.id) if event is not None else None
        lines.append(_watch_line(row, event, zone, currency))
        if row.active and len(buttons) < LIST_BUTTONS:
            buttons.append((_pause_button(turn, row.id), _remove_button(turn, row.id)))
    return Reply(lines=tuple(lines), buttons=tuple(buttons))


def _watch_line(row: Watch, event: Event | None, zone: str, currency: str | None) -> str:
    """One watch of the list; its max in its own currency, else in `currency` (its
    event's; None reads as USD)."""
    if event is not None:
        what = f"{event.name} ({local_time(event.starts_at, event_zone(zone, event.timezone))})"
    elif row.category:
        what = f"every {row.category} event"
    else:
        what = f"any '{row.label}'"
    parts = [f"#{row.id} {what}", *watch_conditions(row, currency)]
    state = "active" if row.active else f"paused (resume {row.id})"
    return " · ".join(parts) + f" — {state}"


def watch_conditions(row: Watch, currency: str | None) -> list[str]:
    """A watch's conditions in a few words ("under $80", "qty 2", "zone floor", "drop
    10%"); its max in its own currency, else in `currency` (its event's; None is USD)."""
    parts = []
    if row.max_price is not None:
        parts.append(f"under {money(row.max_price, row.currency or currency)}")
    if row.quantity > 1:
        parts.append(f"qty {row.quantity}")
    if row.zones:
        parts.append(f"zone {row.zones[0]}")
    if row.drop_pct is not None:
        parts.append(f"drop {row.drop_pct:g}%")
    return parts


async def owned_watch(turn: Turn, watch_id: int) -> Watch:
    """Return watch `watch_id`, locked until the turn commits, if this chat owns it, else
    raise NotFoundError.

    Locked and read afresh: a pause or resume racing a removal (two buttons, two API
    calls) must see the removal, or a removed watch came back active (and alerting).
    """
    row = await turn.session.get(Watch, watch_id, with_for_update=True, populate_existing=True)
    if row is None or not turn.owns(row):
        raise NotFoundError(f"you have no watch #{watch_id}; type watches to see yours")
    return row


async def unwatch(turn: Turn, watch_id: int) -> Reply:
    """Remove a watch (kept inactive so its alerts keep their history)."""
    turn.require_admin()
    row = await owned_watch(turn, watch_id)
    row.active = False
    row.removed_at = turn.now
    ended = await resolve_for_watch(turn.session, row.id, "watch removed", turn.now)
    turn.changed(row.id, WatchChange.REMOVED)
    return Reply(lines=(f"Removed watch #{row.id} ({row.label}).{_closed(ended)}",))


async def set_active(turn: Turn, watch_id: int, active: bool) -> Reply:
    """Pause (active False) or resume (active True) a watch."""
    turn.require_admin()
    row = await owned_watch(turn, watch_id)
    if row.active == active:
        state = "active" if active else "paused"
        return Reply(lines=(f"Watch #{row.id} is already {state}.",))
    ended = await _set_active(turn, row, active)
    if active:
        return Reply(lines=(f"Resumed watch #{row.id} ({row.label}).",))
    return Reply(
        lines=(
            f"Paused watch #{row.id} ({row.label}); resume {row.id} turns it back on."
            f"{_closed(ended)}",
        ),
    )


async def set_all_active(turn: Turn, active: bool) -> Reply:
    """`pause all` / `resume all`: every watch of this chat, each as `set_active` would."""
    turn.require_admin()
    rows = list(
        (
            await turn.session.execute(
                select(Watch)
                .where(*turn.watch_scope())
                .order_by(Watch.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).scalars()
    )
    if not rows:
        return _empty(turn)
    state = "active" if active else "paused"
    changing = [row for row in rows if row.active != active]
    if not changing:
        if len(rows) == 1:
            return Reply(lines=(f"Watch #{rows[0].id} is already {state}.",))
        return Reply(
            lines=(f"All {len(rows)} of {_whose(turn).lower()} watches are already {state}.",)
        )
    ended = 0
    for row in changing:
        ended += await _set_active(turn, row, active)
    already = [row for row in rows if row not in changing]
    counted = plural(len(changing), "watch", "watches")
    listed = _id_list(changing)
    if already:
        were = "was" if len(already) == 1 else "were"
        listed += f"; {_id_list(already)} {were} already {state}"
    if active:
        return Reply(lines=(f"Resumed {counted} ({listed}).",))
    closed = f" {plural(ended, 'open alert')} closed." if ended else ""
    return Reply(lines=(f"Paused {counted} ({listed}); resume all turns them back on.{closed}",))


async def _set_active(turn: Turn, row: Watch, active: bool) -> int:
    """Pause or resume one watch, closing its open alerts when paused; how many closed."""
    row.active = active
    ended = 0 if active else await resolve_for_watch(turn.session, row.id, "watch paused", turn.now)
    turn.changed(spec_from_row(row), WatchChange.UPDATED)
    return ended


_LISTED_IDS = 10  # ids named in a pause/resume all reply; the rest counted


def _id_list(rows: list[Watch]) -> str:
    shown = ", ".join(f"#{row.id}" for row in rows[:_LISTED_IDS])
    more = len(rows) - _LISTED_IDS
    return f"{shown} and {more} more" if more > 0 else shown


def _whose(turn: Turn) -> str:
    return "This group's" if turn.ctx.is_group else "Your"


def _empty(turn: Turn) -> Reply:
    return Reply(lines=(f"{_whose(turn)} watch list is empty, e.g. watch yankees under 80",))


def _closed(ended: int) -> str:
    """What removing, pausing or changing a watch did to its open alerts."""
    if not ended:
        return ""
    return " Its open alert closed." if ended == 1 else f" Its {ended} open alerts closed."
