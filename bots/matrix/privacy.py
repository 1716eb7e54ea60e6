"""What the Matrix side does for privacy: purge a person from the crypto store, redact logs.

The crypto store necessarily holds the Matrix ids and device keys of the people the bot talks
to in encrypted rooms: without them it cannot encrypt a reply. :func:`purge_user` removes, for
one person, everything nio keeps that names them or their devices:

- their device keys (``DeviceKeys``/``Keys`` rows and the in-memory device store);
- their entries in nio's plaintext trust files (``*.ignored_devices`` and friends), where
  ``ignore_unverified_devices=True`` writes every device it encrypted to;
- the Olm sessions with their devices;
- the Megolm sessions they shared in rooms the bot no longer shares with them.

What stays: Megolm sessions in rooms the bot still shares with them (without those it could not
read their next message), and whatever the homeserver keeps (room membership and history are
on the server, not in the bot). While they share an encrypted room with the bot, nio fetches
their current device keys again from the homeserver as soon as that room is active, because it
must encrypt to them; leaving the room ends that.

This reaches into nio's peewee models (matrix-nio is pinned to 0.26.x): nio has no deletion API.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

_MATRIX_ID_RE = re.compile(r"[@!][^\s:'\"]+:[A-Za-z0-9.\-]+(?::\d+)?")
NIO_LOGGERS = (
    "nio", "nio.crypto.log", "nio.store.log", "nio.client.async_client",
    "nio.client.base_client", "nio.client.http_client", "nio.rooms", "nio.responses",
    "nio.events.misc", "nio.events.presence", "nio.http",
)
TRUST_FILES = ("trust_db", "blacklist_db", "ignore_db")


@dataclass(slots=True)
class PurgeResult:
    """How much was removed for one person."""

    devices: int = 0
    trust_entries: int = 0
    olm_sessions: int = 0
    megolm_sessions: int = 0


def purge_user(client: Any, user_id: str) -> PurgeResult:
    """Remove what nio's crypto store holds about one person (see the module docstring)."""
    olm, store = getattr(client, "olm", None), getattr(client, "store", None)
    result = PurgeResult()
    if olm is None or store is None:
        return result
    shared = {room_id for room_id, room in client.rooms.items() if user_id in room.users}
    result.trust_entries = _purge_trust_files(store, user_id)
    _purge_database(store, user_id, shared, result)
    # Reload the in-memory stores from the database rather than editing nio's private dicts.
    olm.session_store = store.load_sessions()
    olm.inbound_group_store = store.load_inbound_group_sessions()
    olm.device_store = store.load_device_keys()
    olm.tracked_users.discard(user_id)
    olm.users_for_key_query.discard(user_id)
    return result


def _purge_trust_files(store: Any, user_id: str) -> int:
    removed = 0
    for name in TRUST_FILES:
        keystore = getattr(store, name, None)
        if keystore is None:
            continue
        for key in [key for key in keystore if key.user_id == user_id]:
            keystore.remove(key)
            removed += 1
    return removed


def _purge_database(store: Any, user_id: str, shared: set[str], result: PurgeResult) -> None:
    from nio.store.models import DeviceKeys, Keys, MegolmInboundSessions, OlmSessions

    with store.database.bind_ctx(store.models), store.database.atomic():
        account = store._get_account()  # nio has no public accessor for the account row
        if account is None:
            return
        device_ids = [row.id for row in DeviceKeys.select(DeviceKeys.id).where(
            (DeviceKeys.account == account) & (DeviceKeys.user_id == user_id))]
        if not device_ids:
            return
        curve_keys = [row.key for row in Keys.select(Keys.key).where(
            Keys.device.in_(device_ids) & (Keys.key_type == "curve25519"))]
        Keys.delete().where(Keys.device.in_(device_ids)).execute()
        result.devices = DeviceKeys.delete().where(DeviceKeys.id.in_(device_ids)).execute()
        if not curve_keys:
            return
        result.olm_sessions = OlmSessions.delete().where(
            (OlmSessions.account == account) & OlmSessions.sender_key.in_(curve_keys)).execute()
        megolm = (MegolmInboundSessions.account == account) & \
            MegolmInboundSessions.sender_key.in_(curve_keys)
        if shared:
            megolm &= MegolmInboundSessions.room_id.not_in(list(shared))
        result.megolm_sessions = MegolmInboundSessions.delete().where(megolm).execute()


class RedactMatrixIds(logging.Filter):
    """Replace Matrix user and room ids in log records (nio logs senders at INFO)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message with ids redacted; never drop it."""
        try:
            message = record.getMessage()
        except Exception:
            return True
        redacted = _MATRIX_ID_RE.sub(lambda m: m.group(0)[0] + "…", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def install_log_redaction() -> None:
    """Attach the redacting filter to nio's loggers once."""
    for name in NIO_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactMatrixIds) for f in logger.filters):
            logger.addFilter(RedactMatrixIds())
