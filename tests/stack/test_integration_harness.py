"""The integration path of the harness: DDB_INTEGRATION_ENDPOINT, the `integration` marker, `make integration`.

These run pytest itself in a subprocess (collection only, or one test), so
they start no engine; the real run is `make integration` (in .ci/run).
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.engines import free_port
from tests.stack.servers import ROOT

ONE_TEST = "tests/library/test_tables.py::test_ensure_table_is_idempotent"


def pytest_run(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("DDB_INTEGRATION_ENDPOINT", "DDB_ENGINES", "CI")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=ROOT, env={**environ, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_asking_for_integration_tests_without_an_endpoint_says_what_to_set():
    result = pytest_run("-m", "integration", "--collect-only", "-q", ONE_TEST)
    assert result.returncode == 4, result.stdout + result.stderr  # a usage error, not "no tests ran"
    assert "DDB_INTEGRATION_ENDPOINT" in result.stderr and "make integration" in result.stderr


def test_the_endpoint_replaces_every_engine_and_marks_the_tests_integration():
    endpoint = "http://127.0.0.1:1"  # collection only: nothing is called
    result = pytest_run("-m", "integration", "--collect-only", "-q", "tests/library/test_tables.py",
                        DDB_INTEGRATION_ENDPOINT=endpoint)  # fmt: skip
    ids = [line for line in result.stdout.splitlines() if "::" in line]
    assert result.returncode == 0, result.stdout + result.stderr
    assert ids and all(i.endswith("[integration]") for i in ids), ids
    pure = pytest_run("-m", "not integration", "--collect-only", "-q", "tests/library/test_tables.py",
                      DDB_INTEGRATION_ENDPOINT=endpoint)  # fmt: skip
    assert not any("[" in line for line in pure.stdout.splitlines() if "::" in line)  # only the pure tests left


def test_an_endpoint_that_does_not_answer_fails_the_run_instead_of_skipping():
    result = pytest_run("-m", "integration", ONE_TEST, DDB_INTEGRATION_ENDPOINT=f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1, result.stdout
    assert "does not answer" in result.stdout and "1 error" in result.stdout and "skipped" not in result.stdout


def test_ci_runs_the_integration_path_against_an_emulator_it_starts_outside_pytest():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make integration" in ci and "check_report reports/integration.xml" in ci
    script = (ROOT / "scripts" / "integration.py").read_text()
    assert "moto_server_command" in script and '"-m", "integration"' in script
