"""Coherence across gunicorn workers: what one worker writes, the other serves once the reader delivers it.

The stack is `make run`'s (scripts/devstack.py: its own moto server, two
gunicorn workers) with an item TTL of 10 minutes, so a change seen within the
deadline came through the stream reader, not through an expiry. Deadlines are
generous and nothing is timed: the lag figures belong to `make bench`.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from loadtests import harness
from scripts.processes import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEADLINE = 30.0  # seconds; the reader polls every 0.5 s, the TTL is 600 s


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("coherence") / "stack.log"
    env = {"WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "2", "DYNAMO_CACHE_TTL": "600", "DJANGO_DEBUG": "1"}
    env |= {"DJANGO_RATE_LIMIT_TOKEN": "0", "DJANGO_RATE_LIMIT_ADDRESS": "0", "DJANGO_RATE_LIMIT_SIGNUP": "0"}
    env["DYNAMO_EMULATOR_PORT"] = str(free_port())  # an endpoint of its own: a host directory of its own
    with harness.devstack(log, env=env) as server:
        yield server.url


def health(session: requests.Session, url: str) -> dict:
    return session.get(f"{url}/healthz", timeout=10).json()["cache"]


def two_workers(url: str) -> tuple[requests.Session, requests.Session]:
    """Two keep-alive connections served by different workers (gunicorn keeps a connection on one)."""
    by_pid: dict[int, requests.Session] = {}
    for _ in range(100):
        session = requests.Session()
        by_pid.setdefault(health(session, url)["pid"], session)
        if len(by_pid) == 2:
            first, second = by_pid.values()
            return first, second
    pytest.fail(f"found only workers {sorted(by_pid)} behind {url}")


def sign_up(writer: requests.Session, url: str) -> dict:
    """Sign an author up through ``writer``, which then writes with the author's token."""
    name = uuid.uuid4().hex[:10]
    response = writer.post(f"{url}/api/authors/", json={"username": name, "email": f"{name}@example.com"})
    assert response.status_code == 201, response.text
    author = response.json()
    writer.headers["Authorization"] = f"Bearer {author['token']}"
    return author


def eventually(check, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {DEADLINE:.0f}s: {what}")
        time.sleep(0.05)


def streams_running(url: str) -> None:
    session = requests.Session()
    eventually(lambda: health(session, url)["mode"] == "streams", "a live stream reader")


def test_a_change_through_one_worker_shows_through_the_other(stack):
    streams_running(stack)
    one, other = two_workers(stack)
    author = sign_up(one, stack)
    detail = f"{stack}/api/authors/{author['pk']}/"
    post = {"title": "t", "slug": f"s-{author['username']}", "author_pk": author["pk"], "published": True}
    response = one.post(f"{stack}/api/posts/", json=post)
    assert response.status_code == 201, response.text
    created = response.json()
    listed = f"{stack}/api/posts/?author_pk={author['pk']}"
    eventually(lambda: other.get(detail).status_code == 200, "the new author, through the other worker")
    eventually(lambda: len(other.get(listed).json()["results"]) == 1, "the new post in the other's list")

    assert one.patch(detail, json={"bio": "changed"}).status_code == 200
    eventually(lambda: other.get(detail).json()["bio"] == "changed", "the new bio through the other worker")
    assert one.patch(f"{stack}/api/posts/{created['pk']}/", json={"title": "new title"}).status_code == 200
    eventually(
        lambda: other.get(listed).json()["results"][0]["title"] == "new title", "the new title in the other's list"
    )
    assert one.delete(f"{stack}/api/posts/{created['pk']}/").status_code == 204
    eventually(lambda: other.get(listed).json()["results"] == [], "the delete in the other's list")


def test_when_the_reader_dies_another_worker_takes_over(stack):
    streams_running(stack)
    readers = [health(requests.Session(), stack)["reader_pid"] for _ in range(4)]
    reader = next(pid for pid in readers if pid)
    os.kill(reader, signal.SIGKILL)  # gunicorn starts a new worker; the lock goes to whoever takes it first

    def new_reader() -> bool:
        status = health(requests.Session(), stack)
        return status["reader_pid"] not in (None, reader) and status["mode"] == "streams"

    eventually(new_reader, "another worker reading the streams")
    one, other = two_workers(stack)
    author = sign_up(one, stack)
    detail = f"{stack}/api/authors/{author['pk']}/"
    eventually(lambda: other.get(detail).status_code == 200, "the author through the other worker")
    assert one.patch(detail, json={"bio": "after the takeover"}).status_code == 200
    eventually(lambda: other.get(detail).json()["bio"] == "after the takeover", "the change after the takeover")
    assert not Path(f"/proc/{reader}").exists() or "Z" in Path(f"/proc/{reader}/stat").read_text().split()[2]
