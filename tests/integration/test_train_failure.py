"""A failed `hdtickets train` leaves the previous model folder as it was and no partial one,
and a partial model folder is never chosen as the model to load."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from bot import bootstrap
from bot.bootstrap import build, load_predictor, model_dir_problem_blocking, model_dirs
from bot.cli import app
from bot.cli import ml as ml_cli
from bot.settings import load_settings
from core.db.engine import make_engine, make_sessionmaker
from core.db.models import ModelVersion
from core.metrics import NullMetrics
from ml import backtest, report, train
from ml.predictor import SHIPPED_MODEL

TRAIN = ["train", "--data", "simulator", "--events", "40", "--no-register", "--out"]


class FakeModels:
    """What `_fit` returns, its `save` writing what `ModelSet.save` writes (small files);
    with `files`, it stops after that many, raising `error` when given."""

    def __init__(self, *, files: int | None = None, error: BaseException | None = None) -> None:
        self.boosters = {"dip": "new", "sellout": "new"}
        self.meta: dict[str, Any] = {"train_s": 0.1}
        self.files, self.error = files, error

    def save(self, directory: Path, card: str | None = None) -> None:
        written = {f"{name}.json": "{}" for name in self.boosters}
        written["model.json"] = json.dumps({"targets": sorted(self.boosters)})
        written["MODEL_CARD.md"] = card or ""
        for count, (name, text) in enumerate(written.items()):
            if count == self.files:
                if self.error is not None:
                    raise self.error
                return
            (directory / name).write_text(text)


def fake_training(monkeypatch: pytest.MonkeyPatch, models: FakeModels) -> None:
    """Replace the slow steps of `train` (data, fit, evaluation, card) by instant ones."""
    frame = pd.DataFrame({"event": range(50)})
    monkeypatch.setattr(ml_cli, "_load", lambda *args: frame)
    monkeypatch.setattr(ml_cli, "_fit", lambda df: (models, None, None, None))
    monkeypatch.setattr(backtest, "evaluate", lambda *args: {})
    monkeypatch.setattr(backtest, "headline", lambda metrics: {})
    monkeypatch.setattr(report, "card", lambda *args: "# Model card\n")


def contents(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.fixture
def old_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A complete model at tmp_path/models (a copy of the shipped one), the working folder."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "models"
    shutil.copytree(SHIPPED_MODEL, folder)
    yield folder


def only_the_model_folder_is_left(tmp_path: Path) -> bool:
    return sorted(p.name for p in tmp_path.iterdir()) == ["models"]


@pytest.mark.parametrize(
    ("failing", "reason"),
    [
        (FakeModels(files=1, error=OSError(28, "No space left on device")),
         "OSError: [Errno 28] No space left on device"),
        (FakeModels(files=3, error=RuntimeError("xgboost died\nwith a long trace")),
         "RuntimeError: xgboost died"),
        (FakeModels(files=3, error=None), "RuntimeError: the new model is incomplete: "
         "MODEL_CARD.md is missing or empty"),  # a save that forgot a file
    ],
    ids=["disk full mid-write", "an exception", "an incomplete model"],
)  # fmt: skip
def test_a_failed_save_leaves_the_old_model_and_no_partial_folder(
    failing: FakeModels,
    reason: str,
    old_model: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = contents(old_model)
    fake_training(monkeypatch, failing)
    result = CliRunner().invoke(app, [*TRAIN, "models"])
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr == f"error: training failed ({reason}); models is unchanged\n"
    assert contents(old_model) == before
    assert only_the_model_folder_is_left(tmp_path)


def test_a_failing_training_step_leaves_the_old_model(
    old_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = contents(old_model)

    def fit(df: pd.DataFrame, step: Any) -> Any:
        step("drop_72h")
        raise ValueError("Check failed: labels are not finite")

    monkeypatch.setattr(train, "fit", fit)  # the real data load, then this
    result = CliRunner().invoke(app, [*TRAIN, "models"])
    assert result.exit_code == 1, result.output
    assert result.stderr == (
        "error: training failed (ValueError: Check failed: labels are not finite);"
        " models is unchanged\n"
    )
    assert contents(old_model) == before
    assert only_the_model_folder_is_left(tmp_path)


def test_an_interrupted_run_leaves_the_old_model(
    old_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = contents(old_model)
    fake_training(monkeypatch, FakeModels(files=2, error=KeyboardInterrupt()))
    result = CliRunner().invoke(app, [*TRAIN, "models"])
    assert result.exit_code == 130  # click's "Aborted!" for Ctrl-C
    assert contents(old_model) == before
    assert only_the_model_folder_is_left(tmp_path)


def test_a_failed_first_run_leaves_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    fake_training(monkeypatch, FakeModels(files=1, error=OSError(5, "Input/output error")))
    result = CliRunner().invoke(app, [*TRAIN, "new/run1"])
    assert result.exit_code == 1
    assert result.stderr.endswith("; nothing was written to new/run1\n")
    assert not (tmp_path / "new" / "run1").exists()  # nothing for the loader to pick up
    assert list((tmp_path / "new").iterdir()) == []


def test_a_complete_model_replaces_the_old_one_whole(
    old_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_training(monkeypatch, FakeModels())
    result = CliRunner().invoke(app, [*TRAIN, "models"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "wrote 2 models to models in 0.1 s\n"
    assert sorted(contents(old_model)) == [
        "MODEL_CARD.md",
        "dip.json",
        "model.json",
        "sellout.json",
    ]
    assert only_the_model_folder_is_left(tmp_path)  # the old one is gone, not set aside


def dead_pid() -> int:
    """The id of a process that has ended (what a run killed with SIGKILL leaves)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, check=True, text=True)  # fmt: skip
    return int(proc.stdout)


