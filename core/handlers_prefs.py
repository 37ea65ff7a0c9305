"""`prefs`, `quiet`, `tz`, `help`, and the commands that arrive with later features."""

from __future__ import annotations

from sqlalchemy import select

from core.chat import Reply
from core.command_help import example, help_lines
from core.command_types import (
    ChannelOrder,
    DigestSchedule,
    ForgetLearning,
    MinLevel,
    PrefsCommand,
    QuietCommand,
    TzCommand,
    WakeForCritical,
)
from core.db.models import Notification, Preference, User
from core.delivery_plan import first_delivery_at
from core.digest import ITEM_KIND
from core.domain import PHONE_CHANNELS, ChannelKind, Level, NotificationStatus, plural
from core.formatting import zone
from core.recipients import load_recipients
from core.routing import DEFAULT_ORDER, destinations
from core.scoring import DEFAULT_WEIGHTS, FACTOR_NAMES, MIN_FEEDBACK, blend_weights
from core.turn import Turn


async def _replan_held(turn: Turn) -> int:
    """Re-time the person's chat messages still held for quiet hours or a digest, by the
    settings just changed (a held alert must not go out inside the new quiet hours, nor
    wait for ones just turned off); returns how many moved. Retries keep their backoff."""
    person = (await load_recipients(turn.session, [turn.ctx.user_id])).get(turn.ctx.user_id)
    if person is None:
        return 0
    held = await turn.session.scalars(
        select(Notification).where(
            Notification.user_id == turn.ctx.user_id,
            Notification.status == NotificationStatus.PENDING.value,
            Notification.kind.in_((ITEM_KIND, "alert")),
            Notification.channel != ChannelKind.WEBHOOK.value,
            Notification.attempts == 0,
            Notification.due_at > turn.now,
            Notification.level < int(Level.CRITICAL),
        )
    )
    moved = 0
    for row in held:
        level = Level.LOW if row.kind == ITEM_KIND else Level(max(row.level, Level.MEDIUM))
        due = first_delivery_at(level, person, turn.now)
        if due != row.due_at:
            row.due_at, moved = due, moved + 1
    return moved


def _held_note(moved: int) -> tuple[str, ...]:
    if not moved:
        return ()
    return (f"{moved} held message{'s' if moved != 1 else ''} re-timed to match.",)


async def _preference(turn: Turn) -> Preference:
    pref = await turn.session.get(Preference, turn.ctx.user_id)
    if pref is None:
        pref = Preference(
            user_id=turn.ctx.user_id,
            channel_order=[],
            min_level_per_channel={},
            digest_schedule="hourly",
            escalation_overrides={},
            wake_for_critical=False,
        )
        turn.session.add(pref)
    return pref


async def prefs(turn: Turn, cmd: PrefsCommand) -> Reply:
    """Show the preferences, or change the one setting in `cmd`."""
    pref = await _preference(turn)
    setting = cmd.setting
    if setting is None:
        reachable = await destinations(turn.session, turn.ctx.user_id)
        return Reply(lines=_show(await turn.user(), pref, [d.channel.value for d in reachable]))
    if isinstance(setting, ChannelOrder):
        pref.channel_order = [c.value for c in setting.channels]
        text = "Channel order: " + ", ".join(pref.channel_order) + " (then any other)."
        reachable = await destinations(turn.session, turn.ctx.user_id)  # in the new order
        linked = {d.channel for d in reachable}
        missing = [c.value for c in setting.channels if c not in linked]
        if missing:  # accepted (a link may follow), but alerts cannot go there yet
            first = reachable[0].channel.value if reachable else "none of your chats"
            text += (
                f" You have no {' or '.join(missing)} account linked yet,"
                f" so alerts go to {first} for now."
            )
            phones = [c for c in missing if c in PHONE_CHANNELS]
            if phones:
                text += (
                    f" To get alerts by {' or '.join(phones)}, add your number with"
                    f" {example('phone')}."
                )
    elif isinstance(setting, MinLevel):
        # Planning looks levels up per channel, so "everywhere" sets every channel.
        keys = [setting.channel] if setting.channel else list(ChannelKind)
        levels = dict(pref.min_level_per_channel or {})
        levels.update({key.value: int(setting.level) for key in keys})
        pref.min_level_per_channel = levels
        where = f"on {setting.channel.value}" if setting.channel else "everywhere"
        text = f"You'll get alerts of level {setting.level.label} and above {where}."
    elif isinstance(setting, DigestSchedule):
        pref.digest_schedule = setting.schedule
        article = "an" if setting.schedule == "hourly" else "a"
        text = f"Low-level alerts now come in {article} {setting.schedule} digest."
        return Reply(lines=(text, *_held_note(await _replan_held(turn))))
    elif isinstance(setting, WakeForCritical):
        pref.wake_for_critical = setting.on
        text = f"Wake me for critical alerts: {'on' if setting.on else 'off'}."
    elif isinstance(setting, ForgetLearning):
        text = await _forget_learning(turn)
    return Reply(lines=(text,))


