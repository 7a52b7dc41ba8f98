"""The scenarios' knobs, seeding through the API, and the pool of posts and authors readers pick from.

No locust import: `make load` and `make bench` seed and discover data from
their own processes, before locust starts.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import threading
import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


def from_env(cls: type[T], prefix: str, defaults: dict[str, Any] | None = None) -> T:
    """Dataclass ``cls`` from ``<prefix><FIELD NAME>`` environment variables, else ``defaults``, else its own."""
    values = {}
    for f in dataclasses.fields(cls):
        default = (defaults or {}).get(f.name, f.default)
        raw = os.environ.get(prefix + f.name.upper(), "").strip()
        values[f.name] = type(default)(raw) if raw else default
    return cls(**values)


@dataclass(frozen=True)
class Settings:
    """Knobs of the scenarios, each read from ``LOADTEST_<NAME>`` (e.g. ``LOADTEST_WAIT=0``)."""

    wait: str = "0.2,1.0"  # think time between tasks, "min,max" seconds; 0 = closed loop
    page_limit: int = 10  # ?limit= for list requests
    cursor_pages: int = 3  # pages a "page with the cursor" task walks
    pool_max: int = 300  # posts/authors kept in the pool readers pick from
    pool_file: str = ""  # JSON {"posts": [...], "authors": [...]}; skips discovery when set
    min_posts: int = 20  # fewer posts than this: seed through the API first
    seed_authors: int = 10
    seed_posts: int = 30
    seed_comments: int = 4  # comments per seeded post (at most)
    timeout: float = 30.0  # per request, seconds
    tally_file: str = ""  # where the locust process writes its Phase record when it quits
    endpoint: str = "author_detail"  # endpoint.py: which endpoint to hit


SETTINGS = from_env(Settings, "LOADTEST_")


def unique_suffix() -> str:
    """A short random suffix that keeps usernames and slugs unique across runs."""
    return uuid.uuid4().hex[:12]


class SeedError(RuntimeError):
    """The API refused to seed or list data; the message carries the response."""


class Api:
    """The blog API over HTTP (requests), for seeding and discovery outside locust.

    It signs up its authors and keeps each one's token, then writes as them
    (``Authorization: Bearer``), as a real client does.
    """

    def __init__(self, base: str, timeout: float = 30.0) -> None:
        import requests  # only the seeding path needs it

        self.base, self.timeout, self.http = base.rstrip("/"), timeout, requests.Session()
        self.tokens: dict[str, str] = {}  # author pk -> API token

    def auth(self, author_pk: str) -> dict[str, str]:
        """The Authorization header of an author this Api signed up."""
        if author_pk not in self.tokens:
            raise SeedError(f"no token for author {author_pk}: only authors this Api signed up can write")
        return {"Authorization": f"Bearer {self.tokens[author_pk]}"}

    def _call(self, method: str, path: str, status: int, **kwargs: Any) -> Any:
        resp = self.http.request(method, f"{self.base}{path}", timeout=self.timeout, **kwargs)
        if resp.status_code != status:
            raise SeedError(f"{method} {path}: HTTP {resp.status_code}: {resp.text[:300]}")
        return resp.json() if resp.content else {}

    def author(self, prefix: str = "lt") -> str:
        name = f"{prefix}-{unique_suffix()}"
        body = {"username": name, "email": f"{name}@example.com", "bio": "load test author"}
        made = self._call("POST", "/api/authors/", 201, json=body)
        self.tokens[made["pk"]] = made["token"]
        return made["pk"]

    def post(self, author_pk: str, prefix: str = "lt") -> str:
        suffix = unique_suffix()
        body = {
            "title": f"{prefix} post {suffix}",
            "slug": f"{prefix}-post-{suffix}",
            "body": "Lorem ipsum dolor sit amet. " * 8,
            "author_pk": author_pk,
            "published": True,
            "tags": ["loadtest", prefix],
        }
        return self._call("POST", "/api/posts/", 201, json=body, headers=self.auth(author_pk))["pk"]

    def comment(self, post_pk: str, author_pk: str) -> str:
        body = {"author_pk": author_pk, "body": f"comment {unique_suffix()}"}
        path = f"/api/posts/{post_pk}/comments/"
        return self._call("POST", path, 201, json=body, headers=self.auth(author_pk))["pk"]

    def list_all(self, path: str, max_items: int) -> list[dict]:
        """Follow ``next_cursor`` from ``path`` until the end or ``max_items``."""
        items: list[dict] = []
        params: dict[str, Any] = {"limit": 100}
        while len(items) < max_items:
            body = self._call("GET", path, 200, params=params)
            items.extend(body["results"])
            if not body.get("next_cursor"):
                break
            params["cursor"] = body["next_cursor"]
        return items[:max_items]


def ensure_seed(base: str, settings: Settings = SETTINGS) -> int:
    """Seed authors, posts and comments through the API when there are too few posts; return posts created."""
    api = Api(base, settings.timeout)
    existing = len(api.list_all("/api/posts/", settings.min_posts))
    if existing >= settings.min_posts:
        return 0
    rng = random.Random(1)
    authors = [api.author("seed") for _ in range(max(1, settings.seed_authors))]
    posts = max(settings.seed_posts, settings.min_posts - existing)
    for i in range(posts):
        post = api.post(authors[i % len(authors)], "seed")
        for _ in range(rng.randint(0, settings.seed_comments)):
            api.comment(post, rng.choice(authors))
    return posts


def discover_pool(base: str, settings: Settings = SETTINGS) -> dict[str, list[str]]:
    """Post and author pks to read, from the API's lists (newest posts first)."""
    api = Api(base, settings.timeout)
    posts = api.list_all("/api/posts/", settings.pool_max)
    authors = {p.get("author_pk") for p in posts} | {a["pk"] for a in api.list_all("/api/authors/", settings.pool_max)}
    return {"posts": [p["pk"] for p in posts], "authors": sorted(authors - {None})}


class DataPool:
    """Existing posts and authors the readers pick from, loaded once per locust process.

    Readers only read what was there before the run started, and writers delete
    only what they created, so a reader never meets a 404 it did not cause.
    """

    def __init__(self, settings: Settings = SETTINGS) -> None:
        self.settings = settings
        self.posts: list[str] = []
        self.authors: list[str] = []
        self._lock = threading.Lock()  # a gevent lock once locust has monkey-patched threading

    def ensure(self, host: str) -> None:
        with self._lock:
            if self.posts:
                return
            if self.settings.pool_file:
                with open(self.settings.pool_file, encoding="utf-8") as fh:
                    data = json.load(fh)
            else:
                ensure_seed(host, self.settings)
                data = discover_pool(host, self.settings)
            if not data["posts"] or not data["authors"]:
                raise SeedError(f"no posts/authors to read at {host}")
            self.posts, self.authors = list(data["posts"]), list(data["authors"])

    def post(self) -> str:
        return random.choice(self.posts)

    def author(self) -> str:
        return random.choice(self.authors)


POOL = DataPool()
