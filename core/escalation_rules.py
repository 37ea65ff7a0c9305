"""Pure decisions of one escalation step: whom to reach, what to hold, when the next is due.

Given the frozen policy of an alert (`core.policy`), the step that is due and what is
known about the person right now, `plan_step` returns the sends of that step, the
timeline notes, and the alert's next deadline. Rules (DESIGN.md §6, issue 4):

- Quiet hours hold every level below critical until they end.
- A person active on a chat platform within the presence window gets a chat nudge
  there, and an SMS, call or emergency-contact step is held back one step (once).
- Voice only inside the person's allowed hours, unless they opted into "wake me for
  critical" and the alert is critical; otherwise the call falls through to SMS.
- Multi-window throttles (SMS 5/15 min and 11/h, voice 3/15 min and 7/h) and a daily
  cap: a throttled step falls through to the next channel (voice -> SMS -> chat). Texts
  to emergency contacts are throttled with the SMS windows (counted over the texts to
  the person's contacts) and count toward the daily cap; a throttled contacts step
  reaches the person's chats instead.
- A step that goes out late (a restart, a stalled ticker, the auditor's retry) moves
  the rest of the chain back by its lateness, so later steps keep the policy's gaps.
- Absent, with a sell-out predicted before the next step: that wait is compressed,
  never below `min_wait_s`.

No I/O, no clock: `now` is an argument.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from core.delivery_plan import allowed_chats, parse_hhmm, quiet_until
from core.domain import ChannelKind, Level, rough_duration
from core.formatting import humanize_delta, local_time, zone
from core.policy import Step, StepTarget, steps_for
from core.routing import Destination


@dataclass(frozen=True, slots=True)
class Window:
    """At most `limit` sends per `seconds`."""

    limit: int
    seconds: int


@dataclass(frozen=True, slots=True)
class EscalationConfig:
    """Tunables of escalation; `bot/bootstrap.py` fills it from settings."""

    presence_window_s: int = 300
    min_wait_s: int = 30
    sms_windows: tuple[Window, ...] = (Window(5, 900), Window(11, 3600))
    voice_windows: tuple[Window, ...] = (Window(3, 900), Window(7, 3600))
    daily_cap: int = 30
    voice_start: str = "08:00"
    voice_end: str = "22:00"
    batch_size: int = 200
    public_url: str | None = None  # base of the links in `alert.escalated` webhook events


class SendKind(StrEnum):
    CHAT = "chat"
    SMS = "sms"
    VOICE = "voice"
    EMERGENCY = "emergency"


@dataclass(frozen=True, slots=True)
class Send:
    """One message of a step: its kind, outbox channel and address."""

    kind: SendKind
    channel: ChannelKind
    address: str


@dataclass(frozen=True, slots=True)
class PersonNow:
    """What escalation knows about the person at the time of the step."""

    timezone: str = "UTC"
    quiet_start: str | None = None
    quiet_end: str | None = None
    voice_start: str | None = None
    voice_end: str | None = None
    wake_for_critical: bool = False
    chats: tuple[Destination, ...] = ()
    min_levels: Mapping[str, Any] = field(default_factory=dict)  # per channel (prefs level)
    active_platforms: tuple[str, ...] = ()
    phone: str | None = None  # the outbox address of the verified phone ("cp<id>")
    sms_opted_out: bool = False  # the phone refuses texts (replied STOP); calls still ring
    escalation_overrides: Mapping[str, Any] = field(default_factory=dict)  # per level
    emergency: tuple[str, ...] = ()  # outbox addresses of opted-in emergency contacts
    # Times of recent sends by 'sms' / 'voice' (own phone) / 'emergency'; a tick appends.
    sent: dict[str, list[datetime]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Chain:
    """An alert's frozen policy and progress, read from `alerts.escalation` and `step`."""

    level: Level  # the alert's level now, never above the round's (a rise starts a new one)
    steps: tuple[Step, ...]
    started_at: datetime
    step: int  # the step due next (alerts.step + 1: step 0 is the engine's send)
    shift_s: float = 0.0
    held: tuple[int, ...] = ()
    hours_to_depletion: float | None = None
    frozen: Level | None = None  # the level the round was frozen for, when it was higher

    @classmethod
    def from_alert(
        cls,
        snapshot: Mapping[str, Any],
        fired: int,
        prediction: Mapping[str, Any] | None,
        level: int | None = None,
    ) -> Chain:
        """The chain of an alert now at `level` whose steps up to `fired` (`alerts.step`)
        went out."""
        steps = tuple(
            Step(int(s["after_s"]), StepTarget(str(s["target"]))) for s in snapshot.get("steps", ())
        )
        depletion = (prediction or {}).get("hours_to_depletion")
        frozen = Level(int(snapshot.get("level", 3)))
        now = frozen if level is None else min(frozen, Level(level))
        return cls(
            level=now,
            frozen=frozen if now < frozen else None,
            steps=steps,
            started_at=datetime.fromisoformat(str(snapshot["started_at"])),
            step=fired + 1,
            shift_s=float(snapshot.get("shift_s", 0.0)),
            held=tuple(int(h) for h in snapshot.get("held", ())),
            hours_to_depletion=float(depletion) if isinstance(depletion, int | float) else None,
        )

    def due(self, index: int, shift_s: float | None = None) -> datetime | None:
        """When step `index` is due (None past the last step)."""
        if index >= len(self.steps):
            return None
        shift = self.shift_s if shift_s is None else shift_s
        return self.started_at + timedelta(seconds=self.steps[index].after_s + shift)

    @property
    def round_id(self) -> int:
        """Identifies this freezing of the policy; part of every step's idempotency key."""
        return int(self.started_at.timestamp())


