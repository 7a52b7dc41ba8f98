"""Start a process, wait until it answers, stop it: the one supervisor of `make run`, the harness and the tests.

scripts/devstack.py, loadtests/harness.py and tests/engines.py start their
servers as a :class:`Process`: a session (process group) of its own, so a
terminal's Ctrl-C reaches only the supervisor, which stops its children in
order, and stopping a child reaches what it started (gunicorn's workers) and
nothing else.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class ProcessError(RuntimeError):
    """A process could not start, exited early, or did not answer in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def tcp_answers(host: str, port: int) -> bool:
    """True when something accepts a TCP connection there."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when a GET of ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except OSError:  # URLError and timeouts included
        return False


def dynamodb_answers(endpoint: str, timeout: float = 2.0) -> bool:
    """True when ``endpoint`` answers a DynamoDB ListTables call (moto, dynalite, LocalStack)."""
    request = urllib.request.Request(
        endpoint,
        data=b"{}",
        method="POST",
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "X-Amz-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),  # dynalite insists on one
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/dynamodb/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status == 200 and b"TableNames" in response.read()
    except OSError:  # URLError and timeouts included
        return False


def moto_server_command(port: int, host: str = "127.0.0.1") -> list[str]:
    """moto's server with serialised requests (see scripts/moto_server.py); run it with ``cwd=ROOT``."""
    return [sys.executable, "-m", "scripts.moto_server", "-H", host, "-p", str(port)]


def dynalite_command(port: int, host: str = "127.0.0.1") -> list[str]:
    """dynalite in memory with tables ACTIVE at once; ProcessError when it cannot run here."""
    if shutil.which("node") is None:
        raise ProcessError("dynalite needs Node.js, and `node` is not on PATH")
    args = ["--host", host, "--port", str(port), "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"]
    local = ROOT / "node_modules" / ".bin" / "dynalite"
    if local.exists():
        return [str(local), *args]
    if on_path := shutil.which("dynalite"):
        return [on_path, *args]
    raise ProcessError("dynalite not found: run `npm ci` (or `make node_modules`) in the repository root")


def die_with_parent() -> None:
    """Get SIGTERM when the parent process dies, even by SIGKILL (Linux only; elsewhere a no-op)."""
    with contextlib.suppress(Exception):  # not Linux: the parent's own cleanup still runs
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


@dataclass
class Process:
    """One child process in a session of its own; a context manager that starts and stops it.

    ``ready`` is polled after the start until it returns True (``ready_timeout``);
    the process dying first, or the timeout, raises ProcessError with its log's tail.
    ``stop()`` sends ``stop_signal`` to the leader (gunicorn's master stops its
    workers itself), waits ``stop_timeout``, then SIGKILLs whatever is left in the group.
    """

    argv: list[str]
    _: KW_ONLY
    name: str
    env: dict[str, str] | None = None
    log_path: Path | None = None  # else the output is ours
    url: str = ""
    ready: Callable[[], bool] | None = None
    ready_timeout: float = 30.0
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 10.0
    die_with_parent: bool = False
    proc: subprocess.Popen | None = field(default=None, init=False, repr=False)

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} was not started"
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def poll(self) -> int | None:
        """The exit code, or None while it runs."""
        assert self.proc is not None, f"{self.name} was not started"
        return self.proc.poll()

    def start(self) -> Process:
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # The child keeps its own copy of the log's descriptor; ours closes at once.
        with open(self.log_path, "ab") if self.log_path else contextlib.nullcontext() as log:
            try:
                self.proc = subprocess.Popen(
                    self.argv,
                    cwd=ROOT,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT if log else None,
                    start_new_session=True,
                    preexec_fn=die_with_parent if self.die_with_parent else None,
                )
            except OSError as exc:
                raise ProcessError(f"{self.name}: cannot run {self.argv[0]!r}: {exc}") from exc
        if self.ready is not None:
            try:
                self.wait_until(self.ready, self.ready_timeout)
            except BaseException:
                self.stop()
                raise
        return self

    def wait_until(self, ready: Callable[[], bool], timeout: float) -> None:
        """Poll ``ready`` with a growing interval; raise ProcessError if the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        while not ready():
            if not self.running:
                code = self.proc.returncode if self.proc else None
                raise ProcessError(f"{self.name} exited with {code} before answering: {self.tail()}")
            if time.monotonic() > deadline:
                raise ProcessError(f"{self.name} did not answer {self.url} within {timeout:g}s: {self.tail()}")
            time.sleep(delay)  # a polling interval, not a wait for readiness
            delay = min(delay * 2, 0.25)

    def wait(self, timeout: float | None = None) -> int:
        """The exit code; stop the process when the wait is cut short (timeout, Ctrl-C)."""
        assert self.proc is not None, f"{self.name} was not started"
        try:
            return self.proc.wait(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self, sig: int | None = None) -> None:
        """Signal the leader, wait, then SIGKILL the whole group; idempotent."""
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(sig or self.stop_signal)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(self.stop_timeout)
            kill_group(proc.pid)  # what is left of the group, e.g. a stray worker
            proc.wait()

    def tail(self, size: int = 1500) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-size:].strip() or "(empty log)"

    def __enter__(self) -> Process:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def kill_group(pgid: int) -> None:
    """SIGKILL a process group we started (a session leader's pid is its group id)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
