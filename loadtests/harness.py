"""The processes a load run needs, and headless locust runs read back as :class:`Phase` records.

Used by `make load` (loadtests/run_load.py), `make bench` and the locust smoke
test. Every process is a :class:`scripts.processes.Process` (its own process
group, polled until it answers, stopped through its group only). Locust always
runs as a child process, so its gevent monkey-patching never reaches the caller.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from loadtests.records import Phase, from_dict
from scripts.processes import (
    ROOT,
    Process,
    ProcessError,
    dynalite_command,
    dynamodb_answers,
    free_port,
    http_ok,
    moto_server_command,
)

PYTHON = sys.executable
# A production-like stack (DEBUG off needs a key; this one is for the stacks the tools start, never production),
# with the Server-Timing header the load runs and `make bench` read their DynamoDB figures from.
PRODUCTION_ENV = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "loadtests-local-only-not-a-secret",
    "DYNAMO_SERVER_TIMING": "1",
}
# The stacks the tools start: every write limit still counts in DynamoDB (its
# cost is part of what is measured), but too high to trip, since every locust
# user writes from one address and a closed-loop writer outruns any per-token limit.
LOAD_STACK_ENV = {
    "DJANGO_RATE_LIMIT_TOKEN": "1000000/60",
    "DJANGO_RATE_LIMIT_ADDRESS": "1000000/60",
    "DJANGO_RATE_LIMIT_SIGNUP": "1000000/60",
}


def child_env(**overrides: str | None) -> dict[str, str]:
    """Our environment for a child, plus ``overrides`` (None removes a variable).

    HOST is dropped: config/gunicorn.conf.py reads it as the bind address, and
    the stacks started here listen on 127.0.0.1 only.
    """
    env = {k: v for k, v in os.environ.items() if k != "HOST"}
    env.setdefault("PYTHONUNBUFFERED", "1")
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return env


def emulator(kind: str, log_path: Path) -> Process:
    """The serialised moto server `make run` uses, or dynalite (ProcessError when it cannot run), on a free port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = moto_server_command(port) if kind == "moto" else dynalite_command(port)
    env = child_env(MOTO_PORT=None)
    return Process(command, name=kind, env=env, log_path=log_path, url=url, ready=lambda: dynamodb_answers(url))


def _web(name: str, argv: list[str], log_path: Path, env: dict[str, str | None], stop: int) -> Process:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    return Process(
        argv,
        name=name,
        env=child_env(PORT=str(port), **env),
        log_path=log_path,
        url=url,
        ready=lambda: http_ok(f"{url}/healthz"),
        ready_timeout=90.0,
        stop_signal=stop,
        stop_timeout=30.0,
    )


def devstack(
    log_path: Path, *, dynamodb_endpoint: str | None = None, env: Mapping[str, str | None] | None = None
) -> Process:
    """`make run`'s stack on a free port, ready when /healthz is 200; its own emulator unless given one.

    Its state directory (where it notes its emulator's URL) is private to this
    run, so a developer's own `make run` is never disturbed. Its write limits
    are LOAD_STACK_ENV's unless ``env`` says otherwise.
    """
    overrides: dict[str, str | None] = {**LOAD_STACK_ENV, "DEVSTACK_STATE_DIR": str(log_path.with_suffix(".state"))}
    if dynamodb_endpoint:
        overrides["AWS_ENDPOINT_URL_DYNAMODB"] = dynamodb_endpoint
    argv = [PYTHON, "-m", "scripts.devstack"]
    return _web("devstack", argv, log_path, {**overrides, **(env or {})}, signal.SIGINT)


def gunicorn(app: str, log_path: Path, env: Mapping[str, str | None] | None = None) -> Process:
    """gunicorn with config/gunicorn.conf.py serving ``app`` (e.g. the bare benchmark app)."""
    argv = [PYTHON, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", app]
    return _web("gunicorn", argv, log_path, {"HOST": "127.0.0.1", **(env or {})}, signal.SIGTERM)


def manage(args: Sequence[str], env: Mapping[str, str], timeout: float = 600.0) -> None:
    """Run ``manage.py <args>`` (e.g. seed_blog); ProcessError with its output when it fails."""
    done = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=dict(env), capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise ProcessError(
            f"manage.py {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        )


def run_locust(
    locustfile: str,
    host: str,
    *,
    users: int,
    spawn_rate: float,
    run_time: str,
    csv_prefix: Path,
    html: Path | None = None,
    config: Path | None = None,
    env: Mapping[str, str | None] | None = None,
    extra_args: Sequence[str] = (),
    timeout: float | None = None,
) -> Phase:
    """Run locust headless from the repository root; return the Phase it dumped when it quit.

    Its output goes to ``<csv_prefix>.log``, its CSVs to ``<csv_prefix>_*.csv``.
    """
    csv_prefix.parent.mkdir(parents=True, exist_ok=True)
    tally, log_path = Path(f"{csv_prefix}_tally.json"), Path(f"{csv_prefix}.log")
    tally.unlink(missing_ok=True)
    log_path.unlink(missing_ok=True)
    argv = [PYTHON, "-m", "locust", *(["--config", str(config)] if config else []), "-f", locustfile, "--headless"]
    argv += ["--host", host, "-u", str(users), "-r", str(spawn_rate), "-t", run_time, "--csv", str(csv_prefix)]
    argv += ["--only-summary", "--stop-timeout", "5", *(["--html", str(html)] if html else []), *extra_args]
    env = child_env(LOADTEST_TALLY_FILE=str(tally), **(env or {}))
    locust = Process(argv, name="locust", env=env, log_path=log_path, stop_signal=signal.SIGINT).start()
    returncode = locust.wait(timeout)
    locust.stop()
    phase = from_dict(Phase, json.loads(tally.read_text(encoding="utf-8"))) if tally.exists() else Phase()
    phase.returncode = returncode
    phase.cpu_warning = "CPU usage above" in log_path.read_text(encoding="utf-8", errors="replace")
    return phase
