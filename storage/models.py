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
    Index,
    Integer,
    MetaData,
    String,
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
