"""Cross-worker staleness: how long after a write through one worker the other still serves the old value.

Two keep-alive connections held by different gunicorn workers (``/healthz``
names the worker that answers). For each write: wait a random moment (so the
writes do not fall in step with the reader's polls), PATCH an author's bio
through one worker, then GET it through the other until the new bio shows;
the lag runs from the PATCH's answer to the first GET that shows it. The
reader's counters in ``/healthz`` before and after give its poll rate.
"""

from __future__ import annotations

import random
import time
import uuid

import requests

from bench.results import Staleness

DEADLINE = 120.0  # seconds one write may stay unseen before the phase gives up (twice the item TTL)


def _health(session: requests.Session, base: str) -> dict:
    return session.get(f"{base}/healthz", timeout=30).json()["cache"]


def _two_workers(base: str) -> tuple[requests.Session, requests.Session]:
    found: dict[int, requests.Session] = {}
    for _ in range(200):
        session = requests.Session()
        found.setdefault(_health(session, base)["pid"], session)
        if len(found) == 2:
            writer, reader = found.values()
            return writer, reader
    raise RuntimeError(f"staleness: only one worker answered at {base}")


def measure(base: str, writes: int, max_pause: float = 0.5) -> Staleness:
    """``writes`` writes through one worker, each awaited through the other; the lags and the reader's poll rate."""
    writer, reader = _two_workers(base)
    name = f"stale-{uuid.uuid4().hex[:10]}"
    body = {"username": name, "email": f"{name}@example.com", "bio": "0"}
    url = f"{base}/api/authors/{writer.post(f'{base}/api/authors/', json=body, timeout=30).json()['pk']}/"
    before, started = _health(reader, base), time.monotonic()
    lags: list[float] = []
    for i in range(1, writes + 1):
        reader.get(url, timeout=30)  # the other worker holds the current bio
        time.sleep(random.uniform(0, max_pause))
        if writer.patch(url, json={"bio": str(i)}, timeout=30).status_code != 200:
            raise RuntimeError(f"staleness: PATCH {url} failed")
        written = time.monotonic()
        while reader.get(url, timeout=30).json()["bio"] != str(i):
            if time.monotonic() - written > DEADLINE:
                raise RuntimeError(f"staleness: write {i} unseen after {DEADLINE:.0f} s")
        lags.append(time.monotonic() - written)
    after, elapsed = _health(reader, base), time.monotonic() - started
    return Staleness(
        lags_s=lags,
        seconds=elapsed,
        polls=after["reader"].get("polls", 0) - before["reader"].get("polls", 0),
        get_records=after["reader"].get("reads", 0) - before["reader"].get("reads", 0),
        tables=sum(1 for state in after["tables"].values() if state == "stream"),
        interval_s=after["reader"].get("interval", 0.0),
        same_reader=after["reader_pid"] == before["reader_pid"],
    )
