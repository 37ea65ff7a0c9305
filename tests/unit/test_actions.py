"""Action tokens: stable bytes for a given key, time and nonce; verify round-trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.actions import ActionSigner, TokenError
from core.domain import ActionKind

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
NONCE = b"\x01\x02\x03\x04"
# Tokens signed by the original implementation: any change to the layout or MAC shows.
GOLDEN = {
    ActionKind.ACK: "AQAAAAdbzRUBut6wAQIDBFWVoJVU9IbW",
    ActionKind.SNOOZE: "AQEAAAdbzRUBut6wAQIDBG0nRg3qRmQ-",
    ActionKind.SNOOZE_CHEAPER: "AQIAAAdbzRUBut6wAQIDBLE5fYmRU8Gl",
    ActionKind.MUTE: "AQMAAAdbzRUBut6wAQIDBK5aRzAoTlv2",
    ActionKind.BOUGHT: "AQQAAAdbzRUBut6wAQIDBKE606Drbslb",
    ActionKind.OPEN: "AQUAAAdbzRUBut6wAQIDBNIZNBV2j_gH",
    ActionKind.PAUSE_WATCH: "AQYAAAdbzRUBut6wAQIDBCF0Iub7nzDk",
    ActionKind.REMOVE_WATCH: "AQcAAAdbzRUBut6wAQIDBGgsbeGtithU",
    ActionKind.CHOOSE: "AQgAAAdbzRUBut6wAQIDBBHynw6MakCB",
}


@pytest.mark.parametrize("action", list(ActionKind))
def test_sign_is_stable_and_verifies(action: ActionKind) -> None:
    signer = ActionSigner(b"golden-key")
    token = signer.sign(action, 123456789, now=NOW, nonce=NONCE)
    assert token == GOLDEN[action]
    found = signer.verify(token, now=NOW + timedelta(days=1))
    assert (found.action, found.target_id, found.nonce) == (action, 123456789, NONCE)


def test_verify_refuses_other_keys_tampering_and_expiry() -> None:
    signer = ActionSigner(b"golden-key")
    token = signer.sign(ActionKind.ACK, 42, now=NOW, nonce=NONCE)
    with pytest.raises(TokenError):
        ActionSigner(b"other-key").verify(token, now=NOW)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    with pytest.raises(TokenError):
        signer.verify(tampered, now=NOW)
    with pytest.raises(TokenError, match="expired"):
        signer.verify(token, now=NOW + timedelta(days=8))


def test_sign_all_matches_one_token_per_action_and_its_nonce() -> None:
    signer = ActionSigner(b"golden-key")
    actions = list(ActionKind)
    nonces = bytes(range(4 * len(actions)))
    tokens = signer.sign_all(actions, 123456789, now=NOW, nonce=nonces)
    assert tokens == [
        signer.sign(action, 123456789, now=NOW, nonce=nonces[4 * i : 4 * i + 4])
        for i, action in enumerate(actions)
    ]
    assert all(len(token) <= 64 for token in tokens)
    assert [signer.verify(token, now=NOW).action for token in tokens] == actions
    assert signer.sign_all([ActionKind.ACK], 123456789, now=NOW, nonce=NONCE) == [
        GOLDEN[ActionKind.ACK]
    ]
    with pytest.raises(ValueError, match="4 bytes per action"):
        signer.sign_all(actions, 1, now=NOW, nonce=NONCE)
