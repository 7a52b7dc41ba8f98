"""Conditional writes: create never overwrites, unique values, optimistic locking."""

from __future__ import annotations

import pytest

from dynamo_backend import (
    ConditionalCheckFailed,
    DynamoBackendError,
    ItemAlreadyExists,
    UniqueConstraintError,
    VersionConflict,
    cache,
)

from .models import Article, Post, Versioned

pytestmark = [pytest.mark.usefixtures("tables"), pytest.mark.models("Article")]


# -- create() ---------------------------------------------------------------------


def test_create_with_an_existing_pk_raises_item_already_exists(engine):
    original = Article.objects.create(title="original")

    with pytest.raises(ItemAlreadyExists) as info:
        Article.objects.create(pk=original.pk, title="intruder")

    assert isinstance(info.value, ConditionalCheckFailed) and isinstance(info.value, DynamoBackendError)
    assert info.value.code == "ConditionalCheckFailedException"


def test_create_with_an_existing_pk_leaves_the_item_unchanged(engine):
    original = Article.objects.create(title="original", view_count=3)

    with pytest.raises(ItemAlreadyExists):
        Article.objects.create(pk=original.pk, title="intruder")

    item = engine.raw_get(Article, original.pk)
    assert item["title"] == {"S": "original"} and item["view_count"] == {"N": "3"}


def test_save_of_a_loaded_instance_updates_in_place(engine):
    article = Article.objects.create(title="one")
    cache.reset()
    loaded = Article.objects.get(pk=article.pk)

    loaded.view_count = 9
    loaded.save()

    assert engine.raw_get(Article, article.pk)["view_count"] == {"N": "9"}
    assert len(engine.raw_scan(Article)) == 1


def test_save_of_a_new_instance_creates_it(engine):
    article = Article(title="new")

    article.save()

    assert article.pk and engine.raw_get(Article, article.pk)["title"] == {"S": "new"}


def test_auto_now_changes_on_save_and_auto_now_add_does_not(engine):
    article = Article.objects.create(title="t")
    created, updated = article.created_at, article.updated_at

    article.title = "t2"
    article.save()
    cache.reset()
    stored = Article.objects.get(pk=article.pk)

    assert stored.created_at == created
    assert stored.updated_at > updated


# -- unique=True ---------------------------------------------------------------------


@pytest.mark.models("Post")
def test_second_create_with_a_taken_slug_raises_unique_constraint_error(engine):
    Post.objects.create(title="first", slug="taken")

    with pytest.raises(UniqueConstraintError) as info:
        Post.objects.create(title="second", slug="taken")

    assert (info.value.field, info.value.value) == ("slug", "taken")
    assert isinstance(info.value, ConditionalCheckFailed)
    assert [item["title"]["S"] for item in engine.raw_scan(Post)] == ["first"]


@pytest.mark.models("Post")
def test_saving_another_post_onto_a_taken_slug_is_refused(engine):
    Post.objects.create(title="first", slug="taken")
    other = Post.objects.create(title="second", slug="free")

    other.slug = "taken"
    with pytest.raises(UniqueConstraintError):
        other.save()

    assert engine.raw_get(Post, other.pk)["slug"] == {"S": "free"}


@pytest.mark.models("Post")
def test_changing_a_slug_releases_the_old_value(engine):
    post = Post.objects.create(title="first", slug="old")

    post.slug = "new"
    post.save()

    Post.objects.create(title="reuses old", slug="old")
    with pytest.raises(UniqueConstraintError):
        Post.objects.create(title="wants new", slug="new")


@pytest.mark.models("Post")
def test_resaving_a_post_with_its_own_slug_is_fine(engine):
    post = Post.objects.create(title="first", slug="mine")

    post.title = "edited"
    post.save()

    assert engine.raw_get(Post, post.pk)["title"] == {"S": "edited"}


@pytest.mark.models("Post")
def test_queryset_update_cannot_give_two_posts_one_slug(engine):
    Post.objects.create(title="first", slug="taken")
    other = Post.objects.create(title="second", slug="free")

    with pytest.raises(UniqueConstraintError):
        Post.objects.filter(pk=other.pk).update(slug="taken")

    assert sorted(item["slug"]["S"] for item in engine.raw_scan(Post)) == ["free", "taken"]


@pytest.mark.models("Post")
def test_queryset_update_of_a_slug_moves_the_claim(engine):
    post = Post.objects.create(title="first", slug="old")

    assert Post.objects.filter(pk=post.pk).update(slug="new") == 1

    Post.objects.create(title="reuses old", slug="old")
    with pytest.raises(UniqueConstraintError):
        Post.objects.create(title="wants new", slug="new")


@pytest.mark.models("Post")
def test_bulk_create_never_stores_a_taken_slug_twice(engine):
    Post.objects.create(title="first", slug="taken")

    with pytest.raises(UniqueConstraintError):
        Post.objects.bulk_create([Post(title="x", slug="free"), Post(title="y", slug="taken")])

    holders = [item["title"]["S"] for item in engine.raw_scan(Post) if item["slug"]["S"] == "taken"]
    assert holders == ["first"]


# -- VersionField ---------------------------------------------------------------------


@pytest.mark.models("Versioned")
def test_version_starts_and_increases_with_each_save(engine):
    doc = Versioned.objects.create(title="v")
    first = doc.version

    doc.title = "v2"
    doc.save()

    assert isinstance(first, int)
    assert doc.version > first
    assert engine.raw_get(Versioned, doc.pk)["version"] == {"N": str(doc.version)}


@pytest.mark.models("Versioned")
def test_stale_save_raises_version_conflict(engine):
    doc = Versioned.objects.create(title="v1")
    cache.reset()
    mine = Versioned.objects.get(pk=doc.pk)
    cache.reset()
    theirs = Versioned.objects.get(pk=doc.pk)

    theirs.title = "theirs"
    theirs.save()
    mine.title = "mine"
    with pytest.raises(VersionConflict) as info:
        mine.save()

    assert isinstance(info.value, ConditionalCheckFailed)
    assert engine.raw_get(Versioned, doc.pk)["title"] == {"S": "theirs"}


@pytest.mark.models("Versioned")
def test_two_stale_saves_of_equal_values_one_wins_one_conflicts(engine):
    """Equal values do not make the second save the first one's retry: one version, one winner."""
    doc = Versioned.objects.create(title="v1")
    cache.reset()
    mine = Versioned.objects.get(pk=doc.pk)
    cache.reset()
    theirs = Versioned.objects.get(pk=doc.pk)
    theirs.title = mine.title = "same"
    theirs.save()
    with pytest.raises(VersionConflict):
        mine.save()
    assert engine.raw_get(Versioned, doc.pk)["version"] == {"N": "2"}


@pytest.mark.models("Versioned")
def test_save_after_refresh_succeeds(engine):
    doc = Versioned.objects.create(title="v1")
    stale = Versioned.objects.get(pk=doc.pk)
    doc.title = "v2"
    doc.save()

    stale.refresh_from_db()
    stale.title = "v3"
    stale.save()

    assert engine.raw_get(Versioned, doc.pk)["title"] == {"S": "v3"}