async def _forget_learning(turn: Turn) -> str:
    """Drop the person's learned weights: their alerts are scored with the defaults, and
    learning starts over from their next responses."""
    user = await turn.lock_user()
    count = user.feedback_count or 0
    if count == 0 and not user.learned_weights:
        return f"Nothing learned yet (0 of {MIN_FEEDBACK} responses): nothing to forget."
    user.learned_weights, user.feedback_count = None, 0
    return (
        f"Forgot what your {plural(count, 'response')} taught me: your alerts are scored with"
        f" the default weights again, and learning starts over."
    )


def _show(user: User, pref: Preference, reachable: list[str]) -> tuple[str, ...]:
    """The preferences, and where alerts go now: `reachable` are the person's linked
    chats in their order (a channel in the order with no linked account is skipped)."""
    order = [str(c) for c in pref.channel_order] or [c.value for c in DEFAULT_ORDER]
    levels = {str(k): Level(int(v)) for k, v in (pref.min_level_per_channel or {}).items()}
    if len(set(levels.values())) == 1 and set(levels) >= {c.value for c in ChannelKind}:
        level_text = f"{next(iter(levels.values())).label} and above everywhere"
    else:
        level_text = ", ".join(f"{name} {level.label}" for name, level in sorted(levels.items()))
        level_text = level_text or "every level"
    quiet = f"{user.quiet_start}-{user.quiet_end}" if user.quiet_start else "off"
    return (
        "Your preferences:",
        "channels: " + ", ".join(order) + ("" if pref.channel_order else " (default)"),
        _going_to(reachable),
        f"level: {level_text}",
        f"digest: {pref.digest_schedule}",
        f"wake for critical: {'on' if pref.wake_for_critical else 'off'}",
        f"quiet hours: {quiet} · time zone: {user.timezone}",
        learning_line(user.learned_weights, user.feedback_count or 0),
        "Change one with e.g. prefs digest daily",
    )


def _going_to(reachable: list[str]) -> str:
    """Where alerts go: the first linked chat, every one for critical alerts
    (`core.delivery_plan.choose_destinations`)."""
    if not reachable:
        return "alerts go to: no linked chat yet"
    if len(reachable) == 1:
        return f"alerts go to: {reachable[0]}"
    return f"alerts go to: {reachable[0]}; critical ones to all of {', '.join(reachable)}"


