"""One handled command or button press: the session, who, when, and what changed.

The command handlers receive a `Turn`; it signs button tokens with the injected random
source, scopes watches to the person or the group, and collects watch changes that
`CommandHandlers` publishes to the watch index once the transaction has committed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from core.actions import ActionSigner
from core.chat import CommandContext, MarketInsightProvider, WatchChange
from core.contacts import PhoneKeys
from core.db.models import User, Watch
from core.domain import ActionKind, WatchSpec
from core.errors import NotFoundError, ValidationError
from core.routing import PLATFORM_CHANNEL, group_watches
from core.scoring import DEFAULT_WEIGHTS


@dataclass(slots=True)
class Turn:
    """The state of one handled command: its session, context, time and watch changes."""

    session: AsyncSession
    ctx: CommandContext
    now: datetime
    signer: ActionSigner
    rng: random.Random
    market: MarketInsightProvider | None = None
    changes: list[tuple[WatchSpec | int, WatchChange]] = field(default_factory=list)
    _user: User | None = None
    phones: PhoneKeys | None = None  # phone verification and emergency contacts
    # The configured factor weights (`HDT_WEIGHTS`): a score made with a person's learned
    # weights is kept critical when these make it critical (`scoring.keep_critical`).
    weights: tuple[float, ...] = DEFAULT_WEIGHTS

    async def user(self) -> User:
        """The person talking (loaded once per turn)."""
        if self._user is None:
            self._user = await self.session.get(User, self.ctx.user_id)
            if self._user is None:
                raise NotFoundError("I don't know you yet — send any message to start")
        return self._user

    async def lock_user(self) -> User:
        """The person talking, with their row locked until the turn commits.

        Changes that look before they write (is this watch new?) take it first, so two
        identical requests arriving together make one watch, not two.
        """
        self._user = await self.session.get(User, self.ctx.user_id, with_for_update=True)
        if self._user is None:
            raise NotFoundError("I don't know you yet — send any message to start")
        return self._user

    def token(self, action: ActionKind, target_id: int) -> str:
        """Sign a button token for `action` on an alert or watch id."""
        nonce = self.rng.getrandbits(32).to_bytes(4, "big")
        return self.signer.sign(action, target_id, now=self.now, nonce=nonce)

    def changed(self, watch: WatchSpec | int, change: WatchChange) -> None:
        """Queue a watch change for the index; published after commit."""
        self.changes.append((watch, change))

    @property
    def group_channel(self) -> str:
        """The destination channel name of this chat when it is a group."""
        kind = PLATFORM_CHANNEL.get(self.ctx.platform)
        return kind.value if kind is not None else self.ctx.platform

    def watch_scope(self) -> list[ColumnElement[bool]]:
        """SQL conditions selecting the watches this chat may see and change."""
        if self.ctx.is_group:
            return list(group_watches(self.group_channel, self.ctx.address))
        return [
            Watch.user_id == self.ctx.user_id,
            Watch.destination_address.is_(None),
            Watch.removed_at.is_(None),
        ]

    def owns(self, watch: Watch) -> bool:
        """True when `watch` belongs to this chat (the person, or this group)."""
        if watch.removed_at is not None:
            return False
        if self.ctx.is_group:
            return (
                watch.destination_channel == self.group_channel
                and watch.destination_address == self.ctx.address
            )
        return watch.user_id == self.ctx.user_id and watch.destination_address is None

    def require_admin(self) -> None:
        """Refuse a change to a group's watches from someone who is not its admin."""
        if self.ctx.is_group and not self.ctx.is_admin:
            raise ValidationError(
                "only this group's admins can change its watches; message me directly "
                "to watch for yourself"
            )
