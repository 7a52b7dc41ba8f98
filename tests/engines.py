"""DynamoDB engines the test suite runs on: moto in-process, moto server, dynalite.

Each engine is a process-wide singleton started lazily on first use and
stopped by ``stop_all()`` (pytest session end, with ``atexit`` as a backstop).
Servers listen on a free port on 127.0.0.1 and are polled until they answer
``ListTables``; nothing here sleeps a fixed time.

``DDB_ENGINES=moto,dynalite`` limits the engines a run uses (default: all).
An engine that cannot start is skipped, or fails the run when ``CI=true``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ContextManager

REPO_ROOT = Path(__file__).resolve().parent.parent
ALL_ENGINES = ("moto", "moto_server", "dynalite")
REGION = "us-east-1"
FAKE_KEY = "test"
START_TIMEOUT = float(os.environ.get("DDB_ENGINE_START_TIMEOUT", "30"))
STOP_TIMEOUT = 5.0


class EngineUnavailable(RuntimeError):
    """The engine cannot run here (missing binary, server did not come up)."""


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def unavailable(reason: str) -> None:
    """Skip the current test for a missing engine, or fail it in CI."""
    import pytest

    if in_ci():
        pytest.fail(f"engine unavailable in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def selected_engines() -> tuple[str, ...]:
    """Engines this run uses, from ``DDB_ENGINES`` (comma-separated) or all."""
    raw = os.environ.get("DDB_ENGINES", "").strip()
    if not raw:
        return ALL_ENGINES
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    unknown = [n for n in names if n not in ALL_ENGINES]
    if unknown:
        raise ValueError(f"DDB_ENGINES: unknown engine(s) {unknown}; choose from {ALL_ENGINES}")
    return names


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_client(endpoint_url: str | None, *, connect_timeout: float = 2, read_timeout: float = 10):
    """A bare boto3 DynamoDB client for the harness (inspection, cleanup, readiness)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=FAKE_KEY,
        aws_secret_access_key=FAKE_KEY,
        config=Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"mode": "standard", "max_attempts": 1},
        ),
    )


class Engine:
    """One DynamoDB implementation the suite can run against."""

    name: str = ""
    is_server: bool = False
    supports_transactions: bool = True
    endpoint_url: str | None = None

    def start(self) -> None:
        """Make the engine usable; idempotent. Raise EngineUnavailable if it cannot be."""

    def stop(self) -> None:
        """Release whatever start() acquired; idempotent."""

    def activate(self) -> ContextManager:
        """Context for one test (moto: a fresh mock; servers: nothing)."""
        return contextlib.nullcontext()

    def admin_client(self):
        """A bare boto3 client on this engine for the harness, built once per engine."""
        client = getattr(self, "_admin_client", None)
        if client is None:
            # For moto, moto is imported by start(), so its stubber sees this client.
            client = self._admin_client = make_client(self.endpoint_url)
        return client


# DynamoDB applies each write to an item atomically: a conditional PutItem or an
# ADD cannot interleave with another write to that item. moto evaluates the
# condition (or the ADD) and stores the result in Python with no lock, so two
# threads can both pass one condition: we saw two "winners" of one unique slug.
# Both moto engines therefore handle one request at a time; clients still race
# (threads, HTTP connections), which is what the concurrency tests need.
_moto_lock = threading.RLock()

SERIALIZED_MOTO_SERVER = """
import sys, threading
from moto.moto_server import werkzeug_app
from moto.server import main

lock = threading.Lock()
dispatch = werkzeug_app.DomainDispatcherApplication.__call__

def serialized(self, environ, start_response):
    with lock:  # one request at a time, like DynamoDB's per-item atomicity
        return dispatch(self, environ, start_response)

werkzeug_app.DomainDispatcherApplication.__call__ = serialized
main(sys.argv[1:])
"""


class MotoEngine(Engine):
    name = "moto"

    def start(self) -> None:
        try:
            import moto  # noqa: F401
        except ImportError as exc:  # pragma: no cover - moto is a dev dependency
            raise EngineUnavailable(f"moto is not installed: {exc}") from exc

    @contextlib.contextmanager
    def activate(self) -> Iterator[None]:
        from unittest import mock

        from moto import mock_aws
        from moto.core.botocore_stubber import BotocoreStubber

        process = BotocoreStubber.process_request

        def serialized(stubber, request):
            with _moto_lock:
                return process(stubber, request)

        with mock_aws(), mock.patch.object(BotocoreStubber, "process_request", serialized):
            yield


