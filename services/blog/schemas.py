"""The blog's request and response schemas, derived from the models (dynamo_backend.schemas).

Each resource has one :class:`Schema`: the fields a client may write, those
it only reads, and the properties a response computes (an embedded author,
a comment's opaque id). Types, lengths, patterns and formats come from the
model fields; validation.py checks request bodies with these schemas,
serializers.py shapes responses with them, and openapi.py publishes them.
"""

from __future__ import annotations

from typing import Any

from dynamo_backend import ValidationError
from dynamo_backend.schemas import ModelSchema

from .errors import InvalidInput
from .models import ApiToken, Author, Comment, Post


class Schema(ModelSchema):
    """A model's schema whose validation fails as the API's 400 ``validation_error`` (naming every field)."""

    def validate(self, data: Any, *, partial: bool = False) -> dict[str, Any]:
        try:
            return super().validate(data, partial=partial)
        except ValidationError as exc:
            raise InvalidInput("Invalid input.", fields=exc.message_dict) from None


SECRET_TOKEN = "The API token `<id>.<secret>`, in this answer only (just a hash of it is stored)."

AUTHOR_REF_SCHEMA = Schema(
    Author,
    writable=(),
    read_only=("pk", "username"),
    nullable=("username",),
    descriptions={"username": "null when the author no longer exists."},
    name="AuthorRef",
)

AUTHOR_SCHEMA = Schema(
    Author,
    writable=("username", "email", "bio"),
    read_only=("pk", "created_at"),
    extra={"token": str},
    optional=("email", "token"),
    descriptions={
        "email": "Shown only to the author (with their token) and to the moderator.",
        "token": SECRET_TOKEN + " Sign-up answers it.",
    },
)

COMMENT_SCHEMA = Schema(
    Comment,
    writable=("author_pk", "body"),
    read_only=("post_pk", "created_at"),
    extra={"pk": str, "author": AUTHOR_REF_SCHEMA.read_type},
    descriptions={
        "pk": "The comment's opaque id (its post and its place under it).",
        "author_pk": "Optional in a request: the token's author (any other is 403).",
    },
)

POST_SCHEMA = Schema(
    Post,
    writable=("title", "slug", "body", "author_pk", "published", "tags"),
    read_only=("pk", "view_count", "created_at", "updated_at"),
    extra={
        "author": AUTHOR_REF_SCHEMA.read_type,
        "comments": list[COMMENT_SCHEMA.read_type],  # type: ignore[name-defined]
        "comments_truncated": bool,
    },
    optional=("comments", "comments_truncated"),
    descriptions={
        "author_pk": "Optional in a request: the token's author (any other is 403).",
        "view_count": "Reads of the post page (a sharded counter).",
        "comments": "The post page only: its first comments, oldest first.",
        "comments_truncated": "The post page only: more comments follow on /api/posts/{pk}/comments/.",
    },
)

TOKEN_SCHEMA = Schema(
    ApiToken,
    writable=(),
    read_only=("author_pk", "created_at", "revoked", "revoked_at"),
    extra={"id": str, "token": str},
    optional=("token",),
    descriptions={"id": "The token's id: the part of the token before the dot.", "token": SECRET_TOKEN},
    name="Token",
)

# Request bodies a client may leave ``author_pk`` out of: the server fills in the token's author.
AUTHOR_FROM_TOKEN = (POST_SCHEMA, COMMENT_SCHEMA)
ALL_SCHEMAS = (AUTHOR_REF_SCHEMA, AUTHOR_SCHEMA, POST_SCHEMA, COMMENT_SCHEMA, TOKEN_SCHEMA)
