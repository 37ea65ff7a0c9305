"""The ingest wire format: pydantic models for one snapshot item and the batch envelope.

The models only check shape and types; `core.ingest.rules.check_snapshot` applies the
domain rules, so a snapshot from the HTTP API, a CSV file or the simulator is held to the
same standard. Every problem becomes one line: `<field path>: <reason> (e.g. <example>)`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo
from pydantic import ValidationError as PydanticError
from pydantic_core import ErrorDetails

from core.domain import EventInfo, Listing, SnapshotIn
from core.errors import ValidationError
from core.formatting import clip

MAX_BATCH = 5000
SOURCE_EXAMPLE = '"seatgeek"'

# An example value per field, appended to error messages so a sender sees a fix.
EXAMPLES: dict[str, str] = {
    "source": SOURCE_EXAMPLE,
    "external_id": '"6100043"',
    "name": '"Rockies at Diamondbacks"',
    "category": '"mlb"',
    "performers": '["Arizona Diamondbacks", "Colorado Rockies"]',
    "venue": '"Chase Field"',
    "city": '"Phoenix"',
    "capacity": "48405",
    "starts_at": '"2024-03-31T20:10:00Z"',
    "timezone": '"America/Phoenix"',
    "observed_at": '"2024-03-20T17:01:00Z"',
    "currency": '"USD"',
    "min_price": "28.0",
    "median_price": "55.0",
    "avg_price": "83.0",
    "max_price": "473.0",
    "listing_count": "315",
    "ticket_count": "1344",
    "listings": '[{"listing_id": "L1", "price": 45.0, "quantity": 2}]',
    "listing_id": '"L1"',
    "section": '"112"',
    "row": '"5"',
    "quantity": "2",
    "price": "45.0",
    "url": '"https://example.com/listing/L1"',
    "event": '{"external_id": "6100043", "name": "…", "starts_at": "2024-03-31T20:10:00Z"}',
    "snapshots": '[{"event": {…}, "observed_at": "2024-03-20T17:01:00Z", "min_price": 28.0}]',
}


# Parsing context: CSV cells are all text, so numbers may arrive as text there; in JSON a
# number must be a JSON number.
TEXT_NUMBERS = {"text_numbers": True}
EXACT_FLOAT = 2**53  # beyond this a JSON number written as an id has lost digits


def _number_only(value: object, info: ValidationInfo) -> object:
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    if isinstance(value, str) and not (info.context or {}).get("text_numbers"):
        raise ValueError(f"must be a number, not text ({clip(value, 20)!r})")
    return value


def _number_to_text(value: object) -> object:
    """Ids and seat labels are text, but senders often write them as numbers."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if abs(value) >= EXACT_FLOAT:
            raise ValueError("is too long a number to keep exactly; send it as a string")
        return str(int(value)) if float(value).is_integer() else str(value)
    return value


TIME_REQUIRED = "is required: an ISO-8601 time with a UTC offset"
_TIME_FIELDS = frozenset({"observed_at", "starts_at"})


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    return "a list" if isinstance(value, list) else "an object"


def _aware_time(value: object) -> object:
    """An ISO-8601 time with a UTC offset ("2024-03-31T20:10:00Z"); a date alone, a time
    without an offset or a number would be guessed at, so they are refused."""
    if value is None:
        raise ValueError(TIME_REQUIRED)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError("must be an ISO-8601 time") from None
    if not isinstance(value, datetime):
        raise ValueError(f"must be an ISO-8601 time (a string), not {_json_kind(value)}")
    if value.tzinfo is None:
        raise ValueError("needs a UTC offset (Z or +hh:mm)")
    return value


Number = Annotated[float | None, BeforeValidator(_number_only)]
Count = Annotated[int | None, BeforeValidator(_number_only)]
Label = Annotated[str | None, BeforeValidator(_number_to_text)]
Time = Annotated[datetime, BeforeValidator(_aware_time)]


class _Model(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False, extra="ignore", frozen=True)


class EventModel(_Model):
    external_id: Annotated[str, BeforeValidator(_number_to_text)]
    name: str
    starts_at: Time
    category: str | None = None
    performers: list[str] | None = None
    venue: str | None = None
    city: str | None = None
    capacity: Count = None
    timezone: str | None = None


class ListingModel(_Model):
    price: Annotated[float, BeforeValidator(_number_only)]
    listing_id: Label = None
    section: Label = None
    row: Label = None
    quantity: Count = None
    url: str | None = None


