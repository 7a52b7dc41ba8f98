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
import tempfile
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

from scripts.moto_server import serialized_mock_aws
from scripts.processes import (
    ROOT,
    Process,
    ProcessError,
    dynalite_command,
    dynamodb_answers,
    free_port,
    moto_server_command,
)

REPO_ROOT = ROOT
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

    def activate(self) -> AbstractContextManager:
        """Context for one test (moto: a fresh mock; servers: nothing)."""
        return contextlib.nullcontext()

    def admin_client(self):
        """A bare boto3 client on this engine for the harness, built once per engine."""
        client = getattr(self, "_admin_client", None)
        if client is None:
            # For moto, moto is imported by start(), so its stubber sees this client.
            client = self._admin_client = make_client(self.endpoint_url)
        return client


class MotoEngine(Engine):
    """moto in-process, one request at a time like the server (see scripts/moto_server.py)."""

    name = "moto"

    def start(self) -> None:
        try:
            import moto  # noqa: F401 - only whether it imports
        except ImportError as exc:  # pragma: no cover - moto is a dev dependency
            raise EngineUnavailable(f"moto is not installed: {exc}") from exc

    def activate(self) -> AbstractContextManager:
        return serialized_mock_aws()


class ServerEngine(Engine):
    """An emulator in a process of its own (scripts/processes.py), on a free port, logging to a temp file."""

    is_server = True

    def __init__(self) -> None:
        self._process: Process | None = None
        self._error: str | None = None
        self._lock = threading.Lock()

    def command(self, port: int) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        with self._lock:
            if self._process is not None and self._process.running:
                return
            if self._error is not None:  # don't retry a broken engine for every test
                raise EngineUnavailable(self._error)
            try:
                self._start()
            except EngineUnavailable as exc:
                self._error = str(exc)
                raise

    def _start(self) -> None:
        error = ""
        for _attempt in range(3):  # a free port can be taken between probe and bind
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            fd, log_name = tempfile.mkstemp(prefix=f"ddb-{self.name}-", suffix=".log")
            os.close(fd)
            try:
                process = Process(
                    self.command(port),
                    name=self.name,
                    log_path=Path(log_name),
                    url=url,
                    ready=lambda url=url: dynamodb_answers(url),
                    ready_timeout=START_TIMEOUT,
                    stop_timeout=STOP_TIMEOUT,
                )
                self._process = process.start()
                self.endpoint_url = url
                return
            except ProcessError as exc:
                error = str(exc)
                Path(log_name).unlink(missing_ok=True)
                if "in use" not in error.lower():  # only a port clash is worth a retry
                    break
        raise EngineUnavailable(error)

    def stop(self) -> None:
        self._admin_client = None
        process, self._process = self._process, None
        if process is not None:
            process.stop()
            if process.log_path is not None:
                process.log_path.unlink(missing_ok=True)


class MotoServerEngine(ServerEngine):
    """``python -m scripts.moto_server``: the server `make run` and `make bench` start too, serialised."""

    name = "moto_server"

    def command(self, port: int) -> list[str]:
        try:
            import moto.server  # noqa: F401 - only whether it imports
        except ImportError as exc:
            raise EngineUnavailable(f"moto[server] is not installed: {exc}") from exc
        return moto_server_command(port)


class DynaliteEngine(ServerEngine):
    name = "dynalite"
    supports_transactions = False  # dynalite implements no TransactWriteItems

    def command(self, port: int) -> list[str]:
        try:
            return dynalite_command(port)
        except ProcessError as exc:
            raise EngineUnavailable(str(exc)) from exc


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
