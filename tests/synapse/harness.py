"""Run a real Synapse homeserver on loopback for integration tests (see PLATFORMS.md §5)."""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import hmac
import importlib.util
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

logger = logging.getLogger(__name__)

SERVER_NAME = "localhost"
CONFIG_NAME = "homeserver.yaml"
LOG_CONFIG_NAME = "test.log.config"
LOG_NAME = "homeserver.log"
STDOUT_NAME = "stdout.log"
LOG_LEVEL_ENV = "SYNAPSE_TEST_LOG_LEVEL"
ADMIN_USERNAME = "harness-admin"
ADMIN_PASSWORD = "harness-admin-password"

# Every rate limiter Synapse 1.163 reads (synapse/config/ratelimiting.py); dotted = nested key.
RATELIMIT_KEYS = (
    "rc_message",
    "rc_registration",
    "rc_registration_token_validity",
    "rc_login.address",
    "rc_login.account",
    "rc_login.failed_attempts",
    "rc_joins.local",
    "rc_joins.remote",
    "rc_joins_per_room",
    "rc_invites.per_room",
    "rc_invites.per_user",
    "rc_invites.per_issuer",
    "rc_third_party_invite",
    "rc_3pid_validation",
    "rc_admin_redaction",
    "rc_media_create",
    "rc_presence.per_user",
    "rc_delayed_event_mgmt",
    "rc_room_creation",
    "rc_reports",
    "rc_user_directory",
    "rc_profile",
    "rc_key_requests",
)
RELAXED_LIMIT = {"per_second": 1000, "burst_count": 10000}
# Tight enough that a short burst of sends by one user gets M_LIMIT_EXCEEDED.
TIGHT_MESSAGE_LIMIT = {"per_second": 0.5, "burst_count": 2}

STOP_GRACE_SECONDS = 10.0
PR_SET_PDEATHSIG = 1


class SynapseError(RuntimeError):
    """Synapse could not be started, stopped or talked to."""


def synapse_available() -> bool:
    """Return True when the `synapse` package is importable in this interpreter."""
    try:
        return importlib.util.find_spec("synapse") is not None
    except (ImportError, ValueError):
        return False


def free_port() -> int:
    """Return a loopback TCP port that is free right now (checked like Twisted, SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Without SO_REUSEADDR, TIME_WAIT sockets of the previous run make a free port look busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """Ask the kernel to SIGTERM the child when the spawning thread dies (pre-exec hook)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        # Best effort only: without it a crashed test run may leave a server behind.
        pass


def _set_nested(config: dict[str, Any], dotted_key: str, value: Any) -> None:
    """Set config["a"]["b"] for the key "a.b", creating dicts on the way."""
    parts = dotted_key.split(".")
    node = config
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


