"""Webhook endpoint signing secrets: generated, encrypted at rest, rotated with a grace period.

Secrets use the Standard Webhooks format (`whsec_` + base64 of 32 random bytes), so a
receiver can hand them straight to `standardwebhooks.Webhook`. At rest they are Fernet
tokens keyed from HDT_SECRET_KEY (through HKDF, so any key length works).

`webhook_endpoints.secrets` holds a list, newest first, of entries
`{"secret": "<Fernet token>", "created_at": "<ISO>", "expires_at": "<ISO>" | null}`.
Rotation puts a new entry in front and gives the older ones an `expires_at`; until then
the channel signs with every unexpired secret, so receivers can switch keys at leisure.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import ensure_utc
from core.db.models import WebhookEndpoint
from core.errors import PermanentDeliveryError, RecipientGone
from core.ports import Clock

SECRET_PREFIX = "whsec_"
DEFAULT_GRACE = timedelta(hours=24)
_HKDF_INFO = b"hdtickets/webhook-endpoint-secrets/v1"
_PLAINTEXTS_KEPT = 4096  # decrypted secrets remembered by EndpointSecrets


class SecretUnreadable(ValueError):
    """A stored secret cannot be decrypted (HDT_SECRET_KEY changed, or the row is damaged)."""


def generate_secret() -> str:
    """Return a new signing secret in the Standard Webhooks `whsec_<base64>` format."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(32)).decode("ascii")


