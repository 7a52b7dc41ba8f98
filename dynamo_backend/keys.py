"""Primary keys: the ``pk`` UUID string of most models, or a HASH+RANGE pair (CompositePrimaryKey).

Everything in the library names an item by its primary key value: a string for
a simple key, a tuple ``(hash value, range value)`` for a composite one, as
Django 5.2 does for ``CompositePrimaryKey``. This module turns those values into
DynamoDB ``Key`` dicts and back, and into one opaque string (``text``) where a
single token is needed (URLs, unique-claim owners).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Hashable
from typing import Any

from .codec import FieldValueError
from .exceptions import FieldError

__all__ = ["CompositePrimaryKey", "PrimaryKey"]


class CompositePrimaryKey:
    """``pk = CompositePrimaryKey("post_pk", "sk")``: the table's HASH and RANGE key fields (Django 5.2's name)."""

    def __init__(self, *field_names: str) -> None:
        if len(field_names) != 2 or not all(isinstance(n, str) for n in field_names):
            raise FieldError("CompositePrimaryKey takes two field names: the partition (HASH) and sort (RANGE) key")
        self.field_names: tuple[str, str] = (field_names[0], field_names[1])


class PrimaryKey:
    """How one model's items are keyed."""

    def __init__(self, fields: dict[str, Any], names: tuple[str, ...]) -> None:
        self.names = names
        self.fields = [fields[name] for name in names]
        self.composite = len(names) == 2

    @property
    def hash_key(self) -> str:
        return self.names[0]

    @property
    def range_key(self) -> str | None:
        return self.names[1] if self.composite else None

    def schema(self) -> list[dict]:
        """Return CreateTable's KeySchema."""
        kinds = ("HASH", "RANGE")
        return [{"AttributeName": name, "KeyType": kind} for name, kind in zip(self.names, kinds, strict=False)]

    def normalize(self, value: Any) -> Any:
        """Return the canonical pk (str, or a tuple of Python values) of a pk given as value, tuple or text."""
        if not self.composite:
            if not isinstance(value, str):
                raise FieldValueError(f"pk must be a string, got {type(value).__name__}")
            return value
        if isinstance(value, str):
            return self.from_text(value)
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise FieldValueError(f"pk of a composite key is a ({', '.join(self.names)}) pair, got {value!r}")
        return tuple(field.to_python(part) for field, part in zip(self.fields, value, strict=True))

    def key(self, pk: Any) -> dict:
        """Return the DynamoDB Key of the item whose pk is ``pk``."""
        if not self.composite:
            return {"pk": {"S": pk}}
        parts = self.normalize(pk)
        assert isinstance(parts, tuple)
        return {field.name: field.value_to_av(part) for field, part in zip(self.fields, parts, strict=True)}

    def of(self, item: dict) -> Hashable:
        """Return the pk of a raw item."""
        if not self.composite:
            return item["pk"]["S"]
        return tuple(field.from_dynamo(item[field.name]) for field in self.fields)

    def text(self, pk: Any) -> str:
        """Return one URL-safe string for a pk (the pk itself for a simple key)."""
        if not self.composite:
            return str(pk)
        key = self.key(pk)
        raw = json.dumps([key[name] for name in self.names], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def from_text(self, text: str) -> Hashable:
        """Return the pk a :meth:`text` string stands for; FieldValueError when it is not one."""
        if not self.composite:
            return text
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            parts = json.loads(raw)
            item = {name: av for name, av in zip(self.names, parts, strict=True)}
            return self.of(item)
        except (ValueError, TypeError, KeyError, AttributeError, binascii.Error) as error:
            raise FieldValueError(f"{text!r} is not a key of this model") from error
