"""`make load`: run the blog mix headless and print requests/s, p50/p95/p99 and failures.

Environment:
  HOST        the API to load, e.g. http://127.0.0.1:8000. Unset: start `make run`'s
              stack (scripts/devstack.py) on a free port, load it, stop it.
  USERS       concurrent users (default 50)
  SPAWN_RATE  users started per second (default 10)
  DURATION    run time, e.g. 60s, 2m (default 60s; a bare number means seconds)
  LOCUSTFILE  scenario (default loadtests/locustfile.py)
  REPORT      report path prefix (default reports/load): <REPORT>_stats.csv,
              <REPORT>_failures.csv, <REPORT>.html, <REPORT>.log

Exit status: 0 when every request succeeded, 1 otherwise (or when nothing ran).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from loadtests import common  # noqa: E402
from loadtests.harness import DevStack, HarnessError, LocustRun, run_locust  # noqa: E402


def _duration(raw: str) -> str:
    raw = raw.strip() or "60s"
    return f"{raw}s" if raw.isdigit() else raw


def _host(raw: str) -> str:
    raw = raw.strip().rstrip("/")
    return raw if "://" in raw else f"http://{raw}"


def print_summary(run: LocustRun, *, host: str, users: int, duration: str) -> None:
    s = run.summary()
    print()
    print(f"== load: {users} users for {duration} against {host}")
    print(f"   requests     {s['requests']}")
    print(f"   requests/s   {s['rps']:.1f}")
    print(f"   p50/p95/p99  {s['p50']:.0f} / {s['p95']:.0f} / {s['p99']:.0f} ms")
    print(f"   failures     {s['failures']}" + (f" ({s['failures'] / s['requests']:.2%})" if s["requests"] else ""))
    names = run.names() + ["Aggregated"]
    width = max(len(k) for k in names)
    print(f"\n   {'request':<{width}}  {'count':>7} {'fail':>5} {'req/s':>7} {'p50':>6} {'p95':>6} {'p99':>6}")
    for key in names:
        f = run.figures(key)
        print(
            f"   {key:<{width}}  {f['requests']:>7} {f['failures']:>5} "
            f"{f['rps']:>7.1f} {f['p50']:>6.0f} {f['p95']:>6.0f} {f['p99']:>6.0f}"
        )
    for failure in run.failures[:10]:
        print(
            f"   FAILED {failure.get('Method')} {failure.get('Name')}: {failure.get('Error')} x{failure.get('Occurrences')}"
        )
    if s["cpu_warning"]:
        print("   note: locust's own CPU went above 90%; the load generator may have limited throughput")
    if run.returncode not in (0, 1):
        print(f"   locust exited with {run.returncode}; see {run.log_path}")
    print(f"\n   CSV: {run.csv_prefix}_stats.csv   HTML: {run.csv_prefix}.html   log: {run.log_path}")


def main() -> int:
    users = int(os.environ.get("USERS", "50") or 50)
    spawn_rate = float(os.environ.get("SPAWN_RATE", "10") or 10)
    duration = _duration(os.environ.get("DURATION", "60s"))
    locustfile = os.environ.get("LOCUSTFILE", "loadtests/locustfile.py")
    prefix = ROOT / os.environ.get("REPORT", "reports/load")
    prefix.parent.mkdir(parents=True, exist_ok=True)
    html = Path(f"{prefix}.html")

    def load(host: str) -> LocustRun:
        # Seed before the clock starts, so the run measures reading and writing only.
        created = common.ensure_seed(host)
        if created:
            print(f"seeded {created} posts through the API")
        print(
            f"running {locustfile}: {users} users (spawn {spawn_rate}/s) for {duration} against {host} ...", flush=True
        )
        return run_locust(
            locustfile,
            host,
            users=users,
            spawn_rate=spawn_rate,
            run_time=duration,
            csv_prefix=prefix,
            html=html,
            config=ROOT / "loadtests" / "locust.conf",
        )

    raw_host = os.environ.get("HOST", "").strip()
    try:
        if raw_host:
            host = _host(raw_host)
            run = load(host)
        else:
            print("HOST is unset: starting the stack (scripts/devstack.py) on a free port ...", flush=True)
            with DevStack(log_path=Path(f"{prefix}-stack.log")) as stack:
                host = stack.url
                run = load(host)
    except (HarnessError, common.SeedError) as exc:
        print(f"make load: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("make load: interrupted", file=sys.stderr)
        return 130

    print_summary(run, host=host, users=users, duration=duration)
    if run.requests == 0:
        print("make load: no requests were made", file=sys.stderr)
        return 1
    return 0 if run.failure_count == 0 and run.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
