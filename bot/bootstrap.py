"""The composition root: builds every service from settings and hands in its ports.

Tests call `build()` with fakes (clock, random source, channels, predictor) instead of
the real ones; nothing else in the code base constructs services.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.console.channel import ConsoleChannel
from adapters.webhook.channel import WebhookChannel
from adapters.webhook.secrets import SecretBox
from adapters.webhook.ssrf import SsrfPolicy
from bot.insight import MarketInsights
from bot.keycheck import secret_key_problem
from bot.metrics import PrometheusMetrics
from bot.settings import Settings, SettingsError
from core.actions import ActionSigner
from core.backoff import RetryPolicies
from core.clock import SystemClock
from core.db.engine import make_engine, make_sessionmaker, upkeep_warning
from core.db.models import ModelVersion
from core.db.ratelimits import DatabaseLimits
from core.delivery import DeliveryService
from core.domain import ChannelKind
from core.handlers import CommandHandlers
from core.ingest.service import IngestService
from core.metrics import Metrics
from core.outbox import OutboxSignal
from core.pipeline import AlertEngine
from core.pipeline import load_watch_index as core_load_watch_index
from core.planning import EngineConfig
from core.ports import Channel, Clock, Predictor
from core.ratelimit import RateLimiter, SharedLimits, configure_platform_limits
from core.rules import WatchIndex
from ml.predictor import MODEL, SHIPPED_MODEL, ModelPredictor, load_models

logger = logging.getLogger(__name__)


@dataclass
class Container:
    """Everything one process runs with; `aclose()` releases it."""

    settings: Settings
    clock: Clock
    rng: random.Random
    metrics: Metrics
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    signer: ActionSigner
    signal: OutboxSignal
    limiter: RateLimiter
    policies: RetryPolicies
    predictor: Predictor
    alerts: AlertEngine
    ingest: IngestService
    handlers: CommandHandlers
    channels: dict[str, Channel] = field(default_factory=dict)
    console: ConsoleChannel | None = None
    shared_limits: SharedLimits | None = None

    def delivery_worker(self, index: int, *, prefix: str = "worker") -> DeliveryService:
        """A delivery worker sharing this process's limiter, signal and channels."""
        import os
        import socket

        return DeliveryService(
            self.sessions,
            self.channels,
            self.clock,
            random.Random(self.rng.getrandbits(64)),
            self.policies,
            self.limiter,
            self.metrics,
            worker_id=f"{socket.gethostname()}:{os.getpid()}:{prefix}-{index}",
            lease_s=self.settings.delivery_lease_s,
            signal=self.signal,
            grace_s=self.settings.shutdown_grace_s,
            shared=self.shared_limits,
        )

    async def aclose(self) -> None:
        for channel in self.channels.values():
            close = getattr(channel, "close", None)
            if close is not None:
                await close()
        if self.shared_limits is not None:
            await self.shared_limits.aclose()
        await self.engine.dispose()


def shared_rate_limits(
    settings: Settings,
    dialect: str,
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    limiter: RateLimiter,
) -> SharedLimits | None:
    """Where delivering processes share rate-limit state (DESIGN.md §11): Redis when
    HDT_REDIS_URL is set, else PostgreSQL; none on SQLite (one process)."""
    if settings.redis_url:
        from adapters.redis.limits import RedisLimits

        return RedisLimits(settings.redis_url, clock, limiter.limit_for)
    if dialect == "postgresql":
        return DatabaseLimits(sessions, clock, limiter.limit_for)
    return None


def engine_config(settings: Settings) -> EngineConfig:
    return EngineConfig(
        weights=tuple(settings.weights),
        cooldown_s=settings.alert_cooldown_s,
        hysteresis_pct=settings.hysteresis_pct,
        resolve_hold_s=settings.resolve_hold_s,
        public_url=settings.public_url,
    )


async def load_watch_index(sessions: async_sessionmaker[AsyncSession]) -> WatchIndex:
    """Build the in-memory index from every active watch (streamed as plain rows)."""
    async with sessions() as session:
        return await core_load_watch_index(session)


