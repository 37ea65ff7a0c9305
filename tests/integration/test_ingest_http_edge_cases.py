"""POST /api/v1/ingest/snapshots with bodies an integrating engineer gets wrong."""

from __future__ import annotations

import gzip
import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.rest import openapi_document
from bot.web_errors import INGEST_PATH, MAX_BODY_BYTES
from core.clock import FakeClock
from tests.integration.test_ingest_http import (
    BODY,
    client,
    expect_error,
    lite,
    signed,
    stored_count,
    token,
)

__all__ = ["client", "lite"]  # fixtures


async def test_a_body_that_is_not_the_encoding_it_claims_says_which(
    client: TestClient[Any, Any], clock: FakeClock, lite: async_sessionmaker[AsyncSession]
) -> None:
    auth = {"Authorization": f"Bearer {await token(lite, clock, 'ingest')}"}
    # The reason was "400, message:" (the first line of aiohttp's error), and the next
    # request on the same connection found it closed ("Server disconnected"); the gzip
    # request below goes on the same connection.
    for encoding, body in (("gzip", b"notgzip"), ("deflate", b"xx")):
        response = await client.post(
            INGEST_PATH, data=body, headers=auth | {"Content-Encoding": encoding}
        )
        message = await expect_error(response, 400, "bad_request")
        assert message == (
            f"the request body could not be read: Can not decode content-encoding: {encoding}"
        )
    zipped = await client.post(
        INGEST_PATH, data=gzip.compress(BODY), headers=auth | {"Content-Encoding": "gzip"}
    )
    assert zipped.status == 202 and (await zipped.json())["accepted"] == 3


async def test_an_encoding_the_server_cannot_read_is_a_415_naming_the_ones_it_can(
    client: TestClient[Any, Any], clock: FakeClock, lite: async_sessionmaker[AsyncSession]
) -> None:
    auth = {"Authorization": f"Bearer {await token(lite, clock, 'ingest')}"}
    # br and zstd were aiohttp's plain-text 400; an encoding aiohttp does not know was
    # ignored, so its bytes were read as JSON (a plain JSON body labelled so was stored).
    for encoding in ("br", "zstd", "compress", "x-foo", "gzip, br"):
        response = await client.post(
            INGEST_PATH, data=BODY, headers=auth | {"Content-Encoding": encoding}
        )
        message = await expect_error(response, 415, "unsupported_media_type")
        assert message == (
            f"Content-Encoding {encoding} is not supported; send identity, gzip or deflate"
        )
    for encoding in ("identity", "GZIP"):
        body = gzip.compress(BODY) if encoding == "GZIP" else BODY
        response = await client.post(
            INGEST_PATH, data=body, headers=auth | {"Content-Encoding": encoding}
        )
        assert response.status == 202, await response.text()
    bomb = gzip.compress(b" " * (MAX_BODY_BYTES + 1))  # 6 KB that decode to over 5 MB
    response = await client.post(
        INGEST_PATH, data=bomb, headers=auth | {"Content-Encoding": "gzip"}
    )
    await expect_error(response, 413, "payload_too_large", "over 5 MB; split the batch")
    declared = openapi_document()["paths"][INGEST_PATH]["post"]["responses"]
    assert declared["415"]["content"]["application/json"]


async def test_a_token_in_the_url_is_refused_as_the_api_refuses_it(
    client: TestClient[Any, Any],
    clock: FakeClock,
    lite: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Ingest ignored ?access_token=: beside a good header the batch was stored, alone
    it was "authentication required"; the API answers both with this 401."""
    secret = await token(lite, clock, "ingest")
    caplog.set_level(logging.DEBUG)
    for query in (f"?access_token={secret}", f"?token={secret}", f"?key={secret}", "?api_key=x"):
        for headers in ({"Authorization": f"Bearer {secret}"}, signed(BODY, clock.now()), {}):
            response = await client.post(INGEST_PATH + query, data=BODY, headers=headers)
            message = await expect_error(response, 401, "unauthorized")
            assert message.startswith("an API token never goes in the URL (?"), message
            assert response.headers["WWW-Authenticate"] == 'Bearer realm="hdtickets"'
    assert await stored_count(lite) == 0
    # The test server keeps aiohttp's access log; bot.process serves with access_log=None.
    records = caplog.records
    assert any(r.name == "aiohttp.access" for r in records)  # the capture works
    ours = [r.getMessage() for r in records if r.name != "aiohttp.access"]
    assert not [line for line in ours if secret[4:] in line]