class SnapshotModel(_Model):
    event: EventModel
    observed_at: Time
    currency: str | None = None
    min_price: Number = None
    median_price: Number = None
    avg_price: Number = None
    max_price: Number = None
    listing_count: Count = None
    ticket_count: Count = None
    listings: list[ListingModel] | None = None

    def to_domain(self, source: str) -> SnapshotIn:
        """Return this item as a domain snapshot (not yet checked by the domain rules)."""
        event = self.event
        return SnapshotIn(
            source=source,
            event=EventInfo(
                external_id=event.external_id,
                name=event.name,
                starts_at=event.starts_at,
                category=event.category,
                performers=tuple(event.performers or ()),
                venue=event.venue,
                city=event.city,
                capacity=event.capacity,
                timezone=event.timezone,
            ),
            observed_at=self.observed_at,
            currency=self.currency,
            min_price=self.min_price,
            median_price=self.median_price,
            avg_price=self.avg_price,
            max_price=self.max_price,
            listing_count=self.listing_count,
            ticket_count=self.ticket_count,
            listings=tuple(
                Listing(
                    listing_id=item.listing_id,
                    price=item.price,
                    section=item.section,
                    row=item.row,
                    quantity=item.quantity,
                    url=item.url,
                )
                for item in self.listings or ()
            ),
        )


_REASONS = {
    "missing": "is required",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "dict_type": "must be a JSON object",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_parsing_size": f"must be at most {2**31 - 1}",
    "finite_number": "must be a finite number",
    "datetime_type": "must be an ISO-8601 time",
    "datetime_parsing": "must be an ISO-8601 time",
    "datetime_from_date_parsing": "must be an ISO-8601 time",
    "datetime_object_invalid": "must be an ISO-8601 time",
}


def field_path(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic location as `event.performers[1]`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def with_example(path: str, reason: str) -> str:
    """Return `path: reason`, plus an example value when the field has one."""
    leaf = path.rsplit(".", 1)[-1].split("[", 1)[0]
    example = EXAMPLES.get(leaf)
    head = f"{path}: {reason}" if path else reason
    return f"{head} (e.g. {example})" if example else head


def _describe(error: ErrorDetails) -> str:
    reason = _REASONS.get(error["type"])
    if error["type"] == "missing" and error["loc"] and error["loc"][-1] in _TIME_FIELDS:
        reason = TIME_REQUIRED  # as for null: say what kind of value is wanted
    if reason is None:
        ctx = error.get("ctx") or {}
        reason = str(ctx.get("error") or error["msg"])
    elif error["type"].endswith("_parsing") and isinstance(error.get("input"), str):
        reason += f", not {clip(error['input'], 20)!r}"  # a CSV cell: "1,234", "$28.50"
    return with_example(field_path(tuple(error["loc"])), reason)


def describe_errors(exc: PydanticError) -> str:
    """One line for a failed pydantic validation: the first problem and how many more."""
    errors = exc.errors(include_url=False)
    line = _describe(errors[0])
    if len(errors) > 1:
        line += f"; and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''}"
    return line


def parse_item(raw: object, source: str, *, text_numbers: bool = False) -> SnapshotIn:
    """Parse one snapshot item of the wire format.

    Args:
        raw: the decoded JSON of one element of `snapshots`.
        source: the batch's source name.
        text_numbers: accept numbers written as text (CSV cells); JSON wants numbers.

    Raises:
        ValidationError: with one line naming the field at fault and an example.
    """
    if not isinstance(raw, dict):
        raise ValidationError(with_example("snapshot", "must be a JSON object"))
    try:
        context = TEXT_NUMBERS if text_numbers else None
        return SnapshotModel.model_validate(raw, context=context).to_domain(source)
    except PydanticError as exc:
        raise ValidationError(describe_errors(exc)) from None


def parse_envelope(payload: Any) -> tuple[str, list[object]]:
    """Check the outer shape `{"source": "...", "snapshots": [...]}` of an ingest batch.

    Returns:
        The source name (lower-cased) and the raw snapshot items.

    Raises:
        ValidationError: one line saying what is wrong with the envelope.
    """
    if not isinstance(payload, dict):
        raise ValidationError(
            'body must be a JSON object like {"source": "seatgeek", "snapshots": [...]}'
        )
    source = payload.get("source")
    if not isinstance(source, str):
        raise ValidationError(with_example("source", "is required and must be a string"))
    if not source.strip():
        raise ValidationError(with_example("source", "must not be empty"))
    snapshots = payload.get("snapshots")
    if not isinstance(snapshots, list):
        raise ValidationError(with_example("snapshots", "is required and must be a list"))
    if len(snapshots) > MAX_BATCH:
        raise ValidationError(
            f"snapshots: at most {MAX_BATCH} items per request, got {len(snapshots)}; "
            "split the batch"
        )
    return source.strip().lower(), snapshots
