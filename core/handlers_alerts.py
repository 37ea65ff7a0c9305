"""`alerts`, `ack`, `snooze`, `mute`, `bought` and the alert buttons.

The state change itself is `core.alerts.apply_action` (one change, an audit entry, and
every earlier message edited in place); this module checks who may act and says what
happened in words.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, or_, select

from core.alerts import apply_action, snoozed_until
from core.chat import Reply, WatchChange
from core.command_values import check_currency
from core.db.models import ACTIVE_ALERT_STATUSES, Alert, Event, Watch
from core.domain import ActionKind, Button, Level
from core.errors import AlreadyDone, NotFoundError
from core.formatting import event_zone, humanize_delta, local_time, money, short_date
from core.history import event_currencies
from core.render import LEVEL_EMOJI
from core.rules import spec_from_row
from core.turn import Turn

LISTED = ("open", "snoozed")
LIST_LIMIT = 20
LIST_BUTTONS = 5
BUTTON_SNOOZE = timedelta(hours=1)


async def owned_alert(turn: Turn, alert_id: int) -> Alert:
    """Return alert `alert_id` if this chat may act on it, else raise NotFoundError."""
    alert = await turn.session.get(Alert, alert_id)
    if alert is not None:
        watch = await turn.session.get(Watch, alert.watch_id)
        group = watch.destination_address if watch is not None else None
        if turn.ctx.is_group:
            mine = (
                watch is not None
                and watch.destination_channel == turn.group_channel
                and group == turn.ctx.address
            )
        else:
            mine = alert.user_id == turn.ctx.user_id and group is None
        if mine:
            return alert
    raise NotFoundError(f"you have no alert #{alert_id}; type alerts to see yours")


async def alerts(turn: Turn, page: int = 1) -> Reply:
    """List the open and snoozed alerts of this chat, most urgent first, `LIST_LIMIT` a
    page (`alerts 2` is the next page)."""
    stmt = (
        select(Alert, Event)
        .join(Event, Event.id == Alert.event_id)
        .join(Watch, Watch.id == Alert.watch_id)
        .where(Alert.status.in_(LISTED))
        .order_by(Alert.level.desc(), Alert.opened_at.desc(), Alert.id.desc())
        .offset((page - 1) * LIST_LIMIT)
        .limit(LIST_LIMIT + 1)
    )
    if turn.ctx.is_group:
        stmt = stmt.where(
            Watch.destination_channel == turn.group_channel,
            Watch.destination_address == turn.ctx.address,
        )
    else:
        stmt = stmt.where(Alert.user_id == turn.ctx.user_id, Watch.destination_address.is_(None))
    rows = list((await turn.session.execute(stmt)).all())
    total = len(rows)
    if page > 1 or len(rows) > LIST_LIMIT:
        total = (
            await turn.session.scalar(
                select(func.count()).select_from(stmt.offset(None).limit(None).subquery())
            )
            or 0
        )
    if not rows:
        if total:
            last = -(-total // LIST_LIMIT)
            return Reply.error(
                f"there {'is' if last == 1 else 'are'} only {last} page{'s' if last > 1 else ''}"
                f" of open alerts ({total}); e.g. alerts {last}"
            )
        return Reply(lines=("No open alerts. Type watches to see what you are watching.",))
    zone = (await turn.user()).timezone
    lines = [_list_header(page, len(rows) > LIST_LIMIT, total)]
    rows = rows[:LIST_LIMIT]
    buttons: list[tuple[Button, ...]] = []
    currencies = await event_currencies(turn.session, {alert.event_id for alert, _ in rows})
    for alert, event in rows:
        lines.append(_alert_line(turn, alert, event, zone, currencies.get(event.id)))
        if alert.status == "open" and len(buttons) < LIST_BUTTONS:
            buttons.append(
                (
                    Button(f"Ack #{alert.id}", turn.token(ActionKind.ACK, alert.id)),
                    Button(f"Snooze 1h #{alert.id}", turn.token(ActionKind.SNOOZE, alert.id)),
                )
            )
    return Reply(lines=tuple(lines), buttons=tuple(buttons))


def _list_header(page: int, more: bool, total: int) -> str:
    """ "Open alerts:" when they all fit; else which of them these are and how to see more."""
    after = f"; alerts {page + 1} for the next page" if more else ""
    if page == 1:
        if not more:
            return "Open alerts:"
        return f"Open alerts (the {LIST_LIMIT} most urgent of {total}{after}):"
    first = (page - 1) * LIST_LIMIT + 1
    last = min(page * LIST_LIMIT, total)
    return f"Open alerts {first}–{last} of {total}, most urgent first{after}:"


def _alert_line(turn: Turn, alert: Alert, event: Event, zone: str, currency: str | None) -> str:
    level = Level(alert.level)
    price = money(alert.price, currency) if alert.price is not None else "—"
    seconds = (turn.now - alert.opened_at).total_seconds()
    age = "just now" if seconds < 60 else f"{humanize_delta(seconds)} ago"
    # City and day tell apart events of the same name (a tour, a series).
    day = short_date(event.starts_at, event_zone(zone, event.timezone))
    where = ", ".join(p for p in (event.city, day) if p)
    line = f"#{alert.id} {LEVEL_EMOJI[level]} {level.label} · {event.name} ({where}) · {price}"
    if alert.reason:
        line += f" · {alert.reason}"
    line += f" · {age}"
    if alert.status == "snoozed" and alert.snoozed_until is not None:
        line += f" — snoozed until {local_time(alert.snoozed_until, zone)}"
    elif alert.status == "snoozed" and alert.snooze_below is not None:
        line += f" — snoozed until under {money(alert.snooze_below, currency)}"
    return line


async def act(
    turn: Turn,
    alert_id: int,
    action: ActionKind,
    *,
    snooze_for: timedelta | None = None,
    snooze_below: float | None = None,
) -> Reply:
    """Apply ack/snooze/mute/bought to an alert this chat may act on, and say what happened."""
    alert = await owned_alert(turn, alert_id)
    if snooze_below is not None:  # "snooze 2 under $80" for a game priced in pounds: refused
        priced_in = (await event_currencies(turn.session, [alert.event_id])).get(alert.event_id)
        typed = getattr(snooze_below, "currency", None)  # a `Price` says what was typed
        check_currency(typed, snooze_below, priced_in, f"snooze {alert.id} under")
        snooze_below = float(snooze_below)
    running: list[int] = []  # the watches a mute or bought may pause, to say so after
    if action in (ActionKind.MUTE, ActionKind.BOUGHT):  # these pause or mute the group's watch
        turn.require_admin()
        running = await _running_event_watches(turn, alert)
    until = turn.now + snooze_for if snooze_for is not None else None
    others: list[Alert] = []
    try:
        alert = await apply_action(
            turn.session,
            alert.id,
            action,
            user_id=alert.user_id,
            via=turn.ctx.platform,
            now=turn.now,
            snooze_until=until,
            snooze_below=snooze_below,
            siblings=others,
        )
    except AlreadyDone as exc:
        raise AlreadyDone(f"{exc}; type alerts to see the open ones") from None
    if action in (ActionKind.MUTE, ActionKind.BOUGHT):  # the watches paused or muted the event
        for watch_id in dict.fromkeys(a.watch_id for a in (alert, *others)):
            watch = await turn.session.get(Watch, watch_id)
            if watch is not None:
                turn.changed(spec_from_row(watch), WatchChange.UPDATED)
    event = await turn.session.get(Event, alert.event_id)
    name = event.name if event is not None else f"event #{alert.event_id}"
    zone = (await turn.user()).timezone
    if action is ActionKind.ACK:
        text = f"Acknowledged alert #{alert.id} ({name}); no more reminders for it"
        # `plan_update`: one more message if it rises to critical, by chat only.
        text += "." if alert.level >= Level.CRITICAL else " unless it becomes critical."
    elif action is ActionKind.BOUGHT:
        text = f"Marked alert #{alert.id} as bought — enjoy {name}!"
    elif action is ActionKind.MUTE:
        text = f"Muted {name} on watch #{alert.watch_id}; no more alerts about it."
    elif alert.snoozed_until is not None:
        said, cut = snoozed_until(alert, name, event, zone)
        text = (
            f"{said}, when it starts — a snooze cannot run past the start." if cut else f"{said}."
        )
    elif alert.snooze_below is not None:
        currencies = await event_currencies(turn.session, [alert.event_id])
        below = money(alert.snooze_below, currencies.get(alert.event_id))
        text = f"Snoozed alert #{alert.id} ({name}) until it is under {below}."
    else:
        text = f"Snoozed alert #{alert.id} ({name})."
    if others:
        ids = ", ".join(f"#{other.id}" for other in others)
        text += f" The same for alert{'s' if len(others) > 1 else ''} {ids} about this event."
    paused = [w for w in running if not await _is_running(turn, w)]
    if paused:
        text += " " + _paused_text(paused)
    return Reply(lines=(text,))


async def _running_event_watches(turn: Turn, alert: Alert) -> list[int]:
    """The running watches of exactly this alert's event that a mute or bought may pause
    (`core.alerts` pauses a watch of one event, and mutes the event on any other)."""
    about = select(Alert.watch_id).where(
        Alert.user_id == alert.user_id,
        Alert.event_id == alert.event_id,
        Alert.status.in_(ACTIVE_ALERT_STATUSES),
    )
    stmt = (
        select(Watch.id)
        .where(
            or_(Watch.id == alert.watch_id, Watch.id.in_(about)),
            Watch.event_id == alert.event_id,
            Watch.active.is_(True),
        )
        .order_by(Watch.id)
    )
    return list((await turn.session.scalars(stmt)).all())


async def _is_running(turn: Turn, watch_id: int) -> bool:
    watch = await turn.session.get(Watch, watch_id)
    return watch is not None and watch.active


def _paused_text(watch_ids: list[int]) -> str:
    """Say which watches this action paused, and how to undo it."""
    if len(watch_ids) == 1:
        return f"Watch #{watch_ids[0]} is paused: resume {watch_ids[0]} to hear about it again."
    ids = ", ".join(f"#{w}" for w in watch_ids)
    resumes = " and ".join(f"resume {w}" for w in watch_ids)
    return f"Watches {ids} are paused: {resumes} to hear about it again."


async def press(turn: Turn, action: ActionKind, alert_id: int) -> Reply:
    """A verified alert button: Snooze means one hour; the others as typed."""
    if action is ActionKind.SNOOZE:
        return await act(turn, alert_id, action, snooze_for=BUTTON_SNOOZE)
    return await act(turn, alert_id, action)
