"""Issue 10, problem 1: a write decided from another worker's stale cache.

Two gunicorn workers each keep an item cache. A write that compares against,
or checks existence in, its own worker's cached copy goes wrong as soon as the
other worker changed the item: a PATCH back to an earlier value is a no-op, and
a deleted author or post is still accepted as a reference. Each test pins one
connection to each worker and alternates between them; the emulator is then
read directly.
"""

from __future__ import annotations

import pytest

from tests.faults.accounting import AUTHORS, POSTS
from tests.faults.api import error_of, new_author, new_post, no_problems, post_body, retried, unique
from tests.faults.stack import rounds

# Nothing here needs transactions: a consistent read (or a conditional write) decides, on either engine.
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.parametrize("stack", ["moto_server", "dynalite"], indirect=True),
]


def test_toggling_published_through_alternating_workers_stores_every_patch(stack):
    a, b = stack.pinned(1)
    post = new_post(a, new_author(a)["pk"], published=False)
    path = f"/api/posts/{post['pk']}/"
    for client in (a, b):  # each worker reads, and caches, the post as it is
        assert retried(client.get, path).status_code == 200
    value, lost = False, []
    for n in range(rounds(10)):
        client = (a, b)[n % 2]
        value = not value
        response = retried(client.patch, path, {"published": value})
        stored = stack.store.get(POSTS, post["pk"])["published"]
        answered = response.json().get("published") if response.status_code == 200 else None
        if (response.status_code, answered, stored) != (200, value, value):
            lost.append(
                f"#{n} worker {client.worker}: PATCH published={value} -> {response.status_code}, "
                f"answered {answered}, stored {stored}"
            )
    no_problems(lost, "PATCHes not stored", out_of=rounds(10))


def test_putting_a_bio_back_through_the_other_worker_stores_it(stack):
    a, b = stack.pinned(1)
    author = new_author(a)
    path = f"/api/authors/{author['pk']}/"
    assert b.get(path).json()["bio"] == "b"  # B caches the author
    lost = []
    for n in range(rounds(6)):
        client, bio = (a, b)[n % 2], ("x", "b")[n % 2]
        response = retried(client.put, path, {"bio": bio})
        stored = stack.store.get(AUTHORS, author["pk"])["bio"]
        if response.status_code != 200 or stored != bio:
            lost.append(f"#{n} worker {client.worker}: PUT bio={bio!r} -> {response.status_code}, stored {stored!r}")
    no_problems(lost, "PUTs not stored", out_of=rounds(6))


def test_a_worker_refuses_a_post_for_an_author_the_other_worker_deleted(stack):
    a, b = stack.pinned(1)
    authors, accepted = [], []
    for _ in range(rounds(5)):
        author = new_author(a)
        authors.append(author["pk"])
        assert retried(b.get, f"/api/authors/{author['pk']}/").status_code == 200  # B caches the author
        # A 503 (the deadline ran out on a loaded machine) is sent again, as the client is told; a retry of a
        # delete that had finished answers 401 (its token went with the author) or 404.
        assert retried(a.delete, f"/api/authors/{author['pk']}/").status_code in (204, 401, 404)
        assert not stack.store.exists(AUTHORS, author["pk"])
        # The answer that decides must be a refusal.
        response = retried(b.post, "/api/posts/", post_body(author["pk"]))
        if not 400 <= response.status_code < 500:
            accepted.append(f"author {author['pk']}: {response.status_code} {response.text[:120]}")
        else:
            error_of(response)
    orphans = [f"stored orphan post {p['pk']} of author {p['author_pk']}" for p in stack.store.orphan_posts(authors)]
    no_problems(accepted + orphans, f"problems in {len(authors)} rounds (posts accepted for a deleted author, orphans)")


def test_a_worker_refuses_a_comment_on_a_post_the_other_worker_deleted(stack):
    a, b = stack.pinned(1)
    author = new_author(a)
    posts, accepted = [], []
    for _ in range(rounds(5)):
        post = new_post(a, author["pk"])
        posts.append(post["pk"])
        assert retried(b.get, f"/api/posts/{post['pk']}/comments/").status_code == 200  # B caches the post
        assert retried(a.delete, f"/api/posts/{post['pk']}/").status_code in (204, 404)
        assert not stack.store.exists(POSTS, post["pk"])
        body = {"author_pk": author["pk"], "body": unique("c")}
        response = retried(b.post, f"/api/posts/{post['pk']}/comments/", body)
        if not 400 <= response.status_code < 500:
            accepted.append(f"post {post['pk']}: {response.status_code} {response.text[:120]}")
        else:
            error_of(response)
    orphans = [f"stored orphan comment {c['pk']} on post {c['post_pk']}" for c in stack.store.orphan_comments(posts)]
    no_problems(accepted + orphans, f"problems in {len(posts)} rounds (comments accepted on a deleted post, orphans)")