@dataclass(frozen=True, slots=True)
class StepPlan:
    """The outcome of one due step."""

    sends: tuple[Send, ...]
    notes: tuple[tuple[str, str], ...]
    advance: bool  # the step fired (else it was held and stays due later)
    next_due: datetime | None
    shift_s: float
    held: tuple[int, ...]
    skipped: bool = False  # the step went by unsent: the alert fell to a level without it


def throttled(times: Sequence[datetime], windows: Sequence[Window], now: datetime) -> Window | None:
    """The first window that `times` (earlier sends) already fill at `now`, or None."""
    for window in windows:
        since = now - timedelta(seconds=window.seconds)
        if sum(1 for t in times if t > since) >= window.limit:
            return window
    return None


def in_voice_hours(now: datetime, person: PersonNow, config: EscalationConfig) -> bool:
    """True when a call may ring now (local allowed hours; may cross midnight)."""
    start = parse_hhmm(person.voice_start or config.voice_start)
    end = parse_hhmm(person.voice_end or config.voice_end)
    if start is None or end is None or start == end:
        return True
    clock = now.astimezone(zone(person.timezone)).time().replace(tzinfo=None)
    return start <= clock < end if start < end else (clock >= start or clock < end)


def _window_text(kind: str, window: Window) -> str:
    return f"{kind} throttled ({window.limit} per {humanize_delta(window.seconds)})"


class _Builder:
    def __init__(self, chain: Chain, person: PersonNow, config: EscalationConfig, now: datetime):
        self.chain, self.person, self.config, self.now = chain, person, config, now
        self.notes: list[tuple[str, str]] = []

    def capped(self) -> bool:
        total = sum(len(v) for v in self.person.sent.values())
        day = self.now - timedelta(days=1)
        today = sum(1 for v in self.person.sent.values() for t in v if t > day)
        return total > 0 and today >= self.config.daily_cap

    def chats(self, why: str | None = None) -> list[Send]:
        sends = [Send(SendKind.CHAT, d.channel, d.address) for d in self.person.chats]
        if why:
            self.notes.append(("fallthrough", f"{why}: chat instead"))
        if not sends:
            self.notes.append(("undeliverable", "no chat destination"))
        return sends

    def sms(self, why: str | None = None) -> list[Send]:
        if self.person.phone is None or self.person.sms_opted_out:
            gone = "no verified phone" if self.person.phone is None else "phone opted out of texts"
            return self.chats(f"{why}; {gone}" if why else gone)
        if why:
            self.notes.append(("fallthrough", f"{why}: SMS instead"))
        window = throttled(self.person.sent.get("sms", ()), self.config.sms_windows, self.now)
        if window is not None:
            self.notes.append(("throttled", _window_text("SMS", window)))
            return self.chats(_window_text("SMS", window))
        if self.capped():
            self.notes.append(("throttled", f"daily cap of {self.config.daily_cap} reached"))
            return self.chats("daily cap reached")
        return [Send(SendKind.SMS, ChannelKind.SMS, self.person.phone)]

    def voice(self) -> list[Send]:
        person, level = self.person, self.chain.level
        if person.phone is None:
            return self.chats("no verified phone")
        if not in_voice_hours(self.now, person, self.config) and not (
            person.wake_for_critical and level >= Level.CRITICAL
        ):
            self.notes.append(("held", "call outside allowed voice hours"))
            return self.sms("outside voice hours")
        window = throttled(person.sent.get("voice", ()), self.config.voice_windows, self.now)
        if window is not None:
            self.notes.append(("throttled", _window_text("voice", window)))
            return self.sms(_window_text("voice", window))
        if self.capped():
            self.notes.append(("throttled", f"daily cap of {self.config.daily_cap} reached"))
            return self.chats("daily cap reached")
        return [Send(SendKind.VOICE, ChannelKind.VOICE, person.phone)]

    def emergency(self) -> list[Send]:
        if not self.person.emergency:
            self.notes.append(("undeliverable", "no emergency contact has opted in"))
            return []
        sent = self.person.sent.get("emergency", ())
        window = throttled(sent, self.config.sms_windows, self.now)
        if window is not None:
            text = _window_text("emergency contact texts", window)
            self.notes.append(("throttled", f"{text}: contacts not texted"))
            return self.chats(text)
        if self.capped():
            cap = f"daily cap of {self.config.daily_cap} reached"
            self.notes.append(("throttled", f"{cap}: contacts not texted"))
            return self.chats("daily cap reached")
        return [Send(SendKind.EMERGENCY, ChannelKind.SMS, a) for a in self.person.emergency]

    def sends(self, target: StepTarget) -> list[Send]:
        chats = self.person.chats
        if target is StepTarget.ALL_CHATS:
            return self.chats()
        if target is StepTarget.PREFERRED_CHAT:
            return [Send(SendKind.CHAT, d.channel, d.address) for d in chats[:1]]
        if target is StepTarget.OTHER_CHATS:
            if len(chats) < 2:
                self.notes.append(("undeliverable", "no other chat linked"))
            return [Send(SendKind.CHAT, d.channel, d.address) for d in chats[1:]]
        if target is StepTarget.SMS:
            return self.sms()
        if target is StepTarget.VOICE:
            return self.voice()
        if target is StepTarget.EMERGENCY_CONTACTS:
            return self.emergency()
        return []


