"""Wiring of the Twilio adapter: SMS/voice channels, phone keys, the three callbacks.

Called from `bot/bootstrap.py` (channels and `handlers.phones`, when HDT_TWILIO_* are
set) and `bot/process.py` (`/hooks/twilio/*`).
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.twilio.channel_sms import TwilioSmsChannel
from adapters.twilio.channel_voice import TwilioVoiceChannel
from adapters.twilio.client import TwilioConfig
from adapters.twilio.crypto import PhoneBox
from adapters.twilio.inbound import TwilioInbound
from adapters.twilio.webhook import add_twilio_routes
from bot.settings import Settings, SettingsError
from core.contacts import ContactNumbers, PhoneKeys
from core.domain import ChannelKind
from core.ports import Channel, Clock


def twilio_configured(settings: Settings) -> bool:
    return bool(settings.twilio_account_sid and settings.twilio_auth_token)


def twilio_config(settings: Settings) -> TwilioConfig:
    if not settings.twilio_account_sid or settings.twilio_auth_token is None:
        raise SettingsError("configuration error: HDT_TWILIO_ACCOUNT_SID/AUTH_TOKEN: not set")
    if not (settings.twilio_from_number or "").startswith("+"):
        raise SettingsError(
            "configuration error: HDT_TWILIO_FROM_NUMBER: your Twilio number in E.164, "
            "e.g. +14155550100"
        )
    return TwilioConfig(
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token.get_secret_value(),
        from_number=str(settings.twilio_from_number),
        api_url=settings.twilio_api_url,
        public_url=settings.public_url,
    )


def phone_keys(settings: Settings) -> PhoneKeys:
    box = PhoneBox(settings.secret_key_bytes())
    return PhoneKeys(box, box.hash_key)


def twilio_channels(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> dict[str, Channel]:
    config = twilio_config(settings)
    keys = phone_keys(settings)
    numbers = ContactNumbers(sessions, keys.cipher)
    opted_out = TwilioInbound(sessions, clock, keys).opted_out  # error 21610 -> recorded
    return {
        ChannelKind.SMS.value: TwilioSmsChannel(config, numbers, clock, opted_out),
        ChannelKind.VOICE.value: TwilioVoiceChannel(config, numbers, clock),
    }


def add_twilio_hooks(
    app: web.Application,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
) -> None:
    """Register `/hooks/twilio/{status,sms,voice}` when Twilio is configured."""
    if twilio_configured(settings):
        inbound = TwilioInbound(sessions, clock, phone_keys(settings))
        add_twilio_routes(app, twilio_config(settings), inbound)
