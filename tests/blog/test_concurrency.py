"""Races: the sharded view counter sums exactly, a slug is taken exactly once.

Real DynamoDB applies each conditional write and each UpdateItem atomically.
Moto does not: its handlers read, check and write in plain Python with no
lock, so two threads can both pass ``attribute_not_exists``. The fixture
below serialises moto's DynamoDB request handler, which gives moto the
per-request atomicity DynamoDB guarantees; the Django requests, the library
and its caches still run fully concurrently.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from moto.dynamodb.responses import DynamoHandler

from dynamo_backend import cache
from services.blog.models import Post

pytestmark = pytest.mark.usefixtures("blog_tables")


@pytest.fixture(autouse=True)
def atomic_moto(monkeypatch):
    lock = threading.Lock()
    original = DynamoHandler.call_action

    def call_action(self):
        with lock:
            return original(self)

    monkeypatch.setattr(DynamoHandler, "call_action", call_action)


def _run_together(n: int, fn):
    """Run fn(i) in n threads released at the same moment; return the results."""
    barrier = threading.Barrier(n)

    def task(i):
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(task, range(n)))


def test_concurrent_views_sum_exactly(api, new_api):
    author = api.create_author()
    post = api.create_post(author["pk"])

    def view(_):
        response = new_api().get(f"/api/posts/{post['pk']}/")
        assert response.status_code == 200, response.content
        return response.json()["view_count"]

    counts = _run_together(20, view)
    # Each view lands in one shard; a page shows its own view and the other
    # shards as this process last saw them, so racing pages may show one count.
    assert all(1 <= count <= 20 for count in counts)
    assert Post.views.get(post["pk"]) == 20  # this process's answers, however they interleaved
    cache.reset()
    assert Post.views.get(post["pk"]) == 20  # what DynamoDB holds
    assert api.get(f"/api/posts/{post['pk']}/").json()["view_count"] == 21


def test_concurrent_duplicate_slug_gives_one_201_rest_409(api, new_api):
    author = api.create_author()

    def create(i):
        response = new_api().post(
            "/api/posts/",
            {"title": f"racer {i}", "slug": "contested", "author_pk": author["pk"]},
            token=author["token"],
        )
        return response.status_code

    statuses = Counter(_run_together(10, create))
    assert statuses == Counter({201: 1, 409: 9})
    assert Post.objects.order_by("-created_at").across_shards("feed").count() == 1


def test_concurrent_duplicate_username_gives_one_201(new_api):
    def create(i):
        return new_api().post("/api/authors/", {"username": "same", "email": f"u{i}@example.com"}).status_code

    assert Counter(_run_together(10, create)) == Counter({201: 1, 409: 9})
