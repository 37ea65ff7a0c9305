"""`phone <E.164>`, `phone <code>` and `contact add <name> <E.164>` (see core.contacts)."""

from __future__ import annotations

from core import contacts
from core.chat import Reply
from core.command_types import ContactAddCommand, PhoneCodeCommand, PhoneCommand
from core.turn import Turn


async def phone(turn: Turn, command: PhoneCommand | PhoneCodeCommand | ContactAddCommand) -> Reply:
    """Start or confirm phone verification, or add an emergency contact."""
    keys = turn.phones
    if keys is None:
        return Reply.error("SMS and calls are not set up on this server (no Twilio account).")
    user = await turn.user()
    if isinstance(command, PhoneCommand):
        line = await contacts.start_phone(
            turn.session, user.id, command.number, turn.now, turn.rng, keys
        )
        return Reply(lines=(line,))
    if isinstance(command, PhoneCodeCommand):
        ok, line = await contacts.confirm_phone(turn.session, user.id, command.code, turn.now, keys)
        return Reply(lines=(line,)) if ok else Reply.error(line)
    line = await contacts.add_contact(
        turn.session, user.id, command.name, command.number, turn.now, keys
    )
    return Reply(lines=(line,))
