"""Blog writers: create posts, comment, update and delete.

Each writer works as its own author and deletes only what it created, so the
readers' pool of existing posts and authors is never touched. A writer keeps
at most ``MAX_OWN_POSTS`` posts alive, deleting its oldest beyond that.
"""

from __future__ import annotations

import random
import sys
from collections import deque
from pathlib import Path

if str(Path(__file__).resolve().parents[1]) not in sys.path:  # `loadtests` as a package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from locust import FastHttpUser, task  # noqa: E402

from loadtests.common import (  # noqa: E402
    POOL,
    SETTINGS,
    checked,
    field_equals,
    has_keys,
    install_locust_hooks,
    unique_suffix,
    wait_time_from_settings,
)

install_locust_hooks()

CREATE_AUTHOR = "/api/authors/"
CREATE_POST = "/api/posts/"
UPDATE_POST = "/api/posts/[pk]/"
DELETE_POST = "/api/posts/[pk]/"
CREATE_COMMENT = "/api/posts/[pk]/comments/"
DELETE_COMMENT = "/api/comments/[pk]/"

DELETED = (200, 204)
MAX_OWN_POSTS = 5
MAX_OWN_COMMENTS = 20


class BlogWriter(FastHttpUser):
    """An author at work: writes posts, comments on posts, edits and deletes its own."""

    weight = 1
    wait_time = wait_time_from_settings()
    network_timeout = SETTINGS.request_timeout
    connection_timeout = SETTINGS.request_timeout

    def on_start(self) -> None:
        POOL.ensure(self.host)
        self.author_pk: str | None = None
        self.own_posts: deque[str] = deque()
        self.own_comments: list[tuple[str, str]] = []  # (comment pk, post pk)
        self._become_author()

    def _become_author(self) -> bool:
        suffix = unique_suffix()
        payload = {"username": f"writer-{suffix}", "email": f"writer-{suffix}@example.com", "bio": "writes under load"}
        with self.client.post(CREATE_AUTHOR, json=payload, name=CREATE_AUTHOR, catch_response=True) as resp:
            body = checked(resp, 201, has_keys("pk"), field_equals("username", payload["username"]), name=CREATE_AUTHOR)
        if body:
            self.author_pk = body["pk"]
        return self.author_pk is not None

    @task(3)
    def create_post(self) -> None:
        if self.author_pk is None and not self._become_author():
            return
        suffix = unique_suffix()
        payload = {
            "title": f"Load test post {suffix}",
            "slug": f"load-test-{suffix}",
            "body": "Written by a locust writer. " * 10,
            "author_pk": self.author_pk,
            "published": True,
            "tags": ["loadtest", random.choice(["django", "dynamodb", "cache"])],
        }
        with self.client.post(CREATE_POST, json=payload, name=CREATE_POST, catch_response=True) as resp:
            body = checked(
                resp,
                201,
                has_keys("pk"),
                field_equals("slug", payload["slug"]),
                field_equals("author_pk", self.author_pk),
                name=CREATE_POST,
            )
        if body:
            self.own_posts.append(body["pk"])
            if len(self.own_posts) > MAX_OWN_POSTS:
                self._delete_post(self.own_posts.popleft())

    @task(3)
    def comment(self) -> None:
        """Comment on an existing post (usually someone else's) or on one's own."""
        if self.author_pk is None and not self._become_author():
            return
        post_pk = random.choice(self.own_posts) if self.own_posts and random.random() < 0.3 else POOL.post()
        payload = {"author_pk": self.author_pk, "body": f"A comment under load {unique_suffix()}"}
        url = f"/api/posts/{post_pk}/comments/"
        with self.client.post(url, json=payload, name=CREATE_COMMENT, catch_response=True) as resp:
            body = checked(resp, 201, has_keys("pk"), field_equals("body", payload["body"]), name=CREATE_COMMENT)
        if body:
            self.own_comments.append((body["pk"], post_pk))
            if len(self.own_comments) > MAX_OWN_COMMENTS:
                self._delete_comment(0)

    @task(2)
    def update_post(self) -> None:
        if not self.own_posts:
            self.create_post()
            return
        pk = random.choice(self.own_posts)
        title = f"Edited {unique_suffix()}"
        with self.client.put(f"/api/posts/{pk}/", json={"title": title}, name=UPDATE_POST, catch_response=True) as resp:
            checked(resp, 200, field_equals("pk", pk), field_equals("title", title), name=UPDATE_POST)

    @task(1)
    def delete_something(self) -> None:
        """Delete one of one's own comments, or one's oldest post (with its comments)."""
        if self.own_comments and random.random() < 0.5:
            self._delete_comment(random.randrange(len(self.own_comments)))
        elif self.own_posts:
            self._delete_post(self.own_posts.popleft())

    def _delete_comment(self, index: int) -> None:
        pk, _post_pk = self.own_comments.pop(index)
        with self.client.delete(f"/api/comments/{pk}/", name=DELETE_COMMENT, catch_response=True) as resp:
            checked(resp, DELETED, name=DELETE_COMMENT)

    def _delete_post(self, pk: str) -> None:
        with self.client.delete(f"/api/posts/{pk}/", name=DELETE_POST, catch_response=True) as resp:
            checked(resp, DELETED, name=DELETE_POST)
        # The post's comments went with it.
        self.own_comments = [(c, p) for c, p in self.own_comments if p != pk]
