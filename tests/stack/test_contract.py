"""Contract test: Schemathesis against the live `make run` stack, with every check on.

``python -m scripts.devstack`` (what `make run` runs: one moto server, the
tables, gunicorn with two workers) serves the API; Schemathesis loads
``/api/openapi.json`` and runs all its phases on every operation: examples,
coverage (boundary and negative values of each constraint), fuzzing (valid
and invalid data) and stateful sequences along the description's links (sign
up -> post -> comment -> delete). Every check must pass: no 5xx, status
codes, content types, headers and bodies as described, invalid data refused,
valid data accepted, auth not ignored, 405 for undescribed methods.
tests/stack/contract_hooks.py gives each write the token a real client would
send; rate limits are off (one client address makes every request).

SCHEMATHESIS_MAX_EXAMPLES (default 10) sets examples per operation and phase:
``SCHEMATHESIS_MAX_EXAMPLES=200 make test PYTEST_ARGS=tests/stack/test_contract.py``
is the long run (new cases each time). SCHEMATHESIS_SEED repeats a run; the
default run always uses the same seed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from scripts.processes import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).with_name("schemathesis.toml")
START_TIMEOUT = 90.0
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "") or 10)
# The whole run's bound: the default run takes seconds; a long run scales with its examples.
RUN_TIMEOUT = 300 + 12 * MAX_EXAMPLES
DEFAULT_SEED = "20261130"


def shell_env() -> dict[str, str]:
    """A fresh shell: no endpoint, Django or DynamoDB settings from the test run."""
    return {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DYNAMO_", "AWS_ENDPOINT_URL", "GUNICORN_"))
    }


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory):
    """`make run`'s stack on free ports, with a moderator token and without rate limits; its URL and secrets."""
    state = tmp_path_factory.mktemp("contract")
    port = free_port()
    secrets_ = {"admin_token": secrets.token_urlsafe(40), "secret_key": secrets.token_urlsafe(50)}
    env = shell_env()
    env.update(
        PORT=str(port),
        DYNAMO_EMULATOR_PORT=str(free_port()),
        DEVSTACK_STATE_DIR=str(state / "run"),
        WEB_CONCURRENCY="2",
        PYTHONUNBUFFERED="1",
        DJANGO_SECRET_KEY=secrets_["secret_key"],
        DJANGO_ADMIN_TOKEN=secrets_["admin_token"],
        DJANGO_RATE_LIMIT_TOKEN="0",
        DJANGO_RATE_LIMIT_ADDRESS="0",
        DJANGO_RATE_LIMIT_SIGNUP="0",
        DJANGO_LOG_LEVEL="WARNING",
        GUNICORN_LOG_LEVEL="warning",
    )
    log = state / "devstack.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "scripts.devstack"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"devstack exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"/healthz did not answer within {START_TIMEOUT:.0f}s:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield {"url": url, "log": log, **secrets_}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # devstack stops gunicorn and the emulator itself
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(30)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything left of its session
        proc.wait(10)


def test_every_operation_keeps_the_contract(live_stack, tmp_path):
    env = {
        **shell_env(),
        "PYTHONPATH": str(ROOT),
        "SCHEMATHESIS_HOOKS": "tests.stack.contract_hooks",
        "CONTRACT_BASE_URL": live_stack["url"],
        "CONTRACT_ADMIN_TOKEN": live_stack["admin_token"],
        "CONTRACT_SECRET_KEY": live_stack["secret_key"],
    }
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(CONFIG),
        "--no-color",
        "run",
        f"{live_stack['url']}/api/openapi.json",
        "--max-examples",
        str(MAX_EXAMPLES),
        # One worker: CPython 3.11 before 3.11.8 can fail ast.parse() run from two threads at once
        # ("AST constructor recursion depth mismatch", CPython gh-106905), which Hypothesis calls.
        "--workers",
        "1",
        "--request-timeout",
        "30",
    ]
    # The default run is seeded (the same cases every time, so `make test` does not vary); a long run
    # (SCHEMATHESIS_MAX_EXAMPLES) draws new ones unless SCHEMATHESIS_SEED says which.
    seed = os.environ.get("SCHEMATHESIS_SEED") or ("" if os.environ.get("SCHEMATHESIS_MAX_EXAMPLES") else DEFAULT_SEED)
    if seed:
        command += ["--seed", seed]
    # In a scratch directory: Schemathesis keeps its example database and reports in the working directory.
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    report = done.stdout + done.stderr
    summary = report[report.rfind("SUMMARY") :] if "SUMMARY" in report else report[-3000:]
    print(summary)
    assert done.returncode == 0, f"{report[-20000:]}\n--- stack log ---\n{live_stack['log'].read_text()[-3000:]}"
    assert "Tested: 21" in report or "21 selected" in report, summary
