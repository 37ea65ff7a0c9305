"""`python -m bot run`: one asyncio process hosting everything in one TaskGroup.

Roles: `all` (default) runs the web app, delivery workers, the scheduler and every
channel; `web` only the HTTP side (ingest, callbacks, API); `worker` delivery, the
scheduler and the channels. SIGTERM/SIGINT (and SIGHUP, a closed terminal) stop it
gracefully: delivery workers finish or release their in-flight sends, then everything
else is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import sys

from aiohttp import web

from adapters.webhook.secrets import SecretBox
from adapters.webhook.ssrf import SsrfPolicy
from bot.bootstrap import Container, build
from bot.demo import demo_market, seed_demo
from bot.jobs import scheduled_jobs
from bot.monitoring import MonitoringDeps, add_monitoring_routes
from bot.rest import RestDeps, add_rest_routes
from bot.scheduler import Scheduler
from bot.settings import ProcessRole, Settings, SettingsError
from bot.web import WebDeps, build_web_app
from bot.web_errors import json_errors

logger = logging.getLogger(__name__)
# SIGHUP (the terminal closed) would otherwise kill the process on the spot: in-flight
# sends unrecorded and sent again once their leases expire.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def web_app(container: Container) -> web.Application:
    settings = container.settings
    app = build_web_app(
        WebDeps(
            sessions=container.sessions,
            ingest=container.ingest,
            clock=container.clock,
            ingest_secret=settings.ingest_secret,
        )
    )
    rest = RestDeps(
        container.sessions,
        container.clock,
        container.handlers,
        secrets=SecretBox(settings.secret_key_bytes()),
        ssrf=SsrfPolicy.parse(settings.webhook_allow_hosts),
        webhooks_changed=container.alerts.webhooks_changed,
        outbox_changed=container.signal.notify,
    )
    add_rest_routes(app, rest)
    add_monitoring_routes(app, monitoring_deps(container))
    if settings.telegram_bot_token is not None:
        from bot.telegram_hooks import add_telegram_hooks

        add_telegram_hooks(app, settings, container.channels)
    from bot.twilio_hooks import add_twilio_hooks

    add_twilio_hooks(app, settings, container.sessions, container.clock)
    return app


def monitoring_app(container: Container) -> web.Application:
    """/healthz, /readyz and /metrics alone: what a worker-only process serves."""
    app = web.Application(middlewares=[json_errors])
    add_monitoring_routes(app, monitoring_deps(container))
    return app


def monitoring_deps(container: Container) -> MonitoringDeps:
    """What /readyz checks: the database and channels, and the shared rate-limit store
    (Redis or PostgreSQL) as an optional dependency (delivery falls back without it)."""
    limits = container.shared_limits
    optional = {"shared_rate_limits": limits.ping} if limits is not None else {}
    return MonitoringDeps(container.sessions, container.channels, container.metrics, optional)


async def bind_web(
    container: Container, app: web.Application, *, optional: bool = False
) -> web.AppRunner | None:
    """Listen on HDT_HTTP_HOST:HDT_HTTP_PORT for `app`; the runner to serve it with.

    Bound before the process's tasks start, so a port that is taken stops start-up with
    one line naming HDT_HTTP_PORT. With `optional`, that is logged and None returned
    instead: a worker's monitoring must not take its delivery down (two roles started on
    one host with the same HDT_HTTP_PORT, say).
    """
    settings = container.settings
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.http_host, settings.http_port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        if optional:
            logger.warning(
                "monitoring not served on %s:%s (%s); the worker runs without it",
                settings.http_host,
                settings.http_port,
                _reason(exc),
            )
            return None
        raise SettingsError(_port_refusal(settings, exc)) from None
    for address in runner.addresses:  # the real port when HDT_HTTP_PORT=0 picked one
        host, port = address[0], address[1]
        logger.info("listening on http://%s:%s", f"[{host}]" if ":" in host else host, port)
    return runner


def check_port(settings: Settings) -> None:
    """Refuse start-up in one line when the web role's HDT_HTTP_PORT cannot be bound.

    Asked before migrations and start-up log lines, so the usual mistake (a second
    `make run`) reads as one line; `bind_web` still refuses the same way if the port is
    taken in between.
    """
    if settings.role not in (ProcessRole.ALL, ProcessRole.WEB) or settings.http_port == 0:
        return
    try:
        for family, kind, proto, _, address in socket.getaddrinfo(
            settings.http_host, settings.http_port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        ):
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(address)
    except OSError as exc:
        raise SettingsError(_port_refusal(settings, exc)) from None


def _port_refusal(settings: Settings, exc: OSError) -> str:
    port = settings.http_port
    another = 8081 if port in (0, 65535) else port + 1
    return (
        f"configuration error: HDT_HTTP_PORT: cannot listen on {settings.http_host}:{port} "
        f"({_reason(exc)}); stop what holds it or choose another port, "
        f"e.g. HDT_HTTP_PORT={another}"
    )


def _reason(exc: OSError) -> str:
    """ "address already in use", not aiohttp's sentence around it."""
    if exc.errno is not None:
        return os.strerror(exc.errno).lower()
    return str(exc) or type(exc).__name__


