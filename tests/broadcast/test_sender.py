"""The lean Telegram sender against the fake Bot API: payloads and the error mapping."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from bots.broadcast.telegram import TelegramSender, payload
from handlers.messages import ActionButton, LinkButton, Reply
from handlers.ports import PermanentFailure, RateLimited, RecipientGone, TemporaryFailure
from tests.broadcast.conftest import TOKEN
from tests.fakes.telegram_api import FakeBotApi

REPLY = Reply("<b>Hi</b>", ((ActionButton("Stop", "unsub"), LinkButton("Site", "https://x.org")),))


@pytest.fixture
async def sender(fake: FakeBotApi) -> AsyncIterator[TelegramSender]:
    """A free-rate sender on the fake."""
    telegram = TelegramSender(fake.root, TOKEN)
    await telegram.start()
    yield telegram
    await telegram.close()


def test_payload_renders_html_and_buttons() -> None:
    params = payload(REPLY)
    assert params["parse_mode"] == "HTML" and params["text"] == "<b>Hi</b>"
    assert params["reply_markup"] == {"inline_keyboard": [[
        {"text": "Stop", "callback_data": "unsub"}, {"text": "Site", "url": "https://x.org"}]]}


async def test_send_and_edit(fake: FakeBotApi, sender: TelegramSender) -> None:
    message_id = await sender.send("77", REPLY)
    assert message_id == "1"
    [sent] = fake.sent_messages(77)
    assert sent["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "unsub"
    assert "allow_paid_broadcast" not in sent
    await sender.edit("77", message_id, Reply("<b>Hi</b> again"))
    await sender.edit("77", message_id, Reply("<b>Hi</b> again"))  # "not modified" is fine
    assert fake.calls_of("editMessageText")[0].params["text"] == "<b>Hi</b> again"


async def test_paid_broadcast_flag(fake: FakeBotApi) -> None:
    paid = TelegramSender(fake.root, TOKEN, paid_broadcast=True)
    try:
        await paid.send("5", REPLY)
    finally:
        await paid.close()
    assert fake.sent_messages(5)[0]["allow_paid_broadcast"] is True


@pytest.mark.parametrize(("status", "description", "error"), [
    (403, "Forbidden: bot was blocked by the user", RecipientGone),
    (400, "Bad Request: chat not found", RecipientGone),
    (400, "Forbidden: user is deactivated", RecipientGone),
    (400, "Bad Request: message is too long", PermanentFailure),
    (500, "Internal Server Error", TemporaryFailure),
    (502, "Bad Gateway", TemporaryFailure),
])
async def test_error_mapping(fake: FakeBotApi, sender: TelegramSender, status: int,
                             description: str, error: type[Exception]) -> None:
    fake.fail_next("sendMessage", status=status, description=description)
    with pytest.raises(error):
        await sender.send("9", REPLY)


async def test_429_carries_retry_after(fake: FakeBotApi, sender: TelegramSender) -> None:
    fake.fail_next("sendMessage", status=429, retry_after=7)
    with pytest.raises(RateLimited) as caught:
        await sender.send("9", REPLY)
    assert caught.value.retry_after == 7


async def test_network_error_is_temporary() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sender = TelegramSender(f"http://127.0.0.1:{port}", TOKEN, timeout=2)
    try:
        with pytest.raises(TemporaryFailure):
            await sender.send("9", REPLY)
    finally:
        await sender.close()
