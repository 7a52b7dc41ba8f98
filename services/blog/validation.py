"""Request parsing: JSON bodies, then the models' own rules on the fields a client may send.

A resource's :class:`Schema` names which model fields a client may write and
which are read-only; every constraint on a value (type, max_length, null,
required, validators) comes from the model through ``full_clean()``. All
problems are reported together under ``fields`` in one 400 response, and
nothing is checked against DynamoDB here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dynamo_backend import DynamoModel, ValidationError

from .errors import InvalidInput, InvalidJson, UnsupportedMediaType
from .models import Author, Comment, Post


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


@dataclass(frozen=True)
class Schema:
    """The fields of one model a client may write, and those it may only read."""

    model: type[DynamoModel]
    writable: tuple[str, ...]
    read_only: frozenset[str]

    def __post_init__(self) -> None:
        unknown = set(self.writable) - set(self.model._meta.fields)
        if unknown:
            raise ValueError(f"{self.model.__name__} has no field(s) {sorted(unknown)}")

    def required(self) -> list[str]:
        """Writable fields a create must give: not nullable, and no default to fall back on."""
        fields = self.model._meta.fields
        return [n for n in self.writable if not fields[n].nullable and fields[n].get_default() is None]

    def validate(self, data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
        """Return the cleaned writable fields of ``data`` or raise InvalidInput.

        ``partial`` (an update) checks only the given fields; otherwise the
        required ones must be there too.
        """
        errors: dict[str, list[str]] = {}
        given: dict[str, Any] = {}
        for name, value in data.items():
            if name in self.read_only:
                errors[name] = ["This field is read-only."]
            elif name not in self.writable:
                errors[name] = ["Unknown field."]
            else:
                given[name] = value
        cleaned, field_errors = self._clean(given)
        errors.update(field_errors)
        if not partial:
            for name in self.required():
                if name not in data:
                    errors[name] = ["This field is required."]
        if errors:
            raise InvalidInput("Invalid input.", fields=errors)
        return cleaned

    def _clean(self, given: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """Run the model's full_clean() on the given fields only; return (cleaned values, errors)."""
        instance = self.model(**given)
        errors: dict[str, list[str]] = {}
        try:
            instance.full_clean(exclude=[name for name in self.model._meta.fields if name not in given])
        except ValidationError as exc:
            # Errors on fields not given come from the model's defaults, not from this
            # request; the write's own full_clean() still checks the whole item.
            errors = {name: msgs for name, msgs in exc.message_dict.items() if name in given}
        if errors:
            return {}, errors
        return {name: getattr(instance, name) for name in given}, {}


AUTHOR_SCHEMA = Schema(
    Author,
    writable=("username", "email", "bio"),
    read_only=frozenset({"pk", "created_at"}),
)

POST_SCHEMA = Schema(
    Post,
    writable=("title", "slug", "body", "author_pk", "published", "tags"),
    read_only=frozenset({"pk", "created_at", "updated_at", "view_count", "author", "comments"}),
)

COMMENT_SCHEMA = Schema(
    Comment,
    writable=("author_pk", "body"),
    read_only=frozenset({"pk", "created_at", "post_pk", "author"}),
)
