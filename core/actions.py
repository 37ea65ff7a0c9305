"""Signed, versioned action tokens for buttons: compact enough for Telegram's 64 bytes.

Layout before base64url (24 bytes -> 32 characters):

    version(1) | action(1) | target id(6) | expires, minutes since epoch(4) | nonce(4)
    | HMAC-SHA256 truncated(8)

The nonce lets a platform adapter refuse a replayed press; the expiry bounds how long a
forwarded message stays actionable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
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
        if not 0 <= target_id < 2**48:
            raise ValueError("target id out of range")
        if len(nonce) != 4:
            raise ValueError("nonce must be 4 bytes")
        expires = int((now + ttl).timestamp() // 60)
        body = _BODY.pack(
            VERSION, _ACTION_INDEX[action], target_id.to_bytes(6, "big"), expires, nonce
        )
        mac = hmac.digest(self._key, body, "sha256")[:_MAC_BYTES]  # one-shot C path
        return base64.urlsafe_b64encode(body + mac).decode().rstrip("=")

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
