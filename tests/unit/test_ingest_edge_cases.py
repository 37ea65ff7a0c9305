"""Ingest rules on inputs a careless exporter sends: values that look right but are not."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

from core.ingest import check_snapshot, parse_item

NOW = datetime(2024, 3, 20, 18, 0, tzinfo=UTC)
RAW = {
    "event": {"external_id": "6100043", "name": "Rockies", "starts_at": "2024-03-31T20:10:00Z"},
    "observed_at": "2024-03-20T17:01:00Z",
}


def test_a_negative_zero_price_is_stored_as_zero() -> None:
    body = json.loads('{"min_price": -0.0, "listings": [{"price": -0.0}, {"price": 5.0}]}')
    checked = check_snapshot(parse_item(RAW | body, "seatgeek"), NOW)
    assert checked.min_price == 0.0 and math.copysign(1.0, checked.min_price) == 1.0
    assert math.copysign(1.0, checked.listings[0].price) == 1.0  # not "$-0" in alerts
    cell = check_snapshot(parse_item(RAW | {"max_price": "-0"}, "csv", text_numbers=True), NOW)
    assert cell.max_price is not None and math.copysign(1.0, cell.max_price) == 1.0
