"""Model classes: what index=True accepts, Meta whitelisting, sparse indexes."""

from __future__ import annotations

import pytest
from django.core import exceptions as django_exceptions

from dynamo_backend import (
    BooleanField,
    CharField,
    DynamoModel,
    FieldError,
    Index,
    IntegerField,
    JSONField,
    ListField,
)

from .models import Comment, Post


@pytest.mark.parametrize("field_class", [BooleanField, JSONField, ListField], ids=lambda c: c.__name__)
def test_index_true_on_a_non_key_type_is_refused_with_a_hint(field_class):
    with pytest.raises(FieldError) as info:

        class BadIndex(DynamoModel):
            class Meta:
                app_label = "libtests_bad"

            flag = field_class(index=True)

    message = str(info.value)
    assert "hint" in message.lower()
    assert "S, N or B" in message or "CharField" in message
    assert isinstance(info.value, django_exceptions.FieldError)


def test_meta_index_on_a_boolean_field_is_refused_with_a_hint():
    with pytest.raises(FieldError) as info:

        class BadMetaIndex(DynamoModel):
            class Meta:
                app_label = "libtests_bad"
                indexes = [Index("flag")]

            flag = BooleanField()

    assert "hint" in str(info.value).lower()


def test_unknown_meta_option_fails_at_class_creation():
    with pytest.raises((FieldError, django_exceptions.ImproperlyConfigured, TypeError)) as info:

        class Typo(DynamoModel):
            class Meta:
                app_label = "libtests_bad"
                tabel_name = "oops"

            title = CharField()

    assert "tabel_name" in str(info.value)


def test_default_table_name_is_app_label_and_model_name():
    assert Post._meta.base_table_name == "libtests_post"


def test_declared_indexes_are_in_meta():
    assert {index.name for index in Post._meta.indexes} == {"author_pk-index"}
    (index,) = Comment._meta.indexes
    assert (index.name, index.partition_key, index.sort_key) == ("post_pk-created_at-index", "post_pk", "created_at")


def test_callable_default_is_called_per_instance():
    class WithDefaults(DynamoModel):
        class Meta:
            app_label = "libtests_defaults"

        tags = ListField(default=list)
        hits = IntegerField(default=lambda: 7)

    first, second = WithDefaults(), WithDefaults()

    assert first.tags == [] and first.tags is not second.tags
    assert first.hits == 7


# -- empty strings in indexed fields --------------------------------------------------


@pytest.mark.usefixtures("tables")
@pytest.mark.models("Post")
def test_empty_string_in_an_indexed_field_is_stored_absent(engine):
    post = Post.objects.create(title="t", slug="s", author_pk="")

    item = engine.raw_get(Post, post.pk)
    assert item is not None and "author_pk" not in item


@pytest.mark.usefixtures("tables")
@pytest.mark.models("Post")
def test_item_with_an_empty_indexed_value_stays_out_of_the_index(engine):
    Post.objects.create(title="t", slug="s", author_pk="")
    Post.objects.create(title="u", slug="u", author_pk="a1")

    assert [p.slug for p in Post.objects.filter(author_pk="a1")] == ["u"]
    assert [p.slug for p in Post.objects.filter(author_pk__isnull=True)] == ["s"]


@pytest.mark.usefixtures("tables")
@pytest.mark.models("Post")
def test_updating_an_indexed_field_to_empty_removes_it(engine):
    post = Post.objects.create(title="t", slug="s", author_pk="a1")

    Post.objects.filter(pk=post.pk).update(author_pk="")

    assert "author_pk" not in engine.raw_get(Post, post.pk)


@pytest.mark.usefixtures("tables")
@pytest.mark.models("Post")
def test_saving_an_indexed_field_as_empty_removes_it(engine):
    post = Post.objects.create(title="t", slug="s", author_pk="a1")

    post.author_pk = ""
    post.save()

    assert "author_pk" not in engine.raw_get(Post, post.pk)
