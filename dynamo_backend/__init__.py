"""dynamo_backend: a Django-style model layer on Amazon DynamoDB."""

from .exceptions import *  # noqa: F401,F403 - the exception tree is public
from .exceptions import __all__ as _exception_names
from .expressions import F, Q
from .fields import (
    BooleanField,
    CharField,
    DateTimeField,
    DecimalField,
    Field,
    FloatField,
    IntegerField,
    JSONField,
    ListField,
    UUIDField,
    VersionField,
)
from .manager import DynamoManager
from .models import DynamoModel
from .options import Index
from .query import DynamoQuerySet, Page

default_app_config = "dynamo_backend.apps.DynamoBackendConfig"

__all__ = [
    "DynamoModel",
    "DynamoManager",
    "DynamoQuerySet",
    "Page",
    "Index",
    "Q",
    "F",
    "Field",
    "CharField",
    "IntegerField",
    "FloatField",
    "DecimalField",
    "BooleanField",
    "DateTimeField",
    "JSONField",
    "UUIDField",
    "ListField",
    "VersionField",
    *_exception_names,
]
