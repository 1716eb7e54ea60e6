"""Settings, loaded once from the environment (and an optional TOML file) and validated.

Every ``RECLAIM_*`` name here is a public contract. A bad value raises :class:`ConfigError`
whose message is one line naming the variable; the CLI prints it and exits.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

PREFIX = "RECLAIM_"
DEFAULT_CAMPAIGN = Path(__file__).resolve().parent.parent / "campaigns" / "reclaim_your_face" / "campaign.toml"
PLATFORMS = frozenset({"telegram", "matrix", "console"})


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Validated configuration for one bot process."""

    data_dir: Path = Path("data")
    database_url: str = ""
    campaign_path: Path = DEFAULT_CAMPAIGN
    admins: frozenset[str] = frozenset()
    secret_key: str | None = None
    public_url: str = "http://127.0.0.1:8080"
    public_url_set: bool = False
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    telegram_token: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: str | None = None
    telegram_rate: float = 30.0
    matrix_homeserver: str | None = None
    matrix_user_id: str | None = None
    matrix_password: str | None = None
    matrix_access_token: str | None = None
    matrix_rate: float = 10.0
    matrix_allowed_servers: frozenset[str] = frozenset()
    redis_url: str | None = None
    stats_token: str | None = None
    log_format: str = "text"
    log_level: str = "INFO"

    @property
    def telegram_enabled(self) -> bool:
        """Telegram counts as configured when a token is set."""
        return bool(self.telegram_token)

    @property
    def matrix_enabled(self) -> bool:
        """Matrix counts as configured when homeserver, user and a credential are all set."""
        return bool(
            self.matrix_homeserver
            and self.matrix_user_id
            and (self.matrix_password or self.matrix_access_token)
        )

    @property
    def is_sqlite(self) -> bool:
        """Tell whether the database is the embedded SQLite."""
        return self.database_url.startswith("sqlite")

    def is_admin(self, platform: str, user: str) -> bool:
        """Tell whether ``platform:user`` is listed in RECLAIM_ADMINS."""
        return f"{platform}:{user}" in self.admins


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read, merge (environment over TOML file) and validate the settings."""
    env = dict(os.environ if environ is None else environ)
    values = _file_values(env.get(PREFIX + "CONFIG"))
    values.update({k[len(PREFIX):]: v for k, v in env.items() if k.startswith(PREFIX) and v != ""})
    return _build(values)


def _file_values(path: str | None) -> dict[str, str]:
    """Read the optional TOML file: keys are the variable names with or without the prefix."""
    if not path:
        return {}
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"RECLAIM_CONFIG: cannot read {path}: {exc}") from exc
    table = raw.get("reclaim", raw)
    out: dict[str, str] = {}
    for key, value in table.items():
        name = str(key).upper().removeprefix(PREFIX)
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        out[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def _build(v: dict[str, str]) -> Settings:
    data_dir = Path(v.get("DATA_DIR", "data"))
    database_url = v.get("DATABASE_URL") or f"sqlite+aiosqlite:///{data_dir / 'reclaim.db'}"
    _check_database_url(database_url)
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        campaign_path=_campaign_path(v.get("CAMPAIGN")),
        admins=_admins(v.get("ADMINS", "")),
        secret_key=_secret(v.get("SECRET_KEY"), database_url),
        public_url=_url("PUBLIC_URL", v.get("PUBLIC_URL", "http://127.0.0.1:8080")).rstrip("/"),
        public_url_set="PUBLIC_URL" in v,
        http_host=v.get("HTTP_HOST", "127.0.0.1"),
        http_port=_int("HTTP_PORT", v.get("HTTP_PORT", "8080"), 0, 65535),
        telegram_token=_token(v.get("TELEGRAM_TOKEN")),
        telegram_api_url=_url("TELEGRAM_API_URL", v.get("TELEGRAM_API_URL", "https://api.telegram.org")).rstrip("/"),
        telegram_webhook_url=_opt_url("TELEGRAM_WEBHOOK_URL", v.get("TELEGRAM_WEBHOOK_URL")),
        telegram_webhook_secret=_webhook_secret(v.get("TELEGRAM_WEBHOOK_SECRET")),
        telegram_rate=_float("TELEGRAM_RATE", v.get("TELEGRAM_RATE", "30"), 0.1, 1000),
        matrix_homeserver=_opt_url("MATRIX_HOMESERVER", v.get("MATRIX_HOMESERVER")),
        matrix_user_id=_matrix_user(v.get("MATRIX_USER_ID")),
        matrix_password=v.get("MATRIX_PASSWORD"),
        matrix_access_token=v.get("MATRIX_ACCESS_TOKEN"),
        matrix_rate=_float("MATRIX_RATE", v.get("MATRIX_RATE", "10"), 0.1, 1000),
        matrix_allowed_servers=_csv(v.get("MATRIX_ALLOWED_SERVERS", "")),
        redis_url=_opt_redis(v.get("REDIS_URL")),
        stats_token=v.get("STATS_TOKEN"),
        log_format=_choice("LOG_FORMAT", v.get("LOG_FORMAT", "text"), ("text", "json")),
        log_level=_choice("LOG_LEVEL", v.get("LOG_LEVEL", "INFO").upper(),
                          ("DEBUG", "INFO", "WARNING", "ERROR")),
    )
    _check_matrix(settings)
    return settings


def _check_database_url(url: str) -> None:
    if not (url.startswith("sqlite+aiosqlite://") or url.startswith("postgresql+asyncpg://")):
        raise ConfigError(
            "RECLAIM_DATABASE_URL: must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
        )


def _campaign_path(raw: str | None) -> Path:
    path = Path(raw) if raw else DEFAULT_CAMPAIGN
    if not path.is_file():
        raise ConfigError(f"RECLAIM_CAMPAIGN: no campaign file at {path}")
    return path


def _admins(raw: str) -> frozenset[str]:
    admins = set()
    for item in _csv(raw):
        platform, sep, ident = item.partition(":")
        if not sep or not ident or platform not in PLATFORMS:
            raise ConfigError(
                f"RECLAIM_ADMINS: {item!r} is not platform:id (platform one of "
                f"{', '.join(sorted(PLATFORMS))})"
            )
        admins.add(f"{platform}:{ident}")
    return frozenset(admins)


def _secret(raw: str | None, database_url: str) -> str | None:
    if raw is None:
        if database_url.startswith("postgresql"):
            raise ConfigError(
                "RECLAIM_SECRET_KEY: required with PostgreSQL, so that every process derives "
                "the same referral codes"
            )
        return None
    if len(raw) < 16:
        raise ConfigError("RECLAIM_SECRET_KEY: must be at least 16 characters")
    return raw


def _url(name: str, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"RECLAIM_{name}: {raw!r} is not an http(s) URL")
    return raw


def _opt_url(name: str, raw: str | None) -> str | None:
    return None if raw is None else _url(name, raw)


def _opt_redis(raw: str | None) -> str | None:
    if raw is not None and urlsplit(raw).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"RECLAIM_REDIS_URL: {raw!r} is not a redis:// URL")
    return raw


def _int(name: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"RECLAIM_{name}: {raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise ConfigError(f"RECLAIM_{name}: {value} is outside {low}..{high}")
    return value


def _float(name: str, raw: str, low: float, high: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"RECLAIM_{name}: {raw!r} is not a number") from None
    if not low <= value <= high:
        raise ConfigError(f"RECLAIM_{name}: {value:g} is outside {low:g}..{high:g}")
    return value


def _choice(name: str, raw: str, allowed: tuple[str, ...]) -> str:
    if raw not in allowed:
        raise ConfigError(f"RECLAIM_{name}: {raw!r} is not one of {', '.join(allowed)}")
    return raw


def _csv(raw: str) -> frozenset[str]:
    return frozenset(item.strip() for item in raw.split(",") if item.strip())


def _token(raw: str | None) -> str | None:
    if raw is not None and (":" not in raw or any(c.isspace() for c in raw)):
        raise ConfigError("RECLAIM_TELEGRAM_TOKEN: does not look like a bot token (id:secret)")
    return raw


def _webhook_secret(raw: str | None) -> str | None:
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
    if raw is not None and not (1 <= len(raw) <= 256 and set(raw) <= allowed):
        raise ConfigError(
            "RECLAIM_TELEGRAM_WEBHOOK_SECRET: 1-256 characters of A-Z a-z 0-9 _ - only"
        )
    return raw


def _matrix_user(raw: str | None) -> str | None:
    if raw is not None and not (raw.startswith("@") and ":" in raw):
        raise ConfigError(f"RECLAIM_MATRIX_USER_ID: {raw!r} is not a Matrix id like @bot:example.org")
    return raw


def _check_matrix(s: Settings) -> None:
    parts = {
        "RECLAIM_MATRIX_HOMESERVER": s.matrix_homeserver,
        "RECLAIM_MATRIX_USER_ID": s.matrix_user_id,
        "RECLAIM_MATRIX_PASSWORD or RECLAIM_MATRIX_ACCESS_TOKEN": s.matrix_password
        or s.matrix_access_token,
    }
    given = [name for name, value in parts.items() if value]
    if given and len(given) < len(parts):
        missing = ", ".join(name for name, value in parts.items() if not value)
        raise ConfigError(f"{missing}: needed too, because Matrix is partly configured")
