"""The default escalation policy (DESIGN.md §6) as data, and freezing it onto an alert.

A policy is, per level, an ordered list of steps: how long after the alert opened
(`after_s`) and whom to reach (`target`). Step 0 is what the planner sends at once; the
escalation ticker walks the later steps while the alert stays unacknowledged. The policy
in force is copied onto the alert when it opens, so later edits never change an alert
already in flight. A person may override the steps of any level in
`preferences.escalation_overrides`: `{"4": [{"after_s": 0, "target": "preferred_chat"},
{"after_s": 600, "target": "sms"}]}`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from core.domain import Level

logger = logging.getLogger(__name__)


class StepTarget(StrEnum):
    """Whom one escalation step reaches."""

    ALL_CHATS = "all_chats"
    PREFERRED_CHAT = "preferred_chat"
    OTHER_CHATS = "other_chats"
    SMS = "sms"
    VOICE = "voice"
    EMERGENCY_CONTACTS = "emergency_contacts"
    DIGEST = "digest"


@dataclass(frozen=True, slots=True)
class Step:
    after_s: int
    target: StepTarget


DEFAULT_POLICY: Mapping[Level, tuple[Step, ...]] = {
    Level.CRITICAL: (
        Step(0, StepTarget.ALL_CHATS),
        Step(120, StepTarget.SMS),
        Step(300, StepTarget.VOICE),
        Step(900, StepTarget.EMERGENCY_CONTACTS),
        Step(1200, StepTarget.VOICE),  # the one repeat call
    ),
    Level.HIGH: (
        Step(0, StepTarget.PREFERRED_CHAT),
        Step(300, StepTarget.OTHER_CHATS),
        Step(900, StepTarget.SMS),
    ),
    Level.MEDIUM: (Step(0, StepTarget.PREFERRED_CHAT),),
    Level.NORMAL: (Step(0, StepTarget.PREFERRED_CHAT),),  # held during quiet hours
    Level.LOW: (Step(0, StepTarget.DIGEST),),
}


def _parse_steps(raw: object) -> tuple[Step, ...] | None:
    """Return the steps of one override, or None when it is malformed."""
    if not isinstance(raw, list) or not raw:
        return None
    steps: list[Step] = []
    for item in raw:
        if not isinstance(item, Mapping):
            return None
        after, target = item.get("after_s"), item.get("target")
        if not isinstance(after, int) or after < 0 or target not in StepTarget.__members__.values():
            return None
        steps.append(Step(after, StepTarget(str(target))))
    steps.sort(key=lambda step: step.after_s)
    return tuple(steps)


def steps_for(
    level: Level, overrides: Mapping[str, Any] | None = None
) -> tuple[tuple[Step, ...], str]:
    """Return the steps in force for `level` and where they came from ("default"|"override").

    A malformed override is ignored (logged) so a bad preference never blocks an alert.
    """
    raw = (overrides or {}).get(str(int(level)))
    if raw is not None:
        parsed = _parse_steps(raw)
        if parsed is not None:
            return parsed, "override"
        logger.warning("ignoring malformed escalation override for level %s", int(level))
    return DEFAULT_POLICY[level], "default"


@dataclass(frozen=True, slots=True)
class FrozenPolicy:
    """The policy as stored on `alerts.escalation`, plus the alert's first deadline."""

    snapshot: dict[str, Any]
    next_step_at: datetime | None


def freeze(
    level: Level, started_at: datetime, overrides: Mapping[str, Any] | None = None
) -> FrozenPolicy:
    """Freeze the policy for `level` onto an alert whose step 0 goes out at `started_at`.

    Args:
        level: the alert's level when it opened (or rose).
        started_at: when step 0 is delivered (later than now when quiet hours defer it).
        overrides: the person's `preferences.escalation_overrides`, if any.

    Returns:
        The JSON snapshot `{"level", "source", "started_at", "steps": [{"after_s",
        "target"}]}` and the time of step 1 (None when there is no later step).
    """
    steps, source = steps_for(level, overrides)
    pairs, first_after = _PLAIN[level] if source == "default" else _plain(steps)
    snapshot: dict[str, Any] = {
        "level": int(level),
        "source": source,
        "started_at": started_at.isoformat(),
        "steps": [{"after_s": after, "target": target} for after, target in pairs],
    }
    next_at = started_at + timedelta(seconds=first_after) if first_after is not None else None
    return FrozenPolicy(snapshot, next_at)


def stopped(frozen_level: int, level: Level, at: datetime) -> dict[str, Any]:
    """The snapshot of a frozen round that stopped because the alert fell to `level`.

    It keeps the level the round was frozen for (the engine reads it back as the level
    the person was last told about) and no steps left, and says it stopped, so neither
    the ticker nor the auditor (`is_stopped`) takes the chain up again. A later round
    freezes a new snapshot over it.

    Args:
        frozen_level: the level of the round that stops.
        level: the level the alert fell to (its policy sends nothing after step 0).
        at: when it stopped.
    """
    return {
        "level": frozen_level,
        "source": "stopped",
        "steps": [],
        "stopped": {"at": at.isoformat(), "level": int(level)},
    }


def is_stopped(snapshot: Mapping[str, Any] | None) -> bool:
    """Whether `snapshot` (`alerts.escalation`) is a round that stopped (see `stopped`)."""
    return bool((snapshot or {}).get("stopped"))


def _plain(steps: tuple[Step, ...]) -> tuple[tuple[tuple[int, str], ...], int | None]:
    """The steps as (after_s, target) pairs, and the delay of the first later step."""
    later = [s.after_s for s in steps if s.after_s > 0]
    return tuple((s.after_s, s.target.value) for s in steps), later[0] if later else None


# The default policy's steps, ready to freeze (every alert opens on one of them).
_PLAIN = {level: _plain(steps) for level, steps in DEFAULT_POLICY.items()}
