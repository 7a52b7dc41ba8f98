"""The blog mix runs headless against a live stack with zero failures.

Starts the stack the way `make run` does (``python -m scripts.devstack``, its
own moto server, a free PORT), runs loadtests/locustfile.py for a few seconds
with a few users, and reads the run back as a Phase record. Timings are not
asserted: only that requests were made and none failed.
"""

from __future__ import annotations

import dataclasses

import pytest

from loadtests.data import SETTINGS, ensure_seed
from loadtests.harness import devstack, run_locust

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory: pytest.TempPathFactory):
    log_dir = tmp_path_factory.mktemp("locust-smoke")
    with devstack(log_dir / "stack.log", env={"WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "4"}) as stack:
        yield stack, log_dir


def test_blog_mix_runs_headless_with_zero_failures(live_stack) -> None:
    stack, log_dir = live_stack
    # Seed before the clock starts, as `make load` does.
    ensure_seed(stack.url, dataclasses.replace(SETTINGS, min_posts=8, seed_authors=4, seed_posts=8, seed_comments=3))

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

    log = (log_dir / "smoke.log").read_text(errors="replace")[-3000:]
    assert run.total.requests > 0, f"locust made no requests; log:\n{log}"
    assert run.total.failures == 0, f"{run.total.failures} failed requests: {[str(f) for f in run.failed]}"
    assert not run.exceptions, f"{run.exceptions} exceptions in the locustfile; log:\n{log}"
    assert run.returncode == 0, f"locust exited with {run.returncode}; log:\n{log}"
    # Both kinds of user ran: reads and at least one write made it into the stats.
    names = set(run.names())
    assert any(name.startswith("GET ") for name in names), names
    assert any(name.startswith(("POST ", "PUT ", "DELETE ")) for name in names), names
    # The Server-Timing tally saw DynamoDB calls.
    assert run.timing_total.with_header > 0, run.timing
