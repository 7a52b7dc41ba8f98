"""Every line of the seed README's QuerySet cheat sheet, as written there."""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace

import pytest
from django.core.exceptions import ObjectDoesNotExist

from dynamo_backend import cache

from .models import Article, Post

pytestmark = [pytest.mark.usefixtures("tables"), pytest.mark.models("Post")]


@pytest.fixture
def author():
    return SimpleNamespace(pk=str(uuid.uuid4()))


def titles(objs) -> list[str]:
    return sorted(obj.title for obj in objs)


@pytest.mark.models("Article")
def test_article_as_defined_in_the_seed_gets_defaults_and_timestamps(engine):
    article = Article.objects.create(title="Seed")

    cache.reset()
    stored = Article.objects.get(pk=article.pk)
    assert (stored.title, stored.published, stored.view_count) == ("Seed", False, 0)
    assert stored.created_at.tzinfo is not None and stored.updated_at.tzinfo is not None
    assert Article._meta.table_name == f"{engine.prefix}articles"
    assert engine.raw_get(Article, article.pk) is not None


def test_create_stores_the_post_under_a_uuid4_pk(engine, author):
    post = Post.objects.create(title="Hello", slug="hello", author_pk=author.pk)

    assert uuid.UUID(post.pk).version == 4
    item = engine.raw_get(Post, post.pk)
    assert item["title"] == {"S": "Hello"}
    assert item["slug"] == {"S": "hello"}
    assert item["author_pk"] == {"S": author.pk}


def test_get_by_pk_returns_the_post(engine, author):
    created = Post.objects.create(title="Hello", slug="hello", author_pk=author.pk)
    cache.reset()

    post = Post.objects.get(pk=created.pk)

    assert (post.pk, post.title, post.slug, post.author_pk) == (created.pk, "Hello", "hello", author.pk)


def test_get_of_a_missing_pk_raises_does_not_exist(engine):
    with pytest.raises(Post.DoesNotExist) as info:
        Post.objects.get(pk=str(uuid.uuid4()))
    assert isinstance(info.value, ObjectDoesNotExist)


def test_filter_by_author_and_published(engine, author):
    Post.objects.create(title="mine, live", slug="a", author_pk=author.pk, published=True)
    Post.objects.create(title="mine, draft", slug="b", author_pk=author.pk, published=False)
    Post.objects.create(title="other, live", slug="c", author_pk=str(uuid.uuid4()), published=True)

    posts = Post.objects.filter(author_pk=author.pk, published=True)

    assert titles(posts) == ["mine, live"]


def test_filter_title_contains(engine):
    Post.objects.create(title="Learning Django fast", slug="a")
    Post.objects.create(title="Flask notes", slug="b")

    posts = Post.objects.filter(title__contains="Django")

    assert titles(posts) == ["Learning Django fast"]


def test_filter_view_count_gte(engine):
    for slug, views in (("a", 99), ("b", 100), ("c", 5000)):
        Post.objects.create(title=slug, slug=slug, view_count=views)

    posts = Post.objects.filter(view_count__gte=100)

    assert titles(posts) == ["b", "c"]


def test_filter_tags_isnull_false(engine):
    Post.objects.create(title="tagged", slug="a", tags=["aws"])
    Post.objects.create(title="untagged", slug="b")

    posts = Post.objects.filter(tags__isnull=False)

    assert titles(posts) == ["tagged"]


def test_exclude_published(engine):
    Post.objects.create(title="live", slug="a", published=True)
    Post.objects.create(title="draft", slug="b", published=False)

    drafts = Post.objects.exclude(published=True)

    assert titles(drafts) == ["draft"]


def test_order_by_descending_created_at(engine):
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    for n in (2, 0, 1):
        Post.objects.create(title=f"p{n}", slug=f"p{n}", created_at=start + dt.timedelta(days=n))

    posts = Post.objects.order_by("-created_at")

    assert [p.title for p in posts] == ["p2", "p1", "p0"]


def test_first_returns_a_post(engine):
    created = Post.objects.create(title="only", slug="only")

    first = Post.objects.first()

    assert first is not None and first.pk == created.pk


def test_count_counts_every_post(engine):
    for n in range(3):
        Post.objects.create(title=f"p{n}", slug=f"p{n}")

    assert Post.objects.count() == 3


def test_values_title_and_slug(engine):
    Post.objects.create(title="One", slug="one", view_count=4)
    Post.objects.create(title="Two", slug="two")

    dicts = Post.objects.values("title", "slug")

    assert sorted(dicts, key=lambda d: d["slug"]) == [
        {"title": "One", "slug": "one"},
        {"title": "Two", "slug": "two"},
    ]


def test_save_after_changing_the_title_updates_the_item(engine):
    post = Post.objects.create(title="Hello", slug="hello")

    post.title = "Updated"
    post.save()

    assert engine.raw_get(Post, post.pk)["title"] == {"S": "Updated"}
    cache.reset()
    assert Post.objects.get(pk=post.pk).title == "Updated"


def test_instance_delete_removes_the_item(engine):
    post = Post.objects.create(title="Hello", slug="hello")

    post.delete()

    assert engine.raw_get(Post, post.pk) is None
    with pytest.raises(Post.DoesNotExist):
        Post.objects.get(pk=post.pk)


def test_filter_published_false_delete_removes_only_drafts(engine):
    live = Post.objects.create(title="live", slug="live", published=True)
    for n in range(3):
        Post.objects.create(title=f"draft{n}", slug=f"draft{n}", published=False)

    Post.objects.filter(published=False).delete()

    assert [item["pk"]["S"] for item in engine.raw_scan(Post)] == [live.pk]


def test_bulk_create_ten_posts(engine):
    Post.objects.bulk_create([Post(title=f"Post {i}", slug=f"post-{i}") for i in range(10)])

    stored = engine.raw_scan(Post)
    assert sorted(item["slug"]["S"] for item in stored) == sorted(f"post-{i}" for i in range(10))
    assert Post.objects.count() == 10


def test_get_or_create_creates_then_gets(engine):
    post, created = Post.objects.get_or_create(slug="my-post", defaults={"title": "My Post"})
    again, created_again = Post.objects.get_or_create(slug="my-post", defaults={"title": "Other"})

    assert created is True and post.title == "My Post"
    assert created_again is False and again.pk == post.pk and again.title == "My Post"
    assert len(engine.raw_scan(Post)) == 1
