"""The Telegram component: a python-telegram-bot Application wired to the conversation core.

Updates come in by long polling, or by webhook on our aiohttp server when
RECLAIM_TELEGRAM_WEBHOOK_URL is set (see :mod:`bots.telegram.intake`). The Application runs one
TypeHandler for every update through :class:`ChatOrderedProcessor` (chats concurrently, each
chat in order). The handler turns the update into the core's neutral message, renders the
replies (:mod:`bots.telegram.render`) and sends them with retries (:mod:`bots.telegram.sender`).

Decisions: a button press is answered with answerCallbackQuery and then *new* messages (the
pressed message stays as it was: several replies, and no "message is not modified" errors);
edited messages are ignored; in webhook mode every update id is also claimed in the shared
database, so replicas behind a load balancer never handle one update twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiohttp import web
from telegram import ChatMember, ChatMemberUpdated, InlineQuery, Update
from telegram.error import InvalidToken, NetworkError
from telegram.ext import Application, CallbackContext, TypeHandler

from bots.telegram.aiohttp_request import AiohttpRequest
from bots.telegram.convert import BotIdentity, Unsupported, chat_key, route
from bots.telegram.dispatch import ChatOrderedProcessor
from bots.telegram.inline import CACHE_SECONDS, share_card
from bots.telegram.intake import Poller, RawUpdate, RecentIds, WebhookEndpoint, update_id_of
from bots.telegram.profile import sync_profile
from bots.telegram.render import OutMessage, render
from bots.telegram.sender import Outcome, Sender
from handlers.i18n import N_, Translator, negotiate
from handlers.messages import TELEGRAM, Reply
from handlers.router import Core

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ("message", "callback_query", "inline_query", "my_chat_member")
APOLOGY = N_("Sorry, something went wrong on my side. Please try again in a moment.")
Context = CallbackContext[Any, Any, Any, Any]


class RouteHost(Protocol):
    """The web server, as far as the webhook needs it."""

    def add_routes(self, routes: list[web.RouteDef]) -> None:
        """Register routes before the server starts."""
        ...


class _Application(Application):
    """PTB's Application without its persistence bookkeeping.

    Without persistence PTB still adds every chat and user id it sees to two sets that only a
    persistence run empties: raw ids piling up in memory for the life of the process.
    """

    def _mark_for_persistence_update(self, *, update: object | None = None,
                                     job: Any = None) -> None:
        if self.persistence:
            super()._mark_for_persistence_update(update=update, job=job)


class TelegramBot:
    """The Telegram platform component (``name``, ``start``, ``stop``)."""

    name = "telegram"

    def __init__(
        self,
        core: Core,
        web_server: RouteHost | None = None,
        *,
        poll_timeout: int = 10,
        max_pending_per_chat: int = 20,
        max_active: int = 256,
        max_core: int = 8,
        drain_seconds: float = 8.0,
    ) -> None:
        settings = core.deps.settings
        if not settings.telegram_token:
            raise ValueError("RECLAIM_TELEGRAM_TOKEN is not set")
        self.core = core
        self.deps = core.deps
        self.drain_seconds = drain_seconds
        # Chats handled at once (mostly waiting on Telegram) vs. messages inside the core at
        # once (CPU and database): many concurrent core calls only queue up on the database
        # connection pool, which costs more CPU than it saves.
        self._core_slots = asyncio.Semaphore(max_core)
        self.processor = ChatOrderedProcessor(
            chat_key, max_pending_per_chat=max_pending_per_chat, max_active=max_active,
            on_flood=self._on_flood,
        )
        self.app = self._build_app(settings.telegram_token, settings.telegram_api_url,
                                   poll_timeout)
        self.sender = Sender(self.app.bot, self._request, self.deps.store)
        self.recent = RecentIds()
        self.me: BotIdentity | None = None
        self.poller: Poller | None = None
        self.poll_timeout = poll_timeout
        self.profile_task: asyncio.Task[None] | None = None
        self.webhook: WebhookEndpoint | None = None
        self._web_server = web_server
        self._accepting = False
        if settings.telegram_webhook_url:
            secret = settings.telegram_webhook_secret or self.deps.keyring.derived_secret(
                "telegram-webhook")
            path = urlsplit(settings.telegram_webhook_url).path or "/"
            self.webhook = WebhookEndpoint(path, secret, self.accept)
            if web_server is not None:
                web_server.add_routes(self.webhook.routes())

    def _build_app(self, token: str, api_root: str, poll_timeout: int) -> Application:
        root = api_root.rstrip("/")
        self._request = AiohttpRequest()
        self._poll_request = AiohttpRequest(connection_pool_size=1,
                                            read_timeout=poll_timeout + 10.0)
        app = (
            Application.builder()
            .application_class(_Application)
            .token(token)
            .base_url(f"{root}/bot")
            .base_file_url(f"{root}/file/bot")
            .request(self._request)
            .get_updates_request(self._poll_request)
            .updater(None)
            .concurrent_updates(self.processor)
            .build()
        )
        app.add_handler(TypeHandler(Update, self._on_update))
        app.add_error_handler(self._on_error)
        return app

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Identify the bot, start handling, then start polling or register the webhook."""
        if self.webhook is not None and self._web_server is None:
            raise RuntimeError("webhook mode needs the web server: TelegramBot(core, web_server)")
        await self._initialize()
        try:
            await self._start_intake()
        except BaseException:
            await self.stop()  # a half-started bot would leave tasks and sessions behind
            raise
        self.profile_task = asyncio.create_task(self._sync_profile(), name="telegram-profile")
        log.info("Telegram bot running (%s)", "webhook" if self.webhook else "long polling")

    async def _start_intake(self) -> None:
        bot = self.app.bot
        self.me = BotIdentity(bot.id, bot.username)
        self.deps.handles["telegram"] = bot.username
        await self.app.start()
        self._accepting = True
        if self.webhook is not None:
            await self._set_webhook()
            return
        await self.sender.call(lambda: bot.delete_webhook())
        self.poller = Poller(self._poll_request, bot.base_url, self.accept,
                             self.processor.wait_for_room,
                             timeout=self.poll_timeout, allowed_updates=ALLOWED_UPDATES)
        self.poller.start()

    async def _initialize(self, attempts: int = 5) -> None:
        """getMe, retried while the network is down (a wrong token fails at once)."""
        for attempt in range(attempts):
            try:
                await self.app.initialize()
                return
            except InvalidToken:
                raise
            except NetworkError:
                if attempt == attempts - 1:
                    raise
                log.warning("Telegram unreachable at start-up; retrying")
                await asyncio.sleep(2**attempt)

    async def _set_webhook(self) -> None:
        settings = self.deps.settings
        assert self.webhook is not None and settings.telegram_webhook_url is not None
        secret = self.webhook.secret
        url = settings.telegram_webhook_url
        await self.sender.call(lambda: self.app.bot.set_webhook(
            url, secret_token=secret, allowed_updates=list(ALLOWED_UPDATES)))

    async def stop(self) -> None:
        """Stop taking updates, finish the queued ones (bounded), then close everything."""
        if self.poller is not None:
            await self.poller.stop()  # confirms what was taken, so a restart does not redo it
        self._accepting = False  # webhook deliveries now get 503 and come again later
        if self.profile_task is not None:
            self.profile_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.profile_task
        if self.app.running:
            await self.app.stop()  # hands every queued update to the processor
        if not await self.processor.drain(self.drain_seconds):
            log.warning("stopping with Telegram updates still unanswered")
        await self.app.shutdown()  # returns at once if it never initialized

    def backlog(self) -> int:
        """Updates received but not yet handled."""
        return self.app.update_queue.qsize() + self.processor.pending

    async def _sync_profile(self) -> None:
        try:
            await sync_profile(self.app.bot, self.sender, self.deps.i18n, self.deps.campaign)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("could not update the bot's Telegram profile", exc_info=True)

    # ------------------------------------------------------------------ intake
    def accept(self, raw: RawUpdate) -> bool:
        """Take one raw update (polling or webhook); False if the bot is not running."""
        if not self._accepting:
            return False
        update_id = update_id_of(raw)
        if update_id is None:
            log.warning("ignored an update without an update_id")
            return True
        if not self.recent.add(update_id):
            log.debug("ignored a duplicate update")
            return True
        try:
            update = Update.de_json(raw, self.app.bot)
        except Exception as exc:
            log.warning("skipped a malformed update (%s)", type(exc).__name__)
            return True
        self.app.update_queue.put_nowait(update)
        return True

    # ------------------------------------------------------------------ handling
    async def _on_update(self, update: Update, context: Context) -> None:
        """Handle one update (runs in its chat's order)."""
        if self.webhook is not None and not await self._claim(update.update_id):
            return
        if update.inline_query is not None:
            await self._answer_inline(update.inline_query)
            return
        if update.my_chat_member is not None:
            await self._membership(update.my_chat_member)
            return
        query = update.callback_query
        if query is not None:
            # Always answered, first: it stops the spinner on the person's button.
            await self.sender.attempt(lambda: self.app.bot.answer_callback_query(query.id))
        assert self.me is not None
        routed = route(update, self.me)
        if routed is None:
            return
        if isinstance(routed, Unsupported):
            await self._unsupported(routed)
            return
        async with self._core_slots:
            replies = await self.core.handle(routed)
        await self._deliver(int(routed.conversation), replies)

    async def _deliver(self, chat_id: int, replies: list[Reply]) -> None:
        for reply in replies:
            if await self.sender.send_all(chat_id, render(reply)) is not Outcome.SENT:
                return

    async def _claim(self, update_id: int) -> bool:
        """Claim an update id in the shared database (False: another process has it)."""
        try:
            return await self.deps.store.claim_update(TELEGRAM, update_id)
        except Exception:
            log.warning("could not claim an update in the database; handling it anyway",
                        exc_info=True)
            return True

    async def _answer_inline(self, query: InlineQuery) -> None:
        assert self.me is not None
        user = query.from_user
        t = await self._translator(user.id, user.language_code)
        card = share_card(self.deps, t, user.id, self.me.username)
        await self.sender.attempt(lambda: self.app.bot.answer_inline_query(
            query.id, [card], cache_time=CACHE_SECONDS, is_personal=True))

    async def _membership(self, change: ChatMemberUpdated) -> None:
        """The person blocked the bot (or it left a group): end that chat's subscription."""
        if change.new_chat_member.status in (ChatMember.BANNED, ChatMember.LEFT):
            removed = await self.deps.store.remove_address(TELEGRAM, str(change.chat.id))
            log.info("the bot was blocked or removed; %d subscription(s) ended", removed)

    async def _unsupported(self, item: Unsupported) -> None:
        t = await self._translator(item.user_id, item.language_hint)
        text = t._("I can only read text messages. Type your question, or send /menu to see "
                   "what I can do.")
        await self.sender.send(item.chat_id, OutMessage(_plain_html(text)))

    async def _on_flood(self, update: object, first: bool) -> None:
        """A chat's queue is full: answer dropped button presses; say "slow down" once."""
        if not isinstance(update, Update):
            return
        query = update.callback_query
        if query is not None:
            await self.sender.attempt(lambda: self.app.bot.answer_callback_query(query.id))
        chat, user = update.effective_chat, update.effective_user
        if not first or chat is None or update.inline_query is not None:
            return
        t = await self._translator(user.id if user else None, user.language_code if user else None)
        text = t._("You are sending messages faster than I can answer. Please wait a moment, "
                   "then ask again.")
        await self.sender.send(chat.id, OutMessage(_plain_html(text)))

    async def _on_error(self, update: object, context: Context) -> None:
        """PTB's error handler: log without personal data, apologise in the chat."""
        error = context.error
        log.error("handling a Telegram update failed (%s)", type(error).__name__, exc_info=error)
        if not isinstance(update, Update) or update.effective_chat is None:
            return
        if update.effective_chat.type not in ("private", "group", "supergroup"):
            return
        user = update.effective_user
        t = await self._translator(user.id if user else None, user.language_code if user else None)
        await self.sender.send(update.effective_chat.id, OutMessage(_plain_html(t._(APOLOGY))))

    async def _translator(self, user_id: int | None, hint: str | None) -> Translator:
        """The person's language outside the core: stored choice, else the platform hint."""
        stored = None
        if user_id is not None:
            person = self.deps.keyring.person_key(TELEGRAM, str(user_id))
            try:
                stored = await self.deps.store.get_language(person)
            except Exception:
                log.warning("could not read a language choice", exc_info=True)
        return self.deps.i18n.translator(negotiate(stored[0] if stored else None, hint))


def _plain_html(text: str) -> str:
    """Escape a translated plain string for HTML parse mode."""
    return html.escape(text, quote=False)

