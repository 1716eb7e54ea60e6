"""Storage ports: the small interfaces the conversation core needs.

``storage/`` implements them with SQLAlchemy; tests may use in-memory fakes. Nothing here
holds a raw platform id: a person appears only as a :data:`PersonKey`, a keyed hash of their
platform identity, except in the opt-in subscriptions, which keep the delivery address.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NewType, Protocol

if TYPE_CHECKING:
    from handlers.messages import Reply

PersonKey = NewType("PersonKey", str)
PersonKey.__doc__ = "HMAC of a platform identity under RECLAIM_SECRET_KEY (hex); never the raw id."

ArrivalMarker = NewType("ArrivalMarker", str)
ArrivalMarker.__doc__ = (
    "HMAC of (platform identity, referral code): lets the bot count one arrival per person and "
    "code without any table linking the two."
)


@dataclass(frozen=True, slots=True)
class Subscription:
    """An opt-in to milestone broadcasts: only what delivery needs."""

    id: int
    platform: str
    address: str
    language: str


@dataclass(slots=True)
class Stats:
    """The anonymous figures, as ``reclaim-bot stats --json`` prints them."""

    arrivals_total: int = 0
    arrivals_by_platform: dict[str, int] = field(default_factory=dict)
    arrivals_by_day: dict[str, int] = field(default_factory=dict)
    sign_clicks_total: int = 0
    sign_clicks_by_language: dict[str, int] = field(default_factory=dict)
    sign_clicks_by_country: dict[str, int] = field(default_factory=dict)
    sign_clicks_by_day: dict[str, int] = field(default_factory=dict)
    subscribers: int = 0
    subscribers_by_platform: dict[str, int] = field(default_factory=dict)
    subscribers_by_language: dict[str, int] = field(default_factory=dict)
    top_codes: list[tuple[str, int]] = field(default_factory=list)


class PreferencesRepo(Protocol):
    """A person's chosen or detected language, keyed by :data:`PersonKey`."""

    async def get_language(self, person: PersonKey) -> tuple[str, bool] | None:
        """Return ``(language, chosen)`` or None; ``chosen`` is False for a detected language."""
        ...

    async def set_language(self, person: PersonKey, language: str, *, chosen: bool) -> None:
        """Remember a language; a detected one never overwrites a chosen one."""
        ...


class ReferralRepo(Protocol):
    """Aggregate counters: arrivals per (code, platform, day) and sign clicks per day."""

    async def record_arrival(
        self, code: str, platform: str, day: dt.date, marker: ArrivalMarker | None
    ) -> bool:
        """Count one arrival unless ``marker`` was seen before; return whether it counted."""
        ...

    async def arrivals_for_code(self, code: str) -> int:
        """Total arrivals through one code, all platforms and days."""
        ...

    async def record_sign_click(self, language: str, country: str | None, day: dt.date) -> None:
        """Count one click on a signing link."""
        ...

    async def stats(self, *, top: int = 10) -> Stats:
        """Return every anonymous figure, the subscriber counts included."""
        ...


class SubscriptionRepo(Protocol):
    """Opt-in milestone subscriptions, the one place that holds a delivery address."""

    async def subscribe(
        self, person: PersonKey, platform: str, address: str, language: str
    ) -> bool:
        """Create or refresh the subscription; return True if it is new."""
        ...

    async def unsubscribe(self, person: PersonKey) -> bool:
        """Remove the person's subscription; return True if there was one."""
        ...

    async def is_subscribed(self, person: PersonKey) -> bool:
        """Tell whether the person has opted in."""
        ...

    async def set_subscription_language(self, person: PersonKey, language: str) -> None:
        """Keep the subscription's language in step with the person's choice."""
        ...

    async def remove_address(self, platform: str, address: str) -> int:
        """End subscriptions to an address the platform says is gone (403, left room)."""
        ...


class Store(PreferencesRepo, ReferralRepo, SubscriptionRepo, Protocol):
    """Everything the core needs from storage, plus its lifecycle."""

    async def claim_update(self, platform: str, update_id: int) -> bool:
        """Return True the first time an update id is seen (webhook replicas share this)."""
        ...

    async def forget_person(self, person: PersonKey) -> int:
        """Erase everything reachable for a person (preferences, subscription)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class SendError(Exception):
    """A platform refused or failed a send; subclasses say what to do next."""


class RateLimited(SendError):
    """The platform asked us to wait (Telegram 429 retry_after, Matrix M_LIMIT_EXCEEDED)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited for {retry_after:g} s")
        self.retry_after = retry_after


class RecipientGone(SendError):
    """The person blocked the bot, deleted the account or left the room: end the subscription."""


class TemporaryFailure(SendError):
    """A network error or a 5xx: retry later with backoff."""


class PermanentFailure(SendError):
    """The platform rejected this message for good (e.g. 400): do not retry."""


class Sender(Protocol):
    """Delivers replies outside a conversation (broadcasts, progress messages) on one platform."""

    platform: str

    async def send(self, address: str, reply: Reply) -> str | None:
        """Send a reply to a chat address; return the platform's message id if it has one."""
        ...

    async def edit(self, address: str, message_id: str, reply: Reply) -> None:
        """Replace an earlier message's text in place (progress bars)."""
        ...