_PHONE_TARGETS = frozenset({StepTarget.SMS, StepTarget.VOICE, StepTarget.EMERGENCY_CONTACTS})
_LATE_NOTE_S = 60.0  # lateness worth a line on the timeline (ticks are a second apart)


def _late_notes(k: int, late: float) -> tuple[tuple[str, str], ...]:
    if late < _LATE_NOTE_S:
        return ()
    return (("late", f"step {k} went out {humanize_delta(late)} late: later steps moved back"),)


def plan_step(chain: Chain, person: PersonNow, config: EscalationConfig, now: datetime) -> StepPlan:
    """Decide what the due step `chain.step` does at `now` (see the module docstring)."""
    k = chain.step
    if k >= len(chain.steps):
        return StepPlan((), (("finished", "escalation finished"),), False, None, chain.shift_s, ())
    target = chain.steps[k].target
    due = chain.due(k) or now
    # Measured from the step's own deadline, not `next_step_at`: an auditor retry (due
    # now) of a long-stuck step is as late as the step itself.
    late = max(0.0, (now - due).total_seconds())
    if chain.frozen is not None and target in _PHONE_TARGETS:
        kept, _ = steps_for(chain.level, person.escalation_overrides)
        if target not in {step.target for step in kept}:
            shift = chain.shift_s + late
            note = f"step {k} ({target.value}) skipped: the alert fell to {chain.level.label}"
            nxt = chain.due(k + 1, shift)
            return StepPlan((), (("skipped", note),), True, nxt, shift, chain.held, True)
    quiet_end = quiet_until(now, person.timezone, person.quiet_start, person.quiet_end)
    if quiet_end is not None and chain.level < Level.CRITICAL:
        shift = chain.shift_s + max(0.0, (quiet_end - due).total_seconds())
        note = f"step {k} ({target.value}) held: quiet hours until "
        note += local_time(quiet_end, person.timezone)
        return StepPlan((), (("held", note),), False, quiet_end, shift, chain.held)
    # Chats the person set a higher minimum level for are not reached about this alert.
    person = replace(person, chats=allowed_chats(person.chats, person.min_levels, chain.level))
    builder = _Builder(chain, person, config, now)
    active = [p for p in person.active_platforms if any(d.channel == p for d in person.chats)]
    if target in _PHONE_TARGETS and active and k not in chain.held:
        where = next(d for d in person.chats if d.channel == active[0])
        nxt = chain.due(k + 1)
        gap = (nxt - due).total_seconds() if nxt is not None else config.presence_window_s
        gap = max(gap, float(config.min_wait_s))
        shift = chain.shift_s + late + gap
        note = (
            f"active on {where.channel.value}: chat nudge; {target.value} held back "
            f"{humanize_delta(gap)}"
        )
        return StepPlan(
            (Send(SendKind.CHAT, where.channel, where.address),),
            (*_late_notes(k, late), ("held", note)),
            False,
            chain.due(k, shift),
            shift,
            (*chain.held, k),
        )
    builder.notes.extend(_late_notes(k, late))
    sends = builder.sends(target)
    shift = chain.shift_s + late
    nxt = chain.due(k + 1, shift)
    if nxt is not None and not active and chain.hours_to_depletion is not None:
        sellout = now + timedelta(hours=chain.hours_to_depletion)
        if sellout < nxt:
            wait = max(float(config.min_wait_s), (sellout - now).total_seconds() / 2)
            if now + timedelta(seconds=wait) < nxt:
                shift -= (nxt - now).total_seconds() - wait
                nxt = chain.due(k + 1, shift)
                builder.notes.append(
                    (
                        "compressed",
                        f"sell-out predicted in {rough_duration((sellout - now).total_seconds())}"
                        f": next step in {humanize_delta(wait)}",
                    )
                )
    return StepPlan(tuple(sends), tuple(builder.notes), True, nxt, shift, chain.held)
