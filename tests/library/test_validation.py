"""A bad value names its field, all field errors come at once, and nothing is written."""

from __future__ import annotations

import decimal

import pytest
from django.core import exceptions as django_exceptions

from dynamo_backend import ValidationError
from dynamo_backend.stats import count_calls

from .models import Article, Post, Typed

pytestmark = [pytest.mark.usefixtures("tables"), pytest.mark.models("Post")]


def assert_nothing_written(engine, model=Post):
    assert engine.raw_scan(model) == []
    if model._meta.unique_fields:
        assert engine.raw_scan(model._meta.unique_table_name) == []


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
def test_bad_value_raises_validation_error_naming_the_field_and_writes_nothing(engine, field, value):
    fields = {"title": "ok", "slug": "ok", field: value}

    with pytest.raises(ValidationError) as info:
        Post.objects.create(**fields)

    assert field in info.value.message_dict
    assert info.value.message_dict[field]
    assert_nothing_written(engine)


def test_validation_error_is_djangos(engine):
    with pytest.raises(django_exceptions.ValidationError):
        Post.objects.create(title="ok", slug="ok", view_count="many")


def test_every_field_error_is_collected_at_once(engine):
    with pytest.raises(ValidationError) as info:
        Post.objects.create(title="x" * 201, slug="ok", view_count="many", rating=float("nan"), published="yes")

    assert {"title", "view_count", "rating", "published"} <= set(info.value.message_dict)
    assert_nothing_written(engine)


def test_invalid_save_writes_nothing(engine):
    post = Post(title=None, slug="s", view_count="many")

    with pytest.raises(ValidationError) as info:
        post.save()

    assert {"title", "view_count"} <= set(info.value.message_dict)
    assert_nothing_written(engine)


def test_invalid_save_of_a_stored_item_leaves_it_unchanged(engine):
    post = Post.objects.create(title="good", slug="s", view_count=1)

    post.title = "x" * 500
    with pytest.raises(ValidationError):
        post.save()

    assert engine.raw_get(Post, post.pk)["title"] == {"S": "good"}


def test_full_clean_raises_without_any_call(engine):
    post = Post(title="x" * 201, slug="s")

    with count_calls() as log, pytest.raises(ValidationError) as info:
        post.full_clean()

    assert "title" in info.value.message_dict
    assert log.total == 0


def test_full_clean_passes_a_valid_instance(engine):
    Post(title="fine", slug="fine", view_count=3, rating=0.5).full_clean()


@pytest.mark.models("Article")
def test_bulk_create_with_one_bad_object_writes_nothing(engine):
    objs = [Article(title=f"a{n}") for n in range(30)] + [Article(title="x" * 201)]

    with pytest.raises(ValidationError) as info:
        Article.objects.bulk_create(objs)

    assert "title" in info.value.message_dict
    assert_nothing_written(engine, Article)


def test_update_with_a_bad_value_raises_and_changes_nothing(engine):
    post = Post.objects.create(title="good", slug="s", view_count=1)

    with pytest.raises((ValidationError, django_exceptions.FieldError)) as info:
        Post.objects.filter(pk=post.pk).update(view_count="many")

    assert "view_count" in str(info.value)
    assert engine.raw_get(Post, post.pk)["view_count"] == {"N": "1"}


@pytest.mark.models("Typed")
def test_integer_beyond_38_digits_is_refused(engine):
    with pytest.raises(ValidationError) as info:
        Typed.objects.create(i=10**38)

    assert "i" in info.value.message_dict
    assert_nothing_written(engine, Typed)


@pytest.mark.models("Blob")
def test_an_item_over_400_kb_is_refused_naming_its_largest_field_and_writes_nothing(engine):
    from .models import Blob

    with pytest.raises(ValidationError) as info:
        Blob.objects.create(group="g", payload="x" * (401 * 1024))
    assert "payload" in info.value.message_dict
    assert "400,000" in str(info.value)
    assert engine.raw_scan(Blob) == []


@pytest.mark.models("Blob")
def test_an_item_just_under_400_kb_is_stored(engine):
    from .models import Blob

    blob = Blob.objects.create(group="g", payload="x" * 390_000)
    assert len(Blob.objects.get(pk=blob.pk).payload) == 390_000
