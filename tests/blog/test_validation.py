"""Request validation reads its rules from the models (pure: no engine, and no DynamoDB call)."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ValidationError as DjangoValidationError

from dynamo_backend import ValidationError
from services.blog.errors import InvalidInput
from services.blog.models import Author, Post
from services.blog.validation import AUTHOR_SCHEMA, COMMENT_SCHEMA, POST_SCHEMA, Schema

pytestmark = pytest.mark.usefixtures("no_dynamodb")


def errors_of(schema: Schema, data: dict, *, partial: bool = False) -> dict:
    with pytest.raises(InvalidInput) as info:
        schema.validate(data, partial=partial)
    return info.value.fields


def test_required_fields_are_the_non_nullable_ones_without_a_default():
    assert AUTHOR_SCHEMA.required() == ["username", "email"]
    assert POST_SCHEMA.required() == ["title", "slug", "author_pk"]
    assert COMMENT_SCHEMA.required() == ["author_pk", "body"]


def test_max_length_comes_from_the_model_field(monkeypatch):
    monkeypatch.setattr(Author._meta.fields["bio"], "max_length", 5)

    assert AUTHOR_SCHEMA.validate({"bio": "x" * 5}, partial=True) == {"bio": "x" * 5}
    assert "at most 5 characters" in errors_of(AUTHOR_SCHEMA, {"bio": "x" * 6}, partial=True)["bio"][0]


def test_validators_come_from_the_model(monkeypatch):
    def no_bob(value):
        if value == "bob":
            raise DjangoValidationError("No bobs.")

    monkeypatch.setattr(Author._meta.fields["username"], "validators", [no_bob])

    assert errors_of(AUTHOR_SCHEMA, {"username": "bob"}, partial=True) == {"username": ["No bobs."]}


AUTHOR = str(uuid.uuid4())


@pytest.mark.parametrize(
    ("schema", "data", "field"),
    [
        pytest.param(AUTHOR_SCHEMA, {"username": "has space", "email": "a@example.com"}, "username", id="username"),
        pytest.param(AUTHOR_SCHEMA, {"username": "alice", "email": "not-an-email"}, "email", id="email-format"),
        pytest.param(AUTHOR_SCHEMA, {"username": "alice", "email": "   "}, "email", id="email-blank"),
        pytest.param(POST_SCHEMA, {"title": "t", "slug": "Not A Slug", "author_pk": AUTHOR}, "slug", id="slug"),
        pytest.param(POST_SCHEMA, {"title": "t", "slug": "s", "author_pk": AUTHOR, "tags": [""]}, "tags", id="tag"),
        pytest.param(
            POST_SCHEMA, {"title": "t", "slug": "s", "author_pk": AUTHOR, "tags": ["t"] * 21}, "tags", id="tags"
        ),
        pytest.param(COMMENT_SCHEMA, {"author_pk": AUTHOR, "body": " "}, "body", id="comment-blank"),
    ],
)
def test_the_api_refuses_what_the_model_refuses_with_the_same_message(schema, data, field):
    with pytest.raises(ValidationError) as info:
        schema.model(**data).full_clean()

    assert errors_of(schema, data) == {field: info.value.message_dict[field]}


def test_a_partial_update_checks_only_the_given_fields():
    assert POST_SCHEMA.validate({"tags": ["a"]}, partial=True) == {"tags": ["a"]}
    assert set(errors_of(POST_SCHEMA, {"title": ""}, partial=True)) == {"title"}


def test_values_come_back_as_the_model_cleans_them():
    pk = uuid.uuid4()
    cleaned = POST_SCHEMA.validate({"author_pk": str(pk).upper(), "published": True}, partial=True)
    assert cleaned == {"author_pk": str(pk), "published": True}


def test_null_is_refused_for_every_writable_field():
    for schema in (AUTHOR_SCHEMA, POST_SCHEMA, COMMENT_SCHEMA):
        data = dict.fromkeys(schema.writable)
        assert set(errors_of(schema, data, partial=True)) == set(schema.writable), schema.model


def test_read_only_and_unknown_fields_are_named_with_the_field_errors():
    fields = errors_of(AUTHOR_SCHEMA, {"pk": "x", "website": "x", "email": "bad"})
    assert fields["pk"] == ["This field is read-only."]
    assert fields["website"] == ["Unknown field."]
    assert set(fields) == {"pk", "website", "email", "username"}


def test_a_schema_naming_a_field_the_model_lacks_fails_at_definition():
    with pytest.raises(ValueError, match="colour"):
        Schema(Post, writable=("title", "colour"), read_only=frozenset())