async def serve_web(runner: web.AppRunner | None) -> None:
    """Serve a bound runner until cancelled, then close it."""
    if runner is None:
        return
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def tune_gc() -> None:
    """Keep the cyclic garbage collector out of the hot path, once start-up is done.

    What start-up built (modules, settings, the watch index of every active watch) is
    frozen out of the collector's generations, and the youngest generation is collected
    after 50,000 net allocations instead of 700: the engine allocates many short-lived
    objects per snapshot, almost none of them in cycles. Reference counting still frees
    them at once; the engine bench spends ~15% less CPU per snapshot.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


async def run_process(settings: Settings, *, chat: bool | None = None) -> None:
    """Build the container and run the process until SIGTERM/SIGINT/SIGHUP or a task fails."""
    container = await build(settings)
    tune_gc()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    role = settings.role
    run_workers = role in (ProcessRole.ALL, ProcessRole.WORKER)
    run_web = role in (ProcessRole.ALL, ProcessRole.WEB)
    want_chat = chat if chat is not None else (settings.demo_enabled and sys.stdin.isatty())
    try:
        # Built before the TaskGroup so a configuration error stops start-up with its line.
        app = web_app(container) if run_web else None
        if app is not None:
            runner = await bind_web(container, app)
        else:  # a worker still answers /healthz, /readyz and /metrics
            runner = await bind_web(container, monitoring_app(container), optional=True)
        source = None
        if settings.demo_enabled and run_workers:
            await seed_demo(container)
            source = await demo_market(
                container.sessions, container.clock.now(), settings.state_dir
            )
        async with asyncio.TaskGroup() as group:
            others: list[asyncio.Task[None]] = []
            workers: list[asyncio.Task[None]] = []
            web_name = "web" if app is not None else "monitoring"
            others.append(group.create_task(serve_web(runner), name=web_name))
            if run_workers:
                for i in range(settings.delivery_workers):
                    worker = container.delivery_worker(i)
                    workers.append(group.create_task(worker.run(stop), name=f"delivery-{i}"))
            for name, channel in container.channels.items():
                # Workers run every channel; web-only processes those fed over HTTP.
                if run_workers or (app is not None and getattr(channel, "serves_http", False)):
                    others.append(group.create_task(channel.run(), name=f"channel-{name}"))
            jobs = scheduled_jobs(container, source, workers=run_workers)
            scheduler = Scheduler(jobs, container.engine, container.metrics)
            others.append(group.create_task(scheduler.run(), name="scheduler"))
            if want_chat:
                others.append(group.create_task(_chat(container, stop), name="console-chat"))
            await stop.wait()
            logger.info("shutting down: letting in-flight sends finish")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(settings.shutdown_grace_s + 5):
                    await asyncio.gather(*workers, return_exceptions=True)
            for task in others:
                task.cancel()
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
        await container.aclose()
        logger.info("stopped")


async def _chat(container: Container, stop: asyncio.Event) -> None:
    """The console chat; the end of input (Ctrl-D) or `quit` stops the process."""
    from adapters.console.inbound import ConsoleChat

    chat = ConsoleChat(
        container.handlers, container.sessions, container.clock, channel=container.console
    )
    try:
        await chat.run()
    finally:
        stop.set()
