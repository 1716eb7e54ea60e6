"""Keyed hashes that let the bot recognise a person without storing who they are.

Everything here is an HMAC under RECLAIM_SECRET_KEY with a distinct purpose label, so a
person key, an arrival marker and a referral code of the same person cannot be linked to each
other or back to the platform id without the key. The key never enters the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
from pathlib import Path

from handlers.ports import ArrivalMarker, PersonKey

log = logging.getLogger(__name__)

CODE_BODY = 12  # base64url characters: 72 bits, not guessable
CODE_CHECK = 4  # 24-bit check part: a made-up code fails it
CODE_LENGTH = CODE_BODY + CODE_CHECK
_CODE_RE = re.compile(rf"^[A-Za-z0-9_-]{{{CODE_LENGTH}}}$")
SECRET_FILE = "secret.key"


class Keyring:
    """Derives person keys, arrival markers, referral codes and the webhook secret."""

    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def _mac(self, purpose: str, *parts: str) -> bytes:
        message = "\0".join((purpose, *parts)).encode("utf-8", "surrogatepass")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def person_key(self, platform: str, user: str) -> PersonKey:
        """Return the stable pseudonymous key for a platform identity."""
        return PersonKey(self._mac("person", platform, user).hex()[:40])

    def arrival_marker(self, platform: str, user: str, code: str) -> ArrivalMarker:
        """Return the marker for 'this person already arrived through this code'."""
        return ArrivalMarker(self._mac("arrival", platform, user, code).hex()[:40])

    def referral_code(self, platform: str, user: str) -> str:
        """Return the person's own referral code (Telegram start-payload safe)."""
        body = _b64(self._mac("referral", platform, user))[:CODE_BODY]
        return body + self._check(body)

    def is_valid_code(self, code: str) -> bool:
        """Tell whether a code was issued by this bot (its check part matches)."""
        if not _CODE_RE.match(code):
            return False
        body, check = code[:CODE_BODY], code[CODE_BODY:]
        return hmac.compare_digest(check, self._check(body))

    def _check(self, body: str) -> str:
        return _b64(self._mac("check", body))[:CODE_CHECK]

    def derived_secret(self, purpose: str, length: int = 32) -> str:
        """Return a URL-safe secret derived for one purpose (e.g. the webhook secret)."""
        return _b64(self._mac("derived", purpose))[:length]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def looks_like_code(text: str) -> bool:
    """Tell whether text has a referral code's shape (the check part is not verified)."""
    return bool(_CODE_RE.match(text))


def resolve_secret(configured: str | None, data_dir: Path) -> str:
    """Return the configured secret, or the one generated once into the data dir."""
    if configured:
        return configured
    path = data_dir / SECRET_FILE
    try:
        existing = path.read_text().strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    # O_EXCL: if two processes start at once, the loser reads the winner's key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    log.info("generated a new secret key in the data directory")
    return secret
