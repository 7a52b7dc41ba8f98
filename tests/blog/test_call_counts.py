"""DynamoDB calls per page (issue 4): constant cold, (almost) nothing warm."""

from __future__ import annotations

import pytest

from dynamo_backend import cache
from dynamo_backend.stats import count_calls
from services.blog.models import FEED_SHARDS, Author, Comment, Post

pytestmark = pytest.mark.usefixtures("blog_tables")


def _ops(log) -> dict:
    return dict(log.by_operation())


def _author_getitems(log) -> int:
    return sum(1 for c in log.calls if c.operation == "GetItem" and c.table == Author._meta.table_name)


@pytest.fixture
def busy_post():
    """A post with 50 comments by 10 authors."""
    authors = [Author(username=f"author{i}", email=f"a{i}@example.com") for i in range(10)]
    Author.objects.bulk_create(authors)
    post = Post(title="Busy", slug="busy", author_pk=authors[0].pk)
    Post.objects.bulk_create([post])
    Comment.objects.bulk_create(
        [Comment(post_pk=post.pk, author_pk=authors[i % 10].pk, body=f"c{i}") for i in range(50)]
    )
    cache.reset()
    return post


@pytest.fixture
def feed():
    """20 posts by 5 authors."""
    authors = [Author(username=f"writer{i}", email=f"w{i}@example.com") for i in range(5)]
    Author.objects.bulk_create(authors)
    Post.objects.bulk_create([Post(title=f"P{i}", slug=f"p{i}", author_pk=authors[i % 5].pk) for i in range(20)])
    cache.reset()
    return authors


def test_post_detail_costs_at_most_3_calls_cold_1_warm(api, busy_post):
    url = f"/api/posts/{busy_post.pk}/"
    with count_calls() as cold:
        body = api.get(url).json()
    assert len(body["comments"]) == 50
    assert len({c["author"]["username"] for c in body["comments"]}) == 10
    assert cold.total <= 3, _ops(cold)
    assert _author_getitems(cold) == 0, _ops(cold)

    with count_calls() as warm:
        body = api.get(url).json()
    assert body["view_count"] == 2
    assert warm.total <= 1, _ops(warm)
    assert warm.count("UpdateItem") == 1


def _merged_feed_page(log) -> bool:
    """One Query per feed shard (a second for a shard holding over twice its share) and one BatchGetItem."""
    queries = log.count("Query")
    return FEED_SHARDS <= queries <= 2 * FEED_SHARDS and log.by_operation() == {"Query": queries, "BatchGetItem": 1}


def test_post_list_costs_a_query_per_feed_shard_and_1_batch_cold_1_call_warm(api, feed):
    with count_calls() as cold:
        body = api.get("/api/posts/?limit=20").json()
    assert len(body["results"]) == 20
    assert all(p["author"]["username"].startswith("writer") for p in body["results"])
    assert _merged_feed_page(cold), _ops(cold)  # the authors and the view-count shards share the BatchGetItem

    with count_calls() as warm:
        api.get("/api/posts/?limit=20")
    assert warm.total <= 1, _ops(warm)


def test_posts_of_an_author_costs_at_most_2_calls_cold(api, feed):
    with count_calls() as cold:
        body = api.get(f"/api/posts/?author_pk={feed[0].pk}").json()
    assert len(body["results"]) == 4
    assert cold.total <= 2, _ops(cold)


def test_comment_list_costs_at_most_3_calls_cold(api, busy_post):
    with count_calls() as cold:
        body = api.get(f"/api/posts/{busy_post.pk}/comments/?limit=50").json()
    assert len(body["results"]) == 50
    assert cold.total <= 3, _ops(cold)  # GetItem post, Query, BatchGetItem
    assert _author_getitems(cold) == 0, _ops(cold)


def test_author_detail_costs_nothing_warm(api):
    author = api.create_author()
    api.get(f"/api/authors/{author['pk']}/")
    with count_calls() as warm:
        assert api.get(f"/api/authors/{author['pk']}/").status_code == 200
    assert warm.total == 0, _ops(warm)


def test_without_cache_pages_still_batch_authors(api, busy_post, feed, dynamo_settings):
    with dynamo_settings(CACHE_TTL=0):
        cache.reset()
        with count_calls() as detail:
            api.get(f"/api/posts/{busy_post.pk}/")
        with count_calls() as again:
            api.get(f"/api/posts/{busy_post.pk}/")
        with count_calls() as listing:
            api.get("/api/posts/?limit=20")
    for log in (detail, again, listing):
        assert _author_getitems(log) == 0, _ops(log)
        assert log.count("BatchGetItem") == 1, _ops(log)
    assert detail.total <= 4 and again.total <= 4, (_ops(detail), _ops(again))
    assert _merged_feed_page(listing), _ops(listing)
