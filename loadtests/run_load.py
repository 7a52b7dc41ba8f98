"""`make load` (``python -m loadtests.run_load``): the blog mix headless; requests/s, p50/p95/p99, failures.

Environment:
  TARGET      the API to load, e.g. http://127.0.0.1:8000. Unset: start `make run`'s
              stack (scripts/devstack.py) on a free port, with write limits too high
              to trip (harness.LOAD_STACK_ENV), load it, stop it. Every locust user
              writes from one address: start a TARGET stack with
              DJANGO_RATE_LIMIT_ADDRESS=0 DJANGO_RATE_LIMIT_SIGNUP=0.
  USERS       concurrent users (default 50)
  SPAWN_RATE  users started per second (default 10)
  DURATION    run time, e.g. 60s, 2m (default 60s; a bare number means seconds)
  LOCUSTFILE  scenario (default loadtests/locustfile.py)
  REPORT      report path prefix (default reports/load): <REPORT>_stats.csv,
              <REPORT>_failures.csv, <REPORT>.html, <REPORT>.log

Exit status: 0 when every request succeeded, 1 otherwise (or when nothing ran).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from loadtests.data import SeedError, ensure_seed
from loadtests.harness import devstack, run_locust
from loadtests.records import AGGREGATED, Phase
from scripts.processes import ROOT, ProcessError


def print_summary(run: Phase, prefix: Path) -> None:
    total = run.total
    share = f" ({total.failures / total.requests:.2%})" if total.requests else ""
    print(f"\n   requests {total.requests}, {total.rps:.1f}/s, failures {total.failures}{share}")
    names = [*run.names(), AGGREGATED]
    width = max(map(len, names))
    print(f"\n   {'request':<{width}}  {'count':>7} {'fail':>5} {'req/s':>7} {'p50':>6} {'p95':>6} {'p99':>6}")
    for key in names:
        f = run.stats[key]
        figures = f"{f.requests:>7} {f.failures:>5} {f.rps:>7.1f} {f.p50:>6.0f} {f.p95:>6.0f} {f.p99:>6.0f}"
        print(f"   {key:<{width}}  {figures}")
    for failure in run.failed:
        print(f"   FAILED {failure}")
    if run.cpu_warning:
        print("   note: locust's own CPU went above 90%; the load generator may have limited throughput")
    print(f"\n   CSV: {prefix}_stats.csv   HTML: {prefix}.html   log: {prefix}.log")
    if run.returncode not in (0, 1):
        print(f"   locust exited with {run.returncode}; see the log")


def main() -> int:
    users = int(os.environ.get("USERS") or 50)
    spawn_rate = float(os.environ.get("SPAWN_RATE") or 10)
    duration = os.environ.get("DURATION", "").strip() or "60s"
    duration += "s" if duration.isdigit() else ""
    locustfile = os.environ.get("LOCUSTFILE") or "loadtests/locustfile.py"
    prefix = ROOT / (os.environ.get("REPORT") or "reports/load")
    target = os.environ.get("TARGET", "").strip().rstrip("/")
    try:
        with contextlib.ExitStack() as stack:
            if not target:
                print("TARGET is unset: starting the stack (python -m scripts.devstack) on a free port ...", flush=True)
                target = stack.enter_context(devstack(Path(f"{prefix}-stack.log"))).url
            target = target if "://" in target else f"http://{target}"
            # Seed before the clock starts, so the run measures reading and writing only.
            if created := ensure_seed(target):
                print(f"seeded {created} posts through the API")
            print(f"running {locustfile}: {users} users (spawn {spawn_rate}/s) for {duration} against {target} ...")
            run = run_locust(
                locustfile,
                target,
                users=users,
                spawn_rate=spawn_rate,
                run_time=duration,
                csv_prefix=prefix,
                html=Path(f"{prefix}.html"),
                config=ROOT / "loadtests" / "locust.conf",
            )
    except (ProcessError, SeedError) as exc:
        print(f"make load: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("make load: interrupted", file=sys.stderr)
        return 130
    print_summary(run, prefix)
    if not run.total.requests:
        print("make load: no requests were made", file=sys.stderr)
        return 1
    return 0 if run.total.failures == 0 and run.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
