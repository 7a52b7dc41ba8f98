"""Shared configuration, data, response checks and Server-Timing tally for the scenarios.

Nothing here imports locust at module level: ``make bench`` imports this module
into a process that must not be monkey-patched by gevent. Locust-only wiring
lives in :func:`install_locust_hooks`, which the scenario files call.
"""

from __future__ import annotations

import json
import os
import random
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

# --- configuration ------------------------------------------------------------


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


@dataclass(frozen=True)
class Settings:
    """Knobs of the scenarios, read from ``LOADTEST_*`` environment variables."""

    wait_min: float  # think time between tasks, seconds (both 0 = closed loop, no pause)
    wait_max: float
    page_limit: int  # ?limit= for list requests
    cursor_pages: int  # pages a "page with the cursor" task walks
    pool_max: int  # posts/authors kept in the pool readers pick from
    pool_file: str  # JSON {"posts": [...], "authors": [...]}; skips discovery when set
    min_posts: int  # fewer published posts than this: seed through the API first
    seed_authors: int
    seed_posts: int
    seed_comments: int  # comments per seeded post (at most)
    request_timeout: float
    tally_file: str  # where to write the Server-Timing tally when locust quits
    endpoint: str  # endpoint.py: which endpoint to hit

    @classmethod
    def from_env(cls) -> Settings:
        wait = os.environ.get("LOADTEST_WAIT", "0.2,1.0").split(",")
        wait_min = float(wait[0])
        wait_max = float(wait[1]) if len(wait) > 1 else wait_min
        return cls(
            wait_min=wait_min,
            wait_max=max(wait_min, wait_max),
            page_limit=_env_int("LOADTEST_PAGE_LIMIT", 10),
            cursor_pages=_env_int("LOADTEST_CURSOR_PAGES", 3),
            pool_max=_env_int("LOADTEST_POOL_MAX", 300),
            pool_file=os.environ.get("LOADTEST_POOL_FILE", ""),
            min_posts=_env_int("LOADTEST_MIN_POSTS", 20),
            seed_authors=_env_int("LOADTEST_SEED_AUTHORS", 10),
            seed_posts=_env_int("LOADTEST_SEED_POSTS", 30),
            seed_comments=_env_int("LOADTEST_SEED_COMMENTS", 4),
            request_timeout=_env_float("LOADTEST_TIMEOUT", 30.0),
            tally_file=os.environ.get("LOADTEST_TALLY_FILE", ""),
            endpoint=os.environ.get("LOADTEST_ENDPOINT", "author_detail"),
        )


SETTINGS = Settings.from_env()


def wait_time_from_settings(settings: Settings = SETTINGS) -> Callable[[Any], float]:
    """Return a locust ``wait_time`` function (``User.wait_time = ...``)."""
    lo, hi = settings.wait_min, settings.wait_max

    def wait_time(_user: Any) -> float:
        return random.uniform(lo, hi) if hi > 0 else 0.0

    return wait_time


def unique_suffix() -> str:
    """A short random suffix that keeps usernames and slugs unique across runs."""
    return uuid.uuid4().hex[:12]


def posts_url(**params: Any) -> str:
    query = {k: v for k, v in params.items() if v is not None}
    return "/api/posts/" + (f"?{urlencode(query)}" if query else "")


# --- response checks ----------------------------------------------------------
# A validator takes the parsed JSON body and returns None when it is right, or
# a message saying what is wrong. `checked` turns that into a locust failure.

Validator = Callable[[Any], str | None]


def _snippet(resp: Any, limit: int = 200) -> str:
    try:
        text = resp.text or ""
    except Exception:  # noqa: BLE001 - a broken body must still be reported
        text = ""
    return text[:limit].replace("\n", " ")


