"""The blog mix runs headless against a live stack with zero failures.

Starts the stack the way `make run` does (scripts/devstack.py, its own moto
server, a free PORT), runs loadtests/locustfile.py for a few seconds with a
few users, and reads locust's CSV. Timings are not asserted: only that
requests were made and none failed.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from loadtests import common  # noqa: E402
from loadtests.harness import DEVSTACK, DevStack, run_locust  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory: pytest.TempPathFactory):
    if not DEVSTACK.exists():
        pytest.fail(f"{DEVSTACK} is missing: `make run` has no stack to start")
    log_dir = tmp_path_factory.mktemp("locust-smoke")
    with DevStack(log_path=log_dir / "stack.log", env={"WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "4"}) as stack:
        yield stack, log_dir


def test_blog_mix_runs_headless_with_zero_failures(live_stack) -> None:
    stack, log_dir = live_stack
    # Seed before the clock starts, as `make load` does.
    small = dataclasses.replace(common.SETTINGS, min_posts=8, seed_authors=4, seed_posts=8, seed_comments=3)
    common.ensure_seed(stack.url, small)

    run = run_locust(
        "loadtests/locustfile.py",
        stack.url,
        users=6,
        spawn_rate=6,
        run_time="6s",
        csv_prefix=log_dir / "smoke",
        timeout=120,
        env={"LOADTEST_WAIT": "0.05,0.2", "LOADTEST_MIN_POSTS": "8", "LOADTEST_POOL_MAX": "50"},
    )

    failures = [f"{f.get('Method')} {f.get('Name')}: {f.get('Error')} x{f.get('Occurrences')}" for f in run.failures]
    log = run.log_path.read_text(errors="replace")[-3000:]
    assert run.requests > 0, f"locust made no requests; log:\n{log}"
    assert run.failure_count == 0, f"{run.failure_count} failed requests: {failures}"
    assert not run.exceptions, f"exceptions in the locustfile: {run.exceptions}"
    assert run.returncode == 0, f"locust exited with {run.returncode}; log:\n{log}"
    # Both kinds of user ran: reads and at least one write made it into the stats.
    names = set(run.names())
    assert any(name.startswith("GET ") for name in names), names
