"""Run the whole stack locally: what `make run` does (``python -m scripts.devstack``).

1. Unless AWS_ENDPOINT_URL_DYNAMODB is set, start ONE embedded DynamoDB
   emulator (the serialised moto server of scripts/moto_server.py) that every
   gunicorn worker shares, and wait until it answers.
2. Create the missing tables (`manage.py dynamo_tables create`).
3. Serve the API with gunicorn, the same command as the Docker image.
4. On Ctrl-C / SIGTERM stop gunicorn, then the emulator: no orphans.

Environment: HOST (gunicorn's bind address, 127.0.0.1), PORT (8000),
DYNAMO_EMULATOR_PORT (4567), DEVSTACK_STATE_DIR (.run), WEB_CONCURRENCY,
GUNICORN_THREADS and everything config/settings.py and config/gunicorn.conf.py read.
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
    tcp_answers,
)

# The Docker image runs exactly this (tests/stack/test_compose.py checks it).
GUNICORN_CMD = ["gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi:application"]
# Where `make seed` finds the embedded emulator's URL while the stack runs.
STATE_DIR = Path(os.environ.get("DEVSTACK_STATE_DIR") or ROOT / ".run")
ENDPOINT_FILE = STATE_DIR / "dynamodb-endpoint"


def log(message: str) -> None:
    print(f"devstack: {message}", flush=True)


def emulator_port() -> int:
    """DYNAMO_EMULATOR_PORT if given (must be free), else 4567 or any free port."""
    if raw := os.environ.get("DYNAMO_EMULATOR_PORT", "").strip():
        if tcp_answers("127.0.0.1", int(raw)):
            raise SystemExit(f"devstack: DYNAMO_EMULATOR_PORT={raw} is already in use")
        return int(raw)
    return free_port() if tcp_answers("127.0.0.1", 4567) else 4567


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
            for process in (self.gunicorn, self.emulator):
                if process and process.proc:
                    kill_group(process.proc.pid)
            os._exit(130)
        self.stop_signal = signum
        raise KeyboardInterrupt  # unwinds whichever step runs; shutdown() stops what was started

    def start_emulator(self) -> None:
        url = f"http://127.0.0.1:{emulator_port()}"
        # Its per-request log would drown gunicorn's access log: keep it in a file.
        log_path = STATE_DIR / "moto_server.log"
        log(f"starting DynamoDB emulator (moto server) at {url}, log in {log_path}")
        self.emulator = Process(
            moto_server_command(int(url.rsplit(":", 1)[1])),
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
        # The emulator accepts any credentials; never send real ones to it.
        self.env.update(AWS_ENDPOINT_URL_DYNAMODB=url, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
        self.env.setdefault("AWS_REGION", "us-east-1")
        self.env.pop("AWS_SESSION_TOKEN", None)

    def serve(self, host: str, port: int, url: str) -> int:
        """Run gunicorn until it exits, or stop it when the emulator dies under it; return its exit code."""
        gunicorn = Path(sys.executable).with_name("gunicorn")  # the venv's, else PATH's
        argv = [str(gunicorn) if gunicorn.exists() else "gunicorn", *GUNICORN_CMD[1:]]
        # stop_timeout > graceful_timeout in gunicorn.conf.py
        self.gunicorn = Process(argv, name="gunicorn", env=self.env, url=url, stop_timeout=20.0, die_with_parent=True)
        log(f"gunicorn started (pid {self.gunicorn.start().pid})")
        try:
            self.gunicorn.wait_until(lambda: tcp_answers(host, port), 30.0)
            log(f"serving the API at {url}  (Ctrl-C to stop)")
        except ProcessError:
            log(f"gunicorn is not accepting connections on {host}:{port}")
        while (code := self.gunicorn.poll()) is None:
            if self.emulator is not None and self.emulator.poll() is not None:
                log("emulator exited unexpectedly; stopping gunicorn")
                return 1
            time.sleep(0.2)
        return code

    def shutdown(self) -> None:
        if self.gunicorn is not None:
            # gunicorn treats SIGINT as a quick and SIGTERM as a graceful shutdown.
            self.gunicorn.stop(self.stop_signal or signal.SIGTERM)
        if self.emulator is not None:
            self.emulator.stop()
            # Forget the endpoint only if it is ours: another devstack may have started since.
            if ENDPOINT_FILE.exists() and ENDPOINT_FILE.read_text().strip() == self.emulator.url:
                ENDPOINT_FILE.unlink()
        log("stopped")


def main() -> int:
    os.chdir(ROOT)
    # DEBUG on for a local run; production sets DJANGO_SECRET_KEY instead.
    env = {"DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_DEBUG": "1", "PYTHONUNBUFFERED": "1", **os.environ}
    host = env.get("HOST", "").strip() or "127.0.0.1"
    port = int(env.get("PORT", "").strip() or 8000)
    connect = "127.0.0.1" if host in ("0.0.0.0", "::", "[::]") else host.strip("[]")
    url = f"http://[{connect}]:{port}" if ":" in connect else f"http://{connect}:{port}"
    if tcp_answers(connect, port):
        print(f"devstack: port {port} on {connect} is already in use; choose another with PORT=...", file=sys.stderr)
        return 1
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    stack = Stack(env)
    signal.signal(signal.SIGINT, stack.on_signal)
    signal.signal(signal.SIGTERM, stack.on_signal)
    # A terminal's Ctrl-C reaches make and us; a signal to make alone must stop us too.
    parent = os.getppid()
    die_with_parent()
    try:
        if os.getppid() != parent:  # it died before we asked
            return 1
        if env.get("AWS_ENDPOINT_URL_DYNAMODB"):
            log(f"using DynamoDB at {env['AWS_ENDPOINT_URL_DYNAMODB']} (no embedded emulator)")
        else:
            stack.start_emulator()
        log("creating tables (manage.py dynamo_tables create)")
        if code := subprocess.call([sys.executable, "manage.py", "dynamo_tables", "create"], env=env):
            raise SystemExit(f"devstack: `manage.py dynamo_tables create` failed with exit code {code}")
        log(f"API at {url}")
        code = stack.serve(connect, port, url)
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