def checked(resp: Any, expected: int | Iterable[int], *validators: Validator, name: str = "") -> Any:
    """Mark a ``catch_response`` response as success or failure; return the body or None.

    A status outside ``expected``, a body that is not JSON (except for 204) or a
    validator's complaint is a failure with a message that says which.
    """
    statuses = (expected,) if isinstance(expected, int) else tuple(expected)
    status = resp.status_code
    if name:
        TALLY.add(name, resp.headers.get("Server-Timing") if resp.headers else None)
    if status not in statuses:
        error = getattr(resp, "error", None)
        detail = f" ({error})" if status == 0 and error else f": {_snippet(resp)}"
        resp.failure(f"expected HTTP {'/'.join(map(str, statuses))}, got {status}{detail}")
        return None
    if status == 204:
        resp.success()
        return {}
    try:
        body = resp.json()
    except Exception:  # noqa: BLE001 - any decoding problem is the same failure
        resp.failure(f"HTTP {status} body is not JSON: {_snippet(resp)}")
        return None
    for validate in validators:
        problem = validate(body)
        if problem:
            resp.failure(problem)
            return None
    resp.success()
    return body


def has_keys(*keys: str) -> Validator:
    def validate(body: Any) -> str | None:
        if not isinstance(body, dict):
            return f"expected a JSON object, got {type(body).__name__}"
        missing = [k for k in keys if k not in body]
        return f"missing keys {missing}" if missing else None

    return validate


def field_equals(key: str, value: Any) -> Validator:
    def validate(body: Any) -> str | None:
        got = body.get(key) if isinstance(body, dict) else None
        return None if got == value else f"{key}={got!r}, expected {value!r}"

    return validate


def _embedded_author(obj: dict, where: str) -> str | None:
    author = obj.get("author")
    if not isinstance(author, dict) or "pk" not in author:
        return f"{where} has no embedded author"
    if "author_pk" in obj and author["pk"] != obj["author_pk"]:
        return f"{where} embeds author {author['pk']} but author_pk is {obj['author_pk']}"
    return None


def post_summary(item: Any) -> str | None:
    """A post as it appears in a list: pk, title, slug and its embedded author."""
    if not isinstance(item, dict):
        return "list item is not an object"
    for key in ("pk", "title", "slug"):
        if key not in item:
            return f"post in list lacks {key!r}"
    return _embedded_author(item, f"post {item['pk']}")


def comment_item(item: Any) -> str | None:
    if not isinstance(item, dict) or "pk" not in item or "body" not in item:
        return "comment lacks pk or body"
    return _embedded_author(item, f"comment {item['pk']}")


def author_item(item: Any) -> str | None:
    if not isinstance(item, dict) or "pk" not in item or "username" not in item:
        return "author lacks pk or username"
    return None


def list_page(item_check: Validator, *, max_items: int | None = None) -> Validator:
    """A list response: ``{"results": [...], "next_cursor": str | None}``."""

    def validate(body: Any) -> str | None:
        if not isinstance(body, dict) or not isinstance(body.get("results"), list):
            return "list response lacks a results array"
        if "next_cursor" not in body:
            return "list response lacks next_cursor"
        if body["next_cursor"] is not None and not isinstance(body["next_cursor"], str):
            return "next_cursor is neither a string nor null"
        if max_items is not None and len(body["results"]) > max_items:
            return f"{len(body['results'])} results for limit={max_items}"
        for item in body["results"]:
            problem = item_check(item)
            if problem:
                return problem
        return None

    return validate


def post_detail(pk: str) -> Validator:
    """``GET /api/posts/<pk>/``: the post, its author, its comments with theirs."""

    def validate(body: Any) -> str | None:
        if not isinstance(body, dict):
            return "post detail is not an object"
        if body.get("pk") != pk:
            return f"asked for post {pk}, got {body.get('pk')!r}"
        problem = _embedded_author(body, f"post {pk}")
        if problem:
            return problem
        if not isinstance(body.get("view_count"), int) or body["view_count"] < 1:
            return f"view_count {body.get('view_count')!r} after a view"
        comments = body.get("comments")
        if not isinstance(comments, list):
            return "post detail lacks a comments array"
        for comment in comments:
            problem = comment_item(comment)
            if problem:
                return problem
        return None

    return validate


# --- Server-Timing ------------------------------------------------------------