class SecretBox:
    """Encrypts and decrypts endpoint secrets with Fernet, keyed from HDT_SECRET_KEY bytes."""

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("HDT_SECRET_KEY is empty; set it to a long random string")
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(key)
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def encrypt(self, plaintext: str) -> str:
        """Return the Fernet token (ASCII) for `plaintext`."""
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Return the plaintext of a token made by `encrypt` with the same key.

        Raises:
            SecretUnreadable: the token was made with another key or is damaged.
        """
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise SecretUnreadable(
                "webhook secret cannot be decrypted with HDT_SECRET_KEY"
            ) from exc


def new_entry(box: SecretBox, secret: str, now: datetime) -> dict[str, Any]:
    """Return the stored form of a new, non-expiring secret."""
    return {"secret": box.encrypt(secret), "created_at": now.isoformat(), "expires_at": None}


def _expires_at(entry: Any) -> datetime | None:
    if isinstance(entry, dict) and entry.get("expires_at"):
        return ensure_utc(datetime.fromisoformat(str(entry["expires_at"])))
    return None


def still_signs(entry: Any, now: datetime) -> bool:
    """Whether a stored secret has not lapsed (no expiry, or one after `now`)."""
    expires = _expires_at(entry)
    return expires is None or expires > now


def _token(entry: Any) -> str:
    return str(entry["secret"]) if isinstance(entry, dict) else str(entry)


def rotate_entries(
    entries: Sequence[Any], box: SecretBox, now: datetime, grace: timedelta = DEFAULT_GRACE
) -> tuple[list[dict[str, Any]], str]:
    """Add a new secret in front; older secrets stay valid for `grace`, then lapse.

    Entries already expired are dropped; one expiring sooner than `now + grace` keeps
    its earlier expiry.

    Returns:
        The new entry list (newest first) and the new plaintext secret (show it once).
    """
    secret = generate_secret()
    until = now + grace
    kept: list[dict[str, Any]] = [new_entry(box, secret, now)]
    for entry in entries:
        expires = _expires_at(entry)
        if expires is not None and expires <= now:
            continue
        created = entry.get("created_at") if isinstance(entry, dict) else None
        lapse = until if expires is None else min(expires, until)
        kept.append(
            {"secret": _token(entry), "created_at": created, "expires_at": lapse.isoformat()}
        )
    return kept, secret


class _Decrypts(Protocol):
    def decrypt(self, token: str) -> str: ...


def active_secrets(entries: Sequence[Any], box: _Decrypts, now: datetime) -> list[str]:
    """Return the plaintext of every unexpired, readable secret, newest first.

    A secret that cannot be decrypted is skipped while a readable one remains (after a
    key change, `rotate` adds a readable one and the old ones lapse).

    Raises:
        SecretUnreadable: no unexpired secret can be decrypted, though some exist.
    """
    active: list[str] = []
    unreadable: SecretUnreadable | None = None
    for entry in entries:
        if not still_signs(entry, now):
            continue
        try:
            active.append(box.decrypt(_token(entry)))
        except SecretUnreadable as exc:
            unreadable = exc
    if not active and unreadable is not None:
        raise unreadable
    return active


@dataclass(frozen=True, slots=True)
class _EndpointState:
    """What signing needs of one `webhook_endpoints` row, as read at one moment."""

    entries: tuple[Any, ...]
    active: bool
    removed: bool
    disabled_reason: str | None


class EndpointSecrets:
    """The secret resolver for `WebhookChannel`: an endpoint id -> its active secrets.

    Raises `RecipientGone` when the endpoint no longer exists, and
    `PermanentDeliveryError` when it is removed, disabled or has no readable, unexpired
    secret.

    An endpoint's row is read again once what was read of it is `max_age_s` old (by the
    monotonic clock), so a rotation, disable or removal reaches sends within that time
    (delivery itself checks removal and disable when it claims a row). Reading the row and
    decrypting its secrets for every send was 40% of a delivery worker's time: at 200
    sends a second to one endpoint that is 200 reads and 200 Fernet decryptions a second
    for the same answer. Expiry is still judged on every call, with `clock`.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        box: SecretBox,
        clock: Clock,
        *,
        max_age_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._box = box
        self._clock = clock
        self._max_age_s = max_age_s
        self._monotonic = monotonic
        self._read: dict[int, tuple[float, _EndpointState | None]] = {}
        self._reading: dict[int, asyncio.Future[_EndpointState | None]] = {}
        self._plaintexts: dict[str, str] = {}  # Fernet token -> secret

    async def __call__(self, endpoint_id: int) -> list[str]:
        state = await self._state(endpoint_id)
        if state is None:
            raise RecipientGone(f"webhook endpoint {endpoint_id} no longer exists")
        if state.removed:  # delivery cancels its rows before they get here
            raise PermanentDeliveryError(f"webhook endpoint {endpoint_id} was removed")
        if not state.active:
            # Not RecipientGone: that would make delivery disable it again, rewriting why.
            reason = state.disabled_reason or "by an admin"
            raise PermanentDeliveryError(
                f"webhook endpoint {endpoint_id} is disabled ({reason}); "
                f"enable it with `hdtickets webhooks enable {endpoint_id}`"
            )
        try:
            secrets = active_secrets(state.entries, self, self._clock.now())
        except SecretUnreadable as exc:
            raise PermanentDeliveryError(
                f"webhook endpoint {endpoint_id}: {exc} (was it changed?); "
                f"run `hdtickets webhooks rotate {endpoint_id}`"
            ) from exc
        if not secrets:
            raise PermanentDeliveryError(
                f"webhook endpoint {endpoint_id} has no active signing secret; "
                f"run `hdtickets webhooks rotate {endpoint_id}`"
            )
        return secrets

    def decrypt(self, token: str) -> str:
        """`SecretBox.decrypt`, remembered per token (a failure is not remembered)."""
        plaintext = self._plaintexts.get(token)
        if plaintext is None:
            plaintext = self._box.decrypt(token)
            if len(self._plaintexts) >= _PLAINTEXTS_KEPT:
                self._plaintexts.clear()
            self._plaintexts[token] = plaintext
        return plaintext

    async def _state(self, endpoint_id: int) -> _EndpointState | None:
        """The endpoint's row as read at most `max_age_s` ago; one read at a time per
        endpoint, shared by the sends that wait for it."""
        known = self._read.get(endpoint_id)
        if known is not None and self._monotonic() - known[0] < self._max_age_s:
            return known[1]
        reading = self._reading.get(endpoint_id)
        if reading is None:
            reading = asyncio.ensure_future(self._load(endpoint_id))
            self._reading[endpoint_id] = reading
            reading.add_done_callback(lambda done: self._done_reading(endpoint_id, done))
        # Shielded: a send cancelled at shutdown must not cancel the read others share.
        return await asyncio.shield(reading)

    def _done_reading(self, endpoint_id: int, done: asyncio.Future[Any]) -> None:
        self._reading.pop(endpoint_id, None)
        if not done.cancelled():
            done.exception()  # retrieved, so a failure no send waited for is not logged

    async def _load(self, endpoint_id: int) -> _EndpointState | None:
        read_at = self._monotonic()
        async with self._sessions() as session:
            endpoint = await session.get(WebhookEndpoint, endpoint_id)
        state = (
            None
            if endpoint is None
            else _EndpointState(
                entries=tuple(endpoint.secrets or ()),
                active=endpoint.active,
                removed=endpoint.removed_at is not None,
                disabled_reason=endpoint.disabled_reason,
            )
        )
        self._read[endpoint_id] = (read_at, state)
        return state
