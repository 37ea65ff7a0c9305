"""`hdtickets train` and `hdtickets backtest`: fit the xgboost models, measure them.

Data: the simulator, SeatGeek MLB 2024 or the StubHub histories (from the shared data
folder, never copied here) or our own `market_snapshots` (fetched here, because ml/
never touches the database). Work runs in this process; its progress bar goes to stderr
(on a terminal only), so stdout holds only the result (`backtest --json`: one JSON object).
Where the results go is checked before training, which takes a while.

`train` writes the new model into a hidden folder beside `--out` and puts it in place
only once every file and the model card are written: a run that fails or is interrupted
leaves the previous model folder as it was, removes its own and exits non-zero with one
line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from bot.bootstrap import model_dir_problem_blocking
from bot.cli.app import app
from bot.cli.common import (
    check_database,
    console,
    database_problem,
    examples,
    fail,
    parse_count,
    run,
)
from bot.settings import load_settings
from core.db.engine import make_engine, make_sessionmaker
from core.db.models import Event, MarketSnapshot, ModelVersion
from ml import backtest as bt
from ml import datasets, report, train
from ml.models import HORIZONS
from ml.predictor import MODEL

logger = logging.getLogger(__name__)
STEPS = 3 * len(HORIZONS) + 4
TRAIN_FAILED = 1
# What `ModelSet.save` writes: a model folder holding anything else is not replaced.
MODEL_FILES = ("*.json", "MODEL_CARD.md")
_OUT_EXAMPLE = "models/run1"


class Source(StrEnum):
    SIMULATOR = "simulator"
    MLB = "mlb"
    STUBHUB = "stubhub"
    DB = "db"


# The shared data folder sits beside the repository (../shared/data from its root),
# wherever the command is run from.
DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
DEFAULT_REPORTS = Path("reports")
DATA_HELP = (
    "the shared data folder for --data mlb or stubhub, read there and never copied"
    " (default: shared/data beside the repository)"
)
MIN_EVENTS, MAX_EVENTS = 40, 20_000
EVENTS_HELP = f"simulated events for --data simulator, {MIN_EVENTS}-{MAX_EVENTS}"
_EVENTS_EXAMPLE = "--events 1500"


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


def _events(text: str) -> int:
    return parse_count(text, "--events", MIN_EVENTS, MAX_EVENTS, _EVENTS_EXAMPLE)


def _output_folder(path: Path, option: str, example: str) -> Path:
    """Make sure `path` is a folder this process can write in (made when missing), before
    any training: a wrong path would otherwise be found only at the end."""
    if path.exists() and not path.is_dir():
        fail(f"{option} must be a folder, and {path} is a file, e.g. {option} {example}")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        fail(f"cannot write in {option} {path} ({reason}), e.g. {option} {example}")
    return path


def _staging_folder(target: Path) -> Path:
    """A new empty folder beside `target` to write the model into, made before training
    (so a folder that cannot be written is found first); `target` must be a model folder
    or new, since `_put_in_place` replaces it whole."""
    option = "--out"
    if target.exists() and not target.is_dir():
        fail(f"{option} must be a folder, and {target} is a file, e.g. {option} {_OUT_EXAMPLE}")
    if target.is_dir():
        for entry in sorted(target.iterdir()):
            if not (entry.is_file() and any(entry.match(name) for name in MODEL_FILES)):
                fail(
                    f"{option} {target} holds {entry.name}, which is not part of a model and"
                    f" would be lost when the new model replaces the folder; use a folder of"
                    f" its own, e.g. {option} {_OUT_EXAMPLE}"
                )
    place = Path(os.path.abspath(target))
    try:
        place.parent.mkdir(parents=True, exist_ok=True)
        _sweep_dead_staging(place)
        prefix = f".{place.name}.{os.getpid()}."
        return Path(tempfile.mkdtemp(prefix=prefix, suffix=".partial", dir=place.parent))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        fail(f"cannot write in {option} {target} ({reason}), e.g. {option} {_OUT_EXAMPLE}")


def _sweep_dead_staging(place: Path) -> None:
    """Clear what a `train` killed outright (SIGKILL, power loss) left beside `place`:
    its process is gone, so nothing else will. A half-written ".models.<pid>.<random>
    .partial" folder is removed; the previous model it had set aside (".old") goes back
    in place if the swap stopped before the new one arrived, and is removed otherwise."""
    for suffix in ("old", "partial"):
        for left in sorted(place.parent.glob(f".{place.name}.*.{suffix}")):
            pid = left.name.removeprefix(f".{place.name}.").split(".")[0]
            if not left.is_dir() or not pid.isdigit() or _alive(int(pid)):
                continue
            if suffix == "old" and not place.exists():
                left.rename(place)
            else:
                shutil.rmtree(left, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _put_in_place(staging: Path, target: Path) -> None:
    """Rename the complete model folder `staging` to `target`; a folder there before is
    renamed aside first and removed after (a failed rename puts it back)."""
    problem = model_dir_problem_blocking(staging, card=True)
    if problem is not None:
        raise RuntimeError(f"the new model is incomplete: {problem}")
    old = staging.with_suffix(".old")
    had_old = target.exists()
    if had_old:
        target.rename(old)
    try:
        staging.rename(target)
    except BaseException:  # interrupted too: the old model goes back
        if had_old:
            old.rename(target)
        raise
    if had_old:
        shutil.rmtree(old, ignore_errors=True)


def _check_data_dir(source: Source, data_dir: Path) -> None:
    if source in (Source.MLB, Source.STUBHUB) and not data_dir.is_dir():
        fail(f"no data folder at {data_dir.absolute()}, e.g. --data-dir {DEFAULT_DATA}")


def _load(source: Source, data_dir: Path, events: int) -> pd.DataFrame:
    if source is Source.DB:
        url = load_settings().database_url
        check_database(url)
        df = datasets.from_snapshot_rows(run(_snapshot_rows(url)))
    else:
        try:
            df = datasets.load(source.value, data_dir, events=events)
        except FileNotFoundError as exc:  # the folder is there, this data set is not
            fail(
                f"no {source} data in {data_dir} ({exc.filename or 'a file'} is missing),"
                f" e.g. --data-dir {DEFAULT_DATA}"
            )
    if df["event"].nunique() < MIN_EVENTS:
        fail(
            f"{source} has {df['event'].nunique()} events; at least {MIN_EVENTS} are needed,"
            " e.g. --data mlb"
        )
    return df


def _fit(df: pd.DataFrame) -> tuple[Any, ...]:
    progress_to = console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=progress_to,
        transient=True,
        disable=not progress_to.is_terminal,
    ) as bar:
        task = bar.add_task("training", total=STEPS)
        return train.fit(df, lambda name: bar.update(task, advance=1, description=name))


def _reason(exc: BaseException) -> str:
    """An error's type and first line, for a one-line failure message."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _register_or_warn(target: Path, version: str, metrics: dict[str, Any]) -> None:
    """Register the written model; a database that is not there is a warning on stderr
    (the model folder is written and HDT_MODEL_DIR can point at it)."""
    url = load_settings().database_url
    problem = database_problem(url)
    if problem is None:
        try:
            row = asyncio.run(_register(url, str(target.resolve()), version, metrics))
        except (SQLAlchemyError, OSError) as exc:
            orig = getattr(exc, "orig", None)
            reason = str(orig if orig is not None else exc).strip().splitlines()[0]
            problem = f"{reason}; has `hdtickets migrate` been run?"
        else:
            typer.echo(f"registered {version} as the active model (model_registry id {row})")
            return
    typer.echo(
        f"warning: not registered in model_registry: {problem} (--no-register skips this)",
        err=True,
    )