def parse_server_timing(header: str | None) -> dict[str, float]:
    """Parse ``ddb;dur=4.2;desc="calls=3", cache;desc="hits=5 misses=1"``.

    Returns ``{"calls", "ddb_ms", "hits", "misses"}`` for the parts present;
    an absent or unreadable header gives ``{}``.
    """
    out: dict[str, float] = {}
    if not header:
        return out
    for metric in header.split(","):
        parts = [p.strip() for p in metric.split(";") if p.strip()]
        if not parts:
            continue
        name, params = parts[0], {}
        for part in parts[1:]:
            key, _, value = part.partition("=")
            params[key.strip()] = value.strip().strip('"')
        desc = {}
        for token in params.get("desc", "").split():
            key, _, value = token.partition("=")
            desc[key] = value
        try:
            if name == "ddb":
                if "dur" in params:
                    out["ddb_ms"] = float(params["dur"])
                if "calls" in desc:
                    out["calls"] = int(desc["calls"])
            elif name == "cache":
                if "hits" in desc:
                    out["hits"] = int(desc["hits"])
                if "misses" in desc:
                    out["misses"] = int(desc["misses"])
        except ValueError:
            continue
    return out


class Tally:
    """Per request name: responses, DynamoDB calls and cache hits/misses seen in Server-Timing."""

    FIELDS = ("responses", "with_header", "calls", "ddb_ms", "hits", "misses")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(self.FIELDS, 0))

    def add(self, name: str, header: str | None) -> None:
        timing = parse_server_timing(header)
        with self._lock:
            row = self._rows[name]
            row["responses"] += 1
            if "calls" in timing:
                row["with_header"] += 1
                for key in ("calls", "ddb_ms", "hits", "misses"):
                    row[key] += timing.get(key, 0)

    def reset(self) -> None:
        with self._lock:
            self._rows.clear()

    def snapshot(self) -> dict[str, dict[str, float]]:
        with self._lock:
            rows = {name: dict(row) for name, row in self._rows.items()}
        total = dict.fromkeys(self.FIELDS, 0)
        for row in rows.values():
            for key in self.FIELDS:
                total[key] += row[key]
        rows["Aggregated"] = total
        return rows


TALLY = Tally()

_hooks_installed = False


def _locust_stats(environment: Any) -> dict[str, Any]:
    """Locust's own figures with the full response-time histograms, so runs can be merged exactly."""
    stats = getattr(getattr(environment, "runner", None), "stats", None)
    if stats is None:
        return {}

    def entry(e: Any) -> dict[str, Any]:
        return {
            "num_requests": e.num_requests,
            "num_failures": e.num_failures,
            "start_time": e.start_time,
            "last_request_timestamp": e.last_request_timestamp,
            "total_response_time": e.total_response_time,
            "response_times": {str(k): v for k, v in e.response_times.items()},
        }

    out = {
        f"{method} {name}": entry(e) for (name, method), e in stats.entries.items() if e.num_requests or e.num_failures
    }
    out["Aggregated"] = entry(stats.total)
    return out


def _locust_errors(environment: Any) -> list[dict[str, Any]]:
    stats = getattr(getattr(environment, "runner", None), "stats", None)
    if stats is None:
        return []
    return [
        {"Method": e.method, "Name": e.name, "Error": str(e.error), "Occurrences": e.occurrences}
        for e in stats.errors.values()
    ]


def install_locust_hooks() -> None:
    """Reset the tally with locust's stats; at exit write both to ``LOADTEST_TALLY_FILE``.

    The file holds ``{"server_timing": {name: tally row}, "locust": {name: stats
    with the response-time histogram}}``; `make bench` merges rounds with it.
    """
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    from locust import events  # imported here: see the module docstring

    @events.reset_stats.add_listener
    def _reset_tally(**_kw: Any) -> None:
        TALLY.reset()

    @events.quitting.add_listener
    def _dump_tally(environment: Any, **_kw: Any) -> None:
        if SETTINGS.tally_file:
            data = {
                "server_timing": TALLY.snapshot(),
                "locust": _locust_stats(environment),
                "errors": _locust_errors(environment),
            }
            with open(SETTINGS.tally_file, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=1, sort_keys=True)


# --- data: seeding through the API and the pool readers pick from --------------


class SeedError(RuntimeError):
    """The API refused to seed or list data; the message carries the response."""


def _http() -> Any:
    import requests  # imported lazily: only the seeding path needs it

    return requests.Session()


def _expect(resp: Any, status: int, what: str) -> Any:
    if resp.status_code != status:
        raise SeedError(f"{what}: HTTP {resp.status_code}: {resp.text[:300]}")
    return resp.json() if resp.content else {}