class SynapseServer:
    """One Synapse process with its own data directory and loopback port."""

    def __init__(
        self,
        data_dir: Path | str | None = None,
        *,
        encryption_by_default: bool = False,
        ratelimited: bool = False,
        start_timeout: float = 60.0,
        log_level: str | None = None,
    ) -> None:
        """Prepare (but do not start) a server; a temp data dir is made when none is given."""
        self._own_data_dir = data_dir is None
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.encryption_by_default = encryption_by_default
        self.ratelimited = ratelimited
        self.start_timeout = start_timeout
        self.log_level = log_level or os.environ.get(LOG_LEVEL_ENV, "INFO")
        self.server_name = SERVER_NAME
        self.registration_secret = secrets.token_hex(16)
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._stdout: Any = None
        self.admin_token: str | None = None

    # -- paths and state -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the client API, e.g. http://127.0.0.1:PORT."""
        if not self.port:
            raise SynapseError("server was never started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        """Path of homeserver.yaml."""
        return self._dir() / CONFIG_NAME

    @property
    def log_path(self) -> Path:
        """Path of Synapse's own log file."""
        return self._dir() / LOG_NAME

    @property
    def stdout_path(self) -> Path:
        """Path of the captured stdout/stderr of the Synapse process."""
        return self._dir() / STDOUT_NAME

    @property
    def pid(self) -> int | None:
        """PID of the running server process, if any."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def _dir(self) -> Path:
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="synapse-test-"))
        return self.data_dir

    # -- config ----------------------------------------------------------------------------

    def _generate_config(self) -> None:
        """Run Synapse's --generate-config once per data dir (from the data dir as cwd)."""
        data_dir = self._dir()
        data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "synapse.app.homeserver",
            "--server-name", self.server_name,
            "--config-path", str(self.config_path),
            "--data-directory", str(data_dir),
            "--generate-config", "--report-stats=no",
        ]  # fmt: skip
        # cwd must not be inside site-packages/synapse: its types/ and logging/ shadow stdlib.
        result = subprocess.run(cmd, cwd=data_dir, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise SynapseError(f"--generate-config failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")

    def _write_config(self) -> None:
        """Rewrite homeserver.yaml for tests; run on every start so the port can change."""
        import yaml  # Synapse depends on PyYAML; import lazily so collection works without it.

        data_dir = self._dir()
        config: dict[str, Any] = yaml.safe_load(self.config_path.read_text()) or {}
        config.update(
            {
                "server_name": self.server_name,
                "public_baseurl": f"http://127.0.0.1:{self.port}/",
                "listeners": [
                    {
                        "port": self.port,
                        "bind_addresses": ["127.0.0.1"],
                        "type": "http",
                        "tls": False,
                        "x_forwarded": False,
                        "resources": [{"names": ["client"], "compress": False}],
                    }
                ],
                "database": {
                    "name": "sqlite3",
                    "args": {"database": str(data_dir / "homeserver.db")},
                },
                "media_store_path": str(data_dir / "media_store"),
                "log_config": str(data_dir / LOG_CONFIG_NAME),
                "federation_domain_whitelist": [],
                "trusted_key_servers": [],
                "suppress_key_server_warning": True,
                "registration_shared_secret": self.registration_secret,
                "enable_registration": False,
                "bcrypt_rounds": 4,
                "encryption_enabled_by_default_for_room_type": ("all" if self.encryption_by_default else "off"),
                "presence": {"enabled": False},
                "url_preview_enabled": False,
                "enable_metrics": False,
                "report_stats": False,
                "user_directory": {"enabled": True, "search_all_users": True},
            }
        )
        for key in RATELIMIT_KEYS:
            _set_nested(config, key, dict(RELAXED_LIMIT))
        if self.ratelimited:
            config["rc_message"] = dict(TIGHT_MESSAGE_LIMIT)
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        (data_dir / LOG_CONFIG_NAME).write_text(yaml.safe_dump(self._log_config(), sort_keys=False))

    def _log_config(self) -> dict[str, Any]:
        """Logging dict: unbuffered file handler, so a failure's log tail is complete."""
        return {
            "version": 1,
            "formatters": {
                "precise": {"format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s"}
            },
            "handlers": {
                "file": {
                    "class": "logging.FileHandler",
                    "formatter": "precise",
                    "filename": str(self.log_path),
                    "encoding": "utf8",
                }
            },
            # DEBUG on this logger would write access tokens to the log.
            "loggers": {"synapse.storage.SQL": {"level": "INFO"}},
            "root": {"level": self.log_level, "handlers": ["file"]},
            "disable_existing_loggers": False,
        }

    # -- process ---------------------------------------------------------------------------

    def _spawn(self) -> None:
        """Generate/rewrite the config and start the process in its own session."""
        if self.running:
            raise SynapseError("server is already running")
        if not synapse_available():
            raise SynapseError("matrix-synapse is not installed in this interpreter")
        if not self.config_path.exists():
            self._generate_config()
        self.port = free_port()
        self._write_config()
        self._stdout = self.stdout_path.open("ab")
        cmd = [
            sys.executable,
            "-m",
            "synapse.app.homeserver",
            "--config-path",
            str(self.config_path),
        ]
        # PDEATHSIG fires when the spawning *thread* exits, so only use it from the main thread:
        # a worker thread (asyncio.to_thread) may end long before the test run does.
        in_main_thread = threading.current_thread() is threading.main_thread()
        self._proc = subprocess.Popen(
            cmd,
            cwd=self._dir(),
            stdin=subprocess.DEVNULL,
            stdout=self._stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if in_main_thread else None,
        )
        logger.debug("synapse started pid=%s port=%s dir=%s", self._proc.pid, self.port, self._dir())

    def _probe(self) -> bool:
        """True when /_matrix/client/versions answers 200."""
        try:
            with urllib.request.urlopen(f"{self.url}/_matrix/client/versions", timeout=2) as resp:
                return bool(resp.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def _check_alive(self) -> None:
        """Raise with the log tails if the process has exited."""
        if self._proc is not None and self._proc.poll() is not None:
            code = self._proc.returncode
            self._close_stdout()
            self._proc = None
            raise SynapseError(f"synapse exited with code {code}\n{self.log_tail()}")

    def _start_deadline_passed(self, deadline: float) -> None:
        if time.monotonic() > deadline:
            tail = self.log_tail()
            self._terminate_blocking()
            raise SynapseError(f"synapse not ready after {self.start_timeout}s\n{tail}")

    def log_tail(self, lines: int = 40) -> str:
        """Last lines of stdout.log and homeserver.log, for failure messages."""
        parts = []
        for path in (self.stdout_path, self.log_path):
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path.name} ---\n" + "\n".join(text))
        return "\n".join(parts) or "(no logs)"

    def _close_stdout(self) -> None:
        if self._stdout is not None:
            self._stdout.close()
            self._stdout = None

    def _send_signal(self, sig: int) -> None:
        assert self._proc is not None
        try:
            if sig == signal.SIGKILL:
                # The group is ours (start_new_session): take any helper children with it.
                os.killpg(self._proc.pid, sig)
            else:
                self._proc.send_signal(sig)
        except ProcessLookupError:
            pass

    def _terminate_blocking(self) -> None:
        """SIGTERM, wait up to 10 s, then SIGKILL."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            self._send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                logger.warning("synapse did not stop after SIGTERM, killing pid %s", proc.pid)
                self._send_signal(signal.SIGKILL)
                proc.wait(5)
        self._proc = None
        self._close_stdout()

    # -- blocking API ----------------------------------------------------------------------

    def start_blocking(self) -> None:
        """Start and wait until the client API answers (blocking)."""
        self._spawn()
        deadline = time.monotonic() + self.start_timeout
        while not self._probe():
            self._check_alive()
            self._start_deadline_passed(deadline)
            time.sleep(0.1)

    def stop_blocking(self) -> None:
        """Stop the server (blocking); the data dir is kept."""
        self._terminate_blocking()

    def cleanup(self) -> None:
        """Stop and remove the data dir if this object created it."""
        self._terminate_blocking()
        if self._own_data_dir and self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None

    def __enter__(self) -> SynapseServer:
        self.start_blocking()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    # -- async API -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start and wait until the client API answers, without blocking the event loop."""
        self._spawn()  # in the caller's thread on purpose (see the PDEATHSIG note in _spawn)
        deadline = time.monotonic() + self.start_timeout
        while not await asyncio.to_thread(self._probe):
            self._check_alive()
            self._start_deadline_passed(deadline)
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        """SIGTERM, wait up to 10 s, then SIGKILL; the data dir is kept."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            self._send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(proc.wait, STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                pass  # _terminate_blocking below sends SIGKILL
        self._terminate_blocking()  # SIGKILLs if still alive, then reaps and closes files

    async def restart(self, **changes: Any) -> None:
        """Stop and start again on the same data dir; keyword args update options first."""
        for name, value in changes.items():
            if name not in ("encryption_by_default", "ratelimited", "log_level"):
                raise TypeError(f"unknown option {name!r}")
            setattr(self, name, value)
        await self.stop()
        await self.start()

    async def aclose(self) -> None:
        """Stop and remove an owned temp data dir."""
        await self.stop()
        self.cleanup()

    async def __aenter__(self) -> SynapseServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


# -- admin and client HTTP helpers (stdlib only, so they work in any event loop) ----------


def _http_json(
    method: str, url: str, body: dict[str, Any] | None = None, token: str | None = None
) -> tuple[int, dict[str, Any]]:
    """One JSON request; returns (status, parsed body) also for HTTP errors."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            payload = json.loads(raw or b"{}")
        except ValueError:
            payload = {"error": raw.decode(errors="replace")}
        return err.code, payload


def registration_mac(secret: str, nonce: str, username: str, password: str, admin: bool) -> str:
    """HMAC-SHA1 for shared-secret registration: nonce NUL user NUL password NUL admin flag."""
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha1)
    for part in (nonce, username, password):
        mac.update(part.encode())
        mac.update(b"\x00")
    mac.update(b"admin" if admin else b"notadmin")
    return mac.hexdigest()


