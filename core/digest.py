"""Digests: level-1 alerts held in the outbox and sent as one message per person.

The engine writes each low-priority alert's chat message as a `digest` row due at the
person's next digest time. Delivery never claims those rows itself; when they fall due,
`compose_digests` merges the rows of one person and destination into one `digest_summary`
notification and marks the items cancelled, pointing at the summary.

Chat alert messages held for quiet hours go the same way when too many wake the person at
once: `compose_held` keeps the `HELD_ALONE` most important and merges the rest into one
summary ("While your quiet hours were on").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import ensure_utc
from core.db.models import Alert, Event, Notification, User
from core.domain import CHAT_CHANNELS, Level, NotificationStatus
from core.formatting import event_zone, local_time, money
from core.outbox import HELD_AFTER, idempotency_key, notice_row
from core.render import price_moved, written_price

ITEM_KIND = "digest"
SUMMARY_KIND = "digest_summary"
MAX_ITEMS = 20  # listed one by one; the rest are counted
HELD_ALONE = 3  # held alert messages of one destination sent alone at the end of quiet hours
_UNKNOWN: tuple[float | None, datetime | None] = (None, None)  # an alert gone since


def item_line(
    item: Notification,
    person_tz: str | None,
    price_now: float | None = None,
    starts_now: datetime | None = None,
) -> str:
    """One digest line: the alert's number, its title, its price now when that moved since
    the title was written (a daily digest waits up to a day), and when the event starts
    (a team watch matches every game of a series, and their titles are the same): its
    current start (`starts_now`) when known, for the event may have moved since."""
    data = item.payload.get("data") or {}
    event = data.get("event") or {}
    line = str(item.payload.get("title", "alert"))
    if item.alert_id is not None:
        line = f"#{item.alert_id} {line}"
    then, currency = written_price(item.payload)
    if price_moved(then, price_now) and price_now is not None:
        line += f" · now {money(price_now, currency)}"
    starts_at = ensure_utc(starts_now) if starts_now is not None else _written_start(event)
    if starts_at is None:
        return line
    return f"{line} · {local_time(starts_at, event_zone(person_tz, event.get('timezone')))}"


def _written_start(event: dict[str, Any]) -> datetime | None:
    """The event's start as the item's payload gives it (when the item was written)."""
    try:
        return datetime.fromisoformat(str(event["starts_at"]))
    except (KeyError, ValueError):
        return None


def summary_text(titles: list[str], *, held: bool = False) -> tuple[str, str]:
    """The digest's title and body for the item titles, newest last; `held`: the alerts
    held for quiet hours beyond the few sent alone (`compose_held`)."""
    count = len(titles)
    plural = "s" if count != 1 else ""
    title = (
        f"🌙 While your quiet hours were on: {count} more alert{plural}"
        if held
        else f"📬 Your digest: {count} low-priority alert{plural}"
    )
    lines = [f"• {t}" for t in titles[:MAX_ITEMS]]
    if count > MAX_ITEMS:
        lines.append(f"… and {count - MAX_ITEMS} more — send `alerts` to see them all")
    return title, "\n".join(lines)


async def _zones(session: AsyncSession, user_ids: set[int | None]) -> dict[int, str | None]:
    wanted = [user_id for user_id in user_ids if user_id is not None]
    if not wanted:
        return {}
    rows = await session.execute(select(User.id, User.timezone).where(User.id.in_(wanted)))
    return {user_id: tz for user_id, tz in rows}


async def _alerts_now(
    session: AsyncSession, alert_ids: set[int | None]
) -> dict[int, tuple[float | None, datetime]]:
    """Each alert's price and its event's start now (one query): both may have changed
    since the item was written."""
    wanted = sorted(alert_id for alert_id in alert_ids if alert_id is not None)
    if not wanted:
        return {}
    rows = await session.execute(
        select(Alert.id, Alert.price, Event.starts_at)
        .join(Event, Event.id == Alert.event_id)
        .where(Alert.id.in_(wanted))
    )
    return {alert_id: (price, starts_at) for alert_id, price, starts_at in rows}


async def compose_digests(session: AsyncSession, now: datetime) -> int:
    """Merge due digest items into one summary per (person, channel, address).

    Returns:
        How many summary notifications were queued.
    """
    items = list(
        (
            await session.execute(
                select(Notification)
                .where(
                    Notification.kind == ITEM_KIND,
                    Notification.status == NotificationStatus.PENDING.value,
                    Notification.due_at <= now,
                )
                .order_by(Notification.created_at, Notification.id)
                .with_for_update(skip_locked=True)
            )
        ).scalars()
    )
    groups: dict[tuple[int | None, str, str], list[Notification]] = defaultdict(list)
    for item in items:
        groups[(item.user_id, item.channel, item.address)].append(item)
    zones = await _zones(session, {user_id for user_id, _, _ in groups})
    alerts = await _alerts_now(session, {item.alert_id for item in items})
    for (user_id, channel, address), rows in groups.items():
        person_tz = zones.get(user_id) if user_id is not None else None
        lines = [
            item_line(row, person_tz, *alerts.get(row.alert_id or 0, _UNKNOWN)) for row in rows
        ]
        first = min(row.id for row in rows)
        key = idempotency_key("digest", user_id, channel, address, first)
        await _merge(session, rows, lines, key, now, due_at=now, level=1)
    return len(groups)


async def compose_held(session: AsyncSession, now: datetime, lead: timedelta) -> int:
    """Merge the chat alert messages held for one destination's quiet hours, beyond the
    `HELD_ALONE` most important (level, score), into one summary due with them.

    Runs shortly before the rows fall due (`lead` must exceed the job's interval), so
    delivery, which claims rows as soon as they are due, has not taken them yet; rows
    already past due but unclaimed (the process was down) are merged too. Only pending,
    never-tried, unleased rows are locked (SKIP LOCKED); a group of which another process
    holds some rows is left for the next run. One summary per destination and wake-up at
    most (its idempotency key), so a rerun merges nothing twice; a message written after
    it goes alone.

    Returns:
        How many summary notifications were queued.
    """
    wanted = (
        Notification.kind == "alert",
        Notification.status == NotificationStatus.PENDING.value,
        Notification.attempts == 0,
        Notification.claimed_by.is_(None),
        Notification.lease_until.is_(None),
        Notification.webhook_endpoint_id.is_(None),
        Notification.channel.in_(sorted(c.value for c in CHAT_CHANNELS)),
        Notification.level < Level.CRITICAL,
        Notification.due_at <= now + lead,
    )
    # Light columns first: most rows due soon were never held, and payloads are KBs.
    light = select(
        Notification.id,
        Notification.user_id,
        Notification.channel,
        Notification.address,
        Notification.due_at,
        Notification.created_at,
    ).where(*wanted)
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for row_id, user_id, channel, address, due_at, created_at in await session.execute(light):
        if _was_held(due_at, created_at):
            groups[(user_id, channel, address, ensure_utc(due_at))].append(row_id)
    groups = {k: ids for k, ids in groups.items() if len(ids) > HELD_ALONE}
    if not groups:
        return 0
    keys = {k: idempotency_key("held", *k[:3], k[3].isoformat()) for k in groups}
    done = set(
        (
            await session.execute(
                select(Notification.idempotency_key).where(
                    Notification.idempotency_key.in_(list(keys.values()))
                )
            )
        ).scalars()
    )
    ids = [row_id for k, group_ids in groups.items() if keys[k] not in done for row_id in group_ids]
    if not ids:
        return 0
    locked = {
        row.id: row
        for row in (
            await session.execute(
                select(Notification)
                .where(Notification.id.in_(ids), *wanted)
                .order_by(Notification.id)
                .with_for_update(skip_locked=True)
            )
        ).scalars()
    }
    zones = await _zones(session, {user_id for user_id, *_ in groups})
    alerts = await _alerts_now(session, {row.alert_id for row in locked.values()})
    queued = 0
    for group, group_ids in groups.items():
        if keys[group] in done or any(row_id not in locked for row_id in group_ids):
            continue  # merged already, or partly claimed or locked elsewhere: next run
        rows = [locked[row_id] for row_id in group_ids]
        ranked = sorted(rows, key=lambda r: (r.level, r.score, -r.id), reverse=True)
        merged = sorted(ranked[HELD_ALONE:], key=lambda r: (r.created_at, r.id))
        person_tz = zones.get(group[0]) if group[0] is not None else None
        lines = [
            item_line(row, person_tz, *alerts.get(row.alert_id or 0, _UNKNOWN)) for row in merged
        ]
        level = max(row.level for row in merged)
        await _merge(
            session, merged, lines, keys[group], now, due_at=group[3], level=level, held=True
        )
        queued += 1
    return queued


def _was_held(due_at: datetime, created_at: datetime | None) -> bool:
    """A row due then, written then, waited for quiet hours: it was planned well after it
    was written (as `late_note` reads it)."""
    if created_at is None:
        return False
    return ensure_utc(due_at) - ensure_utc(created_at) >= HELD_AFTER


async def _merge(
    session: AsyncSession,
    rows: Sequence[Notification],
    lines: list[str],
    key: str,
    now: datetime,
    *,
    due_at: datetime,
    level: int,
    held: bool = False,
) -> int:
    """Queue one `digest_summary` listing `rows` (one line each) and cancel the rows,
    pointing at it; returns the summary's id."""
    first = rows[0]
    title, body = summary_text(lines, held=held)
    data: dict[str, Any] = {
        "items": [
            {"alert_id": row.alert_id, "title": row.payload.get("title"), "line": line}
            for row, line in zip(rows, lines, strict=True)
        ]
    }
    if held:
        data["held"] = True
    row = notice_row(
        kind=SUMMARY_KIND,
        event_type="digest",
        user_id=first.user_id,
        channel=first.channel,
        address=first.address,
        level=level,
        title_text=title,
        body_text=body,
        data=data,
        key=key,
        now=now,
        due_at=due_at,
    )
    summary_id: int = (
        await session.execute(insert(Notification).values(row).returning(Notification.id))
    ).scalar_one()
    await session.execute(
        update(Notification)
        .where(Notification.id.in_([row.id for row in rows]))
        .values(
            status=NotificationStatus.CANCELLED.value,
            last_error=f"sent in digest notification {summary_id}",
        )
        .execution_options(synchronize_session=False)
    )
    return summary_id


def _items(row: Notification) -> list[dict[str, Any]]:
    return list(((row.payload or {}).get("data") or {}).get("items") or ())


def summary_alert_ids(rows: Sequence[Notification]) -> set[int]:
    """The alerts listed in the digest summaries among `rows`."""
    return {
        i["alert_id"]
        for row in rows
        if row.kind == SUMMARY_KIND
        for i in _items(row)
        if i.get("alert_id")
    }


def prune_summaries(rows: Sequence[Notification], closed: Collection[int]) -> list[Notification]:
    """Drop from claimed digest summaries the items whose alert is in `closed` (it was
    acknowledged, snoozed or resolved after the digest was composed, while the summary
    waited for a retry or a rate limit); return the summaries with nothing left to say."""
    empty: list[Notification] = []
    for row in rows:
        if row.kind != SUMMARY_KIND:
            continue
        entries = _items(row)
        kept = [i for i in entries if i.get("alert_id") not in closed]
        if len(kept) == len(entries):
            continue
        if not kept:
            empty.append(row)
            continue
        data = {**row.payload["data"], "items": kept}
        lines = [str(i.get("line") or i.get("title") or "alert") for i in kept]
        title, body = summary_text(lines, held=bool(data.get("held")))
        row.payload = {**row.payload, "title": title, "body": body, "data": data}
    return empty
