"""Request parsing: JSON bodies, field types, lengths, read-only and unknown fields.

Everything is checked before anything is written, and all problems are
reported together under ``fields`` in one 400 response.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email, validate_slug

from .errors import InvalidInput, InvalidJson
from .models import POST_BODY_MAX_LENGTH

USERNAME_RE = re.compile(r"^[\w.@+-]+\Z")
TAG_MAX_LENGTH = 50
TAGS_MAX_ITEMS = 20


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_object(request) -> dict[str, Any]:
    """Return the request body as a dict, or raise InvalidJson."""
    raw = request.body  # RequestDataTooBig (413) surfaces here
    if not raw.strip():
        raise InvalidJson("Request body must be a JSON object; it is empty.")
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
class Spec:
    """How one writable field is checked and converted."""

    kind: str  # "str" | "bool" | "uuid" | "tags"
    required: bool = False
    max_length: int | None = None
    allow_blank: bool = True
    validators: tuple[Callable[[Any], None], ...] = field(default=())

    def clean(self, value: Any) -> tuple[Any, list[str]]:
        if self.kind == "str":
            return self._clean_str(value)
        if self.kind == "bool":
            if not isinstance(value, bool):
                return None, ["Must be true or false."]
            return value, []
        if self.kind == "uuid":
            try:
                return parse_uuid(value), []
            except ValueError as exc:
                return None, [str(exc)]
        if self.kind == "tags":
            return self._clean_tags(value)
        raise AssertionError(self.kind)

    def _clean_str(self, value: Any) -> tuple[Any, list[str]]:
        if not isinstance(value, str):
            return None, ["Must be a string."]
        if not self.allow_blank and not value.strip():
            return None, ["Must not be blank."]
        if self.max_length is not None and len(value) > self.max_length:
            return None, [f"Ensure this value has at most {self.max_length} characters (it has {len(value)})."]
        errors: list[str] = []
        for validator in self.validators:
            if value == "":
                break
            try:
                validator(value)
            except DjangoValidationError as exc:
                errors.extend(exc.messages)
        return (value if not errors else None), errors

    def _clean_tags(self, value: Any) -> tuple[Any, list[str]]:
        if not isinstance(value, list):
            return None, ["Must be a list of strings."]
        if len(value) > TAGS_MAX_ITEMS:
            return None, [f"At most {TAGS_MAX_ITEMS} tags."]
        for tag in value:
            if not isinstance(tag, str) or not tag.strip():
                return None, ["Each tag must be a non-blank string."]
            if len(tag) > TAG_MAX_LENGTH:
                return None, [f"Each tag must have at most {TAG_MAX_LENGTH} characters."]
        return list(value), []


def validate_username(value: str) -> None:
    if not USERNAME_RE.match(value):
        raise DjangoValidationError("Enter a username of letters, digits and @/./+/-/_ only.")


@dataclass(frozen=True)
class Schema:
    """The writable and read-only fields of one resource."""

    fields: Mapping[str, Spec]
    read_only: frozenset[str]

    def validate(self, data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
        """Return the cleaned writable fields of ``data`` or raise InvalidInput."""
        errors: dict[str, list[str]] = {}
        cleaned: dict[str, Any] = {}
        for name, value in data.items():
            if name in self.read_only:
                errors[name] = ["This field is read-only."]
            elif name not in self.fields:
                errors[name] = ["Unknown field."]
            else:
                spec = self.fields[name]
                if value is None:
                    errors[name] = ["This field may not be null."]
                    continue
                result, problems = spec.clean(value)
                if problems:
                    errors[name] = problems
                else:
                    cleaned[name] = result
        if not partial:
            for name, spec in self.fields.items():
                if spec.required and name not in data:
                    errors[name] = ["This field is required."]
        if errors:
            raise InvalidInput("Invalid input.", fields=errors)
        return cleaned


AUTHOR_SCHEMA = Schema(
    fields={
        "username": Spec("str", required=True, max_length=50, allow_blank=False, validators=(validate_username,)),
        "email": Spec("str", required=True, max_length=254, allow_blank=False, validators=(validate_email,)),
        "bio": Spec("str", max_length=2000),
    },
    read_only=frozenset({"pk", "created_at"}),
)

POST_SCHEMA = Schema(
    fields={
        "title": Spec("str", required=True, max_length=200, allow_blank=False),
        "slug": Spec("str", required=True, max_length=200, allow_blank=False, validators=(validate_slug,)),
        "body": Spec("str", max_length=POST_BODY_MAX_LENGTH),
        "author_pk": Spec("uuid", required=True),
        "published": Spec("bool"),
        "tags": Spec("tags"),
    },
    read_only=frozenset({"pk", "created_at", "updated_at", "view_count", "author", "comments"}),
)

COMMENT_SCHEMA = Schema(
    fields={
        "author_pk": Spec("uuid", required=True),
        "body": Spec("str", required=True, max_length=5000, allow_blank=False),
    },
    read_only=frozenset({"pk", "created_at", "post_pk", "author"}),
)