def learning_line(learned: dict[str, object] | None, count: int, shown: int = 3) -> str:
    """One line on per-person learning: the weights that moved most, or the progress.

    Args:
        learned: the stored `users.learned_weights`.
        count: the person's feedback so far.
        shown: at most this many factors, those furthest from their default first.
    """
    if count < MIN_FEEDBACK or not learned:
        return f"Learning: {count} of {MIN_FEEDBACK} responses so far"
    weights = blend_weights(DEFAULT_WEIGHTS, learned, count)  # what scores this person
    moved = sorted(
        (
            (abs(mine - base), name, mine, base)
            for name, mine, base in zip(FACTOR_NAMES, weights, DEFAULT_WEIGHTS, strict=True)
            if round(mine, 2) != round(base, 2)
        ),
        reverse=True,
    )
    if not moved:
        return f"Learned from {count} responses: weights as the defaults (prefs learning reset)"
    parts = [
        f"{name} {mine:.2f} ({'default ' if i == 0 else ''}{base:.2f})"
        for i, (_, name, mine, base) in enumerate(moved[:shown])
    ]
    more = " …" if len(moved) > shown else ""
    return f"Learned from {count} responses: {', '.join(parts)}{more} (prefs learning reset)"


async def quiet(turn: Turn, cmd: QuietCommand) -> Reply:
    """Set or clear quiet hours (local time of the person's zone)."""
    user = await turn.user()
    if cmd.show:
        if user.quiet_start is None or user.quiet_end is None:
            return Reply(lines=(f"Quiet hours are off. Set them with e.g. {example('quiet')}",))
        return Reply(
            lines=(
                f"{_quiet_sentence(user.quiet_start, user.quiet_end, user.timezone)}"
                " Change them with e.g. quiet 23:00-06:00, or quiet off",
            )
        )
    user.quiet_start, user.quiet_end = cmd.start, cmd.end
    held = _held_note(await _replan_held(turn))
    if cmd.start is None or cmd.end is None:
        return Reply(lines=("Quiet hours are off.", *held))
    lines = [_quiet_sentence(cmd.start, cmd.end, user.timezone)]
    if user.timezone == "UTC":
        lines.append("Your time zone is UTC; set yours with e.g. tz America/New_York")
    return Reply(lines=(*lines, *held))


def _quiet_sentence(start: str, end: str, timezone: str) -> str:
    return f"Quiet hours {start}-{end} ({timezone}): alerts below critical wait until {end}."


async def tz(turn: Turn, cmd: TzCommand) -> Reply:
    """Set the person's time zone (already validated by the parser)."""
    user = await turn.user()
    if cmd.zone is None:
        now = f"(it is {turn.now.astimezone(zone(user.timezone)):%H:%M} there now)"
        change = "Set yours" if user.timezone == "UTC" else "Change it"
        return Reply(
            lines=(f"Your time zone is {user.timezone} {now}. {change} with e.g. {example('tz')}",)
        )
    user.timezone = cmd.zone
    local = turn.now.astimezone(zone(cmd.zone))
    text = f"Time zone set to {cmd.zone} (it is {local:%H:%M} there now)."
    summer = (_NO_SUMMER,) if cmd.zone.removeprefix("Etc/") in _GREENWICH else ()
    return Reply(lines=(text, *summer, *_held_note(await _replan_held(turn))))


# Zones named after Greenwich time, which British and Irish people often mean by it: they
# never move for summer, so quiet hours and times would be an hour off half the year.
_GREENWICH = frozenset({"GMT", "GMT0", "GMT+0", "GMT-0", "Greenwich"})
_NO_SUMMER = (
    "GMT stays GMT in summer: in the UK or Ireland say tz Europe/London or tz Europe/Dublin,"
    " which move with the clocks."
)


def not_yet(feature: str) -> Reply:
    """The answer for commands whose feature has not landed."""
    return Reply(lines=(f"Not available yet — coming with {feature}.",))


_WELCOME = (
    "👋 Hi! I watch ticket prices for you and message you when it is time to buy.",
    "Start with a watch, e.g. watch knicks under 80 — or see prices now with market knicks.",
)


def help_reply(topic: str | None, *, welcome: bool = False) -> Reply:
    """Every command in one line each, or one command with its example; `welcome`: a
    greeting and a first step before them (`/start`)."""
    return Reply(lines=(*(_WELCOME if welcome else ()), *help_lines(topic)))
