"""One endpoint at a time, for throughput ceilings: ``LOADTEST_ENDPOINT`` picks it.

    LOADTEST_ENDPOINT=author_detail LOADTEST_WAIT=0 locust -f loadtests/endpoint.py ...

Endpoints: author_detail, post_detail, posts_list, comments_list, authors_list,
and ``bare`` (``GET /api/authors/<uuid>/`` against bench/bare_app.py, which
has no data and needs no pool).
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

if str(Path(__file__).resolve().parents[1]) not in sys.path:  # `loadtests` as a package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from locust import FastHttpUser, task  # noqa: E402

from loadtests.common import (  # noqa: E402
    POOL,
    SETTINGS,
    author_item,
    checked,
    comment_item,
    field_equals,
    install_locust_hooks,
    list_page,
    post_detail,
    post_summary,
    posts_url,
    wait_time_from_settings,
)

install_locust_hooks()

ENDPOINTS = ("author_detail", "post_detail", "posts_list", "comments_list", "authors_list", "bare")
NAMES = {
    "author_detail": "/api/authors/[pk]/",
    "post_detail": "/api/posts/[pk]/",
    "posts_list": "/api/posts/?limit=[n]",
    "comments_list": "/api/posts/[pk]/comments/",
    "authors_list": "/api/authors/?limit=[n]",
    "bare": "/api/authors/[pk]/ (bare)",
}

if SETTINGS.endpoint not in ENDPOINTS:
    raise SystemExit(f"LOADTEST_ENDPOINT={SETTINGS.endpoint!r}: choose one of {', '.join(ENDPOINTS)}")


class EndpointUser(FastHttpUser):
    """Hits the one endpoint named by ``LOADTEST_ENDPOINT``, checking every answer."""

    wait_time = wait_time_from_settings()
    network_timeout = SETTINGS.request_timeout
    connection_timeout = SETTINGS.request_timeout

    def on_start(self) -> None:
        if SETTINGS.endpoint != "bare":
            POOL.ensure(self.host)
        self._hit = getattr(self, SETTINGS.endpoint)

    @task
    def hit(self) -> None:
        self._hit(NAMES[SETTINGS.endpoint])

    def author_detail(self, name: str) -> None:
        pk = POOL.author()
        with self.client.get(f"/api/authors/{pk}/", name=name, catch_response=True) as resp:
            checked(resp, 200, author_item, field_equals("pk", pk), name=name)

    def bare(self, name: str) -> None:
        pk = str(uuid.uuid4())
        with self.client.get(f"/api/authors/{pk}/", name=name, catch_response=True) as resp:
            checked(resp, 200, author_item, field_equals("pk", pk), name=name)

    def post_detail(self, name: str) -> None:
        pk = POOL.post()
        with self.client.get(f"/api/posts/{pk}/", name=name, catch_response=True) as resp:
            checked(resp, 200, post_detail(pk), name=name)

    def posts_list(self, name: str) -> None:
        limit = SETTINGS.page_limit
        with self.client.get(posts_url(limit=limit), name=name, catch_response=True) as resp:
            checked(resp, 200, list_page(post_summary, max_items=limit), name=name)

    def comments_list(self, name: str) -> None:
        pk = POOL.post()
        url = f"/api/posts/{pk}/comments/?limit={SETTINGS.page_limit}"
        with self.client.get(url, name=name, catch_response=True) as resp:
            checked(resp, 200, list_page(comment_item, max_items=SETTINGS.page_limit), name=name)

    def authors_list(self, name: str) -> None:
        url = f"/api/authors/?limit={SETTINGS.page_limit}"
        with self.client.get(url, name=name, catch_response=True) as resp:
            checked(resp, 200, list_page(author_item, max_items=SETTINGS.page_limit), name=name)
