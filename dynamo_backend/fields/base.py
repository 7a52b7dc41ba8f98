"""The Field base class: options, validation, and conversion hooks every field type overrides."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.core import exceptions as django_exceptions
from django.db.models import CASCADE, DO_NOTHING, PROTECT, SET_NULL

from ..codec import FieldValueError, av_to_python
from ..exceptions import FieldError

NOT_PROVIDED = object()


def _check_on_delete(on_delete: Any, references: Any, nullable: bool) -> Any:
    """Return Django's on_delete handler for a reference (DO_NOTHING when not given), or raise."""
    if on_delete is None:
        return DO_NOTHING
    if references is None:
        raise TypeError("on_delete= needs references= (it says what happens when the referenced item is deleted)")
    if on_delete not in (CASCADE, PROTECT, SET_NULL, DO_NOTHING):
        raise TypeError(f"on_delete must be CASCADE, PROTECT, SET_NULL or DO_NOTHING, got {on_delete!r}")
    if on_delete is SET_NULL and not nullable:
        raise TypeError("on_delete=SET_NULL needs nullable=True")
    return on_delete


def _normalise_choices(choices: Iterable[Any] | None) -> tuple | None:
    """Return the allowed values of ``choices`` (plain values or Django's (value, label) pairs)."""
    if choices is None:
        return None
    values: list[Any] = []
    for choice in choices:
        if isinstance(choice, list | tuple) and len(choice) == 2:
            label_or_group = choice[1]
            if isinstance(label_or_group, list | tuple):  # a named group of pairs
                values.extend(value for value, _label in label_or_group)
                continue
            values.append(choice[0])
        else:
            values.append(choice)
    return tuple(values)


class Field:
    """Base class of all model fields."""

    dynamo_type = "S"
    indexable = True
    claimable = False  # unique=True needs a string value to name its claim
    lookups: tuple[str, ...] | None = None  # the lookups filters may use; None: every lookup the type allows

    @property
    def ordered(self) -> bool:
        """Return whether DynamoDB compares stored values with <, >, BETWEEN (S, N and B types)."""
        return self.dynamo_type in ("S", "N", "B")

    creation_counter = 0

    def __init__(
        self,
        *,
        nullable: bool = True,
        default: Any = NOT_PROVIDED,
        index: bool = False,
        unique: bool = False,
        references: Any = None,
        related_name: str | None = None,
        on_delete: Any = None,
        primary_key: bool = False,
        choices: Iterable[Any] | None = None,
        validators: Iterable[Callable[[Any], None]] = (),
    ) -> None:
        self.nullable = nullable
        self.default = default
        self.index = index
        self.is_index_key = index  # also set for the keys of Meta.indexes (Options.finalize)
        self.unique = unique
        self.references = references
        self.related_name = related_name
        self.on_delete = _check_on_delete(on_delete, references, nullable)
        self.primary_key = primary_key
        self.choices = _normalise_choices(choices)
        self.validators = list(validators)
        for validator in self.validators:
            if not callable(validator):
                raise TypeError(f"validators must be callables, got {validator!r}")
        self.name: str = ""
        self.model: Any = None
        self.creation_counter = Field.creation_counter
        Field.creation_counter += 1

    def __repr__(self) -> str:
        label = f"{self.model.__name__}.{self.name}" if self.model else self.name
        return f"<{type(self).__name__}: {label}>"

    # -- class set-up ----------------------------------------------------
    def contribute_to_class(self, cls: Any, name: str) -> None:
        """Install the field on its model."""
        self.name = name
        self.model = cls
        if self.index and not self.indexable:
            raise FieldError(
                f"{cls.__name__}.{name}: index=True is not allowed on {type(self).__name__}. "
                "Hint: GSI keys must be top-level S, N or B attributes; index a CharField, "
                "IntegerField, DecimalField, UUIDField, DateTimeField or BinaryField instead."
            )
        if self.unique and not self.claimable:
            raise FieldError(f"{cls.__name__}.{name}: unique=True is supported on CharField and UUIDField only.")
        cls._meta.add_field(self)

    # -- values -------------------------------------------------------------
    def get_default(self) -> Any:
        if self.default is NOT_PROVIDED:
            return None
        return self.default() if callable(self.default) else self.default

    def to_python(self, value: Any) -> Any:
        """Coerce ``value`` to this field's Python type or raise FieldValueError."""
        return value

    def validate(self, value: Any) -> None:
        """Check a coerced value against nullability, choices and validators; raise FieldValueError."""
        if value is None:
            if not self.nullable:
                raise FieldValueError("This field cannot be null.")
            return
        if self.choices is not None and value not in self.choices:
            raise FieldValueError(f"Value {value!r} is not a valid choice.")
        for validator in self.validators:
            try:
                validator(value)
            except django_exceptions.ValidationError as error:
                raise FieldValueError(" ".join(error.messages)) from None

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
        return self.dynamo_type if self.dynamo_type in ("N", "B") else "S"

    def stored_equal(self, a: dict | None, b: dict | None) -> bool:
        """Return whether two stored attribute values (None: absent) hold the same value."""
        return a == b
