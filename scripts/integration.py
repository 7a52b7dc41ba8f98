"""`make integration`: the library and blog engine tests against one existing DynamoDB endpoint.

With ``DDB_INTEGRATION_ENDPOINT`` set (LocalStack, an emulator, or ``aws``) the
run targets it. Without it, this script starts a moto server of its own
(``python -m scripts.moto_server``, the `make run` emulator) outside pytest,
points the run at it and stops it afterwards: what CI does to prove the path.

    python -m scripts.integration [pytest arguments...]

The run is ``pytest -m integration tests/library tests/blog`` with a JUnit
report in reports/integration.xml; it fails when pytest fails, or when no
test ran at all (the marker selecting nothing is a broken harness, not a pass).
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from scripts.processes import ROOT, Process, ProcessError, dynamodb_answers, free_port, moto_server_command

REPORT = ROOT / "reports" / "integration.xml"
SUITES = ["tests/library", "tests/blog"]


def ran(report: Path) -> tuple[int, int]:
    """(tests run, tests skipped) in a JUnit report."""
    root = ET.parse(report).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    return sum(int(s.get("tests", 0)) for s in suites), sum(int(s.get("skipped", 0)) for s in suites)


def run_pytest(endpoint: str, args: list[str]) -> int:
    env = {**os.environ, "DDB_INTEGRATION_ENDPOINT": endpoint}
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pytest", "-m", "integration", f"--junitxml={REPORT}", *SUITES, *args]
    print(f"integration: DDB_INTEGRATION_ENDPOINT={endpoint} {' '.join(command[1:])}", flush=True)
    code = subprocess.call(command, cwd=ROOT, env=env)
    if code != 0:
        return code
    tests, skipped = ran(REPORT) if REPORT.exists() else (0, 0)
    if tests - skipped <= 0:
        print("integration: no test ran against the endpoint", file=sys.stderr)
        return 1
    print(f"integration: {tests - skipped} test(s) ran against {endpoint} ({skipped} skipped)")
    return 0


def main(args: list[str]) -> int:
    endpoint = os.environ.get("DDB_INTEGRATION_ENDPOINT", "").strip()
    if endpoint:
        return run_pytest(endpoint, args)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = Process(
        moto_server_command(port),
        name="moto_server",
        log_path=ROOT / "reports" / "integration-moto.log",
        url=url,
        ready=lambda: dynamodb_answers(url),
        die_with_parent=True,
    )
    try:
        with server:
            print(f"integration: started a moto server at {url} (log: {server.log_path})", flush=True)
            return run_pytest(url, args)
    except ProcessError as error:
        print(f"integration: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
