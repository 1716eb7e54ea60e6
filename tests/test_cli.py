"""The reclaim-bot command as a black box: console --json, stats --json, faq --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(args: list[str], env: dict[str, str], stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a subprocess with only our environment."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RECLAIM_")}
    full_env.update(env)
    return subprocess.run([sys.executable, "-m", "bots", *args], input=stdin, text=True,
                          capture_output=True, env=full_env, cwd=ROOT, timeout=timeout, check=False)


def lines_json(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_console_json_contract(env: dict[str, str]) -> None:
    script = "/start\n/press sign\n/press sign:DE\nwho can sign?\n/press lang:fr\n/help\n"
    result = run(["console", "--json", "--user", "bob", "--lang", "en"], env, script)
    assert result.returncode == 0, result.stderr
    replies = lines_json(result.stdout)
    assert len(replies) >= 6
    for reply in replies:
        assert set(reply) == {"text", "buttons", "image"}
        for button in reply["buttons"]:  # type: ignore[attr-defined]
            assert set(button) in ({"label", "url"}, {"label", "action"})
    assert any("Germany" in str(r["text"]) for r in replies)
    assert "Fran" in str(replies[-2]["text"]) or "fran" in str(replies[-2]["text"])


def test_console_admin_by_user_name(env: dict[str, str]) -> None:
    ok = lines_json(run(["console", "--json", "--user", "ana"], env, "/stats\n").stdout)
    refused = lines_json(run(["console", "--json", "--user", "bob"], env, "/stats\n").stdout)
    assert "Anonymous figures" in str(ok[0]["text"])
    assert "only the campaign team" in str(refused[0]["text"])


def test_stats_json_shape_after_arrivals(env: dict[str, str]) -> None:
    share = lines_json(run(["console", "--json", "--user", "ana"], env, "/share\n").stdout)
    code = str(share[0]["text"]).split("/r/")[1][:16]
    run(["console", "--json", "--user", "friend"], env, f"/start {code}\n/start {code}\n")
    run(["console", "--json", "--user", "friend2"], env, f"/start {code}\n/subscribe\n")
    result = run(["stats", "--json"], env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["arrivals"]["total"] == 2
    assert data["arrivals"]["by_platform"] == {"console": 2}
    assert sum(data["arrivals"]["by_day"].values()) == 2
    assert data["sign_clicks"]["total"] == 0 and data["sign_clicks"]["by_language"] == {}
    assert data["subscribers"] == 1


def test_faq_json_single_and_stdin(env: dict[str, str]) -> None:
    one = run(["faq", "--lang", "en", "--json", "What is the AI Act?"], env)
    data = json.loads(one.stdout)
    assert data["topic"] == "ai-act" and 0 <= data["score"] <= 1 and data["answer"]
    assert isinstance(data["suggestions"], list)
    many = run(["faq", "--lang", "de"], env, "Wer darf unterschreiben?\nwie ist das wetter morgen\n")
    rows = lines_json(many.stdout)
    assert rows[0]["topic"] == "who-can-sign" and rows[1]["topic"] is None
    assert rows[1]["answer"] is None


def test_bad_configuration_is_one_clear_line(env: dict[str, str]) -> None:
    result = run(["stats"], {**env, "RECLAIM_HTTP_PORT": "nope"})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "RECLAIM_HTTP_PORT" in result.stderr


def test_db_upgrade_and_current(env: dict[str, str]) -> None:
    up = run(["db", "upgrade"], env)
    assert up.returncode == 0, up.stderr
    current = run(["db", "current"], env)
    assert current.stdout.split()[-1] == up.stdout.split()[-1] != "none"


@pytest.mark.parametrize("lang", ["xx", "english"])
def test_faq_rejects_unknown_language(env: dict[str, str], lang: str) -> None:
    assert run(["faq", "--lang", lang, "hi"], env).returncode == 2
