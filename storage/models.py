"""Tables: aggregate counters, pseudonymous preferences and the opt-in subscriptions.

Privacy rules the schema encodes: no table holds a platform user id, name, username or message
text, except ``subscriptions`` (the delivery address of someone who opted in). A person is
known only by a keyed hash (``PersonKey``), and nothing is dated finer than a day.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints keep Alembic migrations deterministic on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

KEY_LENGTH = 128  # person keys and markers are hex HMACs (40 characters today)
CODE_LENGTH = 64
PLATFORM_LENGTH = 32
LANGUAGE_LENGTH = 16
COUNTRY_LENGTH = 8
ADDRESS_LENGTH = 255  # Matrix room ids are at most 255 bytes


class Base(DeclarativeBase):
    """Declarative base whose metadata carries the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Preference(Base):
    """A person's language: chosen by them, or detected from their client."""

    __tablename__ = "preferences"

    person: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    language: Mapped[str] = mapped_column(String(LANGUAGE_LENGTH))
    chosen: Mapped[bool] = mapped_column(Boolean, default=False)


class ReferralArrival(Base):
    """How many people arrived through a referral code, per platform and day."""

    __tablename__ = "referral_arrivals"
    __table_args__ = (CheckConstraint("count >= 0", name="count_not_negative"),)

    code: Mapped[str] = mapped_column(String(CODE_LENGTH), primary_key=True)
    platform: Mapped[str] = mapped_column(String(PLATFORM_LENGTH), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class ArrivalMarker(Base):
    """An opaque HMAC meaning 'someone already arrived through some code' (dedup only)."""

    __tablename__ = "arrival_markers"

    marker: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)


class SignClick(Base):
    """How many clicks on a signing link, per language, country ('' if none) and day."""

    __tablename__ = "sign_clicks"
    __table_args__ = (CheckConstraint("count >= 0", name="count_not_negative"),)

    language: Mapped[str] = mapped_column(String(LANGUAGE_LENGTH), primary_key=True)
    country: Mapped[str] = mapped_column(String(COUNTRY_LENGTH), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class Subscription(Base):
    """An opt-in to milestone broadcasts: the one table with a delivery address."""

    __tablename__ = "subscriptions"
    # A surrogate id lets the broadcast outbox reference rows (ON DELETE CASCADE); SQLite's
    # AUTOINCREMENT keeps ids from being reused after an unsubscribe.
    __table_args__ = (
        UniqueConstraint("person"),
        Index(None, "platform", "address"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person: Mapped[str] = mapped_column(String(KEY_LENGTH))
    platform: Mapped[str] = mapped_column(String(PLATFORM_LENGTH))
    address: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    language: Mapped[str] = mapped_column(String(LANGUAGE_LENGTH))
    created_day: Mapped[dt.date] = mapped_column(Date)


class ProcessedUpdate(Base):
    """A platform update already handled, for duplicate detection across processes."""

    __tablename__ = "processed_updates"
    __table_args__ = (Index(None, "day"),)

    platform: Mapped[str] = mapped_column(String(PLATFORM_LENGTH), primary_key=True)
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    day: Mapped[dt.date] = mapped_column(Date)


class BroadcastJob(Base):
    """A broadcast: a draft, a running or paused delivery, or (finished) only its counts.

    ``content`` is JSON (a milestone number, or the admin's text per language); texts are
    dropped when the job finishes. ``owner`` is the composing admin's person key (drafts only).
    The ``progress_*`` columns address the admin's progress message while the job runs and
    are nulled when it finishes. Times are Unix epoch seconds.
    """

    __tablename__ = "broadcast_jobs"
    __table_args__ = (Index(None, "state"), Index(None, "owner"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    state: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text, default="{}")
    platforms: Mapped[str] = mapped_column(String(PLATFORM_LENGTH * 4), default="")
    languages: Mapped[str] = mapped_column(String(255), default="")
    revision: Mapped[int] = mapped_column(Integer, default=1)
    owner: Mapped[str | None] = mapped_column(String(KEY_LENGTH), nullable=True)
    total: Mapped[int] = mapped_column(Integer, default=0)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    gone: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[str | None] = mapped_column(Text, nullable=True)
    rate: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    progress_platform: Mapped[str | None] = mapped_column(String(PLATFORM_LENGTH), nullable=True)
    progress_address: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH), nullable=True)
    progress_message: Mapped[str | None] = mapped_column(String(64), nullable=True)
    progress_language: Mapped[str | None] = mapped_column(String(LANGUAGE_LENGTH), nullable=True)
    progress_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    progress_lease: Mapped[float | None] = mapped_column(Float, nullable=True)


class BroadcastRecipient(Base):
    """One pending (or failed) delivery of a running job; sent rows are deleted at once.

    No address here: delivery joins ``subscriptions``, and ``ON DELETE CASCADE`` means an
    unsubscribe, a forget or a 403 cancels the pending send. ``lease_*`` marks a row a worker
    has claimed; an expired lease makes it claimable again (crash recovery).
    """

    __tablename__ = "broadcast_recipients"
    __table_args__ = (
        Index(None, "job_id", "platform", "state", "subscription_id"),
        Index(None, "subscription_id"),
    )

    job_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("broadcast_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    subscription_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("subscriptions.id", ondelete="CASCADE"), primary_key=True
    )
    platform: Mapped[str] = mapped_column(String(PLATFORM_LENGTH))
    state: Mapped[int] = mapped_column(SmallInteger, default=0)
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)


class BroadcastRate(Base):
    """Per platform: the shared send schedule (GCRA: the next free slot, epoch seconds), and
    when a worker able to deliver there was last seen (so any process can target it)."""

    __tablename__ = "broadcast_rate"

    platform: Mapped[str] = mapped_column(String(PLATFORM_LENGTH), primary_key=True)
    tat: Mapped[float] = mapped_column(Float, default=0.0)
    worker_seen: Mapped[float | None] = mapped_column(Float, nullable=True)
