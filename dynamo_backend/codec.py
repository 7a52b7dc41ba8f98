"""DynamoDB attribute values <-> Python: number rules, JSON-like values, item sizes. Pure."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import uuid
from typing import Any

__all__ = [
    "MAX_ITEM_BYTES",
    "FieldValueError",
    "av_size",
    "av_to_python",
    "check_number",
    "check_text",
    "format_datetime",
    "item_size",
    "n_to_number",
    "number_to_n",
    "python_to_av",
]

# DynamoDB numbers: 38 significant digits, magnitude 1E-130 .. 9.99..E+125.
MAX_DIGITS = 38
_MAX_EXP = 125
_MIN_EXP = -130

# DynamoDB documents "400 KB" (names included); measured limits sit near 409,600
# bytes and moto refuses above 405,000. 400,000 is safe on every engine.
MAX_ITEM_BYTES = 400_000


class FieldValueError(ValueError):
    """A single value is invalid; full_clean collects these into one ValidationError."""


def check_number(value: decimal.Decimal) -> None:
    """Raise FieldValueError unless DynamoDB can store the number exactly."""
    if not value.is_finite():
        raise FieldValueError("NaN and Infinity cannot be stored in DynamoDB.")
    if value.is_zero():
        return
    # Not normalize(): it rounds to the context's 28 digits and would hide overflow.
    _sign, digit_tuple, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite, checked above
    digits = list(digit_tuple)
    while len(digits) > 1 and digits[-1] == 0:
        digits.pop()
        exponent += 1
    while len(digits) > 1 and digits[0] == 0:
        digits.pop(0)
    if len(digits) > MAX_DIGITS:
        raise FieldValueError(f"DynamoDB numbers hold at most {MAX_DIGITS} significant digits.")
    magnitude = len(digits) + exponent - 1
    if magnitude > _MAX_EXP or magnitude < _MIN_EXP:
        raise FieldValueError("Number is outside DynamoDB's range (1E-130 to 9.9E+125).")


def check_text(value: str) -> None:
    """Raise FieldValueError for a string UTF-8 cannot encode (a lone surrogate such as '\\ud800')."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise FieldValueError(
            f"Text must be valid Unicode; character {error.start} is a lone surrogate "
            f"({value[error.start]!r}) that cannot be stored."
        ) from None


def number_to_n(value: Any) -> str:
    """Return the DynamoDB N string for an int, float or Decimal."""
    if isinstance(value, bool):
        raise FieldValueError("Expected a number, got a boolean.")
    if isinstance(value, int):
        if abs(value) >= 10**MAX_DIGITS:
            raise FieldValueError(f"DynamoDB numbers hold at most {MAX_DIGITS} digits.")
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FieldValueError("NaN and Infinity cannot be stored in DynamoDB.")
        # repr() is the shortest string that round-trips: 0.1 stays "0.1".
        text = repr(value)
        check_number(decimal.Decimal(text))
        return text
    if isinstance(value, decimal.Decimal):
        check_number(value)
        return str(value)
    raise FieldValueError(f"Expected a number, got {type(value).__name__}.")


def n_to_number(text: str) -> int | float:
    """Return an int for integral N strings, else a float."""
    if "." in text or "e" in text or "E" in text:
        return float(text)
    return int(text)


def format_datetime(value: dt.datetime) -> str:
    """Return the fixed-width ISO-8601 UTC text of a datetime (string order is time order)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _map_to_av(value: dict) -> dict:
    out = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise FieldValueError(f"Map keys must be strings, got {type(key).__name__}.")
        check_text(key)
        out[key] = python_to_av(item)
    return {"M": out}


def python_to_av(value: Any) -> dict:
    """Convert a JSON-like Python value to a DynamoDB attribute value."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        check_text(value)
        return {"S": value}
    if isinstance(value, int | float | decimal.Decimal):
        return {"N": number_to_n(value)}
    if isinstance(value, dict):
        return _map_to_av(value)
    if isinstance(value, list | tuple):
        return {"L": [python_to_av(item) for item in value]}
    if isinstance(value, uuid.UUID):
        return {"S": str(value)}
    if isinstance(value, dt.datetime):
        return {"S": format_datetime(value)}
    raise FieldValueError(f"Cannot store a value of type {type(value).__name__}.")


def _n_size(text: str) -> int:
    return len(text.lstrip("-").replace(".", "")) // 2 + 2


# Bytes DynamoDB counts for each kind of attribute value (names excluded).
_SIZES: dict[str, Any] = {
    "S": lambda v: len(v.encode("utf-8", "surrogatepass")),
    "N": _n_size,
    "BOOL": lambda v: 1,
    "NULL": lambda v: 1,
    "B": len,
    "M": lambda v: 3 + sum(len(k.encode("utf-8", "surrogatepass")) + 1 + av_size(i) for k, i in v.items()),
    "L": lambda v: 3 + sum(1 + av_size(i) for i in v),
    "SS": lambda v: sum(len(s.encode("utf-8", "surrogatepass")) for s in v),
    "NS": lambda v: sum(_n_size(n) for n in v),
    "BS": lambda v: sum(len(b) for b in v),
}


def av_size(av: dict) -> int:
    """Return the bytes DynamoDB counts for an attribute value (names excluded)."""
    ((kind, value),) = av.items()
    size = _SIZES.get(kind)
    return size(value) if size is not None else 0


def item_size(item: dict) -> tuple[int, str | None]:
    """Return (bytes DynamoDB counts for the item, the name of its largest attribute)."""
    total, largest, largest_size = 0, None, -1
    for name, av in item.items():
        size = len(name.encode("utf-8", "surrogatepass")) + av_size(av)
        total += size
        if size > largest_size:
            largest, largest_size = name, size
    return total, largest


_DECODERS: dict[str, Any] = {
    "S": lambda v: v,
    "N": n_to_number,
    "BOOL": lambda v: v,
    "NULL": lambda v: None,
    "B": lambda v: v,
    "M": lambda v: {key: av_to_python(item) for key, item in v.items()},
    "L": lambda v: [av_to_python(item) for item in v],
    "SS": set,
    "NS": lambda v: {n_to_number(n) for n in v},
    "BS": set,
}


def av_to_python(av: dict) -> Any:
    """Convert a DynamoDB attribute value to plain Python (numbers as int/float)."""
    ((kind, value),) = av.items()
    decode = _DECODERS.get(kind)
    if decode is None:
        raise FieldValueError(f"Unknown DynamoDB type {kind}.")
    return decode(value)