class ServerEngine(Engine):
    """An emulator in a subprocess of its own (own session, so the group can be stopped)."""

    is_server = True

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._log: Path | None = None
        self._error: str | None = None
        self._lock = threading.Lock()

    def command(self, port: int) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return
            if self._error is not None:  # don't retry a broken engine for every test
                raise EngineUnavailable(self._error)
            try:
                self._start()
            except EngineUnavailable as exc:
                self._error = str(exc)
                raise

    def _start(self) -> None:
        last_error = ""
        for _attempt in range(3):  # a free port can be taken between probe and bind
            port = free_port()
            cmd = self.command(port)
            fd, log_name = tempfile.mkstemp(prefix=f"ddb-{self.name}-", suffix=".log")
            self._log = Path(log_name)
            with os.fdopen(fd, "wb") as log:
                try:
                    self._proc = subprocess.Popen(
                        cmd,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        cwd=REPO_ROOT,
                        start_new_session=True,
                    )
                except OSError as exc:
                    raise EngineUnavailable(f"{self.name}: cannot run {cmd[0]!r}: {exc}") from exc
            self.endpoint_url = f"http://127.0.0.1:{port}"
            try:
                self._wait_ready()
                return
            except EngineUnavailable as exc:
                last_error = str(exc)
                self.stop()
                if "in use" not in last_error.lower():  # only a port clash is worth a retry
                    break
        raise EngineUnavailable(last_error)

    def _wait_ready(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        client = make_client(self.endpoint_url, connect_timeout=0.5, read_timeout=2)
        deadline = time.monotonic() + START_TIMEOUT
        delay = 0.02
        while True:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise EngineUnavailable(
                    f"{self.name} exited with code {self._proc.returncode} before answering "
                    f"({' '.join(self.command_repr())}): {self.log_tail()}"
                )
            try:
                client.list_tables(Limit=1)
                return
            except (BotoCoreError, ClientError, OSError):
                pass
            if time.monotonic() > deadline:
                raise EngineUnavailable(
                    f"{self.name} did not answer on {self.endpoint_url} within {START_TIMEOUT:g}s: {self.log_tail()}"
                )
            time.sleep(delay)  # polling interval, not a wait for readiness
            delay = min(delay * 2, 0.25)

    def command_repr(self) -> list[str]:
        args = [str(part) for part in (self._proc.args if self._proc else [])]
        return [arg if len(arg) < 80 else "<script>" for arg in args]

    def log_tail(self, size: int = 800) -> str:
        if self._log is None or not self._log.exists():
            return "(no log)"
        text = self._log.read_text(errors="replace").strip()
        return text[-size:] or "(empty log)"

    def stop(self) -> None:
        self._admin_client = None
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            self._signal(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._signal(proc, signal.SIGKILL)
                proc.wait(timeout=STOP_TIMEOUT)
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.unlink()
            self._log = None

    @staticmethod
    def _signal(proc: subprocess.Popen, sig: int) -> None:
        # The server runs in a session of its own (start_new_session), so its
        # process group is exactly what we started: npx and the node it spawns.
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)


class MotoServerEngine(ServerEngine):
    """``moto_server -H 127.0.0.1 -p PORT``: the same entry point, serialized (see above)."""

    name = "moto_server"

    def command(self, port: int) -> list[str]:
        try:
            import moto.server  # noqa: F401
        except ImportError as exc:
            raise EngineUnavailable(f"moto[server] is not installed: {exc}") from exc
        return [sys.executable, "-c", SERIALIZED_MOTO_SERVER, "-H", "127.0.0.1", "-p", str(port)]


class DynaliteEngine(ServerEngine):
    name = "dynalite"
    supports_transactions = False  # dynalite implements no TransactWriteItems

    def command(self, port: int) -> list[str]:
        if shutil.which("node") is None:
            raise EngineUnavailable("dynalite needs Node.js, and `node` is not on PATH")
        args = ["--port", str(port), "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"]
        local = REPO_ROOT / "node_modules" / ".bin" / "dynalite"
        if local.exists():
            return [str(local), *args]
        on_path = shutil.which("dynalite")
        if on_path:
            return [on_path, *args]
        npx = shutil.which("npx")
        if npx:
            return [npx, "--no-install", "dynalite", *args]
        raise EngineUnavailable("dynalite not found: run `npm install` in the repository root")


_FACTORIES = {"moto": MotoEngine, "moto_server": MotoServerEngine, "dynalite": DynaliteEngine}
_engines: dict[str, Engine] = {}
_registry_lock = threading.Lock()


def get_engine(name: str) -> Engine:
    """The process-wide engine called ``name`` (not started yet)."""
    with _registry_lock:
        if name not in _engines:
            _engines[name] = _FACTORIES[name]()
        return _engines[name]


def stop_all() -> None:
    with _registry_lock:
        engines = list(_engines.values())
    for engine in engines:
        engine.stop()


atexit.register(stop_all)


@contextlib.contextmanager
def running(name: str) -> Iterator[Engine]:
    """Start an engine for a script and stop it afterwards."""
    engine = get_engine(name)
    engine.start()
    try:
        yield engine
    finally:
        engine.stop()
