"""POST /api/v1/ingest/snapshots with bodies an integrating engineer gets wrong."""

from __future__ import annotations

import gzip
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.web import INGEST_PATH
from core.clock import FakeClock
from tests.integration.test_ingest_http import BODY, client, expect_error, lite, token

__all__ = ["client", "lite"]  # fixtures


async def test_a_body_that_is_not_the_encoding_it_claims_says_which(
    client: TestClient[Any, Any], clock: FakeClock, lite: async_sessionmaker[AsyncSession]
) -> None:
    auth = {"Authorization": f"Bearer {await token(lite, clock, 'ingest')}"}
    # The reason was "400, message:" (the first line of aiohttp's error), and the next
    # request on the same connection found it closed ("Server disconnected").
    for encoding, body in (("gzip", b"notgzip"), ("deflate", b"xx")):
        response = await client.post(
            INGEST_PATH, data=body, headers=auth | {"Content-Encoding": encoding}
        )
        message = await expect_error(response, 400, "bad_request")
        assert message == (
            f"the request body could not be read: Can not decode content-encoding: {encoding}"
        )
        assert response.headers["Connection"] == "close"
    zipped = await client.post(
        INGEST_PATH, data=gzip.compress(BODY), headers=auth | {"Content-Encoding": "gzip"}
    )
    assert zipped.status == 202 and (await zipped.json())["accepted"] == 3
