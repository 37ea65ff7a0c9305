"""What the REST API tests share."""

from __future__ import annotations

from typing import Any


async def json_answer(resp: Any, status: int) -> Any:
    """The JSON body of `resp`, after checking its status (the body shows on failure)."""
    body = await resp.json()
    assert resp.status == status, body
    return body