def register_user_blocking(server: SynapseServer, username: str, password: str, admin: bool = False) -> str:
    """Create a user via the shared-secret admin API (existing user = success); return its id."""
    url = f"{server.url}/_synapse/admin/v1/register"
    status, body = _http_json("GET", url)
    if status != 200:
        raise SynapseError(f"register nonce failed: {status} {body}")
    nonce = str(body["nonce"])
    payload = {
        "nonce": nonce,
        "username": username,
        "password": password,
        "admin": admin,
        "mac": registration_mac(server.registration_secret, nonce, username, password, admin),
    }
    status, body = _http_json("POST", url, payload)
    if status == 200:
        return str(body["user_id"])
    if status == 400 and body.get("errcode") == "M_USER_IN_USE":
        return f"@{username}:{server.server_name}"
    raise SynapseError(f"register failed: {status} {body.get('errcode')} {body.get('error')}")


def login_blocking(server: SynapseServer, username: str, password: str, device_id: str | None = None) -> str:
    """Password login through the client API; returns an access token."""
    payload: dict[str, Any] = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": username},
        "password": password,
    }
    if device_id:
        payload["device_id"] = device_id
    status, body = _http_json("POST", f"{server.url}/_matrix/client/v3/login", payload)
    if status != 200:
        raise SynapseError(f"login failed: {status} {body.get('errcode')}")
    return str(body["access_token"])


