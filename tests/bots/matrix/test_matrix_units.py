"""The Matrix adapter's parts without a homeserver: events in, files, errors, privacy."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from nio import (
    AsyncClient,
    Event,
    LocalProtocolError,
    MatrixRoom,
    MegolmEvent,
    RoomSendError,
    SyncError,
)

from bots.matrix.adapter import MatrixBot, Pending, SyncFailed
from bots.matrix.choices import Choices
from bots.matrix.errors import error_for_exception, error_for_response
from bots.matrix.inbound import MAX_INBOUND_CHARS, Typed
from bots.matrix.privacy import RedactMatrixIds
from bots.matrix.session import Session, SessionFiles
from handlers.messages import Incoming, Reply
from handlers.ports import PermanentFailure, RateLimited, RecipientGone, TemporaryFailure
from handlers.router import Core

BOT = "@reclaim:example.org"
ALICE = "@alice:example.org"
BOB = "@bob:example.org"
ROOM = "!room:example.org"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Matrix configured against a homeserver that is never contacted."""
    return {"RECLAIM_DATA_DIR": str(tmp_path / "data"),
            "RECLAIM_SECRET_KEY": "test-secret-key-0123456789",
            "RECLAIM_MATRIX_HOMESERVER": "http://127.0.0.1:9", "RECLAIM_MATRIX_USER_ID": BOT,
            "RECLAIM_MATRIX_PASSWORD": "pw"}


@pytest.fixture
async def bot(core: Core) -> AsyncIterator[MatrixBot]:
    """A bot with a client that knows one room, and sends into a list instead of a homeserver."""
    matrix = MatrixBot(core)
    client = AsyncClient("http://127.0.0.1:9", BOT)
    client.user_id = BOT
    matrix.client = client
    sent: list[dict[str, Any]] = []

    async def capture(room_id: str, content: dict[str, Any]) -> str:
        sent.append(content)
        return f"$event{len(sent)}"

    matrix._send_content = capture  # type: ignore[method-assign]
    matrix.sent = sent  # type: ignore[attr-defined]
    core.deps.forget_hooks.append(matrix.forget_user)  # start() would do this
    yield matrix
    await client.close()


def _room(bot: MatrixBot, *members: str) -> MatrixRoom:
    room = MatrixRoom(ROOM, BOT)
    for member in (BOT, *members):
        room.add_member(member, member[1:].split(":")[0], None)
    assert bot.client is not None
    bot.client.rooms[ROOM] = room
    return room


def _event(body: Any = "!start", sender: str = ALICE, msgtype: str = "m.text", ts: int = 10**13,
           **extra: Any) -> Any:
    content = {"msgtype": msgtype, "body": body, **extra}
    return Event.parse_event({"type": "m.room.message", "event_id": f"$e{id(content)}",
                              "sender": sender, "origin_server_ts": ts, "content": content})


async def test_malformed_and_foreign_events_are_ignored(bot: MatrixBot) -> None:
    """Bad events, notices, own messages and old history never reach the queue or crash."""
    room = _room(bot, ALICE)
    bad = [_event(body=42), _event(body=None), _event(msgtype="m.notice"), _event(sender=BOT),
           Event.parse_event({"type": "m.room.message", "content": "nonsense"}),
           Event.parse_event({"type": "org.example", "event_id": "$x", "sender": ALICE,
                              "origin_server_ts": 1, "content": {}}),
           object()]
    for event in bad:
        await bot._on_event(room, event)
    bot._cutoff_ms = 10**13 + 1
    await bot._on_event(room, _event("!about"))
    assert bot._queue == {}


