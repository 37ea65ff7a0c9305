"""POST /api/v1/ingest/snapshots through aiohttp: auth, limits, errors and the 202 report."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks import Webhook

from bot.settings import SettingsError
from bot.web import WebDeps, build_web_app
from bot.web_errors import INGEST_PATH, MAX_BODY_BYTES
from core.clock import FakeClock
from core.db.engine import make_engine, make_sessionmaker
from core.db.models import ApiToken, MarketSnapshot
from core.domain import StoredSnapshot
from core.ingest import IngestService
from core.metrics import RecordingMetrics
from core.tokens import create_token, hash_token, revoke_token

SECRET_BYTES = b"0123456789abcdef0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(SECRET_BYTES).decode()
PAYLOAD = Path(__file__).parents[1] / "payloads" / "ingest" / "seatgeek_batch.json"
BODY = PAYLOAD.read_bytes()


class Processor:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    async def process(
        self,
        session: AsyncSession,
        stored: Sequence[StoredSnapshot],
        now: datetime,
        *,
        alert: bool = True,
    ) -> object:
        if self.fail:
            raise RuntimeError("secret internals /etc/passwd")
        return None


def make_app(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    secret: str | None = SECRET,
    processor: Processor | None = None,
) -> web.Application:
    ingest = IngestService(sessions, processor or Processor(), clock, RecordingMetrics())
    deps = WebDeps(
        sessions=sessions,
        ingest=ingest,
        clock=clock,
        ingest_secret=SecretStr(secret) if secret else None,
    )
    return build_web_app(deps)


@pytest.fixture
async def lite(sqlite_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """SQLite only: HTTP parsing and signatures do not depend on the backend."""
    engine = make_engine(sqlite_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def client(
    lite: async_sessionmaker[AsyncSession], clock: FakeClock
) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(make_app(lite, clock))) as test_client:
        yield test_client


@pytest.fixture
async def both_client(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> AsyncIterator[TestClient[Any, Any]]:
    """On SQLite and PostgreSQL: for what touches tokens and storage."""
    async with TestClient(TestServer(make_app(sessions, clock))) as test_client:
        yield test_client


def signed(
    body: bytes, when: datetime, secret: str = SECRET, msg_id: str = "msg_1"
) -> dict[str, str]:
    signature = Webhook(secret).sign(msg_id, when, body.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signature,
        "Content-Type": "application/json",
    }


async def token(sessions: async_sessionmaker[AsyncSession], clock: FakeClock, scopes: str) -> str:
    async with sessions() as session, session.begin():
        return await create_token(session, None, "scraper", scopes, clock.now())


async def stored_count(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return await session.scalar(select(func.count()).select_from(MarketSnapshot)) or 0


async def expect_error(response: Any, status: int, code: str, text: str = "") -> str:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    assert body["error"]["code"] == code
    message: str = body["error"]["message"]
    assert text in message and "Traceback" not in message
    return message


async def test_a_signed_batch_is_accepted_and_a_replay_is_all_duplicates(
    both_client: TestClient[Any, Any], clock: FakeClock, sessions: async_sessionmaker[AsyncSession]
) -> None:
    response = await both_client.post(INGEST_PATH, data=BODY, headers=signed(BODY, clock.now()))
    assert response.status == 202
    assert await response.json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    again = await both_client.post(
        INGEST_PATH, data=BODY, headers=signed(BODY, clock.now(), msg_id="msg_2")
    )
    assert await again.json() == {"accepted": 0, "duplicates": 3, "rejected": []}
    assert await stored_count(sessions) == 3


async def test_a_signature_computed_by_hand_with_rotation_is_accepted(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    stamp = str(int(clock.now().timestamp()))
    mac = hmac.new(SECRET_BYTES, f"m9.{stamp}.".encode() + BODY, hashlib.sha256).digest()
    headers = {
        "webhook-id": "m9",
        "webhook-timestamp": stamp,
        # An old key's signature first, as a sender does during rotation.
        "webhook-signature": "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= v1a,xyz v1,"
        + base64.b64encode(mac).decode(),
    }
    response = await client.post(INGEST_PATH, data=BODY, headers=headers)
    assert response.status == 202, await response.text()


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ("forged", "does not match"),
        ("tampered", "does not match"),
        ("expired", "more than 5 minutes"),
        ("future", "more than 5 minutes"),
        ("garbled", "does not match"),
        ("bad_timestamp", "Unix seconds"),
        ("missing_id", "are all required"),
    ],
)
async def test_bad_signatures_are_refused(
    client: TestClient[Any, Any],
    clock: FakeClock,
    lite: async_sessionmaker[AsyncSession],
    change: str,
    text: str,
) -> None:
    now, body = clock.now(), BODY
    other_secret = "whsec_" + base64.b64encode(b"another key entirely!!").decode()
    headers = {
        "forged": lambda: signed(BODY, now, secret=other_secret),
        "tampered": lambda: signed(BODY.replace(b"28.0", b"2.0"), now),
        "expired": lambda: signed(BODY, now - timedelta(minutes=6)),
        "future": lambda: signed(BODY, now + timedelta(minutes=6)),
        "garbled": lambda: signed(BODY, now) | {"webhook-signature": "v1,@@not base64@@"},
        "bad_timestamp": lambda: signed(BODY, now) | {"webhook-timestamp": "yesterday"},
        "missing_id": lambda: {k: v for k, v in signed(BODY, now).items() if k != "webhook-id"},
    }[change]()
    response = await client.post(INGEST_PATH, data=body, headers=headers)
    await expect_error(response, 401, "unauthorized", text)
    assert await stored_count(lite) == 0


async def test_signed_requests_are_refused_when_no_secret_is_configured(
    lite: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    app = make_app(lite, clock, secret=None)
    async with TestClient(TestServer(app)) as no_secret:
        response = await no_secret.post(INGEST_PATH, data=BODY, headers=signed(BODY, clock.now()))
        await expect_error(response, 401, "unauthorized", "HDT_INGEST_SECRET")


def test_an_unusable_secret_stops_start_up(
    lite: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    with pytest.raises(SettingsError, match="HDT_INGEST_SECRET"):
        make_app(lite, clock, secret="a")


async def test_a_bearer_token_with_the_ingest_scope_is_accepted(
    both_client: TestClient[Any, Any], clock: FakeClock, sessions: async_sessionmaker[AsyncSession]
) -> None:
    plain = await token(sessions, clock, "ingest")
    clock.advance(60)
    response = await both_client.post(
        INGEST_PATH, data=BODY, headers={"Authorization": f"Bearer {plain}"}
    )
    assert response.status == 202
    assert (await response.json())["accepted"] == 3
    async with sessions() as session:
        row = (await session.execute(select(ApiToken))).scalar_one()
    assert row.last_used_at == clock.now()
    admin = await token(sessions, clock, "admin")
    response = await both_client.post(
        INGEST_PATH, data=BODY, headers={"authorization": f"bearer {admin}"}
    )
    assert response.status == 202


async def test_bearer_tokens_without_scope_revoked_or_unknown_are_refused(
    both_client: TestClient[Any, Any], clock: FakeClock, sessions: async_sessionmaker[AsyncSession]
) -> None:
    reader = await token(sessions, clock, "read,write")
    response = await both_client.post(
        INGEST_PATH, data=BODY, headers={"Authorization": f"Bearer {reader}"}
    )
    await expect_error(response, 403, "insufficient_scope", "'ingest' scope")
    assert 'scope="ingest"' in response.headers["WWW-Authenticate"]

    revoked = await token(sessions, clock, "ingest")
    async with sessions() as session, session.begin():
        row = (
            await session.execute(
                select(ApiToken).where(ApiToken.token_hash == hash_token(revoked))
            )
        ).scalar_one()
        await revoke_token(session, row.id, clock.now())
    response = await both_client.post(
        INGEST_PATH, data=BODY, headers={"Authorization": f"Bearer {revoked}"}
    )
    await expect_error(response, 401, "unauthorized", "revoked")

    for header in ("Bearer hdt_unknown", "Bearer ", "Basic dXNlcjpwYXNz", "hdt_no_scheme"):
        response = await both_client.post(INGEST_PATH, data=BODY, headers={"Authorization": header})
        await expect_error(response, 401, "unauthorized")
    assert await stored_count(sessions) == 0


async def test_no_credentials_is_401_with_a_challenge(client: TestClient[Any, Any]) -> None:
    response = await client.post(INGEST_PATH, data=BODY)
    await expect_error(response, 401, "unauthorized", "Authorization: Bearer")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_bodies_over_5_mb_are_413(
    client: TestClient[Any, Any], clock: FakeClock, lite: async_sessionmaker[AsyncSession]
) -> None:
    plain = await token(lite, clock, "ingest")
    auth = {"Authorization": f"Bearer {plain}"}
    big = b" " * (MAX_BODY_BYTES + 1)
    response = await client.post(INGEST_PATH, data=io.BytesIO(big), headers=auth)
    await expect_error(response, 413, "payload_too_large", "5 MB")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked upload
        for _ in range(6):
            yield b" " * 1_000_000

    response = await client.post(INGEST_PATH, data=chunks(), headers=auth)
    await expect_error(response, 413, "payload_too_large")
    signed_big = await client.post(
        INGEST_PATH, data=io.BytesIO(big), headers=signed(big, clock.now())
    )
    await expect_error(signed_big, 413, "payload_too_large")


@pytest.mark.parametrize(
    ("body", "status", "code", "text"),
    [
        (
            b"{not json",
            400,
            "invalid_json",
            "body is not valid JSON: Expecting property name enclosed in double quotes"
            " (line 1, column 2)",
        ),
        (
            b'{"source": "x',
            400,
            "invalid_json",
            "body is not valid JSON: Unterminated string starting at (line 1, column 12)",
        ),
        (b"", 400, "invalid_json", "request body is empty"),
        (b'{"source": "x", "snapshots": [NaN]}', 400, "invalid_json", "NaN is not valid JSON"),
        (b"\xff\xfe{}", 400, "invalid_json", "UTF-8"),
        (b'{"source": ' + b"9" * 5000 + b"}", 400, "invalid_json", "a number has more than 4300"),
        (b"[" * 100_000, 400, "invalid_json", "body is nested too deeply"),
        (b"[1, 2]", 422, "invalid_batch", "body must be a JSON object"),
        (b'{"source": "x"}', 422, "invalid_batch", "snapshots: is required"),
        (b'{"snapshots": []}', 422, "invalid_batch", "source: is required"),
        (b'{"source": "seat geek!", "snapshots": []}', 422, "invalid_batch", "source: must be"),
        (
            json.dumps({"source": "x", "snapshots": [{}] * 5001}).encode(),
            422,
            "invalid_batch",
            "at most 5000 items",
        ),
    ],
)
async def test_malformed_bodies_get_a_reason(
    client: TestClient[Any, Any],
    clock: FakeClock,
    lite: async_sessionmaker[AsyncSession],
    body: bytes,
    status: int,
    code: str,
    text: str,
) -> None:
    plain = await token(lite, clock, "ingest")
    response = await client.post(
        INGEST_PATH, data=body, headers={"Authorization": f"Bearer {plain}"}
    )
    await expect_error(response, status, code, text)


async def test_mixed_valid_and_invalid_items_are_202_with_the_rejections(
    client: TestClient[Any, Any], clock: FakeClock, lite: async_sessionmaker[AsyncSession]
) -> None:
    items = json.loads(BODY)["snapshots"]
    bad_price = json.loads(json.dumps(items[2])) | {"min_price": -1}
    future = json.loads(json.dumps(items[2])) | {"observed_at": "2024-03-20T13:00:00Z"}
    payload = {"source": "seatgeek", "snapshots": [items[0], "nope", bad_price, items[0], future]}
    body = json.dumps(payload).encode()
    response = await client.post(INGEST_PATH, data=body, headers=signed(body, clock.now()))
    assert response.status == 202
    answer = await response.json()
    assert answer["accepted"] == 1 and answer["duplicates"] == 1
    assert [r["index"] for r in answer["rejected"]] == [1, 2, 4]
    errors = [r["error"] for r in answer["rejected"]]
    assert errors[0].startswith("snapshot: must be a JSON object")
    assert errors[1].startswith("min_price: must not be negative")
    assert "is in the future" in errors[2]
    assert await stored_count(lite) == 1


async def test_unknown_routes_and_methods_answer_json(client: TestClient[Any, Any]) -> None:
    message = await expect_error(await client.get("/nowhere"), 404, "not_found")
    assert message == "no route GET /nowhere; the API's routes: GET /api/v1/openapi.json"
    response = await client.get(INGEST_PATH)
    message = await expect_error(response, 405, "method_not_allowed")
    assert message == f"{INGEST_PATH} does not take GET; it takes POST"
    assert "POST" in response.headers["Allow"]


async def test_a_crash_is_a_json_500_without_internals(
    lite: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    app = make_app(lite, clock, processor=Processor(fail=True))
    async with TestClient(TestServer(app)) as failing:
        response = await failing.post(INGEST_PATH, data=BODY, headers=signed(BODY, clock.now()))
        message = await expect_error(response, 500, "internal")
        assert "passwd" not in message and "RuntimeError" not in message
    assert await stored_count(lite) == 0


async def test_a_signed_body_that_is_not_utf8_is_refused(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    response = await client.post(INGEST_PATH, data=b"\xff\xfe{}", headers=signed(BODY, clock.now()))
    await expect_error(response, 401, "unauthorized", "does not match")


async def test_header_bytes_that_are_not_utf8_are_401_not_500(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    # Raw bytes on the wire: aiohttp's client would drop them.
    stamp = str(int(clock.now().timestamp()))
    cases = [
        b"Authorization: Bearer hdt_\xff\xfeabc\r\n",
        b"webhook-id: m\xff1\r\nwebhook-timestamp: " + stamp.encode()
        + b"\r\nwebhook-signature: v1,AAAA\r\n",
    ]  # fmt: skip
    for headers in cases:
        reader, writer = await asyncio.open_connection(client.host, client.port)
        writer.write(
            b"POST " + INGEST_PATH.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            + headers + b"Content-Length: 2\r\n\r\n{}"
        )  # fmt: skip
        answer = await reader.read()
        writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 401"), answer
        assert json.loads(body)["error"]["code"] == "unauthorized"


async def test_one_bad_item_cannot_poison_the_batch_or_later_reads(
    both_client: TestClient[Any, Any],
    clock: FakeClock,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    good = json.loads(BODY)["snapshots"][0]
    poisons = [
        {"event": good["event"] | {"starts_at": "0999-06-01T00:00:00Z"}},
        {"ticket_count": 9223372036854775808},
        {"listing_count": 2**31},
        {"observed_at": "0001-01-01T00:00:00+05:00"},
        {"event": good["event"] | {"name": "bad \ud800 name"}},
        {"event": good["event"] | {"name": "Rockies \u0000 at D-backs"}},
        {"event": good["event"] | {"starts_at": "2024-03-31T13:10:00"}},
        {"min_price": "28"},
    ]
    items = [good] + [json.loads(json.dumps(good)) | change for change in poisons]
    body = json.dumps({"source": "seatgeek", "snapshots": items}).encode()
    response = await both_client.post(INGEST_PATH, data=body, headers=signed(body, clock.now()))
    assert response.status == 202, await response.text()
    answer = await response.json()
    assert answer["accepted"] == 1
    assert [r["index"] for r in answer["rejected"]] == list(range(1, len(items)))
    assert await stored_count(sessions) == 1
