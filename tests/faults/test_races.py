"""Issue 10, problem 2: check-then-act races between a delete and a create that references it.

Each round starts a DELETE of a parent and a POST of a child through the two
workers at the same moment (threads behind a barrier), the roles swapping
workers every round. Whatever the interleaving, the stored data must hold:
no post of a missing author (Author is PROTECT), no comment on a missing post
(Post is CASCADE), every acknowledged delete gone, every acknowledged create
stored unless a cascade removed it. Runs on the moto server (transactions);
dynalite has none, and its weaker fallback is not what these tests check.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.faults.accounting import AUTHORS, COMMENTS, POSTS
from tests.faults.api import (
    describe,
    new_author,
    new_post,
    no_problems,
    post_body,
    retried,
    status,
    unavailable,
    unique,
)
from tests.faults.stack import rounds, run_together

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def refused_or(success: int, answer) -> bool:
    """The create succeeded (``success``) or was refused with a 4xx: anything else (5xx, no answer) is wrong."""
    code = status(answer)
    return code == success or (isinstance(code, int) and 400 <= code < 500)


def test_deleting_an_author_while_a_post_for_them_is_created_leaves_no_orphan(stack):
    a, b = stack.pinned(1)
    n = rounds(100)
    authors = [new_author((a, b)[i % 2])["pk"] for i in range(n)]
    outcomes: Counter[tuple] = Counter()
    problems = []
    for i, author in enumerate(authors):
        deleter, poster = ((a, b), (b, a))[i % 2]
        deleted, posted = run_together(
            lambda deleter=deleter, author=author: deleter.delete(f"/api/authors/{author}/"),
            lambda poster=poster, author=author: poster.post("/api/posts/", post_body(author)),
        )
        outcomes[status(deleted), status(posted)] += 1
        # A 503 asks the client to retry; if the first attempt did finish, its token went with the author (401).
        again = unavailable(deleted)
        deleted = retried(deleter.delete, f"/api/authors/{author}/", answer=deleted)
        if status(deleted) == 204 and stack.store.exists(AUTHORS, author):
            problems.append(f"author {author}: DELETE answered 204, still stored")
        if status(posted) == 201 and not stack.store.exists(POSTS, posted.json()["pk"]):
            problems.append(f"author {author}: POST answered 201, post not stored")
        settled = (204, 409, 401, 404) if again else (204, 409)
        if status(deleted) not in settled or not (refused_or(201, posted) or unavailable(posted)):
            problems.append(f"author {author}: DELETE {describe(deleted)} / POST {describe(posted)}")
        if again and status(deleted) in (401, 404) and stack.store.exists(AUTHORS, author):
            problems.append(f"author {author}: DELETE retried after a 503 answered {describe(deleted)}, still stored")
    problems += [f"orphan post {p['pk']} of deleted author {p['author_pk']}" for p in stack.store.orphan_posts(authors)]
    no_problems(problems, f"problems in {n} rounds of DELETE author vs POST post; outcomes {dict(outcomes)}")


def test_deleting_a_post_while_a_comment_on_it_is_created_leaves_no_orphan(stack):
    a, b = stack.pinned(1)
    n = rounds(100)
    author = new_author(a)["pk"]
    posts = [new_post((a, b)[i % 2], author)["pk"] for i in range(n)]
    outcomes: Counter[tuple] = Counter()
    problems = []
    for i, post in enumerate(posts):
        deleter, commenter = ((a, b), (b, a))[i % 2]
        deleted, commented = run_together(
            lambda deleter=deleter, post=post: deleter.delete(f"/api/posts/{post}/"),
            lambda commenter=commenter, post=post: commenter.post(
                f"/api/posts/{post}/comments/", {"author_pk": author, "body": unique("c")}
            ),
        )
        outcomes[status(deleted), status(commented)] += 1
        deleted = retried(deleter.delete, f"/api/posts/{post}/", answer=deleted)  # a 503 asks the client to retry
        post_stored = stack.store.exists(POSTS, post)
        if status(deleted) == 204 and post_stored:
            problems.append(f"post {post}: DELETE answered 204, still stored")
        if status(commented) == 201 and post_stored and not stack.store.exists(COMMENTS, commented.json()["pk"]):
            problems.append(f"post {post}: comment answered 201 on a live post, not stored")
        if status(deleted) not in (204, 404) or not (refused_or(201, commented) or unavailable(commented)):
            problems.append(f"post {post}: DELETE {describe(deleted)} / POST comment {describe(commented)}")
    problems += [f"orphan comment {c['pk']} on deleted post {c['post_pk']}" for c in stack.store.orphan_comments(posts)]
    no_problems(problems, f"problems in {n} rounds of DELETE post vs POST comment; outcomes {dict(outcomes)}")
