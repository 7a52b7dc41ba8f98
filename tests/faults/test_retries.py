"""Issue 10, problem 3: retries that duplicate writes, or perform them without telling the client.

The proxy faults DynamoDB writes: most tellingly it drops answers after the
emulator applied the write (the client cannot know whether it happened), or
delays them beyond the read timeout. Afterwards the emulator is read directly:

* view counts: never more views stored than GETs that could have counted one
  (answered 200, or 5xx / no answer); the measured error is reported;
* creates of posts and comments, each with an ``Idempotency-Key``, under each
  fault mode in turn (dropped request, dropped answer, late answer, throttling,
  500s): every 201
  stored exactly once, never a 409 for a create whose own write was stored,
  no slug held by two posts, and a create answered 5xx either stored nothing
  or its replay (same key, same body) returns what was stored;
* MAX_ATTEMPTS means attempts in all.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.faults.accounting import COMMENTS, POSTS
from tests.faults.api import (
    attempt,
    describe,
    error_of,
    new_author,
    new_post,
    no_problems,
    post_body,
    retried,
    status,
    unique,
)
from tests.faults.proxy import WRITES, Fault
from tests.faults.stack import DEADLINE, MAX_ATTEMPTS, rounds

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Longer than any read timeout the app may use: today's 5 s, or a share of the deadline.
BEYOND_READ_TIMEOUT = 6.0


def report(record_property, name: str, line: str) -> None:
    """Keep a measured number in the JUnit report (and in the output with -s)."""
    record_property(name, line)
    print(f"\n{name}: {line}")


# --- counters -----------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["moto_server", "dynalite"], indirect=True)
def test_view_counts_under_dropped_and_late_write_answers_never_exceed_the_gets_that_could_count(
    stack, record_property
):
    clients = stack.pinned(2)  # two connections on each worker
    post = new_post(clients[0], new_author(clients[0])["pk"])
    path = f"/api/posts/{post['pk']}/"
    per_client = rounds(12)
    answers: list[Any] = []
    lock = threading.Lock()

    def read_repeatedly(client) -> None:
        for _ in range(per_client):
            answer = attempt(lambda: client.request("GET", path))
            with lock:
                answers.append(answer)

    stack.proxy.set(
        Fault("drop_response", 0.3, operations=WRITES),
        Fault("delay", 0.05, operations=WRITES, seconds=BEYOND_READ_TIMEOUT),
    )
    threads = [threading.Thread(target=read_repeatedly, args=(c,), daemon=True) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    stack.proxy.clear()
    stack.proxy.wait_idle()  # late and released writes land before the count is read

    stored = stack.store.get(POSTS, post["pk"])["view_count"]
    statuses = Counter(status(a) for a in answers)
    ok = statuses[200]
    unknown = sum(n for s, n in statuses.items() if not isinstance(s, int) or s >= 500)
    counts = stack.proxy.counts()
    line = (
        f"{stack.engine}: view_count {stored} after {len(answers)} GETs: {ok} answered 200, {unknown} 5xx or "
        f"no answer ({dict(statuses)}); stored - 200s = {stored - ok:+d}; proxy dropped "
        f"{counts['drop_response', 'UpdateItem']} and delayed {counts['delay', 'UpdateItem']} of "
        f"{counts['request', 'UpdateItem']} UpdateItems"
    )
    report(record_property, "view_count_error", line)
    assert ok + unknown == len(answers), f"answers other than 200 or 5xx: {line}"
    assert stored <= ok + unknown, f"views counted more often than GETs could count them: {line}"


def test_one_get_whose_counter_write_is_slow_adds_at_most_one_view(stack, record_property):
    (client,) = stack.pinned(1)[:1]
    post = new_post(client, new_author(client)["pk"])
    stack.proxy.set(Fault("delay", seconds=10, operations={"UpdateItem"}))
    answer = attempt(lambda: client.request("GET", f"/api/posts/{post['pk']}/", timeout=DEADLINE + 5))
    stack.proxy.clear()  # the delayed attempts go on to the emulator now
    stack.proxy.wait_idle(quiet=1.0)
    stored = stack.store.get(POSTS, post["pk"])["view_count"]
    line = f"one GET ({describe(answer)}) made {stack.proxy.count('request', ['UpdateItem'])} UpdateItem attempts"
    report(record_property, "slow_counter_views", f"{line}; view_count {stored}")
    assert stored <= 1, f"{line}: view_count {stored}"


def test_max_attempts_counts_every_attempt(stack):
    a, b = stack.pinned(1)
    author = new_author(a)  # cached on A only: B has to read it
    stack.proxy.reset_counts()
    stack.proxy.set(Fault("error_500"))
    response = b.get(f"/api/authors/{author['pk']}/")
    assert response.status_code == 503, response.text
    assert response.headers.get("Retry-After"), response.headers
    error_of(response)
    # Only the author's GetItem: the stream reader's polls pass through the proxy too, and fail as well.
    assert stack.proxy.count("request", {"GetItem"}) == MAX_ATTEMPTS, stack.proxy.counts()


# --- creates --------------------------------------------------------------------------


@dataclass
class Create:
    """One POST the test sent: where, its key and body, and what it was answered."""

    kind: str  # "post" or "comment"
    path: str
    key: str
    body: dict[str, Any]
    answer: Any = None

    @property
    def value(self) -> str:
        """The value that identifies what this create stores (a post's slug, a comment's body)."""
        return self.body["slug"] if self.kind == "post" else self.body["body"]

    def send(self, client) -> requests.Response | requests.RequestException:
        return attempt(lambda: client.request("POST", self.path, json=self.body, headers={"Idempotency-Key": self.key}))

    def replay(self, client) -> requests.Response | requests.RequestException:
        """Send again as a client does: a 409 ``idempotency_key_in_flight`` is retried after its Retry-After.

        (After a 5xx whose key could not be freed under the faults, the key waits out its lease.)
        """
        return retried(self.send, client, retry_if=in_flight)


def in_flight(answer: requests.Response | requests.RequestException) -> bool:
    return status(answer) == 409 and error_of(answer)["code"] == "idempotency_key_in_flight"


def stored_by_value(stack, creates: list[Create]) -> dict[tuple[str, str], list[dict]]:
    """(kind, value) -> the stored items holding it."""
    held: dict[tuple[str, str], list[dict]] = {}
    for post in stack.store.scan(POSTS):
        held.setdefault(("post", post.get("slug")), []).append(post)
    for comment in stack.store.scan(COMMENTS):
        held.setdefault(("comment", comment.get("body")), []).append(comment)
    return {(c.kind, c.value): held.get((c.kind, c.value), []) for c in creates}


def check_first_answers(creates: list[Create], stored: dict) -> list[str]:
    """What the first answers got wrong, judged against what is stored."""
    problems = []
    for create in creates:
        items = stored[create.kind, create.value]
        code, where = status(create.answer), f"{create.kind} {create.value}"
        if len(items) > 1:
            problems.append(f"{where}: stored {len(items)} times (answered {code})")
        if code == 201:
            answered, held = create.answer.json()["pk"], [i["pk"] for i in items]
            if held != [answered]:
                problems.append(f"{where}: answered 201 {answered}, stored {held}")
        elif code == 409:
            state = "its own write WAS stored" if items else "nothing stored"
            problems.append(f"{where}: answered 409 for a fresh value ({state}): {describe(create.answer)}")
        elif isinstance(code, int) and code < 500:
            problems.append(f"{where}: answered {describe(create.answer)}")
    return problems


def check_replays(stack, creates: list[Create], replays: list[Any]) -> list[str]:
    """A replay (same key, same body) returns the original 201 and body, or what a 5xx create stored."""
    problems = []
    stored = stored_by_value(stack, creates)
    for create, replay in zip(creates, replays, strict=True):
        items = stored[create.kind, create.value]
        where = f"{create.kind} {create.value} (first answer {status(create.answer)})"
        if status(replay) not in (200, 201):
            problems.append(f"{where}: replay answered {describe(replay)}")
            continue
        if status(create.answer) == 201 and (status(replay), replay.json()) != (201, create.answer.json()):
            problems.append(f"{where}: replay answered {describe(replay)}, not the original 201 and body")
        if [i["pk"] for i in items] != [replay.json().get("pk")]:
            problems.append(f"{where}: after the replay ({replay.json().get('pk')}) stored {[i['pk'] for i in items]}")
    return problems


# Each fault mode on writes, one at a time: (faults, rounds of one post and one comment).
CREATE_FAULTS = {
    "drop_response": ((Fault("drop_response", 0.3, operations=WRITES),), 20),
    "drop_request": ((Fault("drop_request", 0.3, operations=WRITES),), 10),
    "late_answer": ((Fault("delay", 0.1, operations=WRITES, seconds=BEYOND_READ_TIMEOUT, when="after"),), 10),
    "throttle": ((Fault("throttle", 0.3, operations=WRITES),), 10),
    "error_500": ((Fault("error_500", 0.3, operations=WRITES),), 10),
}


@pytest.mark.parametrize("mode", list(CREATE_FAULTS))
def test_creates_under_write_faults_are_exactly_once(stack, record_property, mode):
    faults, default_rounds = CREATE_FAULTS[mode]
    a, b = stack.pinned(1)
    author = new_author(a)["pk"]
    post = new_post(a, author)["pk"]
    creates = []
    for _ in range(rounds(default_rounds)):
        creates.append(Create("post", "/api/posts/", str(uuid.uuid4()), post_body(author)))
        body = {"author_pk": author, "body": unique("comment")}
        creates.append(Create("comment", f"/api/posts/{post}/comments/", str(uuid.uuid4()), body))

    stack.proxy.set(*faults)
    for n, create in enumerate(creates):
        create.answer = create.send((a, b)[n % 2])
    stack.proxy.clear()
    stack.proxy.wait_idle()
    outcomes = Counter(f"{c.kind} {status(c.answer)}" for c in creates)
    summary = f"{mode}: {dict(outcomes)}; the proxy faulted {stack.proxy.count(faults[0].mode)} writes"
    report(record_property, "create_outcomes", summary)
    problems = check_first_answers(creates, stored_by_value(stack, creates))

    # Faults off: every create again with its own key and body, through the other worker.
    replays = [create.replay((b, a)[n % 2]) for n, create in enumerate(creates)]
    problems += check_replays(stack, creates, replays)

    # Every slug is taken now: a new post with one of them (a new key) is a 409, and none is held twice.
    for n, create in enumerate(c for c in creates if c.kind == "post"):
        again = Create("post", "/api/posts/", str(uuid.uuid4()), {**create.body, "title": "Again"})
        answer = again.send((a, b)[n % 2])
        if status(answer) != 409:
            problems.append(f"post {create.value}: a second post with the slug answered {describe(answer)}")
    slugs = [c.value for c in creates if c.kind == "post"]
    problems += [f"slug {slug} held by {n} posts" for slug, n in stack.store.duplicates(POSTS, "slug", slugs).items()]
    no_problems(problems, f"problems with {len(creates)} creates ({summary})")
