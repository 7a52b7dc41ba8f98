"""Issue 10: ``Idempotency-Key`` on every POST, across workers (the IETF httpapi draft's semantics).

* the same key with the same body: the original status and body again, nothing written;
* the same key with another body: 422 in the error shape, nothing written;
* the same key while the first request is still in flight: 409 in the error shape.

The key lives in DynamoDB, so a replay through the other worker must see it.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from tests.faults.accounting import AUTHORS, COMMENTS, POSTS
from tests.faults.api import created, error_of, new_author, new_post, post_body, unique
from tests.faults.proxy import WRITES, Fault
from tests.faults.stack import DEADLINE, MAX_ATTEMPTS

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KINDS = ("author", "post", "comment")


def create_request(kind: str, a) -> tuple[str, dict, str, str]:
    """(path, body, table, attribute) of a fresh create of ``kind``; the attribute's value is unique."""
    if kind == "author":
        name = unique("author")
        return "/api/authors/", {"username": name, "email": f"{name}@example.com"}, AUTHORS, "username"
    author = new_author(a)["pk"]
    if kind == "post":
        return "/api/posts/", post_body(author), POSTS, "slug"
    post = new_post(a, author)["pk"]
    return f"/api/posts/{post}/comments/", {"author_pk": author, "body": unique("comment")}, COMMENTS, "body"


def holding(stack, table: str, attribute: str, value: str) -> list[str]:
    """The pks of stored items whose ``attribute`` is ``value``."""
    return [item["pk"] for item in stack.store.scan(table) if item.get(attribute) == value]


@pytest.mark.parametrize("kind", KINDS)
def test_a_replay_through_either_worker_returns_the_original_answer_and_writes_nothing(stack, kind):
    a, b = stack.pinned(1)
    path, body, table, attribute = create_request(kind, a)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = a.post(path, body, headers=key)
    original = created(first)
    # A sign-up's token is shown once: the stored answer leaves it out (only its hash is kept).
    expected = {name: value for name, value in original.items() if name != "token"}
    for client in (b, a):
        replay = client.post(path, body, headers=key)
        assert (replay.status_code, replay.json()) == (201, expected), f"worker {client.worker}: {replay.text}"
    assert holding(stack, table, attribute, body[attribute]) == [original["pk"]]


@pytest.mark.parametrize("kind", KINDS)
def test_the_same_key_with_another_body_is_a_422_and_writes_nothing(stack, kind):
    a, b = stack.pinned(1)
    path, body, table, attribute = create_request(kind, a)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    original = created(a.post(path, body, headers=key))
    other = {**body, attribute: unique(attribute)}
    if attribute == "username":
        other["email"] = f"{other['username']}@example.com"
    answer = b.post(path, other, headers=key)
    assert answer.status_code == 422, answer.text
    error_of(answer)
    assert holding(stack, table, attribute, other[attribute]) == []
    assert holding(stack, table, attribute, body[attribute]) == [original["pk"]]


def test_the_same_key_while_the_first_request_is_in_flight_is_a_409(stack):
    a, b = stack.pinned(1)
    path, body, table, attribute = create_request("comment", a)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    # The first request's comment write waits this long: within one attempt's share of the deadline
    # (each attempt's read timeout is capped at DEADLINE / MAX_ATTEMPTS), so it is not retried.
    hold = 0.6 * DEADLINE / MAX_ATTEMPTS
    stack.proxy.set(Fault("delay", seconds=hold, operations=WRITES, match=f'"{stack.store.table(table)}"', times=1))
    first: list = []
    thread = threading.Thread(target=lambda: first.append(a.post(path, body, headers=key)), daemon=True)
    thread.start()
    try:
        waited = time.monotonic() + hold
        while not stack.proxy.count("delay") and time.monotonic() < waited:
            time.sleep(0.02)  # until the proxy holds the first request's comment write
        assert stack.proxy.count("delay") == 1, f"the first request wrote no comment: {stack.proxy.counts()}"
        second = b.post(path, body, headers=key)
    finally:
        thread.join(30)
    assert second.status_code == 409, second.text
    error_of(second)
    original = created(first[0])
    assert holding(stack, table, attribute, body[attribute]) == [original["pk"]]
