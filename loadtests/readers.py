"""Blog readers: list posts, open a post, open an author, page with the cursor.

Run alone with ``locust -f loadtests/read_mix.py``; the blog mix
(``locustfile.py``) pairs it with the writers.
"""

from __future__ import annotations

import sys
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

# Request names: parameterised URLs are grouped under one name each.
LIST_POSTS = "/api/posts/?limit=[n]"
LIST_POSTS_PAGE = "/api/posts/?cursor=[cursor]"
LIST_POSTS_BY_AUTHOR = "/api/posts/?author_pk=[pk]"
POST_DETAIL = "/api/posts/[pk]/"
POST_COMMENTS = "/api/posts/[pk]/comments/"
AUTHOR_DETAIL = "/api/authors/[pk]/"
LIST_AUTHORS = "/api/authors/?limit=[n]"


class BlogReader(FastHttpUser):
    """A visitor: mostly lists and post pages, sometimes an author or the next page."""

    weight = 9
    wait_time = wait_time_from_settings()
    network_timeout = SETTINGS.request_timeout
    connection_timeout = SETTINGS.request_timeout

    def on_start(self) -> None:
        POOL.ensure(self.host)

    @task(4)
    def list_posts(self) -> None:
        limit = SETTINGS.page_limit
        with self.client.get(posts_url(limit=limit), name=LIST_POSTS, catch_response=True) as resp:
            checked(resp, 200, list_page(post_summary, max_items=limit), name=LIST_POSTS)

    @task(4)
    def open_post(self) -> None:
        pk = POOL.post()
        with self.client.get(f"/api/posts/{pk}/", name=POST_DETAIL, catch_response=True) as resp:
            checked(resp, 200, post_detail(pk), name=POST_DETAIL)

    @task(2)
    def open_author(self) -> None:
        pk = POOL.author()
        with self.client.get(f"/api/authors/{pk}/", name=AUTHOR_DETAIL, catch_response=True) as resp:
            checked(resp, 200, author_item, field_equals("pk", pk), name=AUTHOR_DETAIL)

    @task(1)
    def page_with_cursor(self) -> None:
        """Walk a few pages; a post seen twice across pages is a pagination bug."""
        limit = SETTINGS.page_limit
        seen: set[str] = set()
        url, name = posts_url(limit=limit), LIST_POSTS
        for _ in range(SETTINGS.cursor_pages):
            with self.client.get(url, name=name, catch_response=True) as resp:
                body = checked(resp, 200, list_page(post_summary, max_items=limit), name=name)
                if body is None:
                    return
                page = {item["pk"] for item in body["results"]}
                if page & seen:
                    resp.failure(f"cursor pagination repeated posts {sorted(page & seen)[:3]}")
                    return
                seen |= page
            cursor = body["next_cursor"]
            if not cursor:
                return
            url, name = posts_url(limit=limit, cursor=cursor), LIST_POSTS_PAGE

    @task(1)
    def posts_of_author(self) -> None:
        author_pk = POOL.author()
        limit = SETTINGS.page_limit

        def all_by_author(body: dict) -> str | None:
            strangers = [p["pk"] for p in body["results"] if p.get("author_pk", author_pk) != author_pk]
            return f"author filter returned posts of others: {strangers[:3]}" if strangers else None

        url = posts_url(limit=limit, author_pk=author_pk)
        with self.client.get(url, name=LIST_POSTS_BY_AUTHOR, catch_response=True) as resp:
            checked(resp, 200, list_page(post_summary, max_items=limit), all_by_author, name=LIST_POSTS_BY_AUTHOR)

    @task(1)
    def list_comments(self) -> None:
        pk = POOL.post()
        url = f"/api/posts/{pk}/comments/?limit={SETTINGS.page_limit}"
        with self.client.get(url, name=POST_COMMENTS, catch_response=True) as resp:
            checked(resp, 200, list_page(comment_item, max_items=SETTINGS.page_limit), name=POST_COMMENTS)

    @task(1)
    def list_authors(self) -> None:
        url = f"/api/authors/?limit={SETTINGS.page_limit}"
        with self.client.get(url, name=LIST_AUTHORS, catch_response=True) as resp:
            checked(resp, 200, list_page(author_item, max_items=SETTINGS.page_limit), name=LIST_AUTHORS)
