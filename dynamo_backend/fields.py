"""Field types: to_python / validate / to_dynamo / from_dynamo for each value type."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import operator
import uuid
from collections.abc import Callable
from typing import Any

from django.utils.dateparse import parse_datetime

from .exceptions import FieldError

NOT_PROVIDED = object()

# DynamoDB numbers: 38 significant digits, magnitude 1E-130 .. 9.99..E+125.
_MAX_DIGITS = 38
_MAX_EXP = 125
_MIN_EXP = -130


class FieldValueError(ValueError):
    """A single field's value is invalid; collected into ValidationError by full_clean."""


def _check_number(value: decimal.Decimal) -> None:
    if not value.is_finite():
        raise FieldValueError("NaN and Infinity cannot be stored in DynamoDB.")
    if value.is_zero():
        return
    # Not normalize(): it rounds to the context's 28 digits and would hide overflow.
    sign, digits, exponent = value.as_tuple()
    digits = list(digits)
    while len(digits) > 1 and digits[-1] == 0:
        digits.pop()
        exponent += 1
    while len(digits) > 1 and digits[0] == 0:
        digits.pop(0)
    if len(digits) > _MAX_DIGITS:
        raise FieldValueError(f"DynamoDB numbers hold at most {_MAX_DIGITS} significant digits.")
    magnitude = len(digits) + exponent - 1
    if magnitude > _MAX_EXP or magnitude < _MIN_EXP:
        raise FieldValueError("Number is outside DynamoDB's range (1E-130 to 9.9E+125).")


def number_to_n(value: Any) -> str:
    """Return the DynamoDB N string for an int, float or Decimal."""
    if isinstance(value, bool):
        raise FieldValueError("Expected a number, got a boolean.")
    if isinstance(value, int):
        if abs(value) >= 10**_MAX_DIGITS:
            raise FieldValueError(f"DynamoDB numbers hold at most {_MAX_DIGITS} digits.")
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FieldValueError("NaN and Infinity cannot be stored in DynamoDB.")
        # repr() is the shortest string that round-trips: 0.1 stays "0.1".
        text = repr(value)
        _check_number(decimal.Decimal(text))
        return text
    if isinstance(value, decimal.Decimal):
        _check_number(value)
        return str(value)
    raise FieldValueError(f"Expected a number, got {type(value).__name__}.")


def n_to_number(text: str) -> int | float:
    """Return an int for integral N strings, else a float."""
    if "." in text or "e" in text or "E" in text:
        return float(text)
    return int(text)


