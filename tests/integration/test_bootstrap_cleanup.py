"""`bot.bootstrap.build` closes what it opened (the engine, the channels it made) when a
later step fails, then lets the error through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import bootstrap
from bot.settings import Settings, load_settings
from core.db.engine import make_engine
from core.metrics import NullMetrics
from tests.fakes.predictor import StubPredictor


class RecordingEngine(AsyncEngine):
    """The real engine, counting `dispose` calls."""

    def __init__(self, real: AsyncEngine) -> None:
        super().__init__(real.sync_engine)
        self.disposals = 0

    async def dispose(self, close: bool = True) -> None:
        self.disposals += 1
        await super().dispose(close)


class ClosableChannel:
    name = "webhook"

    def __init__(self) -> None:
        self.closed = 0

    async def close(self) -> None:
        self.closed += 1


@pytest.fixture
async def engines(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[RecordingEngine]]:
    """Every engine `build` makes, recorded; released at the end whatever `build` did."""
    made: list[RecordingEngine] = []

    def recording(url: str, **kwargs: Any) -> AsyncEngine:
        made.append(RecordingEngine(make_engine(url, **kwargs)))
        return made[-1]

    monkeypatch.setattr(bootstrap, "make_engine", recording)
    yield made
    for engine in made:
        await AsyncEngine.dispose(engine)


def _settings(url: str, tmp_path: Path) -> Settings:
    return load_settings(database_url=url, secret_key="test", demo=False, state_dir=tmp_path)


@pytest.mark.parametrize("predictor", [None, StubPredictor()], ids=["model_dir", "watch_index"])
async def test_an_unmigrated_database_leaves_no_engine_open(
    engines: list[RecordingEngine], tmp_path: Path, predictor: StubPredictor | None
) -> None:
    # No tables: with no predictor given, finding the model fails; with one, loading watches.
    settings = _settings(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}", tmp_path)
    with pytest.raises(OperationalError, match="no such table"):
        await bootstrap.build(settings, metrics=NullMetrics(), predictor=predictor)
    [engine] = engines
    assert engine.disposals == 1
    assert engine.sync_engine.pool.checkedin() == 0  # no connection left behind


@pytest.mark.parametrize("passed_in", [False, True], ids=["built", "passed_in"])
async def test_a_late_failure_closes_the_channels_build_made(
    engines: list[RecordingEngine],
    sqlite_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    passed_in: bool,
) -> None:
    channel = ClosableChannel()
    monkeypatch.setattr(bootstrap, "default_channels", lambda *args: {"webhook": channel})

    async def unreachable(engine: AsyncEngine) -> str | None:
        raise ConnectionError("database went away")

    monkeypatch.setattr(bootstrap, "upkeep_warning", unreachable)
    given: dict[str, Any] | None = {"webhook": channel} if passed_in else None
    with pytest.raises(ConnectionError, match="database went away"):
        await bootstrap.build(
            _settings(sqlite_url, tmp_path),
            metrics=NullMetrics(),
            predictor=StubPredictor(),
            channels=given,
        )
    assert [e.disposals for e in engines] == [1]
    assert channel.closed == (0 if passed_in else 1)  # the caller closes its own


async def test_a_successful_build_leaves_everything_open_for_the_container(
    engines: list[RecordingEngine], sqlite_url: str, tmp_path: Path
) -> None:
    container = await bootstrap.build(
        _settings(sqlite_url, tmp_path), metrics=NullMetrics(), predictor=StubPredictor()
    )
    assert [e.disposals for e in engines] == [0]
    await container.aclose()
    assert [e.disposals for e in engines] == [1]


async def test_a_key_that_cannot_read_the_stored_secrets_stops_start_up(
    engines: list[RecordingEngine], sqlite_url: str, tmp_path: Path
) -> None:
    from adapters.twilio.crypto import PhoneBox
    from bot.settings import SettingsError
    from core.db.engine import make_sessionmaker
    from core.db.models import ContactPoint, User

    writer = make_engine(sqlite_url)
    try:
        async with make_sessionmaker(writer)() as session, session.begin():
            user = User(display_name="Ada")
            session.add(user)
            await session.flush()
            session.add(
                ContactPoint(
                    user_id=user.id, kind="sms", address_masked="+1 ••• 0100",
                    address_encrypted=PhoneBox(b"the key it was made with").encrypt("+15550100"),
                )
            )  # fmt: skip
    finally:
        await writer.dispose()
    with pytest.raises(SettingsError) as refused:
        await bootstrap.build(
            _settings(sqlite_url, tmp_path), metrics=NullMetrics(), predictor=StubPredictor()
        )
    line = str(refused.value)
    assert line.startswith("configuration error: HDT_SECRET_KEY: the stored phone numbers ")
    assert "encrypted with another key than HDT_SECRET_KEY" in line and "\n" not in line
    assert [e.disposals for e in engines] == [1]
    container = await bootstrap.build(
        load_settings(
            database_url=sqlite_url, secret_key="the key it was made with", demo=False,
            state_dir=tmp_path,
        ),
        metrics=NullMetrics(), predictor=StubPredictor(),
    )  # fmt: skip
    await container.aclose()


async def test_settings_of_a_platform_not_built_are_named_in_a_warning(
    engines: list[RecordingEngine],
    sqlite_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = load_settings(
        database_url=sqlite_url,
        secret_key="test",
        demo=False,
        state_dir=tmp_path,
        slack_bot_token="xoxb-secret-value",
    )
    container = await bootstrap.build(settings, metrics=NullMetrics(), predictor=StubPredictor())
    await container.aclose()
    [warning] = [r.getMessage() for r in caplog.records if "not supported yet" in r.getMessage()]
    assert warning.startswith("HDT_SLACK_BOT_TOKEN set, but Slack and Discord")
    assert "xoxb-secret-value" not in caplog.text
