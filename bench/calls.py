"""DynamoDB calls per request (from ``Server-Timing``) of each page, next to a naive client's.

The fixture is created through the caches-off stack, so the caches-on stack's
first request is cold; each page's requests share one keep-alive connection
(one worker), so the next ones meet what the first cached.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

from bench.results import PageCalls
from loadtests.data import Api
from loadtests.records import Timing

COMMENTS, COMMENTERS, LIST_POSTS, LIST_AUTHORS = 50, 10, 20, 5


def build_fixture(base: str) -> dict[str, Any]:
    """Disjoint data for each page, so measuring one never warms another.

    A post with 50 comments by 10 authors (post page), another such post with
    its own 10 authors (comment list), an author nobody reads (author page), and
    20 posts by 5 authors, created last so they are the newest (post list).
    """
    api = Api(base)

    def post_with_comments(tag: str) -> str:
        post = api.post(api.author(f"bench-{tag}"), f"bench-{tag}")
        commenters = [api.author(f"bench-{tag}c") for _ in range(COMMENTERS)]
        for i in range(COMMENTS):
            api.comment(post, commenters[i % COMMENTERS])
        return post

    fixture = {"detail": post_with_comments("detail"), "comments": post_with_comments("comments")}
    fixture["lone_author"] = api.author("bench-lone")
    authors = [api.author("bench-list") for _ in range(LIST_AUTHORS)]
    for i in range(LIST_POSTS):
        api.post(authors[i % LIST_AUTHORS], "bench-list")
    return fixture


# key: (label, path from the fixture, naive calls from the response body, how the naive client counts)
PAGES: dict[str, tuple[str, Callable[[dict], str], Callable[[dict], int], str]] = {
    "posts_list": (
        f"GET /api/posts/?limit={LIST_POSTS}",
        lambda fx: f"/api/posts/?limit={LIST_POSTS}",
        lambda body: 1 + len(body["results"]),
        "1 Query + 1 GetItem per post",
    ),
    "post_detail": (
        "GET /api/posts/<pk>/",
        lambda fx: f"/api/posts/{fx['detail']}/",
        lambda body: 4 + len(body["comments"]),
        "GetItem + Query + 1 GetItem per comment + GetItem author + UpdateItem",
    ),
    "comments_list": (
        f"GET /api/posts/<pk>/comments/?limit={COMMENTS}",
        lambda fx: f"/api/posts/{fx['comments']}/comments/?limit={COMMENTS}",
        lambda body: 2 + len(body["results"]),
        "GetItem post + Query + 1 GetItem per comment",
    ),
    "author_detail": (
        "GET /api/authors/<pk>/",
        lambda fx: f"/api/authors/{fx['lone_author']}/",
        lambda body: 1,
        "1 GetItem",
    ),
    "authors_list": (
        f"GET /api/authors/?limit={LIST_POSTS}",
        lambda fx: f"/api/authors/?limit={LIST_POSTS}",
        lambda body: 1,
        "1 Scan",
    ),
}


def measure(base: str, fixture: dict[str, Any], repeats: int = 4) -> dict[str, PageCalls]:
    """For each page: calls, hits, misses and DynamoDB ms of ``repeats`` requests on one connection."""
    http = requests.Session()
    out: dict[str, PageCalls] = {}
    for key, (label, path, naive, formula) in PAGES.items():
        page = PageCalls(label, 0, formula, [], [], [], [])
        for _ in range(repeats):
            resp = http.get(f"{base}{path(fixture)}", timeout=30)
            if resp.status_code != 200:
                raise RuntimeError(f"{label}: HTTP {resp.status_code}: {resp.text[:300]}")
            timing = Timing()
            timing.add(resp.headers.get("Server-Timing"))
            if not timing.with_header:
                raise RuntimeError(f"{label}: no ddb calls in Server-Timing {resp.headers.get('Server-Timing')!r}")
            page.naive = page.naive or naive(resp.json())
            page.calls.append(timing.calls)
            page.hits.append(timing.hits)
            page.misses.append(timing.misses)
            page.ddb_ms.append(timing.ddb_ms)
        out[key] = page
    return out
