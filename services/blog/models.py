"""Blog data: Author -> Post -> Comment, stored in DynamoDB.

Relations are ``<name>_pk`` UUID strings (no joins). Every "list of X for Y"
the API serves has a GSI so it is a Query, never a Scan:

* posts, newest first:        Post  Index("feed", sort_key="created_at")
* posts of an author:         Post  Index("author_pk", sort_key="created_at")
* comments of a post, oldest: Comment Index("post_pk", sort_key="created_at")
* comments of an author:      Comment Index("author_pk", sort_key="created_at")
  (needed to refuse deleting an author who still has comments)
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email, validate_slug

from dynamo_backend import (
    BooleanField,
    CharField,
    DateTimeField,
    DynamoModel,
    Index,
    IntegerField,
    ListField,
    UUIDField,
    ValidationError,
)

# Every post carries this constant in ``feed`` so that one GSI partition,
# sorted by created_at, is the time-ordered list of all posts.
POST_FEED = "post"

# Items are capped at 400 KB; 50k characters of UTF-8 (at most 200 KB) keeps
# a post well under it together with its other attributes.
POST_BODY_MAX_LENGTH = 50_000


def _check(errors: dict[str, list[str]], field: str, validator, value) -> None:
    """Run a Django validator, collecting its messages under ``field``."""
    if value in (None, ""):
        return
    try:
        validator(value)
    except DjangoValidationError as exc:
        errors.setdefault(field, []).extend(exc.messages)


class Author(DynamoModel):
    class Meta:
        app_label = "blog"

    username = CharField(max_length=50, unique=True, nullable=False)
    email = CharField(max_length=254, nullable=False)
    bio = CharField(max_length=2000, default="")
    created_at = DateTimeField(auto_now_add=True)

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        _check(errors, "email", validate_email, self.email)
        if errors:
            raise ValidationError(errors)

    def __str__(self) -> str:
        return self.username or str(self.pk)


class Post(DynamoModel):
    class Meta:
        app_label = "blog"
        indexes = [
            Index("feed", sort_key="created_at"),
            Index("author_pk", sort_key="created_at"),
        ]

    title = CharField(max_length=200, nullable=False)
    slug = CharField(max_length=200, unique=True, nullable=False)
    body = CharField(max_length=POST_BODY_MAX_LENGTH, default="")
    author_pk = UUIDField(auto=False, references="blog.Author", nullable=False)
    published = BooleanField(default=False)
    tags = ListField(default=list)
    view_count = IntegerField(default=0)
    created_at = DateTimeField(auto_now_add=True)
    updated_at = DateTimeField(auto_now=True)
    feed = CharField(max_length=20, default=POST_FEED, nullable=False)

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        _check(errors, "slug", validate_slug, self.slug)
        if errors:
            raise ValidationError(errors)

    def __str__(self) -> str:
        return self.slug or str(self.pk)


class Comment(DynamoModel):
    class Meta:
        app_label = "blog"
        indexes = [
            Index("post_pk", sort_key="created_at"),
            Index("author_pk", sort_key="created_at"),
        ]

    post_pk = UUIDField(auto=False, references="blog.Post", nullable=False)
    author_pk = UUIDField(auto=False, references="blog.Author", nullable=False)
    body = CharField(max_length=5000, nullable=False)
    created_at = DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return str(self.pk)
