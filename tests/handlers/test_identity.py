"""Referral codes and keyed hashes."""

from __future__ import annotations

import re
from pathlib import Path

from handlers.identity import Keyring, resolve_secret


def test_codes_fit_telegram_and_verify() -> None:
    keys = Keyring("k" * 32)
    code = keys.referral_code("telegram", "12345")
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", code)
    assert keys.is_valid_code(code)
    assert code == keys.referral_code("telegram", "12345")
    assert code != keys.referral_code("matrix", "12345")
    assert not Keyring("other-secret-0123456").is_valid_code(code)


def test_made_up_codes_fail_the_check() -> None:
    keys = Keyring("k" * 32)
    made_up = [f"{i:016d}" for i in range(2000)] + ["A" * 16, "", "short", "x" * 64]
    assert not any(keys.is_valid_code(code) for code in made_up)


def test_hashes_do_not_contain_or_link_the_id() -> None:
    keys = Keyring("k" * 32)
    person = keys.person_key("telegram", "12345")
    marker = keys.arrival_marker("telegram", "12345", "code")
    assert "12345" not in person and person != marker
    assert person == keys.person_key("telegram", "12345")


def test_secret_is_generated_once_into_the_data_dir(tmp_path: Path) -> None:
    first = resolve_secret(None, tmp_path / "d")
    assert first == resolve_secret(None, tmp_path / "d")
    assert (tmp_path / "d" / "secret.key").stat().st_mode & 0o777 == 0o600
    assert resolve_secret("configured-secret-value", tmp_path / "d") == "configured-secret-value"