async def test_huge_message_is_cut_and_answered_calmly(bot: MatrixBot, core: Core) -> None:
    """A 100 kB message reaches the core cut to the inbound cap; the core asks for brevity."""
    room = _room(bot, ALICE)
    # Whole English phrases: a lone "biometric" is a Romanian word too, and the language of
    # a first message is detected.
    await bot._on_event(room, _event("tell me about biometric surveillance " * 3_000))
    (item,) = bot._queue[ROOM]
    message = bot._incoming(item)
    assert isinstance(message, Incoming) and message.text is not None
    assert len(message.text) == MAX_INBOUND_CHARS and message.language_hint is None
    replies = await core.handle(message)
    assert "long message" in replies[0].text


async def test_numbers_answer_the_last_reply_per_room_and_person(bot: MatrixBot) -> None:
    """A number picks from the sender's own last reply; in a room others' numbers are chatter."""
    _room(bot, ALICE, BOB)
    await bot._answer(Pending(ROOM, ALICE, Typed(text="!faq", command="faq"), is_group=True))
    menu = bot.sent[-1]  # type: ignore[attr-defined]
    assert "Pick a topic" in menu["body"] and "1. " in menu["body"]
    assert bot._incoming(Pending(ROOM, BOB, Typed(text="1", number=1), is_group=True)) is None
    picked = bot._incoming(Pending(ROOM, ALICE, Typed(text="1", number=1), is_group=True))
    assert picked is not None and picked.action is not None and picked.action.startswith("faq:")
    far = bot._incoming(Pending(ROOM, ALICE, Typed(text="99", number=99), is_group=False))
    assert far is not None and far.text == "99"


async def test_forget_hook_defers_the_purge_until_the_reply_is_out(bot: MatrixBot) -> None:
    """The hook drops choices at once and purges after the confirmation was sent."""
    _room(bot, ALICE)
    purged: list[str] = []
    bot._purge = purged.append  # type: ignore[method-assign,assignment]
    bot.choices.remember(ROOM, ALICE, ["menu"])
    typed = Typed(text="!forget yes", command="forget", args=("yes",))
    await bot._answer(Pending(ROOM, ALICE, typed, is_group=False))
    assert purged == [ALICE] and bot.choices.pick(ROOM, ALICE, 1) is None
    assert "erased" in bot.sent[-1]["body"]  # type: ignore[attr-defined]
    await bot.forget_user("telegram", ALICE)
    await bot.forget_user("matrix", BOB)
    assert purged == [ALICE, BOB]


async def test_send_before_the_first_sync_is_temporary(core: Core) -> None:
    """A broadcast before the room list is known must not look like a gone recipient."""
    matrix = MatrixBot(core)
    with pytest.raises(TemporaryFailure):
        await matrix.send(ROOM, Reply("hello"))


def test_session_files_round_trip_privately(tmp_path: Path) -> None:
    """Session and sync token persist with mode 0600 and only for the same account and device."""
    files = SessionFiles(tmp_path)
    files.prepare()
    session = Session("https://hs.example.org", BOT, "DEVICE", "secret-token")
    files.save_session(session)
    files.save_sync_token(BOT, "DEVICE", "s42_1")
    assert files.load_session("https://hs.example.org/", BOT) == session
    assert files.load_session("https://other.example.org", BOT) is None
    assert files.load_session("https://hs.example.org", ALICE) is None
    assert files.load_sync_token(BOT, "DEVICE") == "s42_1"
    assert files.load_sync_token(BOT, "OTHER") is None
    for name in ("session.json", "sync.json"):
        assert os.stat(files.root / name).st_mode & 0o777 == 0o600
    assert os.stat(files.root).st_mode & 0o777 == 0o700
    (files.root / "session.json").write_text("{not json")
    assert files.load_session("https://hs.example.org", BOT) is None
    assert not [p for p in files.root.iterdir() if p.name.endswith(".tmp")]