def python_to_av(value: Any) -> dict:
    """Convert a JSON-like Python value to a DynamoDB attribute value."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, (int, float, decimal.Decimal)):
        return {"N": number_to_n(value)}
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise FieldValueError(f"Map keys must be strings, got {type(key).__name__}.")
            out[key] = python_to_av(item)
        return {"M": out}
    if isinstance(value, (list, tuple)):
        return {"L": [python_to_av(item) for item in value]}
    if isinstance(value, (uuid.UUID,)):
        return {"S": str(value)}
    if isinstance(value, dt.datetime):
        return {"S": DateTimeField.format(value)}
    raise FieldValueError(f"Cannot store a value of type {type(value).__name__}.")


# DynamoDB documents "400 KB" (names included); measured limits sit near 409,600
# bytes and moto refuses above 405,000. 400,000 is safe on every engine.
MAX_ITEM_BYTES = 400_000


def av_size(av: dict) -> int:
    """Return the bytes DynamoDB counts for an attribute value (names excluded)."""
    ((kind, value),) = av.items()
    if kind == "S":
        return len(value.encode("utf-8"))
    if kind == "N":
        return len(value.lstrip("-").replace(".", "")) // 2 + 2
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "B":
        return len(value)
    if kind == "M":
        return 3 + sum(len(k.encode("utf-8")) + 1 + av_size(v) for k, v in value.items())
    if kind == "L":
        return 3 + sum(1 + av_size(v) for v in value)
    if kind in ("SS", "NS", "BS"):
        return sum(av_size({kind[0]: v}) for v in value)
    return 0


def item_size(item: dict) -> tuple[int, str | None]:
    """Return (bytes DynamoDB counts for the item, the name of its largest attribute)."""
    total, largest, largest_size = 0, None, -1
    for name, av in item.items():
        size = len(name.encode("utf-8")) + av_size(av)
        total += size
        if size > largest_size:
            largest, largest_size = name, size
    return total, largest


def av_to_python(av: dict) -> Any:
    """Convert a DynamoDB attribute value to plain Python (numbers as int/float)."""
    ((kind, value),) = av.items()
    if kind == "S":
        return value
    if kind == "N":
        return n_to_number(value)
    if kind == "BOOL":
        return value
    if kind == "M":
        return {key: av_to_python(item) for key, item in value.items()}
    if kind == "L":
        return [av_to_python(item) for item in value]
    if kind == "NULL":
        return None
    if kind == "SS":
        return set(value)
    if kind == "NS":
        return {n_to_number(v) for v in value}
    if kind == "B":
        return value
    if kind == "BS":
        return set(value)
    raise FieldValueError(f"Unknown DynamoDB type {kind}.")


class Field:
    """Base class of all model fields."""

    dynamo_type = "S"
    indexable = True
    creation_counter = 0
    type_name = "value"

    def __init__(
        self,
        *,
        nullable: bool = True,
        default: Any = NOT_PROVIDED,
        index: bool = False,
        unique: bool = False,
        references: Any = None,
        related_name: str | None = None,
        primary_key: bool = False,
        help_text: str = "",
    ) -> None:
        self.nullable = nullable
        self.default = default
        self.index = index
        self.unique = unique
        self.references = references
        self.related_name = related_name
        self.primary_key = primary_key
        self.help_text = help_text
        self.name: str = ""
        self.model: Any = None
        self.creation_counter = Field.creation_counter
        Field.creation_counter += 1

    def __repr__(self) -> str:
        label = f"{self.model.__name__}.{self.name}" if self.model else self.name
        return f"<{type(self).__name__}: {label}>"

    # -- class set-up ----------------------------------------------------
    def contribute_to_class(self, cls: type, name: str) -> None:
        """Install the field on its model."""
        self.name = name
        self.model = cls
        if self.index and not self.indexable:
            raise FieldError(
                f"{cls.__name__}.{name}: index=True is not allowed on {type(self).__name__}. "
                "Hint: GSI keys must be top-level S, N or B attributes; index a CharField, "
                "IntegerField, DecimalField, UUIDField or DateTimeField instead."
            )
        if self.unique and not isinstance(self, (CharField, UUIDField)):
            raise FieldError(f"{cls.__name__}.{name}: unique=True is supported on CharField and UUIDField only.")
        cls._meta.add_field(self)

    # -- values -------------------------------------------------------------
    def has_default(self) -> bool:
        return self.default is not NOT_PROVIDED

    def get_default(self) -> Any:
        if self.default is NOT_PROVIDED:
            return None
        return self.default() if callable(self.default) else self.default

    def to_python(self, value: Any) -> Any:
        """Coerce ``value`` to this field's Python type or raise FieldValueError."""
        return value

    def validate(self, value: Any) -> None:
        """Check a coerced value; raise FieldValueError."""
        if value is None and not self.nullable:
            raise FieldValueError("This field cannot be null.")

    def clean(self, value: Any) -> Any:
        """Return the coerced value after validation."""
        if value is not None:
            value = self.to_python(value)
        self.validate(value)
        return value

    def pre_save(self, instance: Any, add: bool) -> Any:
        """Return the value to write, updating the instance if the field sets it."""
        return getattr(instance, self.name)

    def to_dynamo(self, value: Any) -> dict | None:
        """Return the attribute value, or None to leave the attribute out."""
        if value is None:
            return None
        return self._to_av(value)

    def _to_av(self, value: Any) -> dict:
        return {self.dynamo_type: value}

    def from_dynamo(self, av: dict) -> Any:
        """Return the Python value of a stored attribute value."""
        return av_to_python(av)

    def decoder(self) -> Callable[[dict], Any]:
        """Return a fast function equivalent to from_dynamo (used when materialising items)."""
        return self.from_dynamo

    def value_to_av(self, value: Any) -> dict:
        """Convert a filter value for this field into an attribute value."""
        return self._to_av(self.to_python(value))

    def key_type(self) -> str:
        """Return the GSI key type (S, N or B)."""
        return "N" if self.dynamo_type == "N" else "S"


