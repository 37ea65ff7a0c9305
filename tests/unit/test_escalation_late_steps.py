"""A step that goes out late moves the rest of the chain back by its lateness."""

from __future__ import annotations

from datetime import timedelta

from core.escalation_rules import plan_step
from tests.unit.test_escalation_rules import CFG, T0, chain, kinds, person


def test_a_late_step_keeps_the_gap_to_the_next_one() -> None:
    """The SMS step (due at +2 min) going out at +25 min puts the call 3 minutes later,
    not at once, and the timeline says the chain moved back."""
    now = T0 + timedelta(minutes=25)
    plan = plan_step(chain(), person(), CFG, now)
    assert kinds(plan) == ["sms"] and plan.advance
    assert plan.next_due == now + timedelta(minutes=3)
    assert plan.shift_s == 23 * 60
    assert plan.notes == (("late", "step 1 went out 23 min late: later steps moved back"),)


def test_the_moved_chain_carries_on_from_its_shift() -> None:
    """The next step, due at its moved time, is not late and keeps the next gap."""
    moved = chain(step=2, shift_s=23 * 60)
    now = T0 + timedelta(minutes=28)
    plan = plan_step(moved, person(), CFG, now)
    assert kinds(plan) == ["voice"] and not plan.notes
    assert plan.next_due == now + timedelta(minutes=10)


def test_a_tick_a_second_late_moves_the_chain_without_a_note() -> None:
    """The ticker's own second of delay is kept out of the timeline."""
    now = T0 + timedelta(seconds=121)
    plan = plan_step(chain(), person(), CFG, now)
    assert plan.next_due == T0 + timedelta(seconds=301) and not plan.notes


def test_a_late_step_held_for_presence_is_held_from_now() -> None:
    """An active person's late SMS step becomes a chat nudge and the SMS waits one gap
    from now, not from its original deadline (long past)."""
    now = T0 + timedelta(minutes=25)
    plan = plan_step(chain(), person(active_platforms=("slack",)), CFG, now)
    assert kinds(plan) == ["chat"] and not plan.advance
    assert plan.next_due == now + timedelta(minutes=3)
    assert plan.notes[0][0] == "late" and plan.notes[1][0] == "held"
