"""Blog data: Author -> Post -> Comment, stored in DynamoDB.

Relations are ``<name>_pk`` UUID strings (no joins). Every "list of X for Y"
the API serves has a GSI so it is a Query, never a Scan:

* posts, newest first:        Post  Index("feed", sort_key="created_at"), FEED_SHARDS partitions merged
* posts of an author:         Post  Index("author_pk", sort_key="created_at")
* comments of a post, oldest: Comment's own key (post_pk, sk): one base-table Query
* comments of an author:      Comment Index("author_pk", sort_key="created_at")
* tokens of an author:        ApiToken Index("author_pk", sort_key="created_at")

References keep their integrity in the library (on_delete): an author with
posts or comments cannot be deleted (PROTECT), and deleting a post deletes its
comments (CASCADE). Creating a post or comment for a missing author or post,
or racing its delete, can never leave an orphan.

Two tables serve security (services/blog/auth.py, ratelimit.py): ``ApiToken``
holds a salted hash of each API token, never the token; ``RateCounter`` holds
the fixed-window write counters every worker and host shares, each removed by
DynamoDB's Time to Live once its window is over.

Every rule on a value lives here, once, in the field arguments: type,
max_length, nullability and ``validators=`` (run by ``full_clean()`` on every
write). The API's request and response schemas (schemas.py, through
dynamo_backend.schemas) and its OpenAPI description read them from the
models; they restate none. A validator that is a plain function says what it
checks in JSON Schema words with a ``json_schema`` attribute. Sort keys of
indexes are ``nullable=False``: an index only serves a query when every
matching item is in it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator, validate_email, validate_slug

from dynamo_backend import (
    CASCADE,
    PROTECT,
    BooleanField,
    CharField,
    CompositePrimaryKey,
    DateTimeField,
    DynamoModel,
    Index,
    IntegerField,
    ListField,
    ShardedCounter,
    ShardKeyField,
    TTLField,
    UUIDField,
)

# Hot keys (README, "Hot keys"): one partition takes about 1,000 writes and
# 3,000 reads a second. Every post sits in the feed index under one of
# FEED_SHARDS partition values ("post#0".."post#3", from a hash of its pk),
# merged newest first on read; a post's views are counted in VIEW_SHARDS
# shard items (plus view_count on the post itself), summed on read.
FEED_SHARDS = 4
VIEW_SHARDS = 4

# Items are capped at 400 KB; 50k characters of UTF-8 (at most 200 KB) keeps
# a post well under it together with its other attributes.
POST_BODY_MAX_LENGTH = 50_000

TAG_MAX_LENGTH = 50
TAGS_MAX_ITEMS = 20

validate_username = RegexValidator(r"^[\w.@+-]+\Z", "Enter a username of letters, digits and @/./+/-/_ only.")


def validate_not_blank(value: str) -> None:
    """Refuse an empty or all-whitespace string (a required text field must say something)."""
    if not value.strip():
        raise DjangoValidationError("This field cannot be blank.")


# What the validators say in the API's JSON Schema (dynamo_backend.schemas reads ``json_schema``):
# "some character that is not whitespace" as str.strip() sees it, spelled out: ``\S`` differs
# between Python and JSON Schema's ECMA-262 (U+001C-U+001F, U+0085, U+FEFF).
NOT_BLANK_PATTERN = r"[^\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
validate_not_blank.json_schema = {"pattern": NOT_BLANK_PATTERN}  # type: ignore[attr-defined]


def validate_tags(value: list) -> None:
    """Refuse more than TAGS_MAX_ITEMS tags, or a tag that is not a short non-blank string."""
    if len(value) > TAGS_MAX_ITEMS:
        raise DjangoValidationError(f"At most {TAGS_MAX_ITEMS} tags.")
    for tag in value:
        if not isinstance(tag, str) or not tag.strip():
            raise DjangoValidationError("Each tag must be a non-blank string.")
        if len(tag) > TAG_MAX_LENGTH:
            raise DjangoValidationError(f"Each tag must have at most {TAG_MAX_LENGTH} characters.")


validate_tags.json_schema = {  # type: ignore[attr-defined]
    "maxItems": TAGS_MAX_ITEMS,
    "items": {"type": "string", "maxLength": TAG_MAX_LENGTH, "pattern": NOT_BLANK_PATTERN},
}


class Author(DynamoModel):
    class Meta:
        app_label = "blog"

    username = CharField(max_length=50, unique=True, nullable=False, validators=[validate_not_blank, validate_username])
    email = CharField(max_length=254, nullable=False, validators=[validate_not_blank, validate_email])
    bio = CharField(max_length=2000, default="", nullable=False)
    created_at = DateTimeField(auto_now_add=True, nullable=False)

    def __str__(self) -> str:
        return self.username or str(self.pk)


class Post(DynamoModel):
    class Meta:
        app_label = "blog"
        indexes = [
            Index("feed", sort_key="created_at"),
            Index("author_pk", sort_key="created_at"),
        ]

    title = CharField(max_length=200, nullable=False, validators=[validate_not_blank])
    slug = CharField(max_length=200, unique=True, nullable=False, validators=[validate_not_blank, validate_slug])
    body = CharField(max_length=POST_BODY_MAX_LENGTH, default="", nullable=False)
    author_pk = UUIDField(auto=False, references="blog.Author", on_delete=PROTECT, nullable=False)
    published = BooleanField(default=False, nullable=False)
    tags = ListField(default=list, nullable=False, validators=[validate_tags])
    # Views counted on the item itself: those from before the counter was
    # sharded, and those of a process that had to read the post anyway.
    view_count = IntegerField(default=0)
    views = ShardedCounter(shards=VIEW_SHARDS, base="view_count")
    created_at = DateTimeField(auto_now_add=True, nullable=False)
    updated_at = DateTimeField(auto_now=True)
    feed = ShardKeyField(shards=FEED_SHARDS, prefix="post", max_length=20)

    def __str__(self) -> str:
        return self.slug or str(self.pk)


def comment_sort_key(seed: str | None = None, when: dt.datetime | None = None) -> str:
    """A comment's sort key under its post: creation time, then a UUID, so keys are unique and in order."""
    stamp = (when or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(timespec="microseconds")
    return f"{stamp}#{seed or uuid.uuid4()}"


class Comment(DynamoModel):
    """A comment, stored under its post: the post's comments are one (consistent, if asked) Query.

    The API names a comment by one opaque string, ``Comment.pk_text(pk)``.
    """

    class Meta:
        app_label = "blog"
        indexes = [Index("author_pk", sort_key="created_at")]

    pk = CompositePrimaryKey("post_pk", "sk")
    post_pk = UUIDField(auto=False, references="blog.Post", on_delete=CASCADE, nullable=False)
    sk = CharField(max_length=80, nullable=False, default=comment_sort_key)
    author_pk = UUIDField(auto=False, references="blog.Author", on_delete=PROTECT, nullable=False)
    body = CharField(max_length=5000, nullable=False, validators=[validate_not_blank])
    created_at = DateTimeField(auto_now_add=True, nullable=False)

    def __str__(self) -> str:
        return self.pk_text(self.pk)

    @classmethod
    def pk_text(cls, pk: Any) -> str:
        """The comment's one-token id in URLs and JSON."""
        return cls._meta.keys.text(pk)

    @classmethod
    def pk_from_text(cls, text: str) -> Any:
        """The pk an id from :meth:`pk_text` names; ValueError when it names none."""
        return cls._meta.keys.from_text(text)

    @classmethod
    def pinned_values(cls, seed: str, when: dt.datetime) -> dict[str, Any]:
        """Key values for an Idempotency-Key's resource: the same on every attempt of one request."""
        return {"sk": comment_sort_key(seed, when)}


class IdempotencyRecord(DynamoModel):
    """One Idempotency-Key: the request it belongs to, and once answered, the answer."""

    class Meta:
        app_label = "blog"
        cache_ttl = 0  # decides writes: always read from DynamoDB

    pk = CharField(primary_key=True, nullable=False)
    fingerprint = CharField(nullable=False)
    resource_pk = CharField(nullable=False)
    state = CharField(choices=["in_flight", "done"], nullable=False)
    lease_until = IntegerField(nullable=False)
    status = IntegerField()
    body = CharField()
    location = CharField()
    expires_at = TTLField()


class ApiToken(DynamoModel):
    """An author's API token ``<pk>.<secret>``: only a salted SHA-256 of the secret is stored.

    A revoked token stays (``revoked``) until ``expires_at``, for the author's
    own record of it; then DynamoDB's Time to Live removes it.
    """

    class Meta:
        app_label = "blog"
        indexes = [Index("author_pk", sort_key="created_at")]
        # Never answered from a cache: a revocation must hold at once on every worker.
        cache_ttl = 0

    author_pk = UUIDField(auto=False, nullable=False)
    salt = CharField(max_length=64, nullable=False)
    digest = CharField(max_length=64, nullable=False)
    created_at = DateTimeField(auto_now_add=True, nullable=False)
    revoked = BooleanField(default=False, nullable=False)
    revoked_at = DateTimeField()
    expires_at = TTLField()


class RateCounter(DynamoModel):
    """Requests counted in one fixed window, under ``<limit>:<who>:<window start>``; atomic across processes."""

    class Meta:
        app_label = "blog"
        cache_ttl = 0

    pk = CharField(primary_key=True, max_length=300, nullable=False)
    n = IntegerField()
    expires_at = TTLField()