def test_what_a_killed_run_left_is_cleared_by_the_next(
    old_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = dead_pid()
    shutil.copytree(old_model, tmp_path / f".models.{gone}.abc.partial")
    shutil.copytree(old_model, tmp_path / f".models.{gone}.def.old")
    running = tmp_path / f".models.{os.getpid()}.ghi.partial"  # a run still going
    running.mkdir()
    fake_training(monkeypatch, FakeModels())
    result = CliRunner().invoke(app, [*TRAIN, "models"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["models", running.name])


def test_a_model_set_aside_by_a_killed_swap_goes_back_first(
    old_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed between moving the old model aside and moving the new one in: the next run
    puts the old one back before it starts, so a failure then still leaves a model."""
    before = contents(old_model)
    old_model.rename(tmp_path / f".models.{dead_pid()}.abc.old")
    fake_training(monkeypatch, FakeModels(files=1, error=OSError(28, "No space left")))
    result = CliRunner().invoke(app, [*TRAIN, "models"])
    assert result.exit_code == 1, result.output
    assert contents(old_model) == before
    assert only_the_model_folder_is_left(tmp_path)


def test_a_folder_holding_other_files_is_refused_before_training(
    old_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (old_model / "notes.txt").write_text("mine")
    before = contents(old_model)
    fake_training(monkeypatch, FakeModels())
    result = CliRunner().invoke(app, [*TRAIN, "models"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --out models holds notes.txt, which is not part")
    assert contents(old_model) == before
    assert only_the_model_folder_is_left(tmp_path)


# --- loading ------------------------------------------------------------------------------


def test_what_a_model_folder_lacks_is_named(tmp_path: Path) -> None:
    assert model_dir_problem_blocking(SHIPPED_MODEL, card=True) is None
    assert model_dir_problem_blocking(tmp_path / "gone") == "it does not exist"
    assert model_dir_problem_blocking(tmp_path) == "model.json is missing"
    (tmp_path / "model.json").write_text('{"targets": ["dip", "sellout"]}')
    (tmp_path / "dip.json").write_text("")
    assert model_dir_problem_blocking(tmp_path) == "dip.json, sellout.json are missing or empty"
    (tmp_path / "model.json").write_text('{"targ')
    unreadable = model_dir_problem_blocking(tmp_path, card=True)
    assert unreadable is not None and unreadable.startswith("model.json is unreadable")


@pytest.fixture
async def sessions(sqlite_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(sqlite_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def register(sessions: async_sessionmaker[AsyncSession], path: Path) -> None:
    async with sessions() as session, session.begin():
        session.add(
            ModelVersion(name="xgboost", version="v1", path=str(path), metrics={}, active=True)
        )


def partial(folder: Path) -> Path:
    """A model folder a training run stopped writing: model.json and half the boosters."""
    shutil.copytree(SHIPPED_MODEL, folder)
    for name in ("quant_7d.json", "rise_24h.json", "MODEL_CARD.md"):
        (folder / name).unlink()
    return folder


async def _dirs(
    sessions: async_sessionmaker[AsyncSession], fallback: Path, shipped: Path | None = None
) -> list[Path]:
    """The directories `load_predictor` tries, in order (none: the heuristic)."""
    return [path for _, path in await model_dirs(sessions, fallback, shipped)]


async def test_an_empty_or_partial_model_dir_is_passed_over_with_a_warning(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with caplog.at_level(logging.WARNING, logger=bootstrap.__name__):
        assert await _dirs(sessions, empty, SHIPPED_MODEL) == [SHIPPED_MODEL]
        half = partial(tmp_path / "half")
        assert await _dirs(sessions, half, SHIPPED_MODEL) == [SHIPPED_MODEL]
        assert await _dirs(sessions, half) == []  # the predictor's heuristic
    assert [r.getMessage() for r in caplog.records] == [
        f"not loading HDT_MODEL_DIR {empty}: model.json is missing",
        f"not loading HDT_MODEL_DIR {half}: quant_7d.json, rise_24h.json are missing or empty",
        f"not loading HDT_MODEL_DIR {half}: quant_7d.json, rise_24h.json are missing or empty",
    ]

    good = tmp_path / "good"
    shutil.copytree(SHIPPED_MODEL, good)
    await register(sessions, empty)  # the active row, left by a failed run
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=bootstrap.__name__):
        assert await _dirs(sessions, good, SHIPPED_MODEL) == [good, SHIPPED_MODEL]
    assert [r.getMessage() for r in caplog.records] == [
        f"not loading the registered model {empty}: model.json is missing"
    ]
    quiet = tmp_path / "unset"  # no HDT_MODEL_DIR at all is the usual case: no warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=bootstrap.__name__):
        await register(sessions, good)
        assert await _dirs(sessions, quiet, SHIPPED_MODEL) == [good, SHIPPED_MODEL]
    assert caplog.records == []


async def test_the_process_loads_the_shipped_model_over_a_partial_model_dir(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = load_settings(
        database_url=sqlite_url,
        secret_key="test",
        demo=False,
        state_dir=tmp_path,
        model_dir=partial(tmp_path / "models"),
    )
    container = await build(settings, metrics=NullMetrics(), channels={})
    try:
        assert container.predictor.name == "xgboost"  # not the heuristic forever
    finally:
        await container.aclose()


def _cut_booster(folder: Path) -> None:
    booster = folder / "drop_72h.json"
    text = booster.read_text()
    booster.write_text(text[: len(text) // 2])


def _no_calibration(folder: Path) -> None:
    doc = json.loads((folder / "model.json").read_text())
    del doc["platt"]
    (folder / "model.json").write_text(json.dumps(doc))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        # xgboost's own words vary with where its parser gives up ("Expecting …",
        # "Check failed: beg <= size_ …"): only ours are checked.
        (_cut_booster, "drop_72h.json is unreadable ("),
        (_no_calibration, "model.json has no 'platt'"),
    ],
)
async def test_a_damaged_model_dir_is_passed_over_for_the_next_that_loads(
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    damage: Any,
    reason: str,
) -> None:
    """Every file is there, but one does not load: a model.json missing a key stopped the
    process at start with a traceback; a cut booster left the heuristic in use, with
    xgboost's native stack trace in the warning, although the shipped model was fine."""
    damaged = tmp_path / "models"
    shutil.copytree(SHIPPED_MODEL, damaged)
    damage(damaged)
    assert model_dir_problem_blocking(damaged) is None  # complete: only loading tells
    with caplog.at_level(logging.WARNING):
        predictor = await load_predictor(sessions, damaged, SHIPPED_MODEL)
        assert predictor.name == "xgboost" and predictor.models is not None
    [warning] = [r.getMessage() for r in caplog.records]
    assert warning.startswith(f"not loading HDT_MODEL_DIR {damaged}: {reason}")
    assert "\n" not in warning and "Stack trace" not in warning
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # nothing else to load: the heuristic
        assert (await load_predictor(sessions, damaged)).name == "heuristic"
    assert caplog.records[0].getMessage().startswith("not loading HDT_MODEL_DIR")


def test_a_backtest_on_too_little_data_is_one_line_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`backtest --data db` on a database of a day's snapshots: the fit finds no outcome
    to learn from. Training said so in one line; the backtest printed a traceback."""
    monkeypatch.chdir(tmp_path)
    frame = pd.DataFrame({"event": range(50)})
    monkeypatch.setattr(ml_cli, "_load", lambda *args: frame)

    def fit(df: pd.DataFrame, step: Any) -> Any:
        raise ValueError("drop_72h: no snapshot of the calibration events has a known outcome")

    monkeypatch.setattr(train, "fit", fit)
    result = CliRunner().invoke(app, ["backtest", "--data", "simulator", "--json"])
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr == (
        "error: backtest failed (ValueError: drop_72h: no snapshot of the calibration events"
        " has a known outcome)\n"
    )
