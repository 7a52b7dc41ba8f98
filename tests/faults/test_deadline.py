"""Issue 10, problem 4: a slow DynamoDB must not hold request threads past the per-request deadline.

Every DynamoDB call is delayed 10 s by the proxy. As many slow requests as
gunicorn has threads (4 per worker, pinned 4 to each) are sent at once, so
every thread is busy; then a GET that the worker answers from its cache.
The slow requests must end in 503 with Retry-After once their deadline
(DYNAMO_REQUEST_DEADLINE) is spent, freeing their threads, so the cached
GET waits at most about that long, not 4 attempts x 5 s.
"""

from __future__ import annotations

import threading
import time

import pytest

from tests.faults.api import attempt, describe, error_of, new_author, new_post, no_problems, status, unique
from tests.faults.proxy import Fault
from tests.faults.stack import DEADLINE, THREADS

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# How long past the deadline an answer may take: scheduling, the last attempt's timeout, the response.
SLACK = 1.5
CLIENT_TIMEOUT = DEADLINE + 6


def timed(call):
    started = time.monotonic()
    answer = attempt(call)
    return answer, time.monotonic() - started


def caught_up(client, since: float, seconds: float = 15.0) -> None:
    """Wait until the worker's caches have had every change made before ``since`` (no reader: at once)."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        cache = client.get("/healthz").json()["cache"]
        if cache["mode"] != "streams":
            return
        if cache["lag_seconds"] is not None and time.time() - cache["lag_seconds"] > since:
            return
        time.sleep(0.1)
    pytest.fail(f"worker {client.worker}'s stream reader did not deliver the setup's writes in {seconds:g} s")


def test_slow_dynamodb_answers_503_within_the_deadline_and_a_cached_get_still_answers(stack):
    clients = stack.pinned(THREADS + 1)  # A, B, A, B, ...: per worker one for the cached GET, THREADS slow
    fast, slow = clients[:2], clients[2:]
    author = new_author(fast[0])
    post = new_post(fast[0], author["pk"])
    author_path = f"/api/authors/{author['pk']}/"
    written = time.time()
    for client in fast:  # the stream records of those writes, delivered later, would drop the cached author
        caught_up(client, written)
    for client in fast:  # each worker caches the author
        assert client.get(author_path).status_code == 200
    slow_requests = [
        ("GET", f"/api/posts/{post['pk']}/", None),  # a counter write, then reads
        ("GET", "/api/posts/", None),  # reads only
        ("POST", f"/api/posts/{post['pk']}/comments/", {"author_pk": author["pk"], "body": unique("c")}),
    ]

    stack.proxy.set(Fault("delay", seconds=10))
    results: dict[int, tuple] = {}

    def send(n: int, client) -> None:
        method, path, body = slow_requests[n % len(slow_requests)]
        results[n] = (
            method,
            path,
            client.worker,
            *timed(lambda: client.request(method, path, json=body, timeout=CLIENT_TIMEOUT)),
        )

    threads = [threading.Thread(target=send, args=(n, c), daemon=True) for n, c in enumerate(slow)]
    for thread in threads:
        thread.start()
    until = time.monotonic() + 2
    while stack.proxy.count("delay") < len(slow) and time.monotonic() < until:
        time.sleep(0.02)  # until every slow request waits on DynamoDB: every thread is busy
    cached = [timed(lambda client=client: client.get(author_path, timeout=CLIENT_TIMEOUT)) for client in fast]
    for thread in threads:
        thread.join(CLIENT_TIMEOUT + 5)

    problems = []
    for client, (answer, took) in zip(fast, cached, strict=True):
        if status(answer) != 200 or took > DEADLINE + SLACK:
            problems.append(f"cached GET on worker {client.worker}: {describe(answer)} after {took:.1f}s")
    for method, path, worker, answer, took in results.values():
        where = f"slow {method} {path} on worker {worker}"
        if status(answer) != 503 or not answer.headers.get("Retry-After"):
            problems.append(f"{where}: {describe(answer)} after {took:.1f}s (want 503 with Retry-After)")
        elif took > DEADLINE + SLACK:
            problems.append(f"{where}: 503 only after {took:.1f}s")
        else:
            error_of(answer)
    no_problems(
        problems,
        f"answers too slow or wrong with DynamoDB 10 s slow (deadline {DEADLINE:g}s, limit {DEADLINE + SLACK:g}s)",
    )