def create_author(http: Any, base: str, *, prefix: str = "lt", timeout: float = 30.0) -> dict:
    suffix = unique_suffix()
    payload = {"username": f"{prefix}-{suffix}", "email": f"{prefix}-{suffix}@example.com", "bio": "load test author"}
    return _expect(http.post(f"{base}/api/authors/", json=payload, timeout=timeout), 201, "create author")


def create_post(http: Any, base: str, author_pk: str, *, prefix: str = "lt", timeout: float = 30.0) -> dict:
    suffix = unique_suffix()
    payload = {
        "title": f"{prefix} post {suffix}",
        "slug": f"{prefix}-post-{suffix}",
        "body": "Lorem ipsum dolor sit amet. " * 8,
        "author_pk": author_pk,
        "published": True,
        "tags": ["loadtest", prefix],
    }
    return _expect(http.post(f"{base}/api/posts/", json=payload, timeout=timeout), 201, "create post")


def create_comment(http: Any, base: str, post_pk: str, author_pk: str, *, timeout: float = 30.0) -> dict:
    payload = {"author_pk": author_pk, "body": f"comment {unique_suffix()}"}
    return _expect(
        http.post(f"{base}/api/posts/{post_pk}/comments/", json=payload, timeout=timeout), 201, "create comment"
    )


def list_all(
    http: Any, base: str, path: str, *, limit: int = 100, max_items: int = 1000, timeout: float = 30.0
) -> list[dict]:
    """Follow ``next_cursor`` from ``path`` until the end or ``max_items``."""
    items: list[dict] = []
    cursor = None
    while len(items) < max_items:
        params = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        body = _expect(http.get(f"{base}{path}", params=params, timeout=timeout), 200, f"list {path}")
        items.extend(body["results"])
        cursor = body.get("next_cursor")
        if not cursor:
            break
    return items[:max_items]


def ensure_seed(base: str, settings: Settings = SETTINGS) -> int:
    """Seed authors, posts and comments through the API when there are too few posts.

    Returns how many posts were created (0 when the data was already there).
    """
    base = base.rstrip("/")
    http = _http()
    existing = list_all(http, base, "/api/posts/", max_items=settings.min_posts, timeout=settings.request_timeout)
    if len(existing) >= settings.min_posts:
        return 0
    rng = random.Random(1)
    t = settings.request_timeout
    authors = [create_author(http, base, prefix="seed", timeout=t)["pk"] for _ in range(max(1, settings.seed_authors))]
    created = 0
    for i in range(max(settings.seed_posts, settings.min_posts - len(existing))):
        post = create_post(http, base, authors[i % len(authors)], prefix="seed", timeout=t)
        created += 1
        for _ in range(rng.randint(0, settings.seed_comments)):
            create_comment(http, base, post["pk"], rng.choice(authors), timeout=t)
    return created


def discover_pool(base: str, settings: Settings = SETTINGS) -> dict[str, list[str]]:
    """Post and author pks to read, from the API's lists (newest posts first)."""
    base = base.rstrip("/")
    http = _http()
    posts = list_all(http, base, "/api/posts/", max_items=settings.pool_max, timeout=settings.request_timeout)
    authors = {p.get("author_pk") or (p.get("author") or {}).get("pk") for p in posts} - {None}
    for author in list_all(http, base, "/api/authors/", max_items=settings.pool_max, timeout=settings.request_timeout):
        authors.add(author["pk"])
    return {"posts": [p["pk"] for p in posts], "authors": sorted(authors)}


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
        self._ready = False

    def ensure(self, host: str) -> DataPool:
        if self._ready:
            return self
        with self._lock:
            if not self._ready:
                if self.settings.pool_file:
                    with open(self.settings.pool_file, encoding="utf-8") as fh:
                        data = json.load(fh)
                else:
                    ensure_seed(host, self.settings)
                    data = discover_pool(host, self.settings)
                self.posts, self.authors = list(data["posts"]), list(data["authors"])
                if not self.posts or not self.authors:
                    raise SeedError(f"no posts/authors to read at {host}")
                self._ready = True
        return self

    def post(self) -> str:
        return random.choice(self.posts)

    def author(self) -> str:
        return random.choice(self.authors)


POOL = DataPool()