def model_dir_problem_blocking(path: Path, *, card: bool = False) -> str | None:
    """What keeps `path` from holding a complete model, or None when it holds one.

    Complete is what `ml.models.ModelSet.save` writes and `ModelSet.load` reads:
    `model.json` listing its targets and a non-empty `<target>.json` for each (and
    `MODEL_CARD.md` when `card`). A folder a training run left half-written lacks some.
    """
    if not path.is_dir():
        return "it is not a folder" if path.exists() else "it does not exist"
    try:
        doc = json.loads((path / "model.json").read_text())
    except FileNotFoundError:
        return "model.json is missing"
    except (OSError, ValueError) as exc:
        return f"model.json is unreadable ({exc})"
    targets = doc.get("targets") if isinstance(doc, dict) else None
    if not targets or not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        return "model.json lists no model files"
    wanted = [f"{name}.json" for name in targets] + (["MODEL_CARD.md"] if card else [])
    missing = [name for name in wanted if not _non_empty_file(path / name)]
    if missing:
        return f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing or empty"
    return None


def _non_empty_file(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


async def model_dirs(
    sessions: async_sessionmaker[AsyncSession], fallback: Path, shipped: Path | None = None
) -> list[tuple[str, Path]]:
    """The model directories to try, in order, each with what it is: those holding a
    complete model of the newest active `model_registry` row's (what `hdtickets train`
    registers), HDT_MODEL_DIR (`fallback`) and `shipped` (the MLB model in the
    repository) when given. None of them: the predictor uses the heuristic.

    One passed over is named in a warning with what it lacks (say a folder a failed
    training run left), except an HDT_MODEL_DIR that does not exist: the usual case.
    """
    async with sessions() as session:
        registered = await session.scalar(
            select(ModelVersion.path)
            .where(ModelVersion.name == MODEL, ModelVersion.active.is_(True))
            .order_by(ModelVersion.id.desc())
            .limit(1)
        )
    candidates = [] if not registered else [("the registered model", Path(registered))]
    candidates.append(("HDT_MODEL_DIR", fallback))
    if shipped is not None:
        candidates.append(("the shipped model", shipped))
    seen: set[Path] = set()
    complete: list[tuple[str, Path]] = []
    for what, path in candidates:
        if (real := await asyncio.to_thread(path.resolve)) in seen:
            continue  # HDT_MODEL_DIR is what `hdtickets train` registers by default
        seen.add(real)
        problem = await asyncio.to_thread(model_dir_problem_blocking, path)
        if problem is None:
            complete.append((what, path))
        elif path is fallback and not await asyncio.to_thread(path.exists):
            logger.info("no model in %s (HDT_MODEL_DIR)", path)
        else:
            logger.warning("not loading %s %s: %s", what, path, problem)
    return complete


async def load_predictor(
    sessions: async_sessionmaker[AsyncSession], fallback: Path, shipped: Path | None = None
) -> ModelPredictor:
    """The predictor of the first directory of `model_dirs` whose models load; the
    heuristic (with a warning) when none does.

    A complete directory can still be damaged (a booster file cut short, a hand-edited
    model.json): it is passed over with a one-line warning, as an incomplete one is,
    instead of stopping the process or leaving a good shipped model unused.
    """
    for what, path in await model_dirs(sessions, fallback, shipped):
        try:
            models = await asyncio.to_thread(load_models, path)
        except (FileNotFoundError, ValueError, OSError) as exc:
            logger.warning("not loading %s %s: %s", what, path, exc)
            continue
        logger.info("loaded %s %s", what, path)
        return ModelPredictor(path, models=models)
    return ModelPredictor(None)


def default_channels(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    handlers: CommandHandlers | None = None,
    signer: ActionSigner | None = None,
) -> dict[str, Channel]:
    """The channels this configuration enables (console in demo mode, webhooks always)."""
    from adapters.webhook.secrets import EndpointSecrets

    channels: dict[str, Channel] = {}
    policy = SsrfPolicy.parse(settings.webhook_allow_hosts)
    box = SecretBox(settings.secret_key_bytes())
    channels[ChannelKind.WEBHOOK.value] = WebhookChannel(
        EndpointSecrets(sessions, box, SystemClock()),
        policy,
        timeout_s=settings.webhook_timeout_s,
        public_url=settings.public_url,
    )
    if settings.demo_enabled:
        channels[ChannelKind.CONSOLE.value] = ConsoleChannel()
    if settings.telegram_bot_token is not None:
        from bot.telegram_hooks import telegram_channel

        channels[ChannelKind.TELEGRAM.value] = telegram_channel(
            settings, sessions, clock, handlers, signer
        )
    from bot.twilio_hooks import phone_keys, twilio_channels, twilio_configured

    if twilio_configured(settings):
        channels.update(twilio_channels(settings, sessions, clock))
        if handlers is not None:
            handlers.phones = phone_keys(settings)
    return channels


async def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    metrics: Metrics | None = None,
    channels: dict[str, Channel] | None = None,
    predictor: Predictor | None = None,
    **engine_overrides: Any,
) -> Container:
    """Build the process's services from `settings`; tests pass fakes for any port."""
    clock = clock if clock is not None else SystemClock()
    rng = rng if rng is not None else random.Random()
    metrics = metrics if metrics is not None else PrometheusMetrics()
    # Whatever is opened below is closed again if a later step fails (an unmigrated or
    # unreachable database, a bad channel setting), then the error goes on; on success
    # the container owns it all (`Container.aclose`).
    async with contextlib.AsyncExitStack() as cleanup:
        engine = make_engine(settings.database_url)
        cleanup.push_async_callback(engine.dispose)
        sessions = make_sessionmaker(engine)
        signer = ActionSigner(settings.secret_key_bytes())
        signal = OutboxSignal()
        limiter = configure_platform_limits(
            RateLimiter(clock), settings.webhook_rate_per_s, settings.webhook_burst
        )
        shared_limits = shared_rate_limits(settings, engine.dialect.name, sessions, clock, limiter)
        if shared_limits is not None:
            cleanup.push_async_callback(shared_limits.aclose)
        policies = RetryPolicies.from_settings(
            settings.retry_base_s,
            settings.retry_factor,
            settings.retry_cap_s,
            settings.retry_attempts,
        )
        if predictor is None:
            predictor = await load_predictor(sessions, settings.model_dir, SHIPPED_MODEL)
        index = await load_watch_index(sessions)
        async with sessions() as session:
            if (problem := await secret_key_problem(session, settings)) is not None:
                raise SettingsError(f"configuration error: {problem}")
        alerts = AlertEngine(
            index,
            predictor,
            signer,
            random.Random(rng.getrandbits(64)),
            metrics,
            engine_config(settings),
            cache_clock=SystemClock(),
        )
        ingest = IngestService(sessions, alerts, clock, metrics, signal)
        handlers = CommandHandlers(
            sessions,
            clock,
            random.Random(rng.getrandbits(64)),
            signer,
            index_hook=alerts.watch_changed,
            person_hook=alerts.person_changed,
            market=MarketInsights(sessions, predictor),
            on_commit=signal.notify,
            weights=tuple(settings.weights),
        )
        if channels is None:
            channels = default_channels(settings, sessions, clock, handlers, signer)
            for channel in channels.values():  # the caller closes channels it passed in
                if (close := getattr(channel, "close", None)) is not None:
                    cleanup.push_async_callback(close)
        console = channels.get(ChannelKind.CONSOLE.value)
        if (warning := await upkeep_warning(engine)) is not None:
            logger.warning(warning)
        if unbuilt := settings.unbuilt_platform_settings():
            logger.warning(
                "%s set, but Slack and Discord are not supported yet: ignored"
                " (Telegram is: HDT_TELEGRAM_BOT_TOKEN)",
                " and ".join(unbuilt),
            )
        logger.info(
            "built: database %s, predictor %s, channels %s, %d active watches",
            engine.dialect.name,
            predictor.name,
            ", ".join(sorted(channels)),
            len(index),
        )
        container = Container(
            settings=settings,
            clock=clock,
            rng=rng,
            metrics=metrics,
            engine=engine,
            sessions=sessions,
            signer=signer,
            signal=signal,
            limiter=limiter,
            policies=policies,
            predictor=predictor,
            alerts=alerts,
            ingest=ingest,
            handlers=handlers,
            channels=channels,
            console=console if isinstance(console, ConsoleChannel) else None,
            shared_limits=shared_limits,
        )
        cleanup.pop_all()
    return container
