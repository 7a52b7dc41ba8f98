"""Container field types: JSON maps and lists (M / L), never index keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..codec import FieldValueError, av_to_python, python_to_av
from .base import Field


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
