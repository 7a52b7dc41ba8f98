"""DynamoDB calls per request (from ``Server-Timing``) of each page, next to a naive client's.

The fixture is created through the caches-off stack, so the caches-on stack's
first request is cold; each page's requests share one keep-alive connection
(one worker), so the next ones meet what the first cached.
"""

from __future__ import annotations

import re
from typing import Any

import requests

from bench.results import PageCalls
from loadtests.data import Api
from loadtests.records import Timing

COMMENTS, COMMENTERS, LIST_POSTS, LIST_AUTHORS = 50, 10, 20, 5  # as in PAGES' URLs


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


# key: (URL with fixture keys, naive calls: a constant plus one per item of this list in the body)
PAGES = {
    "posts_list": ("/api/posts/?limit=20", 1, "results"),
    "post_detail": ("/api/posts/{detail}/", 4, "comments"),
    "comments_list": ("/api/posts/{comments}/comments/?limit=50", 2, "results"),
    "author_detail": ("/api/authors/{lone_author}/", 1, ""),
    "authors_list": ("/api/authors/?limit=20", 1, ""),
}
NAIVE_COUNTS = {
    "posts_list": "1 Query + 1 GetItem per post",
    "post_detail": "GetItem + Query + 1 GetItem per comment + GetItem author + UpdateItem",
    "comments_list": "GetItem post + Query + 1 GetItem per comment",
    "author_detail": "1 GetItem",
    "authors_list": "1 Scan",
}


def measure(base: str, fixture: dict[str, Any], repeats: int = 4) -> dict[str, PageCalls]:
    """For each page: calls, hits, misses and DynamoDB ms of ``repeats`` requests on one connection."""
    http = requests.Session()
    out: dict[str, PageCalls] = {}
    for key, (path, naive, per_item) in PAGES.items():
        label = "GET " + re.sub(r"\{\w+\}", "<pk>", path)
        page = PageCalls(label, 0, NAIVE_COUNTS[key], [], [], [], [])
        for _ in range(repeats):
            resp = http.get(base + path.format(**fixture), timeout=30)
            if resp.status_code != 200:
                raise RuntimeError(f"{label}: HTTP {resp.status_code}: {resp.text[:300]}")
            timing = Timing()
            timing.add(resp.headers.get("Server-Timing"))
            if not timing.with_header:
                raise RuntimeError(f"{label}: no ddb calls in Server-Timing {resp.headers.get('Server-Timing')!r}")
            page.naive = naive + (len(resp.json()[per_item]) if per_item else 0)
            page.calls.append(timing.calls)
            page.hits.append(timing.hits)
            page.misses.append(timing.misses)
            page.ddb_ms.append(timing.ddb_ms)
        out[key] = page
    return out
