"""Telegram throughput: the full bot against bare python-telegram-bot and aiogram echo bots.

Each contender runs in this process against its own fake Bot API server in a child process
(``FakeBotApiProcess``, so the fake's CPU does not count against the bot), long polling, and
gets the same burst: ``--chats`` chats × ``--per-chat`` messages (default 300 × 10 = 3,000),
interleaved chat by chat, all queued at once. The full bot (FAQ matcher, SQLite in a temp dir,
i18n) gets free-text questions; the echo bots get the same questions with a ``#n`` suffix so
that every echo is unique. Questions are picked so that, within a chat, every question has a
different answer: each reply then tells which message it answers.

Printed per contender: throughput (messages / seconds from queueing the burst to the last
reply's arrival at the fake), p50/p99 latency (queueing → the reply's arrival; both times on
the machine's monotonic clock, which the two processes share) and per-chat order violations
(a reply arriving after a reply to a later message of the same chat). The last line is one
JSON object: ``{"echo_rps", "aiogram_echo_rps", "bot_rps", "ratio", "p50_ms", "p99_ms",
"order_violations"}`` with ratio = bot_rps / echo_rps and the full bot's latency and order.

    python bench/telegram_throughput.py [--chats 300] [--per-chat 10] [--latency 0]
                                        [--rounds 1] [--only bot] [--profile FILE]

Needs the ``bench`` extra (aiogram 3) for the aiogram contender; without it, it is skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import itertools
import json
import logging
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bots.app import build_deps  # noqa: E402
from bots.telegram.adapter import TelegramBot  # noqa: E402
from bots.telegram.render import render  # noqa: E402
from handlers.config import load_settings  # noqa: E402
from handlers.messages import TELEGRAM, ConversationId, Incoming, UserKey  # noqa: E402
from handlers.router import Core  # noqa: E402
from tests.fakes.memory_store import MemoryStore  # noqa: E402
from tests.fakes.telegram_api import ControlClient, FakeBotApiProcess  # noqa: E402

TOKEN = "123456:BENCH-token"
QUESTIONS = ROOT / "bench" / "data" / "faq_eval" / "en.jsonl"
SECRET = "bench-secret-key-0123456789"
FIRST_CHAT = 10_000


@dataclass(frozen=True)
class Request:
    """One message of the burst and the reply texts that answer it, in order."""

    chat: int
    index: int
    text: str
    replies: tuple[str, ...]


@dataclass
class Plan:
    """The burst for one contender."""

    requests: list[Request]

    @property
    def expected_messages(self) -> int:
        """How many sendMessage calls the burst should cause."""
        return sum(len(r.replies) for r in self.requests)

    def by_chat(self) -> dict[int, list[Request]]:
        """Requests grouped per chat, in order."""
        out: dict[int, list[Request]] = defaultdict(list)
        for request in self.requests:
            out[request.chat].append(request)
        return out


@dataclass
class Result:
    """What one contender achieved."""

    name: str
    messages: int
    replies: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    order_violations: int = 0
    complete: bool = True
    cpu_seconds: float = 0.0  # this process's CPU time during the burst (all threads)

    @property
    def rps(self) -> float:
        """Handled messages per second."""
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, q: float) -> float:
        """Latency percentile in milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000

    def line(self) -> str:
        """One human-readable summary line."""
        note = "" if self.complete else "  (INCOMPLETE: timed out)"
        cpu = self.cpu_seconds / self.messages * 1e6 if self.messages else 0.0
        return (f"{self.name:<13} {self.replies:>5} replies to {self.messages} messages in "
                f"{self.seconds:6.2f} s: {self.rps:7.1f} msg/s, p50 {self.percentile(0.5):7.0f} "
                f"ms, p99 {self.percentile(0.99):7.0f} ms, order violations "
                f"{self.order_violations}, CPU {cpu:5.0f} µs/msg{note}")


class Contender(Protocol):
    """A bot under test."""

    name: str

    async def start(self, root: str) -> None:
        """Start polling the fake at ``root``; return when ready."""
        ...

    async def stop(self) -> None:
        """Stop and release everything."""
        ...


class PtbEcho:
    """A bare python-telegram-bot echo bot: defaults everywhere (httpx, sequential)."""

    name = "ptb-echo"

    async def start(self, root: str) -> None:
        from telegram.ext import Application, MessageHandler, filters

        self.app = (Application.builder().token(TOKEN).base_url(f"{root}/bot")
                    .base_file_url(f"{root}/file/bot").build())
        self.app.add_handler(MessageHandler(filters.TEXT, self._echo))
        await self.app.initialize()
        assert self.app.updater is not None
        await self.app.updater.start_polling()
        await self.app.start()

    async def _echo(self, update: Any, context: Any) -> None:
        await update.message.reply_text(update.message.text)

    async def stop(self) -> None:
        assert self.app.updater is not None
        await self.app.updater.stop()
        await self.app.stop()
        await self.app.shutdown()


