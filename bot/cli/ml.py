"""`hdtickets train` and `hdtickets backtest`: fit the xgboost models, measure them.

Data: the simulator, SeatGeek MLB 2024 or the StubHub histories (from the shared data
folder, never copied here) or our own `market_snapshots` (fetched here, because ml/
never touches the database). Work runs in this process with rich progress bars.
"""

from __future__ import annotations

import asyncio
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from bot.cli.app import app
from bot.cli.common import console, fail
from bot.settings import load_settings
from core.db.engine import make_engine, make_sessionmaker
from core.db.models import Event, MarketSnapshot, ModelVersion
from ml import backtest as bt
from ml import datasets, report, train
from ml.models import HORIZONS
from ml.predictor import MODEL

STEPS = 3 * len(HORIZONS) + 4


class Source(StrEnum):
    SIMULATOR = "simulator"
    MLB = "mlb"
    STUBHUB = "stubhub"
    DB = "db"


DEFAULT_DATA = Path("../shared/data")
DEFAULT_REPORTS = Path("reports")
DATA_HELP = "the shared data folder (real data is read there, never copied)"


async def _snapshot_rows(url: str) -> list[dict[str, Any]]:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            query = select(
                MarketSnapshot.event_id, MarketSnapshot.observed_at, Event.starts_at,
                MarketSnapshot.min_price, MarketSnapshot.median_price, MarketSnapshot.avg_price,
                MarketSnapshot.max_price, MarketSnapshot.listing_count,
                MarketSnapshot.ticket_count, Event.capacity, Event.category,
            ).join(Event, Event.id == MarketSnapshot.event_id)  # fmt: skip
            return [dict(r._mapping) for r in (await session.execute(query)).all()]
    finally:
        await engine.dispose()


async def _register(url: str, path: str, version: str, metrics: dict[str, Any]) -> int:
    """Make `path` the active model in `model_registry` (the previous one goes inactive)."""
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            await session.execute(
                update(ModelVersion).where(ModelVersion.name == MODEL).values(active=False)
            )
            row = ModelVersion(name=MODEL, version=version, path=path, metrics=metrics, active=True)
            session.add(row)
            await session.flush()
            return int(row.id)
    finally:
        await engine.dispose()


def _load(source: Source, data_dir: Path, events: int) -> pd.DataFrame:
    if source in (Source.MLB, Source.STUBHUB) and not data_dir.is_dir():
        fail(f"no data folder at {data_dir}, e.g. --data-dir ../shared/data")
    if source is Source.DB:
        df = datasets.from_snapshot_rows(asyncio.run(_snapshot_rows(load_settings().database_url)))
    else:
        try:
            df = datasets.load(source.value, data_dir, events=events)
        except FileNotFoundError as exc:  # the folder is there, this data set is not
            fail(
                f"no {source} data in {data_dir} ({exc.filename or 'a file'} is missing),"
                " e.g. --data-dir ../shared/data"
            )
    if df["event"].nunique() < 40:
        fail(
            f"{source} has {df['event'].nunique()} events; at least 40 are needed, e.g. --data mlb"
        )
    return df


def _fit(df: pd.DataFrame) -> tuple[Any, ...]:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console(),
    ) as bar:
        task = bar.add_task("training", total=STEPS)
        return train.fit(df, lambda name: bar.update(task, advance=1, description=name))


@app.command("train")
def train_command(
    data: Annotated[
        Source, typer.Option("--data", help="where the training data comes from")
    ] = Source.MLB,
    data_dir: Annotated[Path, typer.Option("--data-dir", help=DATA_HELP)] = DEFAULT_DATA,
    out: Annotated[
        Path | None, typer.Option("--out", help="model directory (default HDT_MODEL_DIR)")
    ] = None,
    events: Annotated[
        int, typer.Option("--events", help="simulated events (--data simulator)")
    ] = 1500,
    register: Annotated[
        bool,
        typer.Option(
            "--register/--no-register", help="record it as the active model in model_registry"
        ),
    ] = True,
) -> None:
    """Train every model and write the model directory (xgboost JSON + model card)."""
    df = _load(data, data_dir, events)
    models, x, y, folds = _fit(df)
    metrics = bt.evaluate(models, df, x, y, folds)
    models.meta["metrics"] = bt.headline(metrics)
    target = out or load_settings().model_dir
    models.save(target, report.card(models, df, data.value, metrics))
    typer.echo(f"wrote {len(models.boosters)} models to {target} in {models.meta['train_s']} s")
    if register:
        version = f"{data.value}-{pd.Timestamp.now(tz='UTC'):%Y%m%dT%H%M%S}"
        try:
            url = load_settings().database_url
            row = asyncio.run(
                _register(url, str(target.resolve()), version, models.meta["metrics"])
            )
        except (SQLAlchemyError, OSError) as exc:
            typer.echo(f"not registered in model_registry ({type(exc).__name__}: {exc})")
        else:
            typer.echo(f"registered {version} as the active model (model_registry id {row})")


@app.command("backtest")
def backtest_command(
    data: Annotated[Source, typer.Option("--data", help="where the data comes from")] = Source.MLB,
    data_dir: Annotated[Path, typer.Option("--data-dir", help=DATA_HELP)] = DEFAULT_DATA,
    reports: Annotated[
        Path, typer.Option("--reports", help="where backtest.md goes")
    ] = DEFAULT_REPORTS,
    events: Annotated[
        int, typer.Option("--events", help="simulated events (--data simulator)")
    ] = 1500,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the metrics as one JSON object")
    ] = False,
    dev: Annotated[
        bool,
        typer.Option(
            "--dev", help="drop the test period's events; measure on the rest's own last 25%"
        ),
    ] = False,
) -> None:
    """Time-split backtest: every model beside its baselines; writes reports/backtest.md.

    With --dev nothing of the real test period is read (choices are judged on that)."""
    df = _load(data, data_dir, events)
    if dev:
        df = train.development_frame(df)
    models, x, y, folds = _fit(df)
    metrics = bt.evaluate(models, df, x, y, folds)
    fans = report.fan_frames(models, df, x, folds.price)
    path = report.write(metrics, data.value, reports, fans)
    if as_json:
        typer.echo(json.dumps(bt.headline(metrics)))
    else:
        console().print(report.markdown(metrics, data.value), markup=False)
        typer.echo(f"wrote {path}")
