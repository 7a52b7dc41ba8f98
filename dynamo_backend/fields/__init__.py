"""Field types: to_python / validate / to_dynamo / from_dynamo for each value type."""

from ..codec import FieldValueError
from .base import NOT_PROVIDED, Field
from .containers import JSONField, ListField
from .scalars import (
    BooleanField,
    CharField,
    DateTimeField,
    DecimalField,
    FloatField,
    IntegerField,
    TTLField,
    UUIDField,
    VersionField,
)

__all__ = [
    "NOT_PROVIDED",
    "BooleanField",
    "CharField",
    "DateTimeField",
    "DecimalField",
    "Field",
    "FieldValueError",
    "FloatField",
    "IntegerField",
    "JSONField",
    "TTLField",
    "ListField",
    "UUIDField",
    "VersionField",
]
