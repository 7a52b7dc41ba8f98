"""Scalar field types: strings, UUIDs, numbers, booleans, datetimes, versions."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import operator
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.utils.dateparse import parse_datetime

from ..codec import MAX_DIGITS, FieldValueError, check_number, check_text, format_datetime, number_to_n
from .base import Field


class CharField(Field):
    """A string, stored as S."""

    claimable = True

    def __init__(self, *, max_length: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_length = max_length

    def to_python(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise FieldValueError(f"Expected a string, got {type(value).__name__}.")
        check_text(value)
        return value

    def clean(self, value: Any) -> Any:
        if value == "" and self.is_index_key:
            # GSI key attributes may not be empty strings: store the item sparse.
            value = None
            if not self.nullable:
                raise FieldValueError("This field cannot be empty.")
        return super().clean(value)

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value is not None and self.max_length is not None and len(value) > self.max_length:
            raise FieldValueError(f"Ensure this value has at most {self.max_length} characters (it has {len(value)}).")

    def to_dynamo(self, value: Any) -> dict | None:
        if value is None or (value == "" and self.is_index_key):
            return None
        return {"S": value}

    def from_dynamo(self, av: dict) -> Any:
        return av["S"]

    def decoder(self) -> Callable[[dict], Any]:
        return operator.itemgetter("S")


class UUIDField(CharField):
    """A UUID, stored as its canonical string; generates UUID4 unless auto=False."""

    def __init__(self, *, auto: bool = True, **kwargs: Any) -> None:
        if auto and "default" not in kwargs:
            kwargs["default"] = _uuid4_str
        super().__init__(max_length=36, **kwargs)
        self.auto = auto

    def to_python(self, value: Any) -> Any:
        if isinstance(value, uuid.UUID):
            return str(value)
        if not isinstance(value, str):
            raise FieldValueError(f"Expected a UUID string, got {type(value).__name__}.")
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise FieldValueError(f"'{value}' is not a valid UUID.") from None


def _uuid4_str() -> str:
    return str(uuid.uuid4())


class IntegerField(Field):
    """An integer, stored as N."""

    dynamo_type = "N"

    def to_python(self, value: Any) -> Any:
        if isinstance(value, bool):
            raise FieldValueError("Expected an integer, got a boolean.")
        if isinstance(value, int):
            return value
        if isinstance(value, decimal.Decimal) and value.is_finite() and value == value.to_integral_value():
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise FieldValueError(f"Expected an integer, got {type(value).__name__}.")

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value is not None and abs(value) >= 10**MAX_DIGITS:
            raise FieldValueError(f"DynamoDB numbers hold at most {MAX_DIGITS} digits.")

    def _to_av(self, value: Any) -> dict:
        return {"N": str(value)}

    def from_dynamo(self, av: dict) -> Any:
        text = av["N"]
        try:
            return int(text)
        except ValueError:
            return int(decimal.Decimal(text))

    def decoder(self) -> Callable[[dict], Any]:
        return self.from_dynamo


class FloatField(Field):
    """A float, stored as N with the shortest repr (0.1 stays 0.1)."""

    dynamo_type = "N"

    def to_python(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float, decimal.Decimal)):
            raise FieldValueError(f"Expected a number, got {type(value).__name__}.")
        value = float(value)
        if not math.isfinite(value):
            raise FieldValueError("NaN and Infinity cannot be stored in DynamoDB.")
        return value

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value is not None:
            number_to_n(value)

    def _to_av(self, value: Any) -> dict:
        return {"N": number_to_n(float(value))}

    def from_dynamo(self, av: dict) -> Any:
        return float(av["N"])

    def decoder(self) -> Callable[[dict], Any]:
        return lambda av: float(av["N"])


class DecimalField(Field):
    """An exact decimal number, stored as N, read back as Decimal."""

    dynamo_type = "N"

    def __init__(self, *, max_digits: int | None = None, decimal_places: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_digits = max_digits
        self.decimal_places = decimal_places

    def to_python(self, value: Any) -> Any:
        if isinstance(value, bool):
            raise FieldValueError("Expected a decimal number, got a boolean.")
        if isinstance(value, float):
            value = repr(value)
        if isinstance(value, (int, str)):
            try:
                value = decimal.Decimal(value)
            except decimal.InvalidOperation:
                raise FieldValueError(f"'{value}' is not a decimal number.") from None
        if not isinstance(value, decimal.Decimal):
            raise FieldValueError(f"Expected a decimal number, got {type(value).__name__}.")
        return value

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value is None:
            return
        check_number(value)
        _, digits, exponent = value.as_tuple()
        places = -exponent if exponent < 0 else 0
        if self.decimal_places is not None and places > self.decimal_places:
            raise FieldValueError(f"Ensure there are at most {self.decimal_places} decimal places.")
        if self.max_digits is not None and len(digits) > self.max_digits:
            raise FieldValueError(f"Ensure there are at most {self.max_digits} digits in total.")

    def _to_av(self, value: Any) -> dict:
        return {"N": str(value)}

    def from_dynamo(self, av: dict) -> Any:
        return decimal.Decimal(av["N"])


class BooleanField(Field):
    """A boolean, stored as BOOL (cannot be a GSI key)."""

    dynamo_type = "BOOL"
    indexable = False

    def to_python(self, value: Any) -> Any:
        if not isinstance(value, bool):
            raise FieldValueError(f"Expected a boolean, got {type(value).__name__}.")
        return value

    def _to_av(self, value: Any) -> dict:
        return {"BOOL": value}

    def from_dynamo(self, av: dict) -> Any:
        return av["BOOL"]

    def decoder(self) -> Callable[[dict], Any]:
        return operator.itemgetter("BOOL")


class BinaryField(Field):
    """Bytes, stored as B. It can key an index; DynamoDB orders B values byte by byte, as Python orders bytes."""

    dynamo_type = "B"

    def to_python(self, value: Any) -> Any:
        if isinstance(value, bytearray | memoryview):
            return bytes(value)
        if not isinstance(value, bytes):
            raise FieldValueError(f"Expected bytes, got {type(value).__name__}.")
        return value

    def clean(self, value: Any) -> Any:
        if value == b"" and self.is_index_key:
            # Index key attributes may not be empty: store the item sparse, as CharField does.
            value = None
            if not self.nullable:
                raise FieldValueError("This field cannot be empty.")
        return super().clean(value)

    def to_dynamo(self, value: Any) -> dict | None:
        if value is None or (value == b"" and self.is_index_key):
            return None
        return {"B": bytes(value)}

    def from_dynamo(self, av: dict) -> Any:
        return bytes(av["B"])


class DateTimeField(Field):
    """A timezone-aware datetime, stored as a fixed-width ISO-8601 UTC string."""

    def __init__(self, *, auto_now: bool = False, auto_now_add: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.auto_now = auto_now
        self.auto_now_add = auto_now_add

    format = staticmethod(format_datetime)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):
            parsed = parse_datetime(value)
            if parsed is None:
                raise FieldValueError(f"'{value}' is not an ISO-8601 datetime.")
            value = parsed
        if not isinstance(value, dt.datetime):
            raise FieldValueError(f"Expected a datetime, got {type(value).__name__}.")
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)

    def pre_save(self, instance: Any, add: bool) -> Any:
        if self.auto_now or (self.auto_now_add and add and getattr(instance, self.name) is None):
            value = dt.datetime.now(dt.UTC)
            setattr(instance, self.name, value)
            return value
        return getattr(instance, self.name)

    def _to_av(self, value: Any) -> dict:
        return {"S": self.format(value)}

    def from_dynamo(self, av: dict) -> Any:
        return dt.datetime.fromisoformat(av["S"])

    def decoder(self) -> Callable[[dict], Any]:
        parse = dt.datetime.fromisoformat
        return lambda av: parse(av["S"])


class VersionField(IntegerField):
    """An integer bumped on every save; a stale save raises VersionConflict."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("default", None)
        super().__init__(**kwargs)


