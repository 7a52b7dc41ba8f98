"""DynamoDB calls per request, read from the ``Server-Timing`` header, next to a naive client.

The fixture is created through the API of the caches-off stack, so the
caches-on stack has never seen it: its first request for each page is truly
cold. All requests of one measurement go over one keep-alive connection, i.e.
to one gunicorn worker, so the second request meets what the first cached.

The naive client fetches every reference with its own GetItem, as a Django-ORM
style ``post.author`` in a loop would, and never caches:

- ``GET /api/posts/?limit=20``          1 Query + 1 GetItem per post (its author)
- ``GET /api/posts/<pk>/``              GetItem post + Query comments + 1 GetItem per
                                        comment (its author) + GetItem post author
                                        + UpdateItem view count
- ``GET /api/posts/<pk>/comments/``     GetItem post (404 check) + Query + 1 GetItem per comment
- ``GET /api/authors/<pk>/``            1 GetItem
- ``GET /api/authors/?limit=20``        1 Scan
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from loadtests.common import create_author, create_comment, create_post, parse_server_timing

DETAIL_COMMENTS = 50
DETAIL_COMMENTERS = 10
LIST_POSTS = 20
LIST_AUTHORS = 5


def build_fixture(base: str) -> dict[str, Any]:
    """Disjoint data for each page, so measuring one never warms another.

    - a post with 50 comments by 10 authors (post detail)
    - another such post with its own 10 authors (comment list)
    - an author nobody reads (author detail)
    - 20 posts by 5 authors, created last, so they are the newest page (post list)
    """
    http = requests.Session()

    def post_with_comments(tag: str) -> dict[str, Any]:
        owner = create_author(http, base, prefix=f"bench-{tag}")["pk"]
        commenters = [create_author(http, base, prefix=f"bench-{tag}c")["pk"] for _ in range(DETAIL_COMMENTERS)]
        post = create_post(http, base, owner, prefix=f"bench-{tag}")["pk"]
        for i in range(DETAIL_COMMENTS):
            create_comment(http, base, post, commenters[i % DETAIL_COMMENTERS])
        return {"post": post, "author": owner, "commenters": commenters}

    fixture: dict[str, Any] = {
        "detail": post_with_comments("detail"),
        "comments": post_with_comments("comments"),
        "lone_author": create_author(http, base, prefix="bench-lone")["pk"],
    }
    list_authors = [create_author(http, base, prefix="bench-list")["pk"] for _ in range(LIST_AUTHORS)]
    fixture["list"] = {
        "authors": list_authors,
        "posts": [
            create_post(http, base, list_authors[i % LIST_AUTHORS], prefix="bench-list")["pk"]
            for i in range(LIST_POSTS)
        ],
    }
    return fixture


@dataclass(frozen=True)
class Page:
    key: str
    label: str
    path: Callable[[dict], str]
    naive: Callable[[dict], int]  # from the response body
    naive_formula: str


PAGES = (
    Page(
        "posts_list",
        f"GET /api/posts/?limit={LIST_POSTS}",
        lambda fx: f"/api/posts/?limit={LIST_POSTS}",
        lambda body: 1 + len(body["results"]),
        "1 Query + 1 GetItem per post",
    ),
    Page(
        "post_detail",
        "GET /api/posts/<pk>/",
        lambda fx: f"/api/posts/{fx['detail']['post']}/",
        lambda body: 4 + len(body["comments"]),
        "GetItem + Query + 1 GetItem per comment + GetItem author + UpdateItem",
    ),
    Page(
        "comments_list",
        "GET /api/posts/<pk>/comments/",
        lambda fx: f"/api/posts/{fx['comments']['post']}/comments/?limit={DETAIL_COMMENTS}",
        lambda body: 2 + len(body["results"]),
        "GetItem post + Query + 1 GetItem per comment",
    ),
    Page(
        "author_detail",
        "GET /api/authors/<pk>/",
        lambda fx: f"/api/authors/{fx['lone_author']}/",
        lambda body: 1,
        "1 GetItem",
    ),
    Page(
        "authors_list",
        f"GET /api/authors/?limit={LIST_POSTS}",
        lambda fx: f"/api/authors/?limit={LIST_POSTS}",
        lambda body: 1,
        "1 Scan",
    ),
)


def measure(base: str, fixture: dict[str, Any], *, repeats: int = 4) -> dict[str, Any]:
    """For each page: calls/hits/misses of ``repeats`` consecutive requests on one connection."""
    http = requests.Session()
    out: dict[str, Any] = {}
    for page in PAGES:
        path = page.path(fixture)
        samples = []
        naive = None
        for _ in range(repeats):
            resp = http.get(f"{base}{path}", timeout=30)
            if resp.status_code != 200:
                raise RuntimeError(f"{page.label}: HTTP {resp.status_code}: {resp.text[:300]}")
            timing = parse_server_timing(resp.headers.get("Server-Timing"))
            if "calls" not in timing:
                raise RuntimeError(f"{page.label}: no ddb calls in Server-Timing {resp.headers.get('Server-Timing')!r}")
            samples.append(timing)
            if naive is None:
                naive = page.naive(resp.json())
        calls = [int(s["calls"]) for s in samples]
        out[page.key] = {
            "label": page.label,
            "naive": naive,
            "naive_formula": page.naive_formula,
            "calls": calls,
            "hits": [int(s.get("hits", 0)) for s in samples],
            "misses": [int(s.get("misses", 0)) for s in samples],
            "ddb_ms": [s.get("ddb_ms", 0.0) for s in samples],
            "first": calls[0],
            "warm": statistics.median(calls[1:]) if len(calls) > 1 else calls[0],
        }
    return out