@app.command(
    "train",
    epilog=examples(
        "hdtickets train",
        "hdtickets train --data simulator --events 500 --out sim-model",
        "hdtickets train --data db --no-register",
    ),
)
def train_command(
    data: Annotated[
        Source, typer.Option("--data", help="where the training data comes from")
    ] = Source.MLB,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", metavar="FOLDER", help=DATA_HELP)
    ] = DEFAULT_DATA,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="FOLDER",
            help="model folder, new or holding only a model: it is replaced whole"
            " (default HDT_MODEL_DIR)",
        ),
    ] = None,
    events: Annotated[str, typer.Option("--events", metavar="N", help=EVENTS_HELP)] = "1500",
    register: Annotated[
        bool,
        typer.Option(
            "--register/--no-register", help="record it as the active model in model_registry"
        ),
    ] = True,
) -> None:
    """Train every model and write the model directory (xgboost JSON + model card).

    The folder is replaced only once the new model is complete: if training fails or is
    interrupted, the previous model stays as it was and the exit code is 1."""
    count = _events(events)
    _check_data_dir(data, data_dir)
    target = out or load_settings().model_dir
    staging = _staging_folder(target)
    kept = f"{target} is unchanged" if target.exists() else f"nothing was written to {target}"
    try:
        df = _load(data, data_dir, count)
        models, x, y, folds = _fit(df)
        metrics = bt.evaluate(models, df, x, y, folds)
        models.meta["metrics"] = bt.headline(metrics)
        models.save(staging, report.card(models, df, data.value, metrics))
        _put_in_place(staging, target)
    except typer.Exit:
        raise
    except Exception as exc:  # the command's edge: any failure leaves the old model be
        logger.debug("training into %s failed", staging, exc_info=True)
        typer.echo(f"error: training failed ({_reason(exc)}); {kept}", err=True)
        raise typer.Exit(code=TRAIN_FAILED) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    typer.echo(f"wrote {len(models.boosters)} models to {target} in {models.meta['train_s']} s")
    if register:
        _register_or_warn(
            target,
            f"{data.value}-{pd.Timestamp.now(tz='UTC'):%Y%m%dT%H%M%S}",
            models.meta["metrics"],
        )


