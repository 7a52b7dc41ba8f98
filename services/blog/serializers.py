"""Model instances -> JSON responses, in the shapes of the resources' schemas (schemas.py).

Each ``*_to_dict`` takes the readable fields its schema names from the
instance (``Schema.dump``) and adds what the response computes; :func:`render`
writes a payload as JSON: values made JSON by pydantic-core (datetimes in RFC
3339, UTC, ``Z``), then ``json.dumps`` in the same layout as the error bodies.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpResponse

from dynamo_backend.schemas import to_jsonable

from .models import ApiToken, Author, Comment, Post
from .schemas import AUTHOR_REF_SCHEMA, AUTHOR_SCHEMA, COMMENT_SCHEMA, POST_SCHEMA, TOKEN_SCHEMA

JSON = "application/json"


def render(payload: Any, status: int = 200) -> HttpResponse:
    """A JSON response for a payload of dicts, lists and field values."""
    return HttpResponse(json.dumps(to_jsonable(payload)), content_type=JSON, status=status)


def author_to_dict(author: Author, *, show_email: bool = False) -> dict[str, Any]:
    """An author; ``email`` only for the author themself and the moderator (``auth.viewer().may_see_email``)."""
    data = AUTHOR_SCHEMA.dump(author)
    if not show_email:
        del data["email"]
    return data


def token_to_dict(token: ApiToken) -> dict[str, Any]:
    """What the API says about a token: never its secret nor its hash (the secret is shown once, at creation)."""
    return TOKEN_SCHEMA.dump(token, id=token.pk, revoked=bool(token.revoked))


def author_ref(author_pk: str, author: Author | None) -> dict[str, Any]:
    """The short author form embedded in posts and comments."""
    if author is None:
        return {"pk": author_pk, "username": None}
    return AUTHOR_REF_SCHEMA.dump(author)


def related_author(obj: Post | Comment) -> Author | None:
    """``obj.author`` (prefetched), or None if the author no longer exists."""
    try:
        return obj.author
    except ObjectDoesNotExist:
        return None


def post_to_dict(post: Post, author: Author | None) -> dict[str, Any]:
    return POST_SCHEMA.dump(
        post,
        author=author_ref(post.author_pk, author),
        tags=list(post.tags or []),
        view_count=post.views,  # the sharded count (read with the page's other items)
    )


def comment_to_dict(comment: Comment, author: Author | None) -> dict[str, Any]:
    return COMMENT_SCHEMA.dump(comment, pk=Comment.pk_text(comment.pk), author=author_ref(comment.author_pk, author))
