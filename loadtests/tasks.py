"""The locust users of the blog: one table of read endpoints, the writers, the Server-Timing tally.

``READS`` is the one table of read endpoints: :class:`BlogReader` runs them
weighted (the read mix), endpoint.py's user runs the one ``LOADTEST_ENDPOINT``
names (the single-endpoint ceilings of `make bench`). :class:`BlogWriter`
signs up, keeps the token the API answers once, and writes with it as a real
client does (``Authorization: Bearer``); it creates, comments, edits and
deletes only what it created. Importing this
module registers the hooks that dump the run as a ``Phase`` record
(loadtests/records.py) to ``LOADTEST_TALLY_FILE`` when locust quits.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from locust import FastHttpUser, events, task

from loadtests.checks import (
    Validator,
    author_item,
    checked,
    comment_item,
    field_equals,
    has_keys,
    list_page,
    post_detail,
    post_summary,
)
from loadtests.data import POOL, SETTINGS, unique_suffix
from loadtests.records import AGGREGATED, Failure, Phase, Requests, Timing, to_json

TALLY: dict[str, Timing] = {}
_tally_lock = threading.Lock()


def call(user: FastHttpUser, method: str, url: str, name: str, expected: Any, *checks: Validator, **kw: Any) -> Any:
    """One request under ``name``, checked (see loadtests/checks.py), its Server-Timing tallied."""
    with user.client.request(method, url, name=name, catch_response=True, **kw) as resp:
        with _tally_lock:
            TALLY.setdefault(name, Timing()).add(resp.headers.get("Server-Timing") if resp.headers else None)
        return checked(resp, expected, *checks)


def posts_url(**params: Any) -> str:
    return "/api/posts/?" + urlencode({"limit": SETTINGS.page_limit, **params})


# --- reads: (weight in the read mix, request name, task) --------------------------


def posts_list(user: FastHttpUser) -> None:
    call(user, "GET", posts_url(), "/api/posts/?limit=[n]", 200, list_page(post_summary, max_items=SETTINGS.page_limit))


def post_page(user: FastHttpUser) -> None:
    pk = POOL.post()
    call(user, "GET", f"/api/posts/{pk}/", "/api/posts/[pk]/", 200, post_detail(pk))


def author_page(user: FastHttpUser, pk: str = "", name: str = "/api/authors/[pk]/") -> None:
    pk = pk or POOL.author()
    call(user, "GET", f"/api/authors/{pk}/", name, 200, author_item, field_equals("pk", pk))


def cursor_pages(user: FastHttpUser) -> None:
    """Walk a few pages; a post seen twice across pages is a pagination bug."""
    seen: set[str] = set()

    def no_repeats(body: dict) -> str | None:
        repeated = {item["pk"] for item in body["results"]} & seen
        return f"cursor pagination repeated posts {sorted(repeated)[:3]}" if repeated else None

    url, name = posts_url(), "/api/posts/?limit=[n]"
    for _ in range(SETTINGS.cursor_pages):
        body = call(user, "GET", url, name, 200, list_page(post_summary, max_items=SETTINGS.page_limit), no_repeats)
        if not body or not body["next_cursor"]:
            return
        seen |= {item["pk"] for item in body["results"]}
        url, name = posts_url(cursor=body["next_cursor"]), "/api/posts/?cursor=[cursor]"


def posts_of_author(user: FastHttpUser) -> None:
    author_pk = POOL.author()

    def all_by_author(body: dict) -> str | None:
        strangers = [p["pk"] for p in body["results"] if p.get("author_pk", author_pk) != author_pk]
        return f"author filter returned posts of others: {strangers[:3]}" if strangers else None

    page = list_page(post_summary, max_items=SETTINGS.page_limit)
    call(user, "GET", posts_url(author_pk=author_pk), "/api/posts/?author_pk=[pk]", 200, page, all_by_author)


def comments_list(user: FastHttpUser) -> None:
    url = f"/api/posts/{POOL.post()}/comments/?limit={SETTINGS.page_limit}"
    call(user, "GET", url, "/api/posts/[pk]/comments/", 200, list_page(comment_item, max_items=SETTINGS.page_limit))


def authors_list(user: FastHttpUser) -> None:
    url = f"/api/authors/?limit={SETTINGS.page_limit}"
    call(user, "GET", url, "/api/authors/?limit=[n]", 200, list_page(author_item, max_items=SETTINGS.page_limit))


def bare(user: FastHttpUser) -> None:
    """The author page of bench/bare_app.py: no data, any pk answers."""
    author_page(user, str(uuid.uuid4()), "/api/authors/[pk]/ (bare)")


READS: dict[str, tuple[int, Callable[[FastHttpUser], None]]] = {
    "posts_list": (4, posts_list),
    "post_detail": (4, post_page),
    "author_detail": (2, author_page),
    "cursor_pages": (1, cursor_pages),
    "posts_of_author": (1, posts_of_author),
    "comments_list": (1, comments_list),
    "authors_list": (1, authors_list),
    "bare": (0, bare),
}


def think_time(_user: Any) -> float:
    bounds = [float(w) for w in SETTINGS.wait.split(",")]
    return random.uniform(bounds[0], bounds[-1])


class BlogUser(FastHttpUser):
    abstract = True
    wait_time = think_time
    network_timeout = connection_timeout = SETTINGS.timeout

    def on_start(self) -> None:
        POOL.ensure(self.host)


class BlogReader(BlogUser):
    """A visitor: mostly lists and post pages, sometimes an author or the next page."""

    weight = 9
    tasks = {fn: w for w, fn in READS.values() if w}


class BlogWriter(BlogUser):
    """An author at work: writes posts, comments on posts, edits and deletes its own (at most 5 posts alive)."""

    weight = 1

    def on_start(self) -> None:
        super().on_start()
        self.author_pk: str | None = None
        self.headers: dict[str, str] = {}
        self.own_posts: deque[str] = deque()
        self.own_comments: list[tuple[str, str]] = []  # (comment pk, post pk)

    def become_author(self) -> str | None:
        """Sign up once; the answer holds the token every later write sends."""
        if self.author_pk is None:
            name = f"writer-{unique_suffix()}"
            body = {"username": name, "email": f"{name}@example.com", "bio": "writes under load"}
            made = call(self, "POST", "/api/authors/", "/api/authors/", 201, has_keys("pk", "token"), json=body)
            if made:
                self.author_pk = made["pk"]
                self.headers = {"Authorization": f"Bearer {made['token']}"}
        return self.author_pk

    def write(self, method: str, url: str, name: str, expected: Any, *checks: Validator, **kw: Any) -> Any:
        """A request with this writer's token."""
        return call(self, method, url, name, expected, *checks, headers=self.headers, **kw)

    @task(3)
    def create_post(self) -> None:
        if not (author := self.become_author()):
            return
        suffix = unique_suffix()
        body = {
            "title": f"Load test post {suffix}",
            "slug": f"load-test-{suffix}",
            "body": "Written by a locust writer. " * 10,
            "published": True,
            "tags": ["loadtest", random.choice(["django", "dynamodb", "cache"])],
        }
        checks = (has_keys("pk"), field_equals("slug", body["slug"]), field_equals("author_pk", author))
        if made := self.write("POST", "/api/posts/", "/api/posts/", 201, *checks, json=body):
            self.own_posts.append(made["pk"])
            if len(self.own_posts) > 5:
                self.delete_post(self.own_posts.popleft())

    @task(3)
    def comment(self) -> None:
        """Comment on an existing post (usually someone else's) or on one's own."""
        if not (author := self.become_author()):
            return
        post = random.choice(self.own_posts) if self.own_posts and random.random() < 0.3 else POOL.post()
        body = {"body": f"A comment under load {unique_suffix()}"}
        checks = (has_keys("pk"), field_equals("body", body["body"]), field_equals("author_pk", author))
        if made := self.write(
            "POST", f"/api/posts/{post}/comments/", "/api/posts/[pk]/comments/", 201, *checks, json=body
        ):
            self.own_comments.append((made["pk"], post))
            if len(self.own_comments) > 20:
                self.delete_comment(0)

    @task(2)
    def update_post(self) -> None:
        if not self.own_posts:
            self.create_post()
            return
        pk, title = random.choice(self.own_posts), f"Edited {unique_suffix()}"
        checks = (field_equals("pk", pk), field_equals("title", title))
        self.write("PUT", f"/api/posts/{pk}/", "/api/posts/[pk]/", 200, *checks, json={"title": title})

    @task(1)
    def delete_something(self) -> None:
        """Delete one of one's own comments, or one's oldest post (with its comments)."""
        if self.own_comments and random.random() < 0.5:
            self.delete_comment(random.randrange(len(self.own_comments)))
        elif self.own_posts:
            self.delete_post(self.own_posts.popleft())

    def delete_comment(self, index: int) -> None:
        pk, _post = self.own_comments.pop(index)
        self.write("DELETE", f"/api/comments/{pk}/", "/api/comments/[pk]/", (200, 204))

    def delete_post(self, pk: str) -> None:
        self.write("DELETE", f"/api/posts/{pk}/", "/api/posts/[pk]/", (200, 204))
        self.own_comments = [(c, p) for c, p in self.own_comments if p != pk]  # they went with it


# --- the run as a Phase record, for `make load` and `make bench` -------------------


@events.reset_stats.add_listener
def _reset_tally(**_kw: Any) -> None:
    with _tally_lock:
        TALLY.clear()


@events.quitting.add_listener
def _dump_phase(environment: Any, **_kw: Any) -> None:
    if not SETTINGS.tally_file or environment.runner is None:
        return
    stats = environment.runner.stats
    total = stats.total
    elapsed = max(0.0, (total.last_request_timestamp or total.start_time) - total.start_time)

    def requests(e: Any) -> Requests:
        return Requests(e.num_requests, e.num_failures, elapsed, e.total_response_time, dict(e.response_times))

    entries = {f"{m} {n}": requests(e) for (n, m), e in stats.entries.items() if e.num_requests or e.num_failures}
    phase = Phase(
        stats={**entries, AGGREGATED: requests(total)},
        timing=dict(TALLY),
        failed=[Failure(e.method, e.name, str(e.error), e.occurrences) for e in stats.errors.values()],
        exceptions=len(environment.runner.exceptions),
    )
    Path(SETTINGS.tally_file).write_text(to_json(phase), encoding="utf-8")