class AiogramEcho:
    """A bare aiogram 3 echo bot: defaults everywhere (aiohttp, updates handled as tasks)."""

    name = "aiogram-echo"

    async def start(self, root: str) -> None:
        from aiogram import Bot, Dispatcher
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import TelegramAPIServer

        self.bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(root)))
        self.dispatcher = Dispatcher()
        self.dispatcher.message.register(self._echo)
        self.task = asyncio.create_task(
            self.dispatcher.start_polling(self.bot, handle_signals=False))

    async def _echo(self, message: Any) -> None:
        await message.answer(message.text)

    async def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            await self.dispatcher.stop_polling()
        await self.task


class FullBot:
    """The real bot: TelegramBot + Core, SQLite in a temp dir, FAQ matcher, i18n."""

    name = "full bot"

    def __init__(self, data_dir: Path, memory_store: bool = False) -> None:
        self.data_dir = data_dir
        self.memory_store = memory_store

    async def start(self, root: str) -> None:
        settings = load_settings({"RECLAIM_DATA_DIR": str(self.data_dir),
                                  "RECLAIM_SECRET_KEY": SECRET,
                                  "RECLAIM_TELEGRAM_TOKEN": TOKEN,
                                  "RECLAIM_TELEGRAM_API_URL": root})
        self.deps = await build_deps(settings, store=MemoryStore() if self.memory_store else None)
        self.deps.i18n.preload()
        self.bot = TelegramBot(Core(self.deps))
        await self.bot.start()
        assert self.bot.profile_task is not None
        await self.bot.profile_task  # start-up calls are not part of the burst

    async def stop(self) -> None:
        await self.bot.stop()
        await self.deps.store.close()


def load_questions() -> list[str]:
    """English questions of the FAQ evaluation set, on- and off-topic."""
    with QUESTIONS.open(encoding="utf-8") as handle:
        return [json.loads(line)["q"] for line in handle if line.strip()]


async def answers_of(core: Core, questions: list[str]) -> dict[str, tuple[str, ...]]:
    """The sendMessage texts the full bot sends for each question (language hint: en)."""
    out: dict[str, tuple[str, ...]] = {}
    for n, question in enumerate(questions):
        msg = Incoming(TELEGRAM, ConversationId(str(n)), UserKey(str(n)), "en", text=question)
        replies = await core.handle(msg)
        out[question] = tuple(m.text for reply in replies for m in render(reply))
    return out


