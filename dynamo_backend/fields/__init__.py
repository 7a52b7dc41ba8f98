"""Field types: to_python / validate / to_dynamo / from_dynamo for each value type."""

from ..codec import FieldValueError
from .base import NOT_PROVIDED, Field
from .containers import JSONField, ListField, SetField
from .scalars import (
    BinaryField,
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
    "BinaryField",
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
    "SetField",
    "UUIDField",
    "VersionField",
]
