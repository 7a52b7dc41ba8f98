"""A bad value names its field, all field errors come at once, and nothing is written.

Validation runs before any call, so most of these are pure: ``no_dynamodb``
fails a test on any DynamoDB call, which proves nothing was written without
an engine. The tests that need a stored item run on every engine.
"""

from __future__ import annotations

import decimal

import pytest
from django.core import exceptions as django_exceptions

from dynamo_backend import ValidationError
from dynamo_backend.stats import count_calls

from .models import Article, Blob, Post, Typed

# --- pure: refused before any call ---------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("view_count", "many", id="string-for-integer"),
        pytest.param("view_count", 1.5, id="fraction-for-integer"),
        pytest.param("title", 42, id="number-for-string"),
        pytest.param("title", "x" * 201, id="over-max-length"),
        pytest.param("title", None, id="null-for-non-nullable"),
        pytest.param("rating", float("nan"), id="nan-float"),
        pytest.param("rating", float("inf"), id="infinite-float"),
        pytest.param("published", "yes", id="string-for-boolean"),
        pytest.param("tags", "not-a-list", id="string-for-list"),
        pytest.param("price", decimal.Decimal("NaN"), id="nan-decimal"),
        pytest.param("price", decimal.Decimal("1" * 39), id="decimal-over-38-digits"),
        pytest.param("data", {"x": float("nan")}, id="nan-inside-json"),
        pytest.param("data", {"x": object()}, id="unstorable-json"),
        pytest.param("created_at", "not a date", id="bad-datetime"),
    ],
)
def test_bad_value_raises_validation_error_naming_the_field_and_writes_nothing(no_dynamodb, field, value):
    fields = {"title": "ok", "slug": "ok", field: value}

    with pytest.raises(ValidationError) as info:
        Post.objects.create(**fields)

    assert field in info.value.message_dict
    assert info.value.message_dict[field]


def test_validation_error_is_djangos(no_dynamodb):
    with pytest.raises(django_exceptions.ValidationError):
        Post.objects.create(title="ok", slug="ok", view_count="many")


def test_every_field_error_is_collected_at_once(no_dynamodb):
    with pytest.raises(ValidationError) as info:
        Post.objects.create(title="x" * 201, slug="ok", view_count="many", rating=float("nan"), published="yes")

    assert {"title", "view_count", "rating", "published"} <= set(info.value.message_dict)


def test_invalid_save_writes_nothing(no_dynamodb):
    post = Post(title=None, slug="s", view_count="many")

    with pytest.raises(ValidationError) as info:
        post.save()

    assert {"title", "view_count"} <= set(info.value.message_dict)


def test_full_clean_raises_without_any_call(no_dynamodb):
    post = Post(title="x" * 201, slug="s")

    with count_calls() as log, pytest.raises(ValidationError) as info:
        post.full_clean()

    assert "title" in info.value.message_dict
    assert log.total == 0


def test_full_clean_passes_a_valid_instance(no_dynamodb):
    Post(title="fine", slug="fine", view_count=3, rating=0.5).full_clean()


def test_bulk_create_with_one_bad_object_writes_nothing(no_dynamodb):
    objs = [Article(title=f"a{n}") for n in range(30)] + [Article(title="x" * 201)]

    with pytest.raises(ValidationError) as info:
        Article.objects.bulk_create(objs)

    assert "title" in info.value.message_dict


def test_integer_beyond_38_digits_is_refused(no_dynamodb):
    with pytest.raises(ValidationError) as info:
        Typed.objects.create(i=10**38)

    assert "i" in info.value.message_dict


def test_an_item_over_400_kb_is_refused_naming_its_largest_field_and_writes_nothing(no_dynamodb):
    with pytest.raises(ValidationError) as info:
        Blob.objects.create(group="g", payload="x" * (401 * 1024))

    assert "payload" in info.value.message_dict
    assert "400,000" in str(info.value)


# --- on every engine: a stored item stays as it was ------------------------------


@pytest.mark.models("Post")
def test_invalid_save_of_a_stored_item_leaves_it_unchanged(engine, tables):
    post = Post.objects.create(title="good", slug="s", view_count=1)

    post.title = "x" * 500
    with pytest.raises(ValidationError):
        post.save()

    assert engine.raw_get(Post, post.pk)["title"] == {"S": "good"}


@pytest.mark.models("Post")
def test_update_with_a_bad_value_raises_and_changes_nothing(engine, tables):
    post = Post.objects.create(title="good", slug="s", view_count=1)

    with pytest.raises((ValidationError, django_exceptions.FieldError)) as info:
        Post.objects.filter(pk=post.pk).update(view_count="many")

    assert "view_count" in str(info.value)
    assert engine.raw_get(Post, post.pk)["view_count"] == {"N": "1"}


@pytest.mark.models("Blob")
def test_an_item_just_under_400_kb_is_stored(engine, tables):
    blob = Blob.objects.create(group="g", payload="x" * 390_000)
    assert len(Blob.objects.get(pk=blob.pk).payload) == 390_000
