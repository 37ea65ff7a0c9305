"""Every rule of escalation as pure decisions: presence, sell-out, quiet, voice hours, caps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.domain import ChannelKind, Level
from core.escalation_rules import Chain, EscalationConfig, PersonNow, SendKind, plan_step
from core.policy import DEFAULT_POLICY
from core.routing import Destination

T0 = datetime(2024, 3, 20, 12, 0, tzinfo=UTC)  # 12:00 UTC
CHATS = (Destination(ChannelKind.TELEGRAM, "tg-1"), Destination(ChannelKind.SLACK, "C1"))
CFG = EscalationConfig()


def chain(level: Level = Level.CRITICAL, step: int = 1, **kw: object) -> Chain:
    return Chain(level, DEFAULT_POLICY[level], T0, step, **kw)  # type: ignore[arg-type]


def person(**kw: object) -> PersonNow:
    base: dict[str, object] = {"chats": CHATS, "phone": "cp1", "emergency": ("cp2",)}
    base.update(kw)
    return PersonNow(**base)  # type: ignore[arg-type]


def kinds(plan) -> list[str]:  # type: ignore[no-untyped-def]
    return [s.kind.value for s in plan.sends]


def test_absent_person_gets_the_sms_step() -> None:
    plan = plan_step(chain(), person(), CFG, T0 + timedelta(seconds=120))
    assert kinds(plan) == ["sms"] and plan.advance
    assert plan.next_due == T0 + timedelta(seconds=300)


def test_active_person_gets_a_chat_nudge_and_sms_is_held_one_step() -> None:
    now = T0 + timedelta(seconds=120)
    plan = plan_step(chain(), person(active_platforms=("slack",)), CFG, now)
    assert [(s.kind, s.address) for s in plan.sends] == [(SendKind.CHAT, "C1")]
    assert not plan.advance and plan.held == (1,)
    assert plan.next_due == T0 + timedelta(seconds=300)  # held back to the next step's slot
    assert plan.notes[0][0] == "held" and "slack" in plan.notes[0][1]
    # Held once only: when it comes due again, the SMS goes even if still active.
    again = Chain(Level.CRITICAL, DEFAULT_POLICY[Level.CRITICAL], T0, 1, plan.shift_s, plan.held)
    later = plan_step(again, person(active_platforms=("slack",)), CFG, plan.next_due)  # type: ignore[arg-type]
    assert kinds(later) == ["sms"] and later.advance
    assert later.next_due == T0 + timedelta(seconds=300 + 180)  # the chain shifted by one gap


def test_activity_on_an_unlinked_platform_does_not_hold() -> None:
    plan = plan_step(
        chain(), person(active_platforms=("discord",)), CFG, T0 + timedelta(seconds=120)
    )
    assert kinds(plan) == ["sms"]


def test_absent_with_sellout_before_next_step_compresses_the_wait() -> None:
    now = T0 + timedelta(seconds=120)
    plan = plan_step(chain(hours_to_depletion=60 / 3600), person(), CFG, now)
    assert plan.next_due == now + timedelta(seconds=30)  # half of 60 s, floored at 30 s
    [note] = [text for kind, text in plan.notes if kind == "compressed"]
    assert note == "sell-out predicted in about 1 min: next step in 30 s"
    fast = plan_step(chain(hours_to_depletion=10 / 3600), person(), CFG, now)
    assert fast.next_due == now + timedelta(seconds=CFG.min_wait_s)  # never under 30 s
    calm = plan_step(chain(hours_to_depletion=5.0), person(), CFG, now)
    assert calm.next_due == T0 + timedelta(seconds=300)


def test_active_person_waits_are_not_compressed() -> None:
    now = T0 + timedelta(seconds=900)
    c = chain(step=3, hours_to_depletion=60 / 3600, held=(3,))
    plan = plan_step(c, person(active_platforms=("telegram",)), CFG, now)
    assert plan.next_due == T0 + timedelta(seconds=1200)


def test_quiet_hours_hold_levels_below_critical() -> None:
    quiet = {"quiet_start": "11:00", "quiet_end": "13:00"}
    high = plan_step(chain(Level.HIGH, 2), person(**quiet), CFG, T0 + timedelta(seconds=900))
    assert high.sends == () and not high.advance
    assert high.next_due == datetime(2024, 3, 20, 13, 0, tzinfo=UTC)
    crit = plan_step(chain(), person(**quiet), CFG, T0 + timedelta(seconds=120))
    assert kinds(crit) == ["sms"]


@pytest.mark.parametrize(
    ("voice_hours", "wake", "level", "expected"),
    [
        (("08:00", "22:00"), False, Level.CRITICAL, ["voice"]),
        (("13:00", "22:00"), False, Level.CRITICAL, ["sms"]),
        (("13:00", "22:00"), True, Level.CRITICAL, ["voice"]),
        (("22:00", "11:00"), False, Level.CRITICAL, ["sms"]),
    ],
)
def test_voice_only_inside_allowed_hours_unless_wake_for_critical(
    voice_hours: tuple[str, str], wake: bool, level: Level, expected: list[str]
) -> None:
    p = person(voice_start=voice_hours[0], voice_end=voice_hours[1], wake_for_critical=wake)
    plan = plan_step(chain(level, 2), p, CFG, T0 + timedelta(seconds=300))
    assert kinds(plan) == expected


def _times(n: int, ago_s: int) -> list[datetime]:
    now = T0 + timedelta(seconds=120)
    return [now - timedelta(seconds=ago_s) for _ in range(n)]


@pytest.mark.parametrize(
    ("sent", "step", "expected", "why"),
    [
        ({"sms": _times(5, 600)}, 1, ["chat", "chat"], "5 per 15 min"),
        ({"sms": _times(4, 600)}, 1, ["sms"], None),
        ({"sms": _times(11, 1800)}, 1, ["chat", "chat"], "11 per 1 h"),
        ({"sms": _times(10, 1800)}, 1, ["sms"], None),
        ({"voice": _times(3, 600)}, 2, ["sms"], "3 per 15 min"),
        ({"voice": _times(7, 1800)}, 2, ["sms"], "7 per 1 h"),
        ({"voice": _times(7, 1800), "sms": _times(5, 60)}, 2, ["chat", "chat"], "voice"),
        ({"emergency": _times(30, 7200)}, 1, ["chat", "chat"], "daily cap"),
    ],
)
def test_throttles_and_the_daily_cap_fall_through_and_say_so(
    sent: dict[str, list[datetime]], step: int, expected: list[str], why: str | None
) -> None:
    plan = plan_step(chain(step=step), person(sent=sent), CFG, T0 + timedelta(seconds=120))
    assert kinds(plan) == expected
    notes = " | ".join(detail for _, detail in plan.notes)
    if why is None:
        assert not plan.notes
    else:
        assert why in notes and "instead" in notes


def test_no_verified_phone_falls_through_to_chats() -> None:
    plan = plan_step(chain(), person(phone=None), CFG, T0 + timedelta(seconds=120))
    assert kinds(plan) == ["chat", "chat"]
    assert "no verified phone" in plan.notes[0][1]


def test_emergency_step_without_opted_in_contacts_is_noted() -> None:
    plan = plan_step(chain(step=3), person(emergency=()), CFG, T0 + timedelta(seconds=900))
    assert plan.sends == () and plan.advance
    assert plan.notes == (("undeliverable", "no emergency contact has opted in"),)


def test_chat_steps_reach_only_chats_whose_minimum_level_the_alert_meets() -> None:
    critical_only_slack = {"slack": int(Level.CRITICAL)}
    high = plan_step(
        chain(Level.HIGH, step=1), person(min_levels=critical_only_slack), CFG,
        T0 + timedelta(seconds=300),
    )  # fmt: skip
    # Level 4's "other chats" step: the Slack chat wants critical only, so nothing is left.
    assert high.sends == () and ("undeliverable", "no other chat linked") in high.notes
    fallthrough = plan_step(
        chain(step=1), person(phone=None, min_levels={"slack": int(Level.CRITICAL)}), CFG,
        T0 + timedelta(seconds=120),
    )  # fmt: skip
    assert [s.address for s in fallthrough.sends] == ["tg-1", "C1"]  # critical meets both


def fallen(step: int, to: Level = Level.HIGH) -> Chain:
    """A critical round whose alert has since fallen to `to`."""
    snapshot = {
        "level": int(Level.CRITICAL),
        "started_at": T0.isoformat(),
        "steps": [{"after_s": s.after_s, "target": s.target.value} for s in DEFAULT_POLICY[5]],
    }
    return Chain.from_alert(snapshot, step - 1, None, int(to))


def test_a_critical_round_fallen_to_high_keeps_its_sms_but_skips_calls_and_contacts() -> None:
    sms = plan_step(fallen(1), person(), CFG, T0 + timedelta(seconds=120))
    assert kinds(sms) == ["sms"] and sms.advance and not sms.skipped
    for step, after in ((2, 300), (3, 900), (4, 1200)):  # voice, emergency, voice
        plan = plan_step(fallen(step), person(), CFG, T0 + timedelta(seconds=after))
        assert plan.sends == () and plan.advance and plan.skipped
        assert plan.notes[0][0] == "skipped" and "high" in plan.notes[0][1]
    assert plan.next_due is None  # the last step: the round is over


def test_a_fallen_round_obeys_the_persons_override_for_the_lower_level() -> None:
    calls_at_high = {"4": [{"after_s": 0, "target": "preferred_chat"},
                           {"after_s": 300, "target": "voice"}]}  # fmt: skip
    plan = plan_step(
        fallen(2), person(escalation_overrides=calls_at_high), CFG, T0 + timedelta(seconds=300)
    )
    assert kinds(plan) == ["voice"]


def test_a_fallen_round_is_held_by_quiet_hours_like_its_new_level() -> None:
    quiet = person(quiet_start="11:00", quiet_end="13:00")  # T0 is 12:00 UTC
    plan = plan_step(fallen(1), quiet, CFG, T0 + timedelta(seconds=120))
    assert not plan.advance and plan.notes[0][0] == "held"
    assert kinds(plan_step(chain(), quiet, CFG, T0 + timedelta(seconds=120))) == ["sms"]
