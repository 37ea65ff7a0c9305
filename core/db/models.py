"""SQLAlchemy models for the whole domain model (DESIGN.md §4). Alembic owns the schema.

Datetimes are stored as UTC and always come back timezone-aware, on SQLite too.
JSON columns hold small, documented shapes (factors, payloads, policies).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.db.types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Alert statuses that still hold the dedup key: a new alert for the same watch, event
# and kind is not opened while one of these exists.
ACTIVE_ALERT_STATUSES = ("open", "acknowledged", "snoozed")
_ACTIVE_SQL = "status IN ('open', 'acknowledged', 'snoozed')"

# Characters of `Notification.idempotency_key`; `core.outbox.idempotency_key` keeps keys within.
IDEMPOTENCY_KEY_LENGTH = 200

# BIGINT primary keys on PostgreSQL, INTEGER (rowid alias) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """Default for created_at columns only; the engine itself uses the injected Clock."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    quiet_start: Mapped[str | None] = mapped_column(String(5))  # "HH:MM" local time
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    locale: Mapped[str] = mapped_column(String(16), default="en")
    role: Mapped[str] = mapped_column(String(16), default="user")
    learned_weights: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    feedback_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when something the alert engine caches about the person changes (quiet hours,
    # zone, preferences, phone, learned weights): other processes reload them (core.sync).
    settings_changed_at: Mapped[datetime | None] = mapped_column(index=True)


class Identity(Base):
    """A person's account on one platform. workspace_id is '' where the platform has none."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("platform", "workspace_id", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    workspace_id: Mapped[str] = mapped_column(String(64), default="")
    external_id: Mapped[str] = mapped_column(String(128))
    dm_address: Mapped[str | None] = mapped_column(String(256))
    display_name: Mapped[str | None] = mapped_column(String(200))
    unreachable_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LinkCode(Base):
    """A one-time code that joins identities of one person across platforms (`link`)."""

    __tablename__ = "link_codes"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column()


class ContactPoint(Base):
    __tablename__ = "contact_points"
    # Ids are never reused (SQLite AUTOINCREMENT; PostgreSQL sequences never reuse): the
    # outbox addresses a contact as `cp<id>`, so a reused id would text a stranger.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # sms | voice
    name: Mapped[str | None] = mapped_column(String(200))
    address_encrypted: Mapped[str] = mapped_column(Text)
    address_masked: Mapped[str] = mapped_column(String(32))
    verified_at: Mapped[datetime | None] = mapped_column()
    is_emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_consent_at: Mapped[datetime | None] = mapped_column()
    sms_opted_out_at: Mapped[datetime | None] = mapped_column()  # texts refused (STOP / 21610)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Keyed HMAC of the E.164 number: finds the row of an inbound SMS without decrypting.
    address_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    # Phone verification (core.contacts): hashed code, tries used, when the code lapses.
    verify_code_hash: Mapped[str | None] = mapped_column(String(64))
    verify_attempts: Mapped[int] = mapped_column(Integer, default=0)
    verify_expires_at: Mapped[datetime | None] = mapped_column()


class Preference(Base):
    __tablename__ = "preferences"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    channel_order: Mapped[list[Any]] = mapped_column(JSON, default=list)
    min_level_per_channel: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    digest_schedule: Mapped[str] = mapped_column(String(16), default="hourly")
    escalation_overrides: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    voice_start: Mapped[str | None] = mapped_column(String(5))
    voice_end: Mapped[str | None] = mapped_column(String(5))
    wake_for_critical: Mapped[bool] = mapped_column(Boolean, default=False)


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    secrets: Mapped[list[Any]] = mapped_column(JSON, default=list)  # encrypted, newest first
    event_types: Mapped[list[Any]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set by `webhooks remove` / DELETE: the row stays (its sent deliveries keep their
    # history, rows queued from a stale endpoint cache still insert) but is never listed,
    # sent to, enabled again nor counted as a duplicate.
    removed_at: Mapped[datetime | None] = mapped_column()


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(300))
    category: Mapped[str | None] = mapped_column(String(64), index=True)
    performers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    venue: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(120))
    capacity: Mapped[int | None] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(index=True)
    timezone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MarketSnapshot(Base):
    __tablename__ = "market_snapshots"
    __table_args__ = (
        UniqueConstraint("event_id", "source", "observed_at"),
        Index("ix_market_snapshots_event_time", "event_id", "observed_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(64))
    observed_at: Mapped[datetime] = mapped_column()
    currency: Mapped[str | None] = mapped_column(String(3))
    min_price: Mapped[float | None] = mapped_column(Float)
    median_price: Mapped[float | None] = mapped_column(Float)
    avg_price: Mapped[float | None] = mapped_column(Float)
    max_price: Mapped[float | None] = mapped_column(Float)
    listing_count: Mapped[int | None] = mapped_column(Integer)
    ticket_count: Mapped[int | None] = mapped_column(Integer)
    ingested_at: Mapped[datetime] = mapped_column(default=utcnow)


class SnapshotListing(Base):
    __tablename__ = "listings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("market_snapshots.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    listing_id: Mapped[str | None] = mapped_column(String(128))
    section: Mapped[str | None] = mapped_column(String(64))
    row: Mapped[str | None] = mapped_column(String(32))
    quantity: Mapped[int | None] = mapped_column(Integer)
    price: Mapped[float] = mapped_column(Float)
    url: Mapped[str | None] = mapped_column(Text)


class Watch(Base):
    __tablename__ = "watches"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(300))  # what the person typed
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    terms: Mapped[list[Any]] = mapped_column(JSON, default=list)  # performer/team/free text
    category: Mapped[str | None] = mapped_column(String(64))
    venue: Mapped[str | None] = mapped_column(String(200))
    max_price: Mapped[float | None] = mapped_column(Float)
    # ISO 4217 of `max_price` and `snooze_below`: the one typed with the max on a watch on
    # words or a category, the event's on a watch on one event. None (no currency said):
    # the max is read in each event's own currency.
    currency: Mapped[str | None] = mapped_column(String(3))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    zones: Mapped[list[Any]] = mapped_column(JSON, default=list)
    platforms: Mapped[list[Any]] = mapped_column(JSON, default=list)
    triggers: Mapped[list[Any]] = mapped_column(JSON, default=lambda: ["price_below"])
    drop_pct: Mapped[float | None] = mapped_column(Float)
    low_inventory: Mapped[int | None] = mapped_column(Integer)
    min_level: Mapped[int] = mapped_column(Integer, default=1)
    cooldown_s: Mapped[int] = mapped_column(Integer, default=3600)
    snoozed_until: Mapped[datetime | None] = mapped_column()
    snooze_below: Mapped[float | None] = mapped_column(Float)
    favourite: Mapped[bool] = mapped_column(Boolean, default=False)
    # A group chat as destination (e.g. `/watch` run in a Telegram group).
    destination_channel: Mapped[str | None] = mapped_column(String(16))
    destination_address: Mapped[str | None] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    expires_at: Mapped[datetime | None] = mapped_column()
    # Set by `unwatch`: the row stays (inactive) so its alerts keep their history.
    removed_at: Mapped[datetime | None] = mapped_column()
    # Events this watch no longer alerts on ("Mute event" / "Bought" on a many-event watch).
    muted_event_ids: Mapped[list[Any] | None] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Bumped on every change, so other processes can refresh their in-memory index.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        Index(
            "uq_alerts_active_dedup",
            "dedup_key",
            unique=True,
            sqlite_where=text(_ACTIVE_SQL),
            postgresql_where=text(_ACTIVE_SQL),
        ),
        Index("ix_alerts_event_status", "event_id", "status"),
        Index("ix_alerts_next_step", "next_step_at"),
        Index(
            "ix_alerts_snooze_due",
            "snoozed_until",
            sqlite_where=text("status = 'snoozed'"),
            postgresql_where=text("status = 'snoozed'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(160))  # watch:event:kind
    watch_id: Mapped[int] = mapped_column(ForeignKey("watches.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    score: Mapped[float] = mapped_column(Float)
    level: Mapped[int] = mapped_column(Integer)
    factors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    prediction: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    recommendation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    price: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="open")
    reason: Mapped[str | None] = mapped_column(Text)
    acked_via: Mapped[str | None] = mapped_column(String(64))
    opened_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()
    snoozed_until: Mapped[datetime | None] = mapped_column()
    # "Snooze until cheaper": the alert wakes when the price is at or under this.
    snooze_below: Mapped[float | None] = mapped_column(Float)
    # The condition stopped holding at this time; resolves after the hold time.
    clear_since: Mapped[datetime | None] = mapped_column()
    last_notified_at: Mapped[datetime | None] = mapped_column()
    last_notified_price: Mapped[float | None] = mapped_column(Float)
    escalation: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the frozen policy
    step: Mapped[int] = mapped_column(Integer, default=0)
    next_step_at: Mapped[datetime | None] = mapped_column()
    fence: Mapped[int] = mapped_column(Integer, default=0)


class Notification(Base):
    """The outbox: one row per message to one destination."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_claim", "status", "level", "due_at"),
        Index("ix_notifications_lease", "status", "lease_until"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[int | None] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    webhook_endpoint_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(24), default="alert")  # alert|update|digest|test
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(512))
    level: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    idempotency_key: Mapped[str] = mapped_column(String(IDEMPOTENCY_KEY_LENGTH), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column()
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    failover_of: Mapped[int | None] = mapped_column(BigId)
    # SMS/voice: the carrier's delivery state (queued, sent, delivered, undelivered, ...).
    provider_status: Mapped[str | None] = mapped_column(String(16))


class Activity(Base):
    __tablename__ = "activity"
    __table_args__ = (Index("ix_activity_user_at", "user_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column()


class Presence(Base):
    __tablename__ = "presence"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    last_seen_at: Mapped[datetime | None] = mapped_column()


class AuditEntry(Base):
    """The alert timeline: every decision, send, receipt, failure, ack and escalation."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_alert_at", "alert_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column()
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    scopes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class ModelVersion(Base):
    __tablename__ = "model_registry"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    version: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    trained_at: Mapped[datetime] = mapped_column(default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=False)


class JobWatermark(Base):
    """How far a periodic job has read an append-only table, committed with its results.

    `learn` keeps the last `audit_log` id it turned into feedback here, in the same
    transaction as the learned weights, so a crash or a rerun never counts feedback twice.
    """

    __tablename__ = "job_watermarks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column()


class RateLimitState(Base):
    """A destination scope's shared rate-limit state (`core.ratelimit.book_shared`).

    Used when several processes deliver through PostgreSQL: each claimed batch books its
    sends here, so together the processes stay within a platform's limit. Seconds since
    the epoch, from the injected clock.
    """

    __tablename__ = "rate_limit_state"

    scope: Mapped[str] = mapped_column(String(512), primary_key=True)
    tat: Mapped[float] = mapped_column(Float, default=0.0)
    blocked_until: Mapped[float] = mapped_column(Float, default=0.0)
