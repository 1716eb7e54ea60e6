"""The composition root: builds config-driven services once and runs the chosen mode."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from typing import Protocol, cast

from bots.metrics import Metrics, instrument
from handlers.campaign import Campaign, load_campaign
from handlers.config import Settings
from handlers.context import Clock, Deps, utc_now
from handlers.faq_match.matcher import FaqMatcher
from handlers.i18n import LOCALES_DIR, MAIN_DOMAIN, CatalogSource, I18n
from handlers.identity import Keyring, resolve_secret
from handlers.messages import Incoming, Reply
from handlers.ports import Sender, Store
from handlers.router import Core

log = logging.getLogger(__name__)


class Component(Protocol):
    """Something `serve` runs: a platform adapter, the web server, a worker."""

    name: str

    async def start(self) -> None:
        """Start serving (return once running)."""
        ...

    async def stop(self) -> None:
        """Stop gracefully: finish in-flight work."""
        ...


def build_i18n(campaign: Campaign) -> I18n:
    """Return the translators for the bot's own strings and the campaign's texts."""
    return I18n(CatalogSource(LOCALES_DIR, MAIN_DOMAIN),
                CatalogSource(campaign.locales_dir, campaign.domain))


async def open_store_for(settings: Settings) -> Store:
    """Open the database, applying migrations when the schema is behind."""
    from storage.db import open_store

    return await open_store(settings.database_url)


async def build_deps(settings: Settings, *, store: Store | None = None, clock: Clock = utc_now,
                     matcher: FaqMatcher | None = None) -> Deps:
    """Build every shared service once."""
    campaign = load_campaign(settings.campaign_path)
    keyring = Keyring(resolve_secret(settings.secret_key, settings.data_dir))
    deps = Deps(
        settings=settings,
        store=store if store is not None else await open_store_for(settings),
        keyring=keyring,
        i18n=build_i18n(campaign),
        campaign=campaign,
        matcher=matcher if matcher is not None else FaqMatcher.load(),
        clock=clock,
    )
    engine = getattr(deps.store, "engine", None)
    if engine is not None:
        # Admins can compose broadcasts from any adapter, the console included.
        from handlers.broadcast import attach_outbox
        from storage.outbox import SqlOutbox

        attach_outbox(deps, SqlOutbox(engine))
    return deps


class InstrumentedCore(Core):
    """The core with every message counted and timed for /metrics."""

    def __init__(self, deps: Deps, metrics: Metrics) -> None:
        super().__init__(deps)
        self.metrics = metrics
        self._instrumented = instrument(super().handle, metrics)

    async def handle(self, msg: Incoming) -> list[Reply]:
        """Answer one message, recording updates, replies, errors and latency."""
        return await self._instrumented(msg)


@contextlib.asynccontextmanager
async def core_session(settings: Settings, metrics: Metrics | None = None) -> AsyncIterator[Core]:
    """Yield a ready core (instrumented when metrics are given) and close storage afterwards."""
    deps = await build_deps(settings)
    try:
        yield Core(deps) if metrics is None else InstrumentedCore(deps, metrics)
    finally:
        await deps.store.close()


def build_components(core: Core, metrics: Metrics | None = None) -> list[Component]:
    """Return what `serve` runs for the configured platforms."""
    from bots.web.server import WebServer

    settings = core.deps.settings
    web = WebServer(core, metrics)
    components: list[Component] = [web]
    if settings.telegram_enabled:
        from bots.telegram.adapter import TelegramBot

        # The web server comes first: in webhook mode Telegram's route is added to it.
        components.append(TelegramBot(core, web))
    matrix: Component | None = None
    if settings.matrix_enabled:
        from bots.matrix.adapter import MatrixBot

        matrix = MatrixBot(core)
        components.append(matrix)
    from bots.broadcast.worker import build_worker

    # Last, so it starts after the adapters: the Matrix bot is its Matrix sender.
    # cast: MatrixBot.platform is a Platform, the Sender protocol's attribute a plain str.
    worker = build_worker(core.deps, matrix=cast("Sender | None", matrix), metrics=metrics)
    if worker is not None:
        components.append(worker)
    return components


async def serve(settings: Settings) -> None:
    """Run every configured platform and the HTTP server until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    metrics = Metrics()
    async with core_session(settings, metrics) as core:
        core.deps.i18n.preload()
        components = build_components(core, metrics)
        started: list[Component] = []
        try:
            for component in components:
                await component.start()
                started.append(component)
                log.info("%s started", component.name)
            await stop.wait()
            log.info("shutting down")
        finally:
            for component in reversed(started):
                with contextlib.suppress(Exception):
                    await component.stop()
                log.info("%s stopped", component.name)
