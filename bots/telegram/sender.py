"""Calling the Bot API at the edge: retries, flood waits, and people who blocked the bot.

- 429 ``RetryAfter``: wait ``retry_after`` and try again, a bounded number of times (a wait
  longer than ``max_wait`` gives up at once: the person would not wait that long either).
- Network errors, timeouts and 5xx: retry with exponential backoff.
- 403 (blocked, deactivated, kicked): the chat is gone: end its subscription.
- 400 on a message: resend once as plain text (tags stripped, link buttons as text lines).
- Anything else is logged and given up; nothing here raises to the caller of ``send``.
Logs never carry texts or chat ids at INFO or above.

Messages go straight through the Bot's request object (PTB's transport, so PTB's error
mapping), not ``Bot.send_message``: that would decode every answer into a Message object the
bot never reads, which was the largest single cost of a reply under load.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import logging
import warnings
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram import Bot
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.request import BaseRequest
from telegram.warnings import PTBDeprecationWarning

from bots.telegram.aiohttp_request import raw_params
from bots.telegram.render import OutMessage
from handlers.messages import TELEGRAM
from handlers.ports import SubscriptionRepo

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


class Outcome(enum.Enum):
    """How a send ended."""

    SENT = "sent"
    GONE = "gone"  # the chat blocked the bot or no longer exists: stop sending to it
    FAILED = "failed"


class Gone(Exception):
    """Raised by :meth:`Sender.call` when the chat answered 403."""


def retry_seconds(err: RetryAfter) -> float:
    """Return retry_after in seconds (PTB 22 warns when it is read as a number)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = err.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


class Sender:
    """Sends messages and other calls with the retry policy above."""

    def __init__(
        self,
        bot: Bot,
        request: BaseRequest,
        store: SubscriptionRepo,
        *,
        max_retries: int = 3,
        max_wait: float = 60.0,
        backoff: float = 0.5,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.bot = bot
        self.request = request
        self.store = store
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.backoff = backoff
        self._sleep = sleep

    async def send_all(self, chat_id: int, messages: list[OutMessage]) -> Outcome:
        """Send messages in order; stop at the first that cannot be delivered."""
        for message in messages:
            outcome = await self.send(chat_id, message)
            if outcome is not Outcome.SENT:
                return outcome
        return Outcome.SENT

    async def send(self, chat_id: int, message: OutMessage) -> Outcome:
        """Send one message (HTML), falling back to plain text if Telegram refuses it."""
        outcome = await self._outcome(lambda: self._send(chat_id, message), chat_id)
        if outcome is not None:
            return outcome
        plain = message.plain()
        outcome = await self._outcome(lambda: self._send(chat_id, plain), chat_id)
        return outcome or Outcome.FAILED

    async def _outcome(self, make: Callable[[], Awaitable[object]], chat_id: int) -> Outcome | None:
        """Run a send; None means Telegram refused it (400)."""
        try:
            await self.call(make, chat_id)
        except BadRequest as err:
            log.warning("Telegram refused a message: %s", err.message)
            return None
        except Gone:
            return Outcome.GONE
        except TelegramError:
            return Outcome.FAILED
        return Outcome.SENT

    async def _send(self, chat_id: int, message: OutMessage) -> object:
        url = f"{self.bot.base_url}/sendMessage"
        return await self.request.post(url, raw_params(message.params(chat_id)))

    async def attempt(self, make: Callable[[], Awaitable[T]], chat_id: int | None = None) -> T | None:
        """Run a call with the retry policy; return None instead of raising."""
        try:
            return await self.call(make, chat_id)
        except (Gone, TelegramError) as err:
            log.debug("a Bot API call was given up: %s", type(err).__name__)
            return None

    async def call(self, make: Callable[[], Awaitable[T]], chat_id: int | None = None) -> T:
        """Run a call, retrying 429, network errors and 5xx; 403 ends the chat's subscription.

        Raises Gone on 403, BadRequest unchanged, and the last error when retries run out.
        """
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                return await make()
            except RetryAfter as err:
                wait = retry_seconds(err)
                if last or wait > self.max_wait:
                    log.warning("Telegram flood limit: giving up (retry_after=%ss)", wait)
                    raise
                log.info("Telegram flood limit: retrying in %.1f s", wait)
                await self._sleep(wait)
            except Forbidden as err:
                await self._gone(chat_id, err)
                raise Gone from err
            except ChatMigrated:
                log.warning("a group moved to a supergroup; the reply was not delivered")
                raise
            except BadRequest:
                raise
            except NetworkError as err:  # timeouts, connection errors, 5xx
                if last:
                    log.warning("Telegram unreachable, giving up: %s", type(err).__name__)
                    raise
                await self._sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")  # the loop always returns or raises

    async def _gone(self, chat_id: int | None, err: Forbidden) -> None:
        """A 403: the person blocked the bot (or the chat is gone): end that subscription."""
        if chat_id is None:
            return
        try:
            removed = await self.store.remove_address(TELEGRAM, str(chat_id))
        except Exception:
            log.exception("could not end the subscription of a chat that blocked the bot")
            return
        log.info("a chat is unreachable (403); %d subscription(s) ended", removed)
        log.debug("403 from Telegram: %s", err.message)
