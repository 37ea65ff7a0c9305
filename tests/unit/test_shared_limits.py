"""`book_shared` / `penalise_shared`: the GCRA rule several processes share."""

from __future__ import annotations

from core.ratelimit import Limit, Scope, SharedSlot, book_shared, penalise_shared

CHAT: Scope = ("telegram", "chat", "1")
BOT: Scope = ("telegram", "bot")
LIMITS = {CHAT: Limit(1.0, 1.0), BOT: Limit(30.0, 30.0)}


def slots(*scopes: Scope) -> dict[Scope, SharedSlot]:
    return {scope: SharedSlot() for scope in scopes}


def test_one_send_per_interval_without_burst() -> None:
    state = slots(CHAT)
    assert book_shared(state, [CHAT], LIMITS.get, 100.0, 0.0) == 0.0
    assert book_shared(state, [CHAT], LIMITS.get, 100.0, 0.0) == 1.0  # not booked
    assert book_shared(state, [CHAT], LIMITS.get, 100.5, 0.0) == 0.5
    assert book_shared(state, [CHAT], LIMITS.get, 101.0, 0.0) == 0.0


def test_waits_within_max_wait_are_booked_in_turn() -> None:
    state = slots(CHAT)
    waits = [book_shared(state, [CHAT], LIMITS.get, 10.0, 5.0) for _ in range(4)]
    assert waits == [0.0, 1.0, 2.0, 3.0]
    assert book_shared(state, [CHAT], LIMITS.get, 10.0, 2.0) == 4.0  # too far: not booked
    assert state[CHAT].tat == 14.0


def test_burst_goes_at_once_then_the_rate_holds() -> None:
    state = slots(BOT)
    waits = [book_shared(state, [BOT], LIMITS.get, 0.0, 0.0) for _ in range(31)]
    assert waits[:30] == [0.0] * 30
    assert abs(waits[30] - 1 / 30) < 1e-9


def test_every_scope_of_a_send_must_allow_it() -> None:
    state = slots(BOT, CHAT)
    assert book_shared(state, [BOT, CHAT], LIMITS.get, 0.0, 0.0) == 0.0
    assert book_shared(state, [BOT, CHAT], LIMITS.get, 0.0, 0.0) == 1.0
    # the refused send took nothing from the bot bucket: 29 more still go at once
    assert [book_shared(state, [BOT], LIMITS.get, 0.0, 0.0) for _ in range(29)] == [0.0] * 29


def test_a_429_blocks_even_an_unlimited_scope_and_empties_the_bucket() -> None:
    other: Scope = ("webhook", "9")
    state = slots(other, CHAT)
    penalise_shared(state[other], 50.0, 20.0)
    assert book_shared(state, [other], LIMITS.get, 55.0, 0.0) == 15.0
    assert book_shared(state, [other], LIMITS.get, 70.0, 0.0) == 0.0
    penalise_shared(state[CHAT], 0.0, 3.0)
    assert book_shared(state, [CHAT], LIMITS.get, 3.0, 0.0) == 0.0
    assert book_shared(state, [CHAT], LIMITS.get, 3.0, 0.0) == 1.0
