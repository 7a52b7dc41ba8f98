"""Request parsing: JSON bodies, then the models' own rules on the fields a client may send.

A resource's :class:`~services.blog.schemas.Schema` (derived from the model by
dynamo_backend.schemas) names which fields a client may write and which are
read-only; every constraint on a value (type, max_length, null, required,
validators) comes from the model field, and the value checks are the field's
own ``clean()``, so the messages are those of ``full_clean()``. All problems
are reported together under ``fields`` in one 400 response, and nothing is
checked against DynamoDB here.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from .errors import InvalidJson, UnsupportedMediaType
from .schemas import AUTHOR_SCHEMA, COMMENT_SCHEMA, POST_SCHEMA, Schema

__all__ = [
    "AUTHOR_SCHEMA",
    "COMMENT_SCHEMA",
    "POST_SCHEMA",
    "Schema",
    "is_json_media_type",
    "parse_json_object",
    "parse_uuid",
]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def is_json_media_type(content_type: str) -> bool:
    """application/json, or a JSON-based type such as application/merge-patch+json."""
    media_type = content_type.split(";")[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def parse_json_object(request) -> dict[str, Any]:
    """Return the request body as a dict, or raise InvalidJson (UnsupportedMediaType unless it is declared JSON).

    A body must say it is JSON: a form or text/plain body is what a page on
    another site can send without a CORS preflight, so it is refused unread.
    """
    raw = request.body  # RequestDataTooBig (413) surfaces here
    if not raw.strip():
        raise InvalidJson("Request body must be a JSON object; it is empty.")
    if not is_json_media_type(request.META.get("CONTENT_TYPE", "")):
        raise UnsupportedMediaType("Request body must be JSON: send Content-Type: application/json.")
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidJson(f"Request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidJson(
            f"Request body must be a JSON object, not {type(data).__name__ if data is not None else 'null'}."
        )
    return data


def parse_uuid(value: Any) -> str:
    """Canonicalise a UUID given as a string; ValueError otherwise."""
    if not isinstance(value, str):
        raise ValueError("Must be a UUID string.")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError("Must be a valid UUID.") from None
