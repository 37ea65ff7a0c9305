"""Wiring of the Telegram adapter: the channel from settings, and its webhook route.

Called from `bot/bootstrap.py` (the channel, when HDT_TELEGRAM_BOT_TOKEN is set) and
`bot/process.py` (`/hooks/telegram`, in webhook mode).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.telegram.channel import PriceChart, TelegramChannel, TelegramConfig
from adapters.telegram.inbound import TelegramInbound
from adapters.telegram.webhook import PATH, add_telegram_routes
from bot.settings import Settings, SettingsError, TelegramMode
from core.actions import ActionSigner
from core.domain import ChannelKind
from core.handlers import CommandHandlers
from core.ports import Channel, Clock
from ml.charts import Outlook, price_chart_png

_TELEGRAM_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


def telegram_config(settings: Settings) -> TelegramConfig:
    """The channel's configuration; webhook mode without a secret stops start-up."""
    if settings.telegram_bot_token is None:
        raise SettingsError("configuration error: HDT_TELEGRAM_BOT_TOKEN: not set")
    webhook_url = secret = None
    if settings.telegram_mode is TelegramMode.WEBHOOK:
        if settings.telegram_webhook_secret is None:
            raise SettingsError(
                "configuration error: HDT_TELEGRAM_WEBHOOK_SECRET: required when "
                "HDT_TELEGRAM_MODE=webhook; 1-256 characters of A-Z a-z 0-9 _ -"
            )
        secret = settings.telegram_webhook_secret.get_secret_value()
        if not _TELEGRAM_SECRET.fullmatch(secret):
            raise SettingsError(
                "configuration error: HDT_TELEGRAM_WEBHOOK_SECRET: 1-256 characters of "
                "A-Z a-z 0-9 _ - (Telegram refuses others), e.g. hdt_7fQ2-xk"
            )
        public = urlsplit(settings.public_url)
        # api.telegram.org calls only https webhooks; a self-hosted Bot API server (or our
        # loopback fake) may call http ones.
        official = urlsplit(settings.telegram_api_url).hostname == "api.telegram.org"
        schemes = ("https",) if official else ("https", "http")
        if public.scheme not in schemes or not public.hostname:
            raise SettingsError(
                "configuration error: HDT_PUBLIC_URL: HDT_TELEGRAM_MODE=webhook needs the "
                "https:// address Telegram can reach, e.g. https://alerts.example.com"
            )
        webhook_url = settings.public_url.rstrip("/") + PATH
    return TelegramConfig(
        token=settings.telegram_bot_token.get_secret_value(),
        api_url=settings.telegram_api_url,
        webhook_url=webhook_url,
        webhook_secret=secret,
    )


def telegram_channel(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    handlers: CommandHandlers | None,
    signer: ActionSigner | None,
) -> TelegramChannel:
    """The Telegram channel with its inbound side (when handlers are given)."""
    inbound = None
    if handlers is not None and signer is not None:
        inbound = TelegramInbound(handlers, sessions, clock, signer)
    return TelegramChannel(telegram_config(settings), inbound, clock, chart=_chart)


async def _chart(chart: PriceChart) -> bytes:
    """`ml.charts.price_chart_png` for the Telegram channel (which knows no ml types)."""
    band = Outlook(*chart.outlook) if chart.outlook is not None else None
    return await price_chart_png(
        chart.points,
        chart.title,
        chart.max_price,
        band,
        currency=chart.currency,
        seats_price=chart.seats_price,
        starts_at=chart.starts_at,
    )


def add_telegram_hooks(
    app: web.Application, settings: Settings, channels: dict[str, Channel]
) -> None:
    """Register `/hooks/telegram` when the Telegram channel runs in webhook mode."""
    channel = channels.get(ChannelKind.TELEGRAM.value)
    if isinstance(channel, TelegramChannel) and channel.config.webhook_secret:
        add_telegram_routes(app, channel, channel.config.webhook_secret)