async def register_user(server: SynapseServer, username: str, password: str, admin: bool = False) -> str:
    """Async wrapper of register_user_blocking; returns the full user id."""
    return await asyncio.to_thread(register_user_blocking, server, username, password, admin)


async def login_access_token(server: SynapseServer, username: str, password: str, device_id: str | None = None) -> str:
    """Log a user in with a password and return a fresh access token."""
    return await asyncio.to_thread(login_blocking, server, username, password, device_id)


async def admin_access_token(server: SynapseServer) -> str:
    """Token of a harness admin user (created on first use, cached on the server object)."""
    if server.admin_token is None:
        await register_user(server, ADMIN_USERNAME, ADMIN_PASSWORD, admin=True)
        server.admin_token = await login_access_token(server, ADMIN_USERNAME, ADMIN_PASSWORD)
    return server.admin_token


async def override_ratelimit(
    server: SynapseServer, user_id: str, messages_per_second: float = 0, burst_count: int = 0
) -> None:
    """Set a per-user message rate limit via the admin API (0/0 = not limited at all)."""
    token = await admin_access_token(server)
    quoted = urllib.parse.quote(user_id, safe="")
    url = f"{server.url}/_synapse/admin/v1/users/{quoted}/override_ratelimit"
    body = {"messages_per_second": messages_per_second, "burst_count": burst_count}
    status, answer = await asyncio.to_thread(_http_json, "POST", url, body, token)
    if status != 200:
        raise SynapseError(f"override_ratelimit failed: {status} {answer.get('errcode')}")