@app.command(
    "backtest",
    epilog=examples(
        "hdtickets backtest --data mlb",
        "hdtickets backtest --data simulator --events 500 --json",
        "hdtickets backtest --dev --reports reports/dev",
    ),
)
def backtest_command(
    data: Annotated[Source, typer.Option("--data", help="where the data comes from")] = Source.MLB,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", metavar="FOLDER", help=DATA_HELP)
    ] = DEFAULT_DATA,
    reports: Annotated[
        Path,
        typer.Option(
            "--reports",
            metavar="FOLDER",
            help="the folder for backtest.md and its charts (relative to the current one)",
        ),
    ] = DEFAULT_REPORTS,
    events: Annotated[str, typer.Option("--events", metavar="N", help=EVENTS_HELP)] = "1500",
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
    """Time-split backtest: every model beside its baselines; writes backtest.md (--reports).

    With --dev nothing of the real test period is read (choices are judged on that)."""
    count = _events(events)
    _check_data_dir(data, data_dir)
    folder = _output_folder(reports, "--reports", "reports/run1")
    df = _load(data, data_dir, count)
    if dev:
        df = train.development_frame(df)
    try:
        models, x, y, folds = _fit(df)
        metrics = bt.evaluate(models, df, x, y, folds)
        fans = report.fan_frames(models, df, x, folds.price)
        path = report.write(metrics, data.value, folder, fans)
    except typer.Exit:
        raise
    except Exception as exc:  # the command's edge: one line (too little data, say)
        logger.debug("backtest failed", exc_info=True)
        typer.echo(f"error: backtest failed ({_reason(exc)})", err=True)
        raise typer.Exit(code=TRAIN_FAILED) from None
    if as_json:
        typer.echo(json.dumps(bt.headline(metrics)))
    else:
        console().print(report.markdown(metrics, data.value), markup=False)
        typer.echo(f"wrote {path}")