# The clock TTL fields read "now" from; tests replace it (dynamo_backend.fields.scalars.ttl_clock).
ttl_clock: Callable[[], float] = time.time


class TTLField(Field):
    """An expiry time for DynamoDB's Time to Live: an aware datetime, stored as epoch seconds (N).

    DynamoDB deletes an expired item some time after it expires (usually within
    days); until then every read of the library treats it as absent. A model
    has at most one TTLField; ensure_table enables TimeToLive on it.
    """

    dynamo_type = "N"

    def to_python(self, value: Any) -> Any:
        if isinstance(value, bool):
            raise FieldValueError("Expected a datetime or epoch seconds, got a boolean.")
        if isinstance(value, int | float | decimal.Decimal):
            return dt.datetime.fromtimestamp(int(value), dt.UTC)
        if isinstance(value, str):
            parsed = parse_datetime(value)
            if parsed is None:
                raise FieldValueError(f"'{value}' is not an ISO-8601 datetime.")
            value = parsed
        if not isinstance(value, dt.datetime):
            raise FieldValueError(f"Expected a datetime, got {type(value).__name__}.")
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).replace(microsecond=0)

    def _to_av(self, value: Any) -> dict:
        return {"N": str(int(value.timestamp()))}

    def from_dynamo(self, av: dict) -> Any:
        return dt.datetime.fromtimestamp(int(decimal.Decimal(av["N"])), dt.UTC)

    def value_to_av(self, value: Any) -> dict:
        return self._to_av(self.to_python(value))

    def expired(self, raw: dict, now: float | None = None) -> bool:
        """Return whether a raw item's expiry time has passed (an item without one never expires)."""
        av = raw.get(self.name)
        if av is None:
            return False
        try:
            return int(decimal.Decimal(av["N"])) <= (ttl_clock() if now is None else now)
        except (KeyError, decimal.InvalidOperation):
            return False
