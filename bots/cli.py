"""The ``reclaim-bot`` command: chat, serve, and operator tools."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from handlers.campaign import CampaignError
from handlers.config import ConfigError, Settings, load_settings
from handlers.i18n import LANGUAGES, normalize_language


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="reclaim-bot", description=(
        "Campaign bot for the Reclaim Your Face ECI. With no command: the console chat when no "
        "platform is configured, otherwise the same as 'serve'."))
    sub = parser.add_subparsers(dest="command")
    console = sub.add_parser("console", help="chat with the bot in the terminal")
    console.add_argument("--lang", help="language hint, like Telegram's language_code")
    console.add_argument("--user", default="local", help="console identity (console:NAME)")
    console.add_argument("--json", action="store_true", help="JSON lines in and out")
    sub.add_parser("serve", help="run the configured platforms and the HTTP server")
    stats = sub.add_parser("stats", help="print the anonymous figures")
    stats.add_argument("--json", action="store_true")
    faq = sub.add_parser("faq", help="match questions to FAQ topics")
    faq.add_argument("--lang", default="en")
    faq.add_argument("--json", action="store_true")
    faq.add_argument("question", nargs="?", help="a question; without it, one per stdin line")
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply pending migrations")
    db_sub.add_parser("current", help="print the schema revision")
    from bots.broadcast.cli import add_parser as add_broadcast_parser

    add_broadcast_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"reclaim-bot: configuration error: {exc}", file=sys.stderr)
        return 2
    from bots.logs import setup_logging

    quiet = args.command in (None, "console", "faq", "stats", "db") or (
        args.command == "broadcast" and args.broadcast_command != "run")
    setup_logging(settings.log_format, "WARNING" if quiet and settings.log_level == "INFO"
                  else settings.log_level)
    try:
        return asyncio.run(_run(args, settings))
    except (ConfigError, CampaignError) as exc:
        print(f"reclaim-bot: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    command = args.command
    if command is None:
        command = "serve" if settings.telegram_enabled or settings.matrix_enabled else "console"
        if command == "console":
            args = argparse.Namespace(command="console", lang=None, user="local", json=False)
    if command == "serve":
        from bots.app import serve

        await serve(settings)
        return 0
    if command == "console":
        return await _console(args, settings)
    if command == "stats":
        return await _stats(args, settings)
    if command == "faq":
        return await _faq(args, settings)
    if command == "broadcast":
        from bots.broadcast.cli import run as run_broadcast

        return await run_broadcast(args, settings)
    return await _db(args, settings)


async def _console(args: argparse.Namespace, settings: Settings) -> int:
    from bots.app import core_session
    from bots.console import run_interactive, run_json

    if not args.user or any(ch.isspace() for ch in args.user):
        print("reclaim-bot: --user must be a single word", file=sys.stderr)
        return 2
    async with core_session(settings) as core:
        runner = run_json if args.json else run_interactive
        await runner(core.handle, args.user, args.lang)
    return 0


def stats_json(stats: Any) -> dict[str, Any]:
    """Return the contract shape of ``stats --json``."""
    return {
        "arrivals": {"total": stats.arrivals_total, "by_platform": stats.arrivals_by_platform,
                     "by_day": stats.arrivals_by_day},
        "sign_clicks": {"total": stats.sign_clicks_total,
                        "by_language": stats.sign_clicks_by_language,
                        "by_country": stats.sign_clicks_by_country,
                        "by_day": stats.sign_clicks_by_day},
        "subscribers": stats.subscribers,
        "subscribers_by_platform": stats.subscribers_by_platform,
        "subscribers_by_language": stats.subscribers_by_language,
        "top_codes": [{"code": code, "arrivals": count} for code, count in stats.top_codes],
    }


async def _stats(args: argparse.Namespace, settings: Settings) -> int:
    from bots.app import open_store_for

    store = await open_store_for(settings)
    try:
        figures = await store.stats(top=10)
    finally:
        await store.close()
    data = stats_json(figures)
    if args.json:
        print(json.dumps(data, ensure_ascii=False))
        return 0
    print(f"Arrivals through shared links: {figures.arrivals_total}")
    for platform, count in sorted(figures.arrivals_by_platform.items()):
        print(f"  {platform}: {count}")
    print(f"Sign-link clicks: {figures.sign_clicks_total}")
    for language, count in sorted(figures.sign_clicks_by_language.items()):
        print(f"  {language}: {count}")
    print(f"Subscribers: {figures.subscribers}")
    for code, count in figures.top_codes:
        print(f"  code {code}: {count}")
    return 0


async def _faq(args: argparse.Namespace, settings: Settings) -> int:
    from bots.app import build_i18n
    from handlers.campaign import load_campaign
    from handlers.faq_match.matcher import FaqMatcher
    from handlers.html import strip_tags

    language = normalize_language(args.lang)
    if language is None:
        print(f"reclaim-bot: --lang must be one of {', '.join(LANGUAGES)}", file=sys.stderr)
        return 2
    campaign = load_campaign(settings.campaign_path)
    t = build_i18n(campaign).translator(language)
    matcher = FaqMatcher.load()

    def answer(question: str) -> dict[str, Any]:
        match = matcher.match(question, language)
        entry = campaign.faq.get(match.topic or "")
        text = t.campaign(entry.answer) if entry else None
        return {"topic": match.topic if entry else None, "score": round(match.score, 4),
                "suggestions": list(match.suggestions), "answer": text}

    questions = [args.question] if args.question is not None else sys.stdin
    for question in questions:
        question = question.rstrip("\n")
        if args.question is None and not question.strip():
            continue
        result = answer(question)
        if args.json or args.question is None:
            print(json.dumps(result, ensure_ascii=False), flush=True)
        elif result["topic"]:
            print(f"[{result['topic']}] score {result['score']}\n{strip_tags(result['answer'])}")
        else:
            print(f"no confident match (score {result['score']}); suggestions: "
                  f"{', '.join(result['suggestions']) or '-'}")
    return 0


async def _db(args: argparse.Namespace, settings: Settings) -> int:
    from storage.migrate import current_revision, upgrade

    if args.db_command == "upgrade":
        print(f"database at revision {await upgrade(settings.database_url)}")
    else:
        print(f"database at revision {await current_revision(settings.database_url) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
