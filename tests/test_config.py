"""Configuration: defaults, the TOML file, and one clear line per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers.config import ConfigError, load_settings


def test_defaults_need_nothing() -> None:
    s = load_settings({})
    assert s.database_url == "sqlite+aiosqlite:///data/reclaim.db"
    assert s.public_url == "http://127.0.0.1:8080" and not s.public_url_set
    assert s.telegram_api_url == "https://api.telegram.org"
    assert (s.http_host, s.http_port, s.telegram_rate) == ("127.0.0.1", 8080, 30.0)
    assert not s.telegram_enabled and not s.matrix_enabled and s.campaign_path.is_file()


def test_values_from_environment() -> None:
    s = load_settings({
        "RECLAIM_DATA_DIR": "/tmp/x", "RECLAIM_ADMINS": "telegram:12345, matrix:@ana:example.org",
        "RECLAIM_TELEGRAM_TOKEN": "1:abc", "RECLAIM_TELEGRAM_API_URL": "http://127.0.0.1:9/",
        "RECLAIM_MATRIX_HOMESERVER": "http://127.0.0.1:8008", "RECLAIM_MATRIX_USER_ID": "@b:hs",
        "RECLAIM_MATRIX_ACCESS_TOKEN": "tok", "RECLAIM_MATRIX_ALLOWED_SERVERS": "hs,other",
        "RECLAIM_PUBLIC_URL": "https://bot.example.org/", "RECLAIM_LOG_FORMAT": "json",
    })
    assert s.database_url == "sqlite+aiosqlite:////tmp/x/reclaim.db"
    assert s.admins == {"telegram:12345", "matrix:@ana:example.org"}
    assert s.is_admin("matrix", "@ana:example.org") and not s.is_admin("telegram", "1")
    assert s.telegram_enabled and s.matrix_enabled
    assert s.telegram_api_url == "http://127.0.0.1:9" and s.public_url == "https://bot.example.org"
    assert s.matrix_allowed_servers == {"hs", "other"} and s.log_format == "json"


def test_toml_file_with_environment_winning(tmp_path: Path) -> None:
    path = tmp_path / "reclaim.toml"
    path.write_text('[reclaim]\nhttp_port = 9000\nadmins = ["console:ana"]\nlog_format = "json"\n')
    s = load_settings({"RECLAIM_CONFIG": str(path), "RECLAIM_LOG_FORMAT": "text"})
    assert s.http_port == 9000 and s.admins == {"console:ana"} and s.log_format == "text"


@pytest.mark.parametrize(("env", "name"), [
    ({"RECLAIM_DATABASE_URL": "mysql://x"}, "RECLAIM_DATABASE_URL"),
    ({"RECLAIM_DATABASE_URL": "postgresql+asyncpg://u@h/db"}, "RECLAIM_SECRET_KEY"),
    ({"RECLAIM_SECRET_KEY": "short"}, "RECLAIM_SECRET_KEY"),
    ({"RECLAIM_ADMINS": "12345"}, "RECLAIM_ADMINS"),
    ({"RECLAIM_ADMINS": "irc:bob"}, "RECLAIM_ADMINS"),
    ({"RECLAIM_HTTP_PORT": "http"}, "RECLAIM_HTTP_PORT"),
    ({"RECLAIM_HTTP_PORT": "70000"}, "RECLAIM_HTTP_PORT"),
    ({"RECLAIM_TELEGRAM_RATE": "0"}, "RECLAIM_TELEGRAM_RATE"),
    ({"RECLAIM_TELEGRAM_TOKEN": "nocolon"}, "RECLAIM_TELEGRAM_TOKEN"),
    ({"RECLAIM_TELEGRAM_API_URL": "ftp://x"}, "RECLAIM_TELEGRAM_API_URL"),
    ({"RECLAIM_TELEGRAM_WEBHOOK_SECRET": "has space"}, "RECLAIM_TELEGRAM_WEBHOOK_SECRET"),
    ({"RECLAIM_PUBLIC_URL": "example.org"}, "RECLAIM_PUBLIC_URL"),
    ({"RECLAIM_CAMPAIGN": "/nonexistent.toml"}, "RECLAIM_CAMPAIGN"),
    ({"RECLAIM_LOG_FORMAT": "xml"}, "RECLAIM_LOG_FORMAT"),
    ({"RECLAIM_REDIS_URL": "http://x"}, "RECLAIM_REDIS_URL"),
    ({"RECLAIM_MATRIX_USER_ID": "bot"}, "RECLAIM_MATRIX_USER_ID"),
    ({"RECLAIM_MATRIX_HOMESERVER": "http://127.0.0.1:8008"}, "RECLAIM_MATRIX_USER_ID"),
    ({"RECLAIM_CONFIG": "/nonexistent.toml"}, "RECLAIM_CONFIG"),
])
def test_bad_value_names_the_variable_in_one_line(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    assert str(info.value).startswith(name) and "\n" not in str(info.value)
