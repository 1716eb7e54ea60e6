"""``reclaim-bot broadcast ...``: queue a milestone, watch and steer jobs, or deliver.

The command line only queues and steers; the ``serve`` process's broadcast worker delivers
(within half a second of the job appearing). ``broadcast run`` is a delivery-only process
(Telegram only: Matrix deliveries need the serve process's Matrix session), and
``milestone --wait`` follows the job until it ends. The shell is an operator: no admin check.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any, cast

from handlers.broadcast import (
    FINAL_STATES,
    MILESTONE,
    PLATFORMS,
    Content,
    JobStatus,
    Target,
    parse_number,
    render_message,
    render_status,
    resolve_target,
)
from handlers.config import Settings
from handlers.context import Deps
from handlers.html import strip_tags
from handlers.i18n import I18n, Translator, normalize_language
from storage.outbox import SqlOutbox

WAIT_EVERY = 2.0


def add_parser(sub: Any) -> None:
    """Register ``broadcast`` and its subcommands on the CLI's subparsers."""
    parser = sub.add_parser("broadcast", help="milestone broadcasts: queue, watch, steer, deliver")
    commands = parser.add_subparsers(dest="broadcast_command", required=True)
    milestone = commands.add_parser("milestone", help="queue a milestone broadcast")
    milestone.add_argument("number", help="the number of signatures, e.g. 250000")
    milestone.add_argument("--platform", choices=PLATFORMS, help="only this platform")
    milestone.add_argument("--lang", help="only these languages, e.g. de,fr")
    milestone.add_argument("--yes", action="store_true", help="queue without asking")
    milestone.add_argument("--wait", action="store_true", help="follow the job until it ends")
    for name, text in (("status", "show a job's progress (default: the newest)"),
                       ("pause", "pause a job (default: the newest running)"),
                       ("resume", "resume a paused job"), ("cancel", "cancel a job")):
        command = commands.add_parser(name, help=text)
        command.add_argument("job", nargs="?", type=int, help="job number")
        if name == "status":
            command.add_argument("--json", action="store_true")
    run = commands.add_parser("run", help="deliver queued broadcasts in this process (Telegram)")
    run.add_argument("--until-idle", action="store_true", help="exit when nothing is queued")
    run.add_argument("--lease", type=float, default=15.0, help=argparse.SUPPRESS)
    run.add_argument("--stats-file", type=Path, help=argparse.SUPPRESS)
    run.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run one ``broadcast`` subcommand; return the exit status."""
    from bots.app import build_i18n, open_store_for
    from handlers.campaign import load_campaign

    store = await open_store_for(settings)
    try:
        if args.broadcast_command == "run":
            return await _deliver(args, settings, store)
        outbox = SqlOutbox(getattr(store, "engine"))  # noqa: B009 - the SQL store's engine
        i18n = build_i18n(load_campaign(settings.campaign_path))
        t = i18n.translator("en")
        if args.broadcast_command == "milestone":
            return await _milestone(args, settings, outbox, i18n)
        if args.broadcast_command == "status":
            return _show(await outbox.status(args.job), t, as_json=args.json)
        job = await outbox.control(args.job, args.broadcast_command)
        if job is None:
            print("reclaim-bot: no running or paused broadcast to change", file=sys.stderr)
            return 1
        return _show(job, t)
    finally:
        await store.close()


def _languages(raw: str | None) -> tuple[str, ...] | None:
    codes = [code.strip().lower() for code in (raw or "").split(",") if code.strip()]
    if any(normalize_language(code) != code for code in codes):
        return None
    return tuple(dict.fromkeys(codes))


async def _milestone(args: argparse.Namespace, settings: Settings, outbox: SqlOutbox,
                     i18n: I18n, stdin: IO[str] | None = None) -> int:
    number = parse_number(args.number)
    languages = _languages(args.lang)
    if number is None or languages is None:
        print("reclaim-bot: give a positive number and --lang as codes such as de,fr",
              file=sys.stderr)
        return 2
    content = Content(MILESTONE, number=number)
    target = resolve_target(settings, content,
                            Target((args.platform,) if args.platform else (), languages),
                            await outbox.delivering())
    if not target.platforms:
        print("reclaim-bot: no platform configured for this broadcast (RECLAIM_TELEGRAM_TOKEN, "
              "RECLAIM_MATRIX_*)", file=sys.stderr)
        return 2
    audience = await outbox.audience(target)
    total = sum(audience.values())
    _print_previews(content, audience, i18n)
    print(f"Goes to {total} subscriber(s) on {', '.join(target.platforms)}.")
    if total == 0:
        print("Nothing to send.")
        return 1
    if not args.yes and not _confirmed(stdin or sys.stdin):
        print("Not queued.")
        return 1
    job = await outbox.create(content, target)
    print(f"Queued broadcast #{job.id} for {job.total} subscriber(s). The running bot "
          f"(reclaim-bot serve) delivers it; follow it with: reclaim-bot broadcast status {job.id}")
    return await _follow(outbox, job.id, i18n.translator("en")) if args.wait else 0


def _print_previews(content: Content, audience: dict[str, int], i18n: I18n) -> None:
    for language, count in sorted(audience.items()):
        reply = render_message(i18n.translator(language), content)
        first = strip_tags(reply.text).splitlines()[0] if reply else "(skipped)"
        print(f"  {language} ({count}): {first}")


def _confirmed(stdin: IO[str]) -> bool:
    print("Send it? [y/N] ", end="", flush=True)
    answer = stdin.readline().strip().lower()
    return answer in ("y", "yes")


def _show(job: JobStatus | None, t: Translator, *, as_json: bool = False) -> int:
    if job is None:
        print("No broadcast yet.")
        return 1
    if as_json:
        data = asdict(job)
        data["content"] = {"kind": job.content.kind, "number": job.content.number,
                           "languages": list(job.content.text_languages)}
        print(json.dumps(data, ensure_ascii=False))
    else:
        print(strip_tags(render_status(t, job)))
    return 0


async def _follow(outbox: SqlOutbox, job_id: int, t: Translator) -> int:
    last = ""
    while True:
        job = await outbox.status(job_id)
        if job is None:
            return 1
        text = strip_tags(render_status(t, job))
        if text != last:
            print(text + "\n", flush=True)
            last = text
        if job.state in FINAL_STATES:
            return 0
        await asyncio.sleep(WAIT_EVERY)


def _delivery_deps(settings: Settings, store: Any) -> Deps:
    """The services a delivery-only process needs: no FAQ matcher (it answers nobody)."""
    from bots.app import build_i18n
    from handlers.campaign import load_campaign
    from handlers.faq_match.matcher import FaqMatcher
    from handlers.identity import Keyring, resolve_secret

    campaign = load_campaign(settings.campaign_path)
    return Deps(settings=settings, store=store, campaign=campaign, i18n=build_i18n(campaign),
                keyring=Keyring(resolve_secret(settings.secret_key, settings.data_dir)),
                matcher=cast(FaqMatcher, None))  # the matcher alone would take ~80 MB


async def _deliver(args: argparse.Namespace, settings: Settings, store: Any) -> int:
    from bots.broadcast.worker import build_worker

    deps = _delivery_deps(settings, store)
    worker = build_worker(deps, lease=args.lease, stats_path=args.stats_file, trace=args.trace)
    if worker is None or not worker.senders:
        print("reclaim-bot: nothing to deliver with: set RECLAIM_TELEGRAM_TOKEN", file=sys.stderr)
        return 2
    worker.until_idle = args.until_idle
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await worker.start()
    try:
        idle = asyncio.create_task(worker.idle.wait())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait([idle, stopping], return_when=asyncio.FIRST_COMPLETED)
        for task in (idle, stopping):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    finally:
        await worker.stop()
    figures = worker.figures()
    figures.pop("grants", None)
    print(json.dumps(figures), flush=True)
    return 0
