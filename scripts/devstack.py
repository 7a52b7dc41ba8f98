"""Run the whole stack locally: what `make run` does (``python -m scripts.devstack``).

1. Unless AWS_ENDPOINT_URL_DYNAMODB is set, start ONE embedded DynamoDB
   emulator (moto server, serialised: scripts/moto_server.py) that every
   gunicorn worker shares, and wait until it answers.
2. Create the missing tables (`manage.py dynamo_tables create`).
3. Serve the API with gunicorn, the same command as the Docker image.
4. On Ctrl-C / SIGTERM stop gunicorn, then the emulator: no orphans.

Environment: HOST (gunicorn's bind address, 127.0.0.1), PORT (8000),
DYNAMO_EMULATOR_PORT (4567), WEB_CONCURRENCY, GUNICORN_THREADS and everything
config/settings.py and config/gunicorn.conf.py read.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from scripts.processes import (
    ROOT,
    Process,
    ProcessError,
    die_with_parent,
    dynamodb_answers,
    free_port,
    kill_group,
    moto_server_command,
    port_is_free,
    tcp_answers,
)

# The Docker image runs exactly this (tests/stack/test_compose.py checks it).
GUNICORN_CMD = ["gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi:application"]

DEFAULT_EMULATOR_PORT = 4567
GUNICORN_STOP_TIMEOUT = 20.0  # > graceful_timeout in gunicorn.conf.py
# Where `make seed` finds the embedded emulator's URL while the stack runs.
STATE_DIR = Path(os.environ.get("DEVSTACK_STATE_DIR") or ROOT / ".run")
ENDPOINT_FILE = STATE_DIR / "dynamodb-endpoint"


def log(message: str) -> None:
    print(f"devstack: {message}", flush=True)


def emulator_port() -> int:
    """DYNAMO_EMULATOR_PORT if given (must be free), else 4567 or any free port."""
    raw = os.environ.get("DYNAMO_EMULATOR_PORT", "").strip()
    if raw:
        if not port_is_free(int(raw)):
            raise SystemExit(f"devstack: DYNAMO_EMULATOR_PORT={raw} is already in use")
        return int(raw)
    return DEFAULT_EMULATOR_PORT if port_is_free(DEFAULT_EMULATOR_PORT) else free_port()


def executable(name: str) -> str:
    """The script next to this interpreter (the venv), else the name for PATH to resolve."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


