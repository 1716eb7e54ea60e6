"""What every feature handler receives: the message, its translator and the shared services."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from handlers.campaign import Campaign
from handlers.config import Settings
from handlers.i18n import I18n, Translator
from handlers.identity import Keyring
from handlers.messages import Incoming
from handlers.ports import PersonKey, Store

if TYPE_CHECKING:
    from handlers.faq_match.matcher import FaqMatcher

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """Return the current time, timezone-aware (the default clock)."""
    return dt.datetime.now(dt.UTC)


@dataclass(slots=True)
class Deps:
    """The services the composition root builds once and every handler shares."""

    settings: Settings
    store: Store
    keyring: Keyring
    i18n: I18n
    campaign: Campaign
    matcher: FaqMatcher
    clock: Clock = utc_now
    #: Public handles of the bot per platform (e.g. the Telegram username), set by adapters.
    handles: dict[str, str] = field(default_factory=dict)
    #: Adapters that hold platform state about a person (Matrix's crypto store) register here,
    #: so /forget reaches it too. Called with (platform, user).
    forget_hooks: list[Callable[[str, str], Awaitable[None]]] = field(default_factory=list)


@dataclass(slots=True)
class Ctx:
    """One message being handled."""

    msg: Incoming
    deps: Deps
    t: Translator
    person: PersonKey
    #: True when the language was guessed from this very message (offer the language menu).
    language_detected: bool = False

    @property
    def language(self) -> str:
        """Return the language replies are written in."""
        return self.t.language

    @property
    def is_admin(self) -> bool:
        """Tell whether the sender is listed in RECLAIM_ADMINS."""
        return self.deps.settings.is_admin(self.msg.platform, self.msg.user)

    def today(self) -> dt.date:
        """Return today's date (UTC) for the daily aggregates."""
        return self.deps.clock().astimezone(dt.UTC).date()


def command_prefix(platform: str) -> str:
    """Return how commands are typed on a platform (Matrix rooms use ``!``)."""
    return "!" if platform == "matrix" else "/"
