"""Neutral messages -> SMS text and TwiML (pure)."""

from __future__ import annotations

from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from core.domain import OutboundMessage

SMS_LIMIT = 640  # four segments at most
# Not STOP: to the carrier STOP means "no more texts from this number at all".
REPLY_HINT = "Reply 1 or ACK {id} to acknowledge, SNOOZE 2h, MUTE to stop alerts for this event."
KEYPAD = (
    "Press 1 to acknowledge. Press 2 to snooze for one hour. Press 3 to stop alerts for this event."
)


def alert_id(message: OutboundMessage) -> int | None:
    data = message.payload.get("data")
    alert = data.get("alert") if isinstance(data, dict) else None
    value = alert.get("id") if isinstance(alert, dict) else None
    return value if isinstance(value, int) else None


def sms_text(message: OutboundMessage) -> str:
    """The SMS body: title, first body lines, and the reply codes for alerts."""
    lines = [message.title] + [line for line in message.body.splitlines()[:2] if line]
    ident = alert_id(message)
    hint = REPLY_HINT.format(id=ident) if ident is not None else ""
    text = "\n".join(line for line in lines if line)
    room = SMS_LIMIT - len(hint) - 1
    if len(text) > room:
        text = text[: room - 1] + "…"
    return f"{text}\n{hint}" if hint else text


def _speakable(text: str) -> str:
    return "".join(ch for ch in text if ch.isascii() or ch.isalpha()).replace("—", ",").strip()


def call_twiml(message: OutboundMessage, action_url: str) -> str:
    """The TwiML of an alert call: <Say> the alert inside a one-digit <Gather>."""
    response = VoiceResponse()
    gather = response.gather(num_digits=1, action=action_url, method="POST", timeout=8)
    gather.say(f"HDTickets alert. {_speakable(message.title)}.")
    gather.say(KEYPAD)
    response.say("No key pressed. We will try again later. Goodbye.")
    return str(response)


def say_twiml(text: str) -> str:
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return str(response)


def message_twiml(text: str) -> str:
    response = MessagingResponse()
    if text:
        response.message(text)
    return str(response)