class Stack:
    """The processes devstack started, stopped in reverse order."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.emulator: Process | None = None
        self.gunicorn: Process | None = None
        self.stop_signal: int | None = None

    def on_signal(self, signum: int, _frame: object) -> None:
        if self.stop_signal is not None:  # a second Ctrl-C: stop waiting for a graceful exit
            log("second signal, killing everything")
            for proc in (self.gunicorn, self.emulator):
                if proc is not None and proc.proc is not None:
                    kill_group(proc.proc.pid)
            os._exit(130)
        self.stop_signal = signum
        raise KeyboardInterrupt  # unwinds whichever step runs; shutdown() stops what was started

    def start_emulator(self) -> None:
        port = emulator_port()
        url = f"http://127.0.0.1:{port}"
        # Its per-request log would drown gunicorn's access log: keep it in a file.
        log_path = STATE_DIR / "moto_server.log"
        log(f"starting DynamoDB emulator (moto server) at {url}, log in {log_path}")
        self.emulator = Process(
            moto_server_command(port),
            name="moto_server",
            env=self.env,
            log_path=log_path,
            url=url,
            ready=lambda: dynamodb_answers(url),
            stop_timeout=5.0,
            die_with_parent=True,
        ).start()
        log(f"emulator ready (pid {self.emulator.pid})")
        ENDPOINT_FILE.write_text(url + "\n")
        self.env.update(
            AWS_ENDPOINT_URL_DYNAMODB=url,
            # The emulator accepts any credentials; never send real ones to it.
            AWS_ACCESS_KEY_ID="test",
            AWS_SECRET_ACCESS_KEY="test",
            AWS_REGION=self.env.get("AWS_REGION", "us-east-1"),
        )
        self.env.pop("AWS_SESSION_TOKEN", None)

    def create_tables(self) -> None:
        log("creating tables (manage.py dynamo_tables create)")
        code = subprocess.call([sys.executable, "manage.py", "dynamo_tables", "create"], cwd=ROOT, env=self.env)
        if code != 0:
            raise SystemExit(f"devstack: `manage.py dynamo_tables create` failed with exit code {code}")

    def serve(self, connect_host: str, port: int, url: str) -> int:
        """Run gunicorn until it exits; stop it if the emulator dies under it. Return its exit code."""
        self.gunicorn = Process(
            [executable(GUNICORN_CMD[0]), *GUNICORN_CMD[1:]],
            name="gunicorn",
            env=self.env,
            url=url,
            stop_timeout=GUNICORN_STOP_TIMEOUT,
            die_with_parent=True,
        ).start()
        log(f"gunicorn started (pid {self.gunicorn.pid})")
        try:
            self.gunicorn.wait_until(lambda: tcp_answers(connect_host, port), 30.0)
            log(f"serving the API at {url}  (Ctrl-C to stop)")
        except ProcessError:
            log(f"gunicorn is not accepting connections on {connect_host}:{port}")
        assert self.gunicorn.proc is not None
        while (code := self.gunicorn.proc.poll()) is None:
            if self.emulator is not None and not self.emulator.running:
                log("emulator exited unexpectedly; stopping gunicorn")
                self.gunicorn.stop()
                return 1
            time.sleep(0.2)
        return code

    def shutdown(self) -> None:
        if self.gunicorn is not None:
            # gunicorn treats SIGINT as a quick and SIGTERM as a graceful shutdown.
            self.gunicorn.stop(self.stop_signal or signal.SIGTERM)
        if self.emulator is not None:
            url = self.emulator.url
            self.emulator.stop()
            # Forget the endpoint only if it is ours: another devstack may have started since.
            if ENDPOINT_FILE.exists() and ENDPOINT_FILE.read_text().strip() == url:
                ENDPOINT_FILE.unlink()
        log("stopped")


def main() -> int:
    os.chdir(ROOT)
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    env.setdefault("DJANGO_DEBUG", "1")  # local run; production sets DJANGO_SECRET_KEY instead
    env.setdefault("PYTHONUNBUFFERED", "1")
    host = env.get("HOST", "").strip() or "127.0.0.1"
    port = int(env.get("PORT", "").strip() or 8000)
    any_address = host in ("0.0.0.0", "::", "[::]")
    connect_host = "127.0.0.1" if any_address else host.strip("[]")
    url = f"http://[{connect_host}]:{port}" if ":" in connect_host else f"http://{connect_host}:{port}"
    bind_host = "0.0.0.0" if any_address else connect_host
    if ":" not in bind_host and not port_is_free(port, bind_host):
        print(f"devstack: port {port} on {bind_host} is already in use; choose another with PORT=...", file=sys.stderr)
        return 1

    STATE_DIR.mkdir(parents=True, exist_ok=True)
    stack = Stack(env)
    signal.signal(signal.SIGINT, stack.on_signal)
    signal.signal(signal.SIGTERM, stack.on_signal)
    # Ctrl-C in a terminal reaches make and us; a SIGINT to make alone kills make only: stop with it.
    parent = os.getppid()
    die_with_parent()
    if os.getppid() != parent:  # it died before we asked
        return 1
    try:
        if env.get("AWS_ENDPOINT_URL_DYNAMODB"):
            log(f"using DynamoDB at {env['AWS_ENDPOINT_URL_DYNAMODB']} (no embedded emulator)")
        else:
            stack.start_emulator()
        stack.create_tables()
        log(f"API at {url}")
        code = stack.serve(connect_host, port, url)
        log(f"gunicorn exited with {code}")
        return code
    except KeyboardInterrupt:
        return 0 if stack.stop_signal is not None else 130
    except (ProcessError, SystemExit) as exc:
        print(exc.code if isinstance(exc, SystemExit) else exc, file=sys.stderr, flush=True)
        return 1
    finally:
        stack.shutdown()


if __name__ == "__main__":
    sys.exit(main())
