"""API tokens: bearer secrets with scopes, stored only as SHA-256 hashes.

A token reads `hdt_<43 url-safe characters>`; the plain text is shown once, at creation.
Scopes: `ingest` (post snapshots), `read`, `write`, `admin` (implies every other scope).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import ApiToken
from core.errors import HDTicketsError, NotFoundError, ValidationError

PREFIX = "hdt_"
_MAX_LENGTH = 200


class Scope(StrEnum):
    INGEST = "ingest"
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


class AuthError(HDTicketsError):
    """A request could not be authenticated; the message is safe to show the caller."""


class InvalidToken(AuthError):
    """Unknown, malformed or revoked token."""


class InsufficientScope(AuthError):
    """A valid token that lacks the scope the request needs."""

    def __init__(self, message: str, scope: Scope) -> None:
        super().__init__(message)
        self.scope = scope


def generate() -> str:
    """Return a new random token: "hdt_" and 256 bits of url-safe randomness."""
    return PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The stored form of a token: hex SHA-256 of its text."""
    # Header bytes that are not UTF-8 reach us as surrogates: hash them anyway (no token
    # will match them) rather than fail.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def parse_scopes(scopes: Iterable[str] | str) -> tuple[Scope, ...]:
    """Turn "ingest,read" or ["ingest", "read"] into scopes, in a stable order.

    Raises:
        ValidationError: one line naming the unknown scope and the valid ones, or saying
            that a scope is empty ("read,,write", "read,").
    """
    parts = scopes.split(",") if isinstance(scopes, str) else list(scopes)
    found: set[Scope] = set()
    for part in parts:
        name = part.strip().lower()
        if not name:
            if any(other.strip() for other in parts):  # "read,,write": a typo, not nothing
                raise ValidationError(
                    "a scope is empty (two commas in a row, or one at an end);"
                    " separate scopes with single commas (e.g. --scopes read,write)"
                )
            continue
        try:
            found.add(Scope(name))
        except ValueError:
            valid = ", ".join(scope.value for scope in Scope)
            raise ValidationError(
                f"unknown scope {name!r}; use some of {valid} (e.g. --scopes ingest)"
            ) from None
    if not found:
        raise ValidationError("at least one scope is needed (e.g. --scopes ingest)")
    return tuple(scope for scope in Scope if scope in found)


def has_scope(granted: Iterable[str], required: Scope) -> bool:
    """True when `granted` includes `required` or `admin`."""
    names = set(granted)
    return required.value in names or Scope.ADMIN.value in names


async def create_token(
    session: AsyncSession,
    user_id: int | None,
    name: str,
    scopes: Iterable[str] | str,
    now: datetime,
) -> str:
    """Store a new token for `user_id` and return its plain text (shown only this once).

    Args:
        session: an open transaction; the caller commits.
        user_id: the owner, or None for a machine token (e.g. a scraper).
        name: a label to recognise the token by, e.g. "seatgeek scraper".
        scopes: names from Scope.
        now: creation time.
    """
    label = name.strip()
    if not label or len(label) > 120:
        raise ValidationError('token name must be 1-120 characters (e.g. "seatgeek scraper")')
    granted = parse_scopes(scopes)
    token = generate()
    session.add(
        ApiToken(
            user_id=user_id,
            name=label,
            token_hash=hash_token(token),
            scopes=[scope.value for scope in granted],
            created_at=now,
        )
    )
    await session.flush()
    return token


async def authenticate(
    session: AsyncSession, token: str, required_scope: Scope | str, now: datetime
) -> ApiToken:
    """Return the stored token for `token` if it is valid and holds `required_scope`.

    Updates `last_used_at`; the caller commits.

    Raises:
        InvalidToken: the token is malformed, unknown or revoked.
        InsufficientScope: the token lacks `required_scope` (and `admin`).
    """
    scope = Scope(required_scope)
    if not token.startswith(PREFIX) or len(token) > _MAX_LENGTH:
        raise InvalidToken("invalid API token")
    # Locked: a request arriving while the token is being revoked waits for the revoke and
    # is refused, rather than read it unrevoked and be served after the revoke returned.
    found = select(ApiToken).where(ApiToken.token_hash == hash_token(token)).with_for_update()
    row = (await session.execute(found)).scalar_one_or_none()
    if row is None:
        raise InvalidToken("invalid API token")
    if row.revoked_at is not None:
        raise InvalidToken("this API token has been revoked")
    if not has_scope(row.scopes, scope):
        raise InsufficientScope(f"this API token lacks the {scope.value!r} scope", scope)
    row.last_used_at = now
    await session.flush()
    return row


async def revoke_token(session: AsyncSession, token_id: int, now: datetime) -> ApiToken:
    """Revoke token `token_id`; later requests with it are refused.

    Raises:
        NotFoundError: no such token.
    """
    row = await session.get(ApiToken, token_id)
    if row is None:
        raise NotFoundError(f"no API token with id {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now
        await session.flush()
    return row
