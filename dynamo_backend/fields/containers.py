"""Container field types: JSON maps and lists (M / L) and sets (SS / NS / BS), never index keys."""

from __future__ import annotations

import decimal
from collections.abc import Callable, Iterable
from typing import Any

from ..codec import FieldValueError, av_to_python, n_to_number, number_to_n, python_to_av
from .base import Field
from .scalars import BinaryField, CharField


class JSONField(Field):
    """Nested maps and lists (M / L); floats keep their shortest repr."""

    dynamo_type = "M"
    indexable = False

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


class _NumberItem(Field):
    """An element of ``SetField(of="number")``: int, float or Decimal in; int or float out (as JSONField)."""

    dynamo_type = "N"

    def to_python(self, value: Any) -> Any:
        number_to_n(value)  # raises FieldValueError for booleans, NaN, Infinity, too many digits
        return value

    def _to_av(self, value: Any) -> dict:
        return {"N": number_to_n(value)}

    def from_dynamo(self, av: dict) -> Any:
        return n_to_number(av["N"])


_SET_ITEMS: dict[str, Callable[[], Field]] = {"string": CharField, "number": _NumberItem, "binary": BinaryField}
_CONTEXT = decimal.Context(prec=38)


def _canonical_n(text: str) -> str:
    """Return one spelling per number ("1.50" and "1.5" are one set element; DynamoDB normalises, moto does not)."""
    value = decimal.Decimal(text)
    if value == value.to_integral_value():
        return str(int(value))
    return format(_CONTEXT.normalize(value), "f")


class SetField(Field):
    """A set of strings, numbers or bytes (SS / NS / BS), read back as a Python ``set``.

    ``SetField(of="string" | "number" | "binary")`` or ``SetField(CharField())``,
    ``SetField(IntegerField())``, ``SetField(DecimalField())``... (the item field
    converts and validates each element). DynamoDB has no empty set: an empty set
    is stored as an absent attribute and reads back as None; ``nullable=False``
    means "at least one element". ``choices`` apply to each element.
    """

    indexable = False
    lookups = ("exact", "contains", "isnull")

    def __init__(self, item_field: Field | None = None, *, of: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if (item_field is None) == (of is None):
            raise TypeError("SetField takes an item field or of='string' | 'number' | 'binary' (one of the two)")
        if of is not None:
            if of not in _SET_ITEMS:
                raise TypeError(f"SetField(of=...) takes 'string', 'number' or 'binary', not {of!r}")
            item_field = _SET_ITEMS[of]()
        assert item_field is not None
        if item_field.dynamo_type not in ("S", "N", "B"):
            raise TypeError(
                f"SetField holds strings, numbers or bytes (SS / NS / BS); {type(item_field).__name__} "
                f"is stored as {item_field.dynamo_type}"
            )
        self.item_field = item_field
        self.dynamo_type = item_field.dynamo_type + "S"

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str | bytes | dict) or not isinstance(value, Iterable):
            raise FieldValueError(f"Expected a set, got {type(value).__name__}.")
        elements = set()
        for element in value:
            if element is None:
                raise FieldValueError("A set cannot hold None.")
            elements.add(self.item_field.clean(element))
        return elements

    def clean(self, value: Any) -> Any:
        if value is not None:
            value = self.to_python(value) or None  # an empty set is stored absent
        if value is None and not self.nullable:
            raise FieldValueError("This field needs at least one element (DynamoDB stores no empty set).")
        self.validate(value)
        return value

    def validate(self, value: Any) -> None:
        choices, self.choices = self.choices, None  # choices name allowed elements, not allowed sets
        try:
            super().validate(value)
        finally:
            self.choices = choices
        if value is not None and choices is not None:
            for element in value:
                if element not in choices:
                    raise FieldValueError(f"Value {element!r} is not a valid choice.")

    def to_dynamo(self, value: Any) -> dict | None:
        if not value:
            return None
        return self._to_av(value)

    def element_av(self, element: Any) -> dict:
        """Return the attribute value of one element (numbers spelled canonically)."""
        av = self.item_field._to_av(self.item_field.to_python(element))
        return {"N": _canonical_n(av["N"])} if "N" in av else av

    def _to_av(self, value: Any) -> dict:
        kind = self.item_field.dynamo_type
        return {self.dynamo_type: sorted({self.element_av(element)[kind] for element in value})}

    def value_to_av(self, value: Any) -> dict:
        if isinstance(value, set | frozenset | list | tuple):
            return self._to_av(self.to_python(value))
        return self.element_av(value)  # one element, as in tags__contains="x"

    def from_dynamo(self, av: dict) -> Any:
        kind, decode = self.item_field.dynamo_type, self.item_field.from_dynamo
        return {decode({kind: element}) for element in av[self.dynamo_type]}

    def stored_equal(self, a: dict | None, b: dict | None) -> bool:
        if a is None or b is None:
            return a is b
        if self.dynamo_type == "NS":
            return {_canonical_n(n) for n in a.get("NS", ())} == {_canonical_n(n) for n in b.get("NS", ())}
        return a.keys() == b.keys() and set(a[self.dynamo_type]) == set(b[self.dynamo_type])
