"""Equality on a unique field is answered through its claim: two GetItems, never a Scan."""

from __future__ import annotations

import pytest

from dynamo_backend import cache
from dynamo_backend.stats import count_calls

from .models import Post

pytestmark = [pytest.mark.usefixtures("tables"), pytest.mark.models("Post")]


def test_explain_shows_a_get_item_through_the_claim(engine):
    plan = Post.objects.filter(slug="hello").explain()
    assert plan["operation"] == "GetItem"
    assert plan["via_unique_claim"] == {"field": "slug", "value": "hello"}


def test_get_by_a_unique_field_costs_two_get_items_cold(engine):
    post = Post.objects.create(title="t", slug="hello")
    cache.reset()
    with count_calls() as calls:
        assert Post.objects.get(slug="hello").pk == post.pk
    assert calls.by_operation() == {"GetItem": 2}


def test_a_missing_value_is_does_not_exist_after_one_call(engine):
    with count_calls() as calls, pytest.raises(Post.DoesNotExist):
        Post.objects.get(slug="nobody")
    assert calls.by_operation() == {"GetItem": 1}


def test_other_conditions_still_apply(engine):
    Post.objects.create(title="t", slug="hello", published=False)
    assert not Post.objects.filter(slug="hello", published=True).exists()
    assert Post.objects.filter(slug="hello", published=False).count() == 1


def test_a_stale_claim_never_returns_an_item_without_the_value(engine):
    post = Post.objects.create(title="t", slug="old")
    engine.client.put_item(  # a claim left behind, pointing at an item that moved on
        TableName=Post._meta.unique_table_name,
        Item={"pk": {"S": "slug#ghost"}, "owner": {"S": post.pk}, "claimed_at": {"N": "0"}},
    )
    assert not Post.objects.filter(slug="ghost").exists()


def test_after_a_slug_change_only_the_new_value_finds_the_item(engine):
    post = Post.objects.create(title="t", slug="before")
    post.slug = "after"
    post.save()
    assert not Post.objects.filter(slug="before").exists()
    assert Post.objects.get(slug="after").pk == post.pk


def test_get_or_create_on_a_unique_field_finds_without_a_scan(engine):
    Post.objects.create(title="t", slug="my-post")
    with count_calls() as calls:
        post, created = Post.objects.get_or_create(slug="my-post", defaults={"title": "My Post"})
    assert not created and post.slug == "my-post"
    assert calls.count("Scan") == 0