def test_errors_map_to_the_send_port() -> None:
    """nio errors become RateLimited, RecipientGone, TemporaryFailure or PermanentFailure."""
    limited = error_for_response(RoomSendError("slow down", "M_LIMIT_EXCEEDED", 1500))
    assert isinstance(limited, RateLimited) and limited.retry_after == 1.5
    legacy = error_for_response(RoomSendError('{"errcode":"M_LIMIT_EXCEEDED"}', "M_UNKNOWN"))
    assert isinstance(legacy, RateLimited) and legacy.retry_after == 5.0
    assert isinstance(error_for_response(RoomSendError("no", "M_FORBIDDEN")), RecipientGone)
    assert isinstance(error_for_response(RoomSendError("big", "M_TOO_LARGE")), PermanentFailure)
    assert isinstance(error_for_response(RoomSendError("unknown error")), TemporaryFailure)
    token = RoomSendError("gone", "M_UNKNOWN_TOKEN")
    assert isinstance(error_for_response(token), TemporaryFailure)
    assert isinstance(error_for_exception(aiohttp.ClientConnectionError()), TemporaryFailure)
    assert isinstance(error_for_exception(TimeoutError()), TemporaryFailure)
    assert isinstance(error_for_exception(LocalProtocolError("No such room with id !x found.")),
                      RecipientGone)
    assert isinstance(error_for_exception(ValueError("odd")), PermanentFailure)


def test_choices_are_bounded() -> None:
    """The LRU keeps at most its capacity and forgets per person and room."""
    choices = Choices(capacity=3)
    for index in range(5):
        choices.remember(ROOM, f"@u{index}:x", ["menu"])
    assert len(choices) == 3 and choices.pick(ROOM, "@u0:x", 1) is None
    assert choices.pick(ROOM, "@u4:x", 1) == "menu" and choices.pick(ROOM, "@u4:x", 2) is None
    choices.forget_user("@u4:x")
    choices.forget_room(ROOM)
    assert len(choices) == 0


def test_log_redaction_hides_matrix_ids() -> None:
    """nio log lines lose user and room ids; the rest of the message stays."""
    record = logging.LogRecord("nio.crypto.log", logging.INFO, __file__, 1,
                               "Creating Inbound session for %s in %s", (ALICE, ROOM), None)
    assert RedactMatrixIds().filter(record)
    message = record.getMessage()
    assert ALICE not in message and ROOM not in message and "Creating Inbound session" in message


async def test_sync_loop_survives_any_error(bot: MatrixBot) -> None:
    """Errors, error responses and rate limits only delay the next round; stop() ends the loop."""
    failures: list[Exception] = [ValueError("odd"), aiohttp.ServerDisconnectedError(),
                                 SyncFailed(SyncError("slow", "M_LIMIT_EXCEEDED", 10)),
                                 SyncFailed(SyncError("boom", "M_UNKNOWN"))]
    rounds: list[bool] = []

    async def flaky(*, first: bool) -> None:
        rounds.append(first)
        if failures:
            raise failures.pop(0)
        bot._stopping = True

    bot._sync_once = flaky  # type: ignore[method-assign]
    bot.backoff_max = 0.01
    bot.ready.set()
    await asyncio.wait_for(bot._run(), 5)
    assert rounds == [False] * 5


async def test_undecryptable_message_is_logged_without_content_and_key_requested(
    bot: MatrixBot, caplog: pytest.LogCaptureFixture
) -> None:
    """A MegolmEvent is a WARNING without text or ids; the key request failing is harmless."""
    room = _room(bot, ALICE)
    event = Event.parse_event({
        "type": "m.room.encrypted", "event_id": "$enc", "sender": ALICE, "origin_server_ts": 1,
        "content": {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEnAC...",
                    "sender_key": "curve", "session_id": "session", "device_id": "DEV"}})
    assert isinstance(event, MegolmEvent)
    caplog.set_level(logging.DEBUG, logger="bots.matrix")
    await bot._on_event(room, event)
    await bot._act(first=False)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings and all(ALICE not in r.getMessage() and ROOM not in r.getMessage()
                            for r in warnings)
    assert bot._queue == {} and len(bot._undecrypted) == 1
