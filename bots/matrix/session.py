"""The Matrix login and sync position, kept in ``<data_dir>/matrix/`` across restarts.

``session.json`` holds the device id and access token (so a restart reuses the device and its
keys), ``sync.json`` the sync token of the last *processed* sync, and ``store/`` nio's crypto
store. Files are written atomically and readable by the owner only.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SESSION_FILE = "session.json"
SYNC_FILE = "sync.json"
STORE_DIR = "store"


@dataclass(frozen=True, slots=True)
class Session:
    """A login to reuse: who, on which homeserver, with which device and token."""

    homeserver: str
    user_id: str
    device_id: str
    access_token: str


def write_private(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically with mode 0600 (a crash leaves the old file or the new one)."""
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        log.warning("ignoring unreadable %s", path.name)
        return None
    return data if isinstance(data, dict) else None


class SessionFiles:
    """Reads and writes the files of one bot account in ``<data_dir>/matrix/``."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "matrix"

    @property
    def store_path(self) -> Path:
        """Directory of nio's crypto store (olm account, sessions, device keys)."""
        return self.root / STORE_DIR

    def prepare(self) -> None:
        """Create the directories, private to the owner."""
        self.store_path.mkdir(parents=True, exist_ok=True)
        for path in (self.root, self.store_path):
            os.chmod(path, 0o700)

    def load_session(self, homeserver: str, user_id: str) -> Session | None:
        """Return the stored login if it belongs to this homeserver and user."""
        data = _read(self.root / SESSION_FILE)
        if not data:
            return None
        try:
            session = Session(**{f.name: str(data[f.name]) for f in fields(Session)})
        except KeyError:
            return None
        if session.homeserver.rstrip("/") != homeserver.rstrip("/") or session.user_id != user_id:
            log.warning("stored Matrix session is for another account; logging in afresh")
            return None
        return session

    def save_session(self, session: Session) -> None:
        """Remember the login."""
        write_private(self.root / SESSION_FILE, asdict(session))

    def load_sync_token(self, user_id: str, device_id: str) -> str | None:
        """Return the token of the last processed sync of this device, if any."""
        data = _read(self.root / SYNC_FILE)
        if not data or data.get("user_id") != user_id or data.get("device_id") != device_id:
            return None
        token = data.get("next_batch")
        return token if isinstance(token, str) and token else None

    def save_sync_token(self, user_id: str, device_id: str, token: str) -> None:
        """Remember how far the bot has processed (call only after handling the sync)."""
        write_private(self.root / SYNC_FILE,
                      {"user_id": user_id, "device_id": device_id, "next_batch": token})
