#!/usr/bin/env python
"""Run the whole stack locally: what `make run` does.

1. Unless AWS_ENDPOINT_URL_DYNAMODB is set, start ONE embedded DynamoDB
   emulator (moto server) that every gunicorn worker shares, and wait until
   it answers.
2. Create the missing tables (`manage.py dynamo_tables create`).
3. Serve the API with gunicorn, the same command as the Docker image.
4. On Ctrl-C / SIGTERM stop gunicorn, then the emulator: no orphans.

Environment: PORT (8000), HOST (127.0.0.1), DYNAMO_EMULATOR_PORT (4567),
WEB_CONCURRENCY, GUNICORN_THREADS and everything config/settings.py reads.
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
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The Docker image runs exactly this (tests/stack/test_compose.py checks it).
GUNICORN_CMD = ["gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi:application"]

DEFAULT_EMULATOR_PORT = 4567
EMULATOR_START_TIMEOUT = 30.0
SERVER_START_TIMEOUT = 30.0
GUNICORN_STOP_TIMEOUT = 20.0  # > graceful_timeout in gunicorn.conf.py
EMULATOR_STOP_TIMEOUT = 5.0
POLL_INTERVAL = 0.1
# Where `make seed` finds the embedded emulator's URL while the stack runs.
STATE_DIR = Path(os.environ.get("DEVSTACK_STATE_DIR") or ROOT / ".run")
ENDPOINT_FILE = STATE_DIR / "dynamodb-endpoint"


def log(message: str) -> None:
    print(f"devstack: {message}", flush=True)


def find_executable(name: str) -> str:
    """Prefer the script next to this interpreter (the venv), then PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"devstack: cannot find {name!r}; run `make run` (it installs the dev dependencies)")
    return found


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True unless something listens there (TIME_WAIT leftovers don't count, as for the servers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def emulator_port() -> int:
    """DYNAMO_EMULATOR_PORT if given (must be free), else 4567 or any free port."""
    raw = os.environ.get("DYNAMO_EMULATOR_PORT", "").strip()
    if raw:
        port = int(raw)
        if not port_is_free(port):
            raise SystemExit(f"devstack: DYNAMO_EMULATOR_PORT={port} is already in use")
        return port
    return DEFAULT_EMULATOR_PORT if port_is_free(DEFAULT_EMULATOR_PORT) else free_port()


def _die_with_parent() -> None:
    """In the child: get SIGTERM if devstack itself dies (even by SIGKILL). Linux only."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except Exception:  # not Linux: the signal handlers below still clean up
        pass


def spawn(cmd: list[str], env: dict[str, str], output=None) -> subprocess.Popen:
    # A session of its own: a terminal Ctrl-C reaches only devstack, which
    # then stops the children in order (gunicorn first, the emulator last).
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def emulator_answers(url: str) -> bool:
    request = urllib.request.Request(
        url,
        data=b"{}",
        method="POST",
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/dynamodb/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=1) as response:
            return response.status < 500
    except urllib.error.HTTPError as exc:  # it answered, just not happily
        return exc.code < 500
    except (OSError, urllib.error.URLError):
        return False


def tcp_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Stack:
    """The processes devstack started, stopped in reverse order."""

    def __init__(self) -> None:
        self.emulator: subprocess.Popen | None = None
        self.gunicorn: subprocess.Popen | None = None
        self.stop_signal: int | None = None
        self.endpoint_url: str | None = None

    # -- signals --------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum: int, _frame) -> None:
        if self.stop_signal is not None:
            # A second Ctrl-C: stop waiting for a graceful exit.
            log("second signal, killing everything")
            self._kill(self.gunicorn)
            self._kill(self.emulator)
            os._exit(130)
        self.stop_signal = signum
        if self.gunicorn is not None and self.gunicorn.poll() is None:
            # Forward it: gunicorn treats SIGINT as quick and SIGTERM as graceful shutdown.
            self.gunicorn.send_signal(signum)

    @property
    def stopping(self) -> bool:
        return self.stop_signal is not None

    # -- steps ----------------------------------------------------------------

    def start_emulator(self, env: dict[str, str]) -> str:
        port = emulator_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [find_executable("moto_server"), "-H", "127.0.0.1", "-p", str(port)]
        # Its per-request log would drown gunicorn's access log: keep it in a file.
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        log_path = STATE_DIR / "moto_server.log"
        log(f"starting DynamoDB emulator (moto server) at {url}, log in {log_path}")
        with open(log_path, "wb") as output:
            self.emulator = spawn(cmd, env, output=output)
        deadline = time.monotonic() + EMULATOR_START_TIMEOUT
        while not emulator_answers(url):
            if self.stopping:
                raise KeyboardInterrupt
            if self.emulator.poll() is not None:
                raise SystemExit(f"devstack: moto_server exited with {self.emulator.returncode}:\n{tail(log_path)}")
            if time.monotonic() > deadline:
                raise SystemExit(f"devstack: moto_server did not answer within {EMULATOR_START_TIMEOUT:.0f}s")
            time.sleep(POLL_INTERVAL)
        log(f"emulator ready (pid {self.emulator.pid})")
        self.endpoint_url = url
        ENDPOINT_FILE.write_text(url + "\n")
        return url

    def create_tables(self, env: dict[str, str]) -> None:
        log("creating tables (manage.py dynamo_tables create)")
        proc = subprocess.Popen([sys.executable, "manage.py", "dynamo_tables", "create"], cwd=ROOT, env=env)
        while proc.poll() is None:
            if self.stopping:
                proc.terminate()
                proc.wait()
                raise KeyboardInterrupt
            time.sleep(POLL_INTERVAL)
        if self.stopping:
            raise KeyboardInterrupt
        if proc.returncode != 0:
            raise SystemExit(f"devstack: `manage.py dynamo_tables create` failed with exit code {proc.returncode}")

    def start_gunicorn(self, env: dict[str, str]) -> None:
        cmd = [find_executable(GUNICORN_CMD[0]), *GUNICORN_CMD[1:]]
        self.gunicorn = spawn(cmd, env)
        log(f"gunicorn started (pid {self.gunicorn.pid})")

    def wait_until_serving(self, host: str, port: int, url: str) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not tcp_answers(host, port):
            if self.stopping or self.gunicorn.poll() is not None:
                return
            if time.monotonic() > deadline:
                log(f"gunicorn is not accepting connections on {host}:{port} yet")
                return
            time.sleep(POLL_INTERVAL)
        log(f"serving the API at {url}  (Ctrl-C to stop)")

    def run_until_stopped(self) -> int:
        """Return gunicorn's exit code; stop if the emulator dies under it."""
        while True:
            code = self.gunicorn.poll()
            if code is not None:
                return code
            if self.emulator is not None and self.emulator.poll() is not None and not self.stopping:
                log(f"emulator exited unexpectedly ({self.emulator.returncode}); stopping gunicorn")
                self.gunicorn.terminate()
                self.stop_signal = signal.SIGTERM
            time.sleep(0.2)

    # -- teardown -------------------------------------------------------------

    @staticmethod
    def _kill(proc: subprocess.Popen | None) -> None:
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the whole group: gunicorn workers too
        except (ProcessLookupError, PermissionError):
            proc.kill()

    def _stop(self, proc: subprocess.Popen | None, name: str, sig: int, timeout: float) -> None:
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop within {timeout:.0f}s, killing it")
        # Whatever is left in its process group (e.g. a stray worker) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def shutdown(self) -> None:
        sig = self.stop_signal or signal.SIGTERM
        if self.gunicorn is not None:
            self._stop(self.gunicorn, "gunicorn", sig, GUNICORN_STOP_TIMEOUT)
        if self.emulator is not None:
            self._stop(self.emulator, "moto_server", signal.SIGTERM, EMULATOR_STOP_TIMEOUT)
        self._forget_endpoint()
        log("stopped")

    def _forget_endpoint(self) -> None:
        # Only ours: another devstack may have started since.
        try:
            if self.endpoint_url and ENDPOINT_FILE.read_text().strip() == self.endpoint_url:
                ENDPOINT_FILE.unlink()
        except OSError:
            pass


def build_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    env.setdefault("DJANGO_DEBUG", "1")  # local run; production sets DJANGO_SECRET_KEY instead
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def main() -> int:
    os.chdir(ROOT)
    env = build_env()
    host = env.get("HOST", "127.0.0.1").strip() or "127.0.0.1"
    port = int(env.get("PORT", "8000").strip() or 8000)
    connect_host = "127.0.0.1" if host in ("0.0.0.0", "::", "[::]") else host.strip("[]")
    url_host = f"[{connect_host}]" if ":" in connect_host else connect_host
    url = f"http://{url_host}:{port}"

    bind_host = "0.0.0.0" if host in ("0.0.0.0", "::", "[::]") else connect_host
    if ":" not in bind_host and not port_is_free(port, bind_host):
        print(f"devstack: port {port} on {bind_host} is already in use; choose another with PORT=...", file=sys.stderr)
        return 1

    stack = Stack()
    stack.install_signal_handlers()
    code = 0
    try:
        if env.get("AWS_ENDPOINT_URL_DYNAMODB"):
            log(f"using DynamoDB at {env['AWS_ENDPOINT_URL_DYNAMODB']} (no embedded emulator)")
        else:
            env["AWS_ENDPOINT_URL_DYNAMODB"] = stack.start_emulator(env)
            # The emulator accepts any credentials; never send real ones to it.
            env["AWS_ACCESS_KEY_ID"] = "test"
            env["AWS_SECRET_ACCESS_KEY"] = "test"
            env.pop("AWS_SESSION_TOKEN", None)
            env.setdefault("AWS_REGION", "us-east-1")
        stack.create_tables(env)
        stack.start_gunicorn(env)
        log(f"API at {url}")
        stack.wait_until_serving(connect_host, port, url)
        code = stack.run_until_stopped()
        if stack.stopping:
            code = 0
        else:
            log(f"gunicorn exited with {code}")
    except KeyboardInterrupt:
        code = 0 if stack.stopping else 130
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr, flush=True)
            code = 1
        else:
            code = exc.code or 0
    finally:
        stack.shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
