"""Hot keys: the feed is spread over FEED_SHARDS index partitions, a post's views over VIEW_SHARDS items."""

from __future__ import annotations

import datetime as dt

import pytest

from dynamo_backend import cache, connection
from dynamo_backend.stats import count_calls
from services.blog.models import FEED_SHARDS, VIEW_SHARDS, Post
from tests.library.test_exactly_once import LoseAnswers

pytestmark = pytest.mark.usefixtures("blog_tables")
T0 = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


@pytest.fixture
def alice(api):
    return api.create_author("alice")


def counter_shards(engine) -> dict[str, int]:
    table = f"{Post._meta.table_name}__counters"
    return {item["pk"]["S"]: int(item["n"]["N"]) for item in engine.raw_scan(table)}


def all_pages(api, limit: int) -> list[dict]:
    results, cursor = [], None
    for _ in range(100):
        body = api.get(f"/api/posts/?limit={limit}" + (f"&cursor={cursor}" if cursor else "")).json()
        results += body["results"]
        cursor = body["next_cursor"]
        if cursor is None:
            return results
    raise AssertionError("the feed never ended")


def test_posts_are_written_to_the_feed_shards(api, alice, blog_tables):
    pks = [api.create_post(alice["pk"], f"p{i}")["pk"] for i in range(12)]
    stored = {item["pk"]["S"]: item["feed"]["S"] for item in blog_tables.raw_scan(Post)}
    field = Post._meta.fields["feed"]
    assert stored == {pk: field.value_for(pk) for pk in pks}
    assert set(stored.values()) <= {f"post#{n}" for n in range(FEED_SHARDS)}


@pytest.mark.parametrize("limit", [1, 3, 20])
def test_the_feed_pages_newest_first_across_shards_with_ties(api, alice, limit):
    # 14 posts on 3 distinct timestamps: ties inside a shard and across shards.
    posts = [
        Post(title=f"t{i}", slug=f"s{i}", author_pk=alice["pk"], created_at=T0 + dt.timedelta(seconds=i % 3))
        for i in range(14)
    ]
    Post.objects.bulk_create(posts)
    results = all_pages(api, limit)
    assert sorted(p["pk"] for p in results) == sorted(p.pk for p in posts)  # each exactly once
    times = [p["created_at"] for p in results]
    assert times == sorted(times, reverse=True)
    shard = {p.pk: Post._meta.fields["feed"].values().index(p.feed) for p in posts}
    for earlier, later in zip(results, results[1:], strict=False):
        if earlier["created_at"] == later["created_at"]:
            assert shard[earlier["pk"]] <= shard[later["pk"]]  # ties: the lower shard first, as on every page


def test_a_warm_view_writes_a_counter_shard_not_the_post(api, alice, blog_tables):
    post = api.create_post(alice["pk"])  # the create leaves the post in this process's cache
    before = blog_tables.raw_get(Post, post["pk"])
    counts = [api.get(f"/api/posts/{post['pk']}/").json()["view_count"] for _ in range(5)]
    assert counts == [1, 2, 3, 4, 5]
    assert blog_tables.raw_get(Post, post["pk"]) == before  # the post item (and its feed partition) untouched
    shards = counter_shards(blog_tables)
    assert sum(shards.values()) == 5 and len(shards) <= VIEW_SHARDS


def test_a_cold_view_rides_on_the_post_and_the_count_adds_up(api, alice, blog_tables):
    post = api.create_post(alice["pk"])
    api.get(f"/api/posts/{post['pk']}/")
    cache.reset()  # as in another worker: the post is not cached here
    assert api.get(f"/api/posts/{post['pk']}/").json()["view_count"] == 2
    assert blog_tables.raw_get(Post, post["pk"])["view_count"] == {"N": "1"}  # the cold view
    assert sum(counter_shards(blog_tables).values()) == 1  # the warm one


def test_the_feed_and_the_author_list_show_the_sharded_count(api, alice):
    post = api.create_post(alice["pk"])
    for _ in range(3):
        api.get(f"/api/posts/{post['pk']}/")
    cache.reset()
    assert [p["view_count"] for p in api.get("/api/posts/").json()["results"]] == [3]
    assert [p["view_count"] for p in api.get(f"/api/posts/?author_pk={alice['pk']}").json()["results"]] == [3]
    assert api.patch(f"/api/posts/{post['pk']}/", {"title": "new"}, as_=alice).json()["view_count"] == 3


def test_deleting_a_post_deletes_its_view_shards(api, alice, blog_tables):
    kept, gone = api.create_post(alice["pk"], "kept"), api.create_post(alice["pk"], "gone")
    for post in (kept, gone, gone):
        api.get(f"/api/posts/{post['pk']}/")
    assert api.delete(f"/api/posts/{gone['pk']}/", as_=alice).status_code == 204
    assert {key.split("#")[1] for key in counter_shards(blog_tables)} <= {kept["pk"]}


def test_a_view_whose_increment_answer_was_lost_is_503_and_counted_at_most_once(api, alice, blog_tables):
    post = api.create_post(alice["pk"])
    lossy = LoseAnswers(connection.get_client(), "update_item")
    with connection.use_client(lossy):
        response = api.get(f"/api/posts/{post['pk']}/")
    assert response.status_code == 503
    assert lossy.calls.count("update_item") == 1  # never retried
    assert sum(counter_shards(blog_tables).values()) == 1  # applied once, so the next page shows 2
    cache.reset()
    assert api.get(f"/api/posts/{post['pk']}/").json()["view_count"] == 2


def test_a_post_page_whose_shard_values_expired_adds_one_batch_read(api, alice):
    post = api.create_post(alice["pk"])
    api.get(f"/api/posts/{post['pk']}/")
    cache.query_cache.clear()  # QUERY_CACHE_TTL passed: shard values and the comments query expired
    with count_calls() as log:
        assert api.get(f"/api/posts/{post['pk']}/").json()["view_count"] == 2
    assert log.by_operation() == {"UpdateItem": 1, "Query": 1, "BatchGetItem": 1}


def test_a_post_from_before_the_sharded_feed_is_restamped_by_the_readme_recipe(api, alice, blog_tables):
    post = api.create_post(alice["pk"])
    blog_tables.client.update_item(  # as written before: the one constant feed partition
        TableName=Post._meta.table_name,
        Key={"pk": {"S": post["pk"]}},
        UpdateExpression="SET feed = :old",
        ExpressionAttributeValues={":old": {"S": "post"}},
    )
    cache.reset()
    assert api.get("/api/posts/").json()["results"] == []  # in no shard
    for p in Post.objects.filter(feed="post"):
        p.feed = None
        p.save(update_fields=["feed"])
    assert [p["pk"] for p in api.get("/api/posts/").json()["results"]] == [post["pk"]]