class CharField(Field):
    """A string, stored as S."""

    type_name = "string"

    def __init__(self, *, max_length: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_length = max_length

    def to_python(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise FieldValueError(f"Expected a string, got {type(value).__name__}.")
        return value

    def clean(self, value: Any) -> Any:
        if value == "" and self.index:
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
        if value is None or (value == "" and self.index):
            return None
        return {"S": value}

    def from_dynamo(self, av: dict) -> Any:
        return av["S"]

    def decoder(self) -> Callable[[dict], Any]:
        return operator.itemgetter("S")


class UUIDField(CharField):
    """A UUID, stored as its canonical string; generates UUID4 unless auto=False."""

    type_name = "UUID"

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
    type_name = "integer"

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
        if value is not None and abs(value) >= 10**_MAX_DIGITS:
            raise FieldValueError(f"DynamoDB numbers hold at most {_MAX_DIGITS} digits.")

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
    type_name = "number"

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
    type_name = "decimal"

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
        _check_number(value)
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
    type_name = "boolean"

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


class DateTimeField(Field):
    """A timezone-aware datetime, stored as a fixed-width ISO-8601 UTC string."""

    type_name = "datetime"

    def __init__(self, *, auto_now: bool = False, auto_now_add: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.auto_now = auto_now
        self.auto_now_add = auto_now_add

    @staticmethod
    def format(value: dt.datetime) -> str:
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        # Fixed width, so string order is time order in sort keys.
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")

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


class JSONField(Field):
    """Nested maps and lists (M / L); floats keep their shortest repr."""

    dynamo_type = "M"
    indexable = False
    type_name = "JSON"

    def to_python(self, value: Any) -> Any:
        python_to_av(value)  # raises FieldValueError on unsupported types
        return value

    def _to_av(self, value: Any) -> dict:
        return python_to_av(value)

    def value_to_av(self, value: Any) -> dict:
        return python_to_av(value)

    def from_dynamo(self, av: dict) -> Any:
        return av_to_python(av)


class ListField(Field):
    """A list, stored as L; items converted by ``item_field`` or as JSON values."""

    dynamo_type = "L"
    indexable = False
    type_name = "list"

    def __init__(self, item_field: Field | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.item_field = item_field

    def to_python(self, value: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            raise FieldValueError(f"Expected a list, got {type(value).__name__}.")
        if self.item_field is not None:
            return [self.item_field.clean(item) for item in value]
        value = list(value)
        python_to_av(value)
        return value

    def _to_av(self, value: Any) -> dict:
        if self.item_field is not None:
            return {"L": [self.item_field._to_av(item) for item in value]}
        return python_to_av(list(value))

    def value_to_av(self, value: Any) -> dict:
        if isinstance(value, (list, tuple)):
            return self._to_av(self.to_python(value))
        # a single element, as in tags__contains="x"
        if self.item_field is not None:
            return self.item_field._to_av(self.item_field.to_python(value))
        return python_to_av(value)

    def from_dynamo(self, av: dict) -> Any:
        if self.item_field is not None:
            return [self.item_field.from_dynamo(item) for item in av["L"]]
        return av_to_python(av)

    def decoder(self) -> Callable[[dict], Any]:
        if self.item_field is not None:
            return self.from_dynamo

        def decode(av: dict) -> Any:
            # Lists of strings are the common case: skip the generic walk for them.
            return [v["S"] if "S" in v else av_to_python(v) for v in av["L"]]

        return decode


class VersionField(IntegerField):
    """An integer bumped on every save; a stale save raises VersionConflict."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("default", None)
        super().__init__(**kwargs)
