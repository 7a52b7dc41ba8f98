"""The library's exception tree: one base class, AWS error codes kept."""

from __future__ import annotations

from typing import Any

from django.core import exceptions as django_exceptions
from django.db import NotSupportedError as DjangoNotSupportedError
from django.db.models import ProtectedError as DjangoProtectedError


class DynamoBackendError(Exception):
    """Base class of every error raised by dynamo_backend.

    ``maybe_applied``: the request reached DynamoDB and its answer was lost
    (a timeout, a 5xx), so a write may or may not have taken effect.
    ``after_unknown``: this error answered a retry of a call whose earlier
    attempt may have been applied, so a refused condition may be that very
    attempt's doing. Without it, a ConditionalCheckFailed is another writer's.
    """

    code: str | None = None
    maybe_applied: bool = False
    after_unknown: bool = False

    def __init__(self, message: str = "", *, code: str | None = None, maybe_applied: bool = False) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.maybe_applied = maybe_applied


class ConfigurationError(DynamoBackendError, django_exceptions.ImproperlyConfigured):
    """DYNAMO_BACKEND settings are wrong."""


class FieldError(DynamoBackendError, django_exceptions.FieldError):
    """An unknown field or lookup, or a field option DynamoDB cannot honour."""


class NotSupported(DynamoBackendError, DjangoNotSupportedError):
    """The QuerySet asks for something DynamoDB (or this library) cannot do."""


class ConsistencyError(NotSupported):
    """A consistent read was asked of a global secondary index, which DynamoDB never reads consistently."""


class ValidationError(DynamoBackendError, django_exceptions.ValidationError):
    """One or more field values are invalid; ``message_dict`` maps field -> messages."""

    def __init__(self, message: Any, code: str | None = None, params: Any = None) -> None:
        django_exceptions.ValidationError.__init__(self, message, code, params)
        Exception.__init__(self, self._summary())

    def _summary(self) -> str:
        if hasattr(self, "error_dict"):
            return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in self.message_dict.items())
        return " ".join(self.messages)

    def __str__(self) -> str:
        return self._summary()


class ConditionalCheckFailed(DynamoBackendError):
    """A conditional write was refused by DynamoDB."""

    code = "ConditionalCheckFailedException"


class ItemAlreadyExists(ConditionalCheckFailed):
    """create() found an item with the same primary key."""


class UniqueConstraintError(ConditionalCheckFailed):
    """A unique=True value is already taken by another item."""

    def __init__(self, message: str = "", *, field: str = "", value: Any = None, model: Any = None) -> None:
        super().__init__(message or f"{field}={value!r} is already taken")
        self.field = field  # the field name, or "a,b" for a unique_together constraint
        self.fields = tuple(field.split(",")) if field else ()
        self.value = value
        self.model = model


class VersionConflict(ConditionalCheckFailed):
    """The item changed since it was loaded (optimistic locking)."""


class ConditionNotMet(ConditionalCheckFailed):
    """``save(condition=Q(...))`` / ``delete(condition=...)``: the stored item does not match; nothing was written."""


class Throttled(DynamoBackendError):
    """DynamoDB throttled the request and botocore's retries ran out."""


class TableDoesNotExist(DynamoBackendError):
    """The table (or index) does not exist."""

    code = "ResourceNotFoundException"


class RequestValidationError(DynamoBackendError):
    """DynamoDB rejected the request as malformed (AWS ValidationException)."""

    code = "ValidationException"


class ServiceUnavailable(DynamoBackendError):
    """DynamoDB could not be reached or answered with a server error."""


class DeadlineExceeded(ServiceUnavailable):
    """The request's DynamoDB deadline (REQUEST_DEADLINE) ran out; no further call was made."""

    code = "DeadlineExceeded"


class ProtectedError(DynamoBackendError, DjangoProtectedError):
    """A delete refused because items still reference the item (on_delete=PROTECT), as Django's ProtectedError."""

    def __init__(self, message: str, protected_objects: Any = ()) -> None:
        DjangoProtectedError.__init__(self, message, protected_objects)
        self.maybe_applied = False


class RelatedObjectMissing(DynamoBackendError):
    """A write names a referenced item (``references=``) that does not exist or is being deleted."""

    def __init__(self, message: str = "", *, field: str = "", value: Any = None) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


class TransactionCanceled(DynamoBackendError):
    """A TransactWriteItems call was cancelled; ``reasons`` lists why per action."""

    code = "TransactionCanceledException"

    def __init__(self, message: str = "", *, code: str | None = None, reasons: list | None = None) -> None:
        super().__init__(message, code=code)
        self.reasons = reasons or []


class BatchError(DynamoBackendError):
    """A batch call left work undone after every retry; ``unprocessed`` lists it."""

    def __init__(self, message: str = "", *, unprocessed: list | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.unprocessed = list(unprocessed or [])


class BatchGetError(BatchError):
    """BatchGetItem left keys unread."""


class BatchWriteError(BatchError):
    """BatchWriteItem left requests unwritten."""


# Django's names, so code written against the ORM keeps working.
ObjectDoesNotExist = django_exceptions.ObjectDoesNotExist
MultipleObjectsReturned = django_exceptions.MultipleObjectsReturned

__all__ = [
    "DynamoBackendError",
    "ConfigurationError",
    "FieldError",
    "NotSupported",
    "ConsistencyError",
    "ValidationError",
    "ConditionalCheckFailed",
    "ItemAlreadyExists",
    "UniqueConstraintError",
    "VersionConflict",
    "ConditionNotMet",
    "Throttled",
    "TableDoesNotExist",
    "RequestValidationError",
    "ServiceUnavailable",
    "DeadlineExceeded",
    "ProtectedError",
    "RelatedObjectMissing",
    "TransactionCanceled",
    "BatchError",
    "BatchGetError",
    "BatchWriteError",
    "ObjectDoesNotExist",
    "MultipleObjectsReturned",
]
