"""Concurrent writers: atomic F() counters and race-safe unique values.

On the moto engine the threads share one in-process mock; on the server
engines they race over HTTP.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from dynamo_backend import F, UniqueConstraintError, cache

from .models import Post, Reserved

pytestmark = [pytest.mark.usefixtures("tables"), pytest.mark.models("Post")]


def race(n: int, work):
    """Run ``work(i)`` in n threads released together; return results or exceptions."""
    barrier = threading.Barrier(n)

    def run(i: int):
        barrier.wait(timeout=30)
        try:
            return work(i)
        except Exception as exc:  # the test inspects what each thread got
            return exc

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def test_twenty_threads_adding_one_with_f_end_exactly_twenty_higher(engine):
    post = Post.objects.create(title="counter", slug="counter", view_count=5)

    results = race(20, lambda _: Post.objects.filter(pk=post.pk).update(view_count=F("view_count") + 1))

    assert results == [1] * 20
    assert engine.raw_get(Post, post.pk)["view_count"] == {"N": "25"}
    cache.reset()
    assert Post.objects.get(pk=post.pk).view_count == 25


@pytest.mark.models("Reserved")
def test_concurrent_f_updates_of_a_reserved_word_field_all_land(engine):
    row = Reserved.objects.create(name="n", count=0)

    race(10, lambda _: Reserved.objects.filter(pk=row.pk).update(count=F("count") + 2))

    assert engine.raw_get(Reserved, row.pk)["count"] == {"N": "20"}


@pytest.mark.parametrize("writers", [2, 8])
def test_concurrent_creates_of_one_slug_leave_exactly_one_item(engine, writers):
    results = race(writers, lambda i: Post.objects.create(title=f"writer {i}", slug="same-slug"))

    winners = [r for r in results if isinstance(r, Post)]
    losers = [r for r in results if not isinstance(r, Post)]
    assert len(winners) == 1, results
    assert all(isinstance(r, UniqueConstraintError) for r in losers), losers
    assert all(r.field == "slug" and r.value == "same-slug" for r in losers)
    stored = engine.raw_scan(Post)
    assert [item["pk"]["S"] for item in stored] == [winners[0].pk]


def test_concurrent_creates_of_different_slugs_all_succeed(engine):
    results = race(8, lambda i: Post.objects.create(title=f"writer {i}", slug=f"slug-{i}"))

    assert all(isinstance(r, Post) for r in results), results
    assert len(engine.raw_scan(Post)) == 8


def test_conditional_update_by_pk_is_atomic(engine):
    post = Post.objects.create(title="once", slug="once", view_count=0)

    results = race(
        8, lambda _: Post.objects.filter(pk=post.pk, view_count__lt=1).update(view_count=F("view_count") + 1)
    )

    assert sorted(results) == [0] * 7 + [1], results
    assert engine.raw_get(Post, post.pk)["view_count"] == {"N": "1"}
