"""`hdtickets train` writes the model directory and records it in model_registry."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.bootstrap import model_dirs
from bot.cli import app
from bot.cli.ml import DEFAULT_DATA
from core.db.engine import make_engine, make_sessionmaker
from core.db.models import ModelVersion
from ml.predictor import SHIPPED_MODEL, ModelPredictor


async def _registry(url: str) -> list[ModelVersion]:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            rows = await session.execute(select(ModelVersion).order_by(ModelVersion.id))
            return list(rows.scalars())
    finally:
        await engine.dispose()


def test_train_registers_the_active_model(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HDT_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("HDT_SECRET_KEY", "ml-cli-test-key")
    runner = CliRunner()
    for name in ("first", "second"):
        args = ["train", "--data", "simulator", "--events", "80", "--out", str(tmp_path / name)]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "as the active model" in result.output
    rows = asyncio.run(_registry(sqlite_url))
    assert [(r.name, r.active) for r in rows] == [("xgboost", False), ("xgboost", True)]
    assert rows[1].path == str((tmp_path / "second").resolve())
    assert "auc_drop_72h" in rows[1].metrics
    assert ModelPredictor(Path(rows[1].path)).name == "xgboost"
    skipped = runner.invoke(
        app, ["train", "--data", "simulator", "--events", "80", "--out", str(tmp_path / "x"),
              "--no-register"],
    )  # fmt: skip
    assert skipped.exit_code == 0, skipped.output
    assert len(asyncio.run(_registry(sqlite_url))) == 2


def test_the_process_loads_the_registered_model_over_the_setting(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HDT_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("HDT_SECRET_KEY", "ml-cli-test-key")
    trained = tmp_path / "trained"
    args = ["train", "--data", "simulator", "--events", "80", "--out", str(trained)]
    assert CliRunner().invoke(app, args).exit_code == 0

    async def chosen(fallback: Path) -> list[Path]:
        """The directories the process would try, in order."""
        engine = make_engine(sqlite_url)
        try:
            return [path for _, path in await model_dirs(make_sessionmaker(engine), fallback)]
        finally:
            await engine.dispose()

    assert asyncio.run(chosen(tmp_path / "unused")) == [trained.resolve()]
    shutil.rmtree(trained)  # a registered directory that is gone: the setting wins
    shutil.copytree(SHIPPED_MODEL, tmp_path / "setting")
    assert asyncio.run(chosen(tmp_path / "setting")) == [tmp_path / "setting"]
    # No complete model anywhere: nothing to try, and the predictor uses the heuristic.
    assert asyncio.run(chosen(tmp_path / "unused")) == []


def test_a_data_folder_without_the_data_set_is_one_line_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for command in ("train", "backtest"):
        for data in ("mlb", "stubhub"):
            result = CliRunner().invoke(app, [command, "--data", data, "--data-dir", str(tmp_path)])
            assert result.exit_code == 2, result.output
            assert f"is missing), e.g. --data-dir {DEFAULT_DATA}" in result.output
            assert result.exception is None or isinstance(result.exception, SystemExit)
        missing = CliRunner().invoke(app, [command, "--data", "mlb", "--data-dir", "nope"])
        assert missing.exit_code == 2
        assert f"error: no data folder at {tmp_path / 'nope'}, e.g." in missing.stderr


def test_the_default_data_folder_does_not_depend_on_the_working_folder() -> None:
    assert DEFAULT_DATA.is_absolute()
    assert Path(__file__).resolve().parents[3] / "shared" / "data" == DEFAULT_DATA


def test_backtest_json_prints_only_one_json_object_on_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["backtest", "--data", "simulator", "--events", "60", "--json"]
    result = CliRunner().invoke(app, [*args, "--reports", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)  # nothing else: no progress bar, no blank line
    assert "auc_drop_72h" in metrics
    assert (tmp_path / "out" / "backtest.md").is_file()
    assert "━" not in result.stderr  # the progress bar shows only on a terminal


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--events", "-5"], "--events must be a whole number from 40 to 20000, not '-5'"),
        (["--events", "0"], "--events must be a whole number from 40 to 20000, not '0'"),
        (["--events", "39"], "e.g. --events 1500"),
        (["--events", "lots"], "e.g. --events 1500"),
    ],
)
@pytest.mark.parametrize("command", ["train", "backtest"])
def test_events_are_checked_before_anything_runs(
    command: str, args: list[str], reason: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, [command, "--data", "simulator", *args])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and reason in result.stderr
    assert len(result.stderr.splitlines()) == 1 and result.stdout == ""


@pytest.mark.parametrize(("command", "option"), [("train", "--out"), ("backtest", "--reports")])
def test_an_output_folder_that_cannot_be_written_is_refused_before_training(
    command: str, option: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    afile = tmp_path / "afile"
    afile.write_text("")
    base = [command, "--data", "simulator", "--events", "60"]
    for target, reason in (
        (afile, f"{option} must be a folder, and {afile} is a file"),
        (afile / "inside", f"cannot write in {option} {afile / 'inside'}"),
    ):
        result = CliRunner().invoke(app, [*base, option, str(target)])
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(f"error: {reason}") and "e.g. " in result.stderr
        assert len(result.stderr.splitlines()) == 1 and result.stdout == ""
        assert result.exception is None or isinstance(result.exception, SystemExit)