def bot_plan(answers: dict[str, tuple[str, ...]], chats: int, per_chat: int) -> Plan:
    """Questions per chat whose answers all differ within the chat."""
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for question, replies in answers.items():
        groups[replies].append(question)
    distinct = sorted(groups.items(), key=lambda item: item[1][0])
    if len(distinct) < per_chat:
        raise SystemExit(f"only {len(distinct)} distinct answers for {per_chat} messages per chat")
    requests = []
    for index in range(per_chat):
        for c in range(chats):
            replies, questions = distinct[(c + index) % len(distinct)]
            question = questions[(c // len(distinct)) % len(questions)]
            requests.append(Request(FIRST_CHAT + c, index, question, replies))
    return Plan(requests)


def echo_plan(plan: Plan) -> Plan:
    """The same burst for an echo bot: each text made unique, answered by itself."""
    return Plan([Request(r.chat, r.index, f"{r.text} #{r.index}", (f"{r.text} #{r.index}",))
                 for r in plan.requests])


async def wait_until_polling(control: ControlClient, seconds: float = 30.0) -> None:
    """Return once a getUpdates long poll is waiting at the fake."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        calls, _ = await control.calls(method="getUpdates")
        if any(not call["done"] for call in calls):
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("the bot never started polling")


def analyse(result: Result, plan: Plan, sends: list[dict[str, Any]], t0: float) -> None:
    """Fill in latency, order violations and duration from the journalled sends."""
    per_chat: dict[int, list[tuple[str, float]]] = defaultdict(list)
    for call in sends:
        if not call["failed"]:
            per_chat[int(call["params"]["chat_id"])].append((call["params"]["text"], call["time"]))
    last = t0
    for chat, requests in plan.by_chat().items():
        index_of = {text: r.index for r in requests for text in r.replies}
        answered: dict[int, float] = {}
        seen: list[int] = []
        for text, at in per_chat.get(chat, []):
            index = index_of.get(text)
            if index is None:
                continue
            seen.append(index)
            answered[index] = max(answered.get(index, 0.0), at)
            last = max(last, at)
        result.order_violations += sum(1 for a, b in itertools.pairwise(seen) if b < a)
        result.latencies += [at - t0 for at in answered.values()]
    result.replies = len(sends)
    result.seconds = last - t0


async def run(contender: Contender, plan: Plan, latency: float, wait_seconds: float,
              profiler: cProfile.Profile | None = None) -> Result:
    """Run one contender on its own fake server and measure the burst."""
    async with FakeBotApiProcess(latency=latency) as fake:
        control = fake.control
        assert control is not None
        await contender.start(fake.root)
        await wait_until_polling(control)
        await control.clear()
        burst = [{"chat_id": r.chat, "user_id": r.chat, "text": r.text, "language_code": "en"}
                 for r in plan.requests]
        if profiler is not None:
            profiler.enable()
        t0, cpu0 = time.monotonic(), time.process_time()
        await control.add_messages(burst)
        complete = await control.wait_messages(plan.expected_messages, timeout=wait_seconds)
        cpu = time.process_time() - cpu0
        if profiler is not None:
            profiler.disable()
        sends, _next = await control.calls(method="sendMessage")
        await contender.stop()
    result = Result(contender.name, len(plan.requests), 0, 0.0, complete=complete,
                    cpu_seconds=cpu)
    analyse(result, plan, sends, t0)
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=300)
    parser.add_argument("--per-chat", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.0,
                        help="seconds the fake adds to every Bot API call")
    parser.add_argument("--timeout", type=float, default=110.0, help="per contender, seconds")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run every contender this often; report the median runs")
    parser.add_argument("--only", choices=("echo", "aiogram", "bot"), action="append",
                        help="run only these contenders (repeatable)")
    parser.add_argument("--profile", type=Path, help="cProfile the full bot's burst into FILE")
    parser.add_argument("--memory-store", action="store_true",
                        help="diagnosis: the full bot on the in-memory store instead of SQLite")
    return parser.parse_args(argv)


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """Keep library INFO logs out of the figures."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    yield


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    """Run every contender and print the figures."""
    wanted = set(args.only or ("echo", "aiogram", "bot"))
    with tempfile.TemporaryDirectory(prefix="reclaim-bench-") as tmp:
        settings = load_settings({"RECLAIM_DATA_DIR": str(Path(tmp) / "plan"),
                                  "RECLAIM_SECRET_KEY": SECRET})
        planner = Core(await build_deps(settings, store=MemoryStore()))
        plan = bot_plan(await answers_of(planner, load_questions()), args.chats, args.per_chat)
        print(f"burst: {len(plan.requests)} messages from {args.chats} chats, "
              f"{plan.expected_messages} replies expected from the full bot; "
              f"fake latency {args.latency * 1000:.0f} ms")
        factories: list[tuple[str, Callable[[int], Contender], Plan]] = [
            ("echo", lambda _n: PtbEcho(), echo_plan(plan))]
        if "aiogram" in wanted:
            try:
                import aiogram  # noqa: F401
            except ImportError:
                print("aiogram-echo  skipped: pip install 'aiogram>=3,<4' (the bench extra)")
            else:
                factories.append(("aiogram", lambda _n: AiogramEcho(), echo_plan(plan)))
        factories.append(("bot", lambda n: FullBot(Path(tmp) / f"bot{n}", args.memory_store),
                          plan))
        results: dict[str, list[Result]] = defaultdict(list)
        for round_ in range(args.rounds):  # contenders alternate, so load spikes hit all
            for key, factory, own_plan in factories:
                if key not in wanted:
                    continue
                profiler = (cProfile.Profile() if args.profile and key == "bot" and round_ == 0
                            else None)
                result = await run(factory(round_), own_plan, args.latency, args.timeout,
                                   profiler)
                results[key].append(result)
                print(result.line(), flush=True)
                if profiler is not None:
                    profiler.dump_stats(args.profile)
                    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return summary(results)


def median(runs: list[Result]) -> Result | None:
    """The run with the median throughput."""
    return sorted(runs, key=lambda r: r.rps)[len(runs) // 2] if runs else None


def summary(results: dict[str, list[Result]]) -> dict[str, Any]:
    """Print the ratios and return the headline figures (median runs)."""
    echo, aio, bot = (median(results.get(key, [])) for key in ("echo", "aiogram", "bot"))
    if len(results.get("bot", [])) > 1:
        print("median runs:")
        for run_ in (echo, aio, bot):
            if run_ is not None:
                print(run_.line())
    ratio = None
    if bot and echo and echo.rps and echo.cpu_seconds:
        ratio = bot.rps / echo.rps
        print(f"ratio full bot / ptb-echo: {ratio:.2f} (CPU per message: "
              f"{bot.cpu_seconds / echo.cpu_seconds:.2f}× the echo bot's)")
    if bot and aio and aio.rps:
        print(f"ratio full bot / aiogram-echo: {bot.rps / aio.rps:.2f}")
    violations = sum(r.order_violations for r in results.get("bot", []))
    return {
        "echo_rps": round(echo.rps, 1) if echo else None,
        "aiogram_echo_rps": round(aio.rps, 1) if aio else None,
        "bot_rps": round(bot.rps, 1) if bot else None,
        "ratio": round(ratio, 3) if ratio is not None else None,
        "p50_ms": round(bot.percentile(0.5), 1) if bot else None,
        "p99_ms": round(bot.percentile(0.99), 1) if bot else None,
        "order_violations": violations if bot else None,
    }


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    args = parse_args(argv)
    with quiet_logs():
        figures = asyncio.run(main_async(args))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
