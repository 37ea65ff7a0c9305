"""`hdtickets demo`: seed the demo person "you" with a few watches and say what to try next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import typer
from sqlalchemy import func, select

from bot.bootstrap import Container
from bot.cli.app import app
from bot.cli.common import examples, one_line_errors, with_container
from bot.cli.watches import conditions, target
from bot.demo import demo_watches, seed_demo
from bot.settings import load_settings
from core.db.models import Event, Watch
from core.history import event_currencies


@dataclass(frozen=True, slots=True)
class _Seeded:
    user_id: int
    watches: tuple[str, ...]
    created: bool


async def _seed(container: Container) -> _Seeded:
    async with container.sessions() as session:
        before = await session.scalar(select(func.max(Watch.id))) or 0
    user_id = await seed_demo(container)
    async with container.sessions() as session:
        query = (
            select(Watch, Event)
            .outerjoin(Event, Event.id == Watch.event_id)
            .where(Watch.user_id == user_id, Watch.removed_at.is_(None))
            .order_by(Watch.id)
        )
        rows = (await session.execute(query)).all()
        currencies = await event_currencies(session, {e.id for _, e in rows if e is not None})
    # Each max in its watch's currency, else its event's (as `watches list` shows it).
    watches = tuple(
        f"#{w.id} {target(w, e)}, {conditions(w, currencies.get(e.id) if e else None)}"
        + ("" if w.active else " (paused)")
        for w, e in rows
    )
    return _Seeded(user_id, watches, created=any(w.id > before for w, _ in rows))


@app.command("demo", epilog=examples("hdtickets demo"))
def demo() -> None:
    """Seed the demo: the local person "you" with a few watches; then print what to try."""
    settings = load_settings()
    if settings.database_url.startswith("sqlite"):
        from bot.migrate import upgrade_blocking

        with one_line_errors():  # PostgreSQL migrates in the release phase
            upgrade_blocking(settings.database_url)
    seeded = with_container(_seed, settings)
    verb = "Seeded" if seeded.created else "Demo already seeded:"
    typer.echo(
        f'{verb} the demo person "you" (user {seeded.user_id}) with {len(seeded.watches)} watches:'
    )
    for line in seeded.watches:
        typer.echo(f"  {line}")
    if not seeded.watches:
        watches = demo_watches(datetime.now(UTC).date())
        typer.echo(f"  (none: the demo watches are {', '.join(watches)})")
    typer.echo("")
    typer.echo("Next:")
    typer.echo("  make run                      start the bot on a simulated market;")
    typer.echo("                                alerts print in this terminal, where you can chat")
    typer.echo('  hdtickets chat                talk to the bot as "you": watches, alerts, help')
    typer.echo("  hdtickets alerts list         the alerts the market has raised so far")
    typer.echo("  hdtickets alerts show ID      one alert: its factors, forecast and timeline")
    typer.echo(f"  hdtickets watches list --user {seeded.user_id}")
    if not settings.demo_enabled:
        typer.echo(
            "note: HDT_DEMO is off (a chat platform is configured), so `make run` will not "
            "start the simulated market; set HDT_DEMO=1 to turn it on"
        )
