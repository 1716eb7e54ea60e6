"""Mapping matrix-nio's error responses and exceptions onto the neutral send errors.

nio returns errors instead of raising them (``RoomSendError``, ``JoinError``, …); the adapter
turns them into :class:`~handlers.ports.SendError` subclasses at its boundary.
"""

from __future__ import annotations

import asyncio

import aiohttp
from nio import ErrorResponse, LocalProtocolError, MembersSyncError, SendRetryError

from handlers.ports import (
    PermanentFailure,
    RateLimited,
    RecipientGone,
    SendError,
    TemporaryFailure,
)

DEFAULT_RETRY_AFTER_S = 5.0
#: The room is not ours to write to any more (left, kicked, never joined, deleted).
GONE_CODES = frozenset({"M_FORBIDDEN", "M_NOT_FOUND"})
#: Errors that say "try again later" rather than "this message is wrong".
RETRY_CODES = frozenset({"M_UNKNOWN_TOKEN", "M_MISSING_TOKEN", "M_RESOURCE_LIMIT_EXCEEDED"})
TRANSIENT_EXCEPTIONS: tuple[type[BaseException], ...] = (
    aiohttp.ClientError, asyncio.TimeoutError, TimeoutError, ConnectionError, OSError,
)


def http_status(resp: ErrorResponse) -> int | None:
    """Return the HTTP status behind an error response, when there was one."""
    transport = getattr(resp, "transport_response", None)
    status = getattr(transport, "status", None)
    return status if isinstance(status, int) else None


def is_rate_limited(resp: ErrorResponse) -> bool:
    """Tell whether the homeserver asked us to slow down (also Synapse's old M_UNKNOWN form)."""
    code = str(resp.status_code or "")
    return (code in ("M_LIMIT_EXCEEDED", "429") or http_status(resp) == 429
            or "M_LIMIT_EXCEEDED" in (resp.message or ""))


def retry_after(resp: ErrorResponse) -> float:
    """Return how long to wait, in seconds, before asking again."""
    millis = resp.retry_after_ms
    if isinstance(millis, int | float) and millis > 0:
        return millis / 1000
    return DEFAULT_RETRY_AFTER_S


def error_for_response(resp: ErrorResponse) -> SendError:
    """Return the neutral send error for a nio error response."""
    code = str(resp.status_code or "")
    status = http_status(resp)
    if is_rate_limited(resp):
        return RateLimited(retry_after(resp))
    if code in GONE_CODES or status in (403, 404):
        return RecipientGone(code or str(status))
    if code in RETRY_CODES or status == 401 or (status is not None and status >= 500):
        return TemporaryFailure(code or str(status))
    if not code and status is None:  # no answer worth the name (a proxy page, a cut body)
        return TemporaryFailure("unknown error")
    return PermanentFailure(code or str(status))


def error_for_exception(exc: BaseException) -> SendError:
    """Return the neutral send error for an exception raised while sending."""
    if isinstance(exc, SendError):
        return exc
    if isinstance(exc, SendRetryError | MembersSyncError) or isinstance(exc, TRANSIENT_EXCEPTIONS):
        return TemporaryFailure(type(exc).__name__)
    if isinstance(exc, LocalProtocolError):
        text = str(exc)
        if "No such room" in text or "No room found" in text:
            return RecipientGone("not in the room")
        if "Not logged in" in text:
            return TemporaryFailure("not logged in")
    return PermanentFailure(type(exc).__name__)
