"""Signed, versioned action tokens for buttons: compact enough for Telegram's 64 bytes.

Layout before base64url (24 bytes -> 32 characters):

    version(1) | action(1) | target id(6) | expires, minutes since epoch(4) | nonce(4)
    | HMAC-SHA256 truncated(8)

The nonce lets a platform adapter refuse a replayed press; the expiry bounds how long a
forwarded message stays actionable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.domain import ActionKind
from core.errors import ValidationError

VERSION = 1
_BODY = struct.Struct(">BB6sI4s")
_MAC_BYTES = 8
_ACTIONS: tuple[ActionKind, ...] = tuple(ActionKind)
_ACTION_INDEX = {action: index for index, action in enumerate(_ACTIONS)}
DEFAULT_TTL = timedelta(days=7)
# Standard base64 to base64url; a token body is 24 bytes, so there is never any padding.
_URLSAFE = bytes.maketrans(b"+/", b"-_")
_TOKEN_CHARS = 4 * (_BODY.size + _MAC_BYTES) // 3


class TokenError(ValidationError):
    """A token that is malformed, forged, of an unknown version or expired."""


@dataclass(frozen=True, slots=True)
class ActionToken:
    action: ActionKind
    target_id: int
    expires_at: datetime
    nonce: bytes


class ActionSigner:
    """Signs and verifies action tokens with a key derived from HDT_SECRET_KEY."""

    def __init__(self, secret_key: bytes) -> None:
        self._key = hmac.new(secret_key, b"hdtickets/action-tokens/v1", hashlib.sha256).digest()
        # Keyed once: signing copies this HMAC instead of re-keying one per token.
        self._mac = hmac.new(self._key, digestmod=hashlib.sha256)

    def sign(
        self,
        action: ActionKind,
        target_id: int,
        *,
        now: datetime,
        nonce: bytes,
        ttl: timedelta = DEFAULT_TTL,
    ) -> str:
        """Return a token for `action` on `target_id` (an alert or watch id).

        Args:
            action: what pressing the button does.
            target_id: the alert or watch id, below 2**48.
            now: the current time; the token expires at now + ttl.
            nonce: 4 random bytes from the injected random source.
            ttl: how long the token stays valid.
        """
        return self.sign_all((action,), target_id, now=now, nonce=nonce, ttl=ttl)[0]

    def sign_all(
        self,
        actions: Sequence[ActionKind],
        target_id: int,
        *,
        now: datetime,
        nonce: bytes,
        ttl: timedelta = DEFAULT_TTL,
    ) -> list[str]:
        """Return one token per action on `target_id`, all expiring at now + ttl.

        Args:
            actions: what pressing each button does.
            target_id: the alert or watch id, below 2**48.
            now: the current time.
            nonce: 4 random bytes per action (the i-th token takes bytes 4i..4i+3).
            ttl: how long the tokens stay valid.
        """
        if not 0 <= target_id < 2**48:
            raise ValueError("target id out of range")
        if len(nonce) != 4 * len(actions):
            raise ValueError("nonce must be 4 bytes per action")
        expires = int((now + ttl).timestamp() // 60)
        target = target_id.to_bytes(6, "big")
        keyed, pack, index = self._mac, _BODY.pack, _ACTION_INDEX
        raw = bytearray()
        for i, action in enumerate(actions):
            body = pack(VERSION, index[action], target, expires, nonce[4 * i : 4 * i + 4])
            mac = keyed.copy()
            mac.update(body)
            raw += body
            raw += mac.digest()[:_MAC_BYTES]
        # 24 bytes encode to 32 characters without padding, so one pass encodes them all.
        text = binascii.b2a_base64(raw, newline=False).translate(_URLSAFE).decode("ascii")
        return [text[i : i + _TOKEN_CHARS] for i in range(0, len(text), _TOKEN_CHARS)]

    def verify(self, token: str, *, now: datetime) -> ActionToken:
        """Return what `token` authorises.

        Raises:
            TokenError: if the token is malformed, forged, of another version or expired.
        """
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (ValueError, TypeError) as exc:
            raise TokenError("this button is not valid") from exc
        if len(raw) != _BODY.size + _MAC_BYTES:
            raise TokenError("this button is not valid")
        body, mac = raw[: _BODY.size], raw[_BODY.size :]
        expected = hmac.digest(self._key, body, "sha256")[:_MAC_BYTES]
        if not hmac.compare_digest(mac, expected):
            raise TokenError("this button is not valid")
        version, action_index, target, expires, nonce = _BODY.unpack(body)
        if version != VERSION or action_index >= len(_ACTIONS):
            raise TokenError("this button is from an older version; use the latest message")
        expires_at = datetime.fromtimestamp(expires * 60, tz=UTC)
        if now >= expires_at:
            raise TokenError("this button has expired")
        return ActionToken(
            action=_ACTIONS[action_index],
            target_id=int.from_bytes(target, "big"),
            expires_at=expires_at,
            nonce=nonce,
        )
