"""Request and response schemas derived from a DynamoModel's field declarations, on pydantic v2.

A :class:`ModelSchema` says which fields of a model a client reads and which it
may write; every rule on a value comes from the field declaration itself, once:

=========================  =====================================  ===============================
declaration                JSON Schema (OpenAPI 3.1)              checked on input by
=========================  =====================================  ===============================
field type                 type, format (uuid, date-time)         pydantic (JSON types, strict)
nullable=False             not ``null``                           pydantic
no default, not nullable   ``required`` (create)                  pydantic
max_length                 maxLength                              the field's ``clean()``
choices                    enum                                   the field's ``clean()``
RegexValidator             pattern (``\\Z`` written ``$``)         the field's ``clean()``
EmailValidator             pattern (its ASCII addresses)          the field's ``clean()``
URLValidator               format: uri                            the field's ``clean()``
Min/Max(Length)Validator   minimum, maximum, minLength, ...       the field's ``clean()``
any other validator        its ``json_schema`` attribute (a dict  the field's ``clean()``
                           merged in), if it has one
primary key, auto fields   readOnly, in the read schema only      refused on input ("read-only")
=========================  =====================================  ===============================

The value checks run through the field's own ``clean()`` (a pydantic
``AfterValidator``), so an API refuses a value with the very message
``full_clean()`` gives; pydantic checks the shape (JSON types, required and
unknown fields) and writes the JSON Schema. Its errors are mapped to one
``ValidationError`` whose ``message_dict`` names each field.

Responses: :meth:`ModelSchema.dump` takes an instance's readable fields into
a dict, and :func:`to_json` (or :func:`to_jsonable` for ``json.dumps``)
renders any such payload with pydantic-core
(datetimes as RFC 3339 in UTC, ``Z``).

pydantic is optional for the library: only this module imports it.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any

from django.core import validators as django_validators
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError

from .codec import FieldValueError
from .exceptions import ValidationError
from .fields import (
    NOT_PROVIDED,
    BooleanField,
    CharField,
    DateTimeField,
    DecimalField,
    Field,
    FloatField,
    IntegerField,
    JSONField,
    ListField,
    TTLField,
    UUIDField,
)

try:
    from typing import NotRequired, Required  # pydantic needs this TypedDict before 3.12

    import pydantic_core
    from pydantic import AfterValidator, ConfigDict, Strict, TypeAdapter
    from pydantic import Field as SchemaField
    from pydantic import ValidationError as PydanticValidationError
    from pydantic.json_schema import JsonSchemaMode
    from typing_extensions import TypedDict
except ImportError as exc:  # pragma: no cover - exercised by tests/library/test_schemas.py in a subprocess
    raise ImportError("dynamo_backend.schemas needs pydantic 2: pip install 'pydantic>=2.6,<3'") from exc

__all__ = [
    "READ_ONLY",
    "UNKNOWN",
    "REQUIRED",
    "NOT_NULL",
    "ModelSchema",
    "field_json_schema",
    "json_schemas",
    "to_json",
    "to_jsonable",
]

READ_ONLY = "This field is read-only."
UNKNOWN = "Unknown field."
REQUIRED = "This field is required."
NOT_NULL = "This field cannot be null."  # the words of Field.validate


# --- one field -> JSON Schema keywords -------------------------------------------------------

# The ASCII addresses Django's EmailValidator takes: its dot-atom user part, then labels of 1 to
# 63 letters, digits and inner hyphens, then a top-level label of 2 to 63 letters (or xn--).
# It also takes quoted user parts, IDN and literal domains, which this leaves out: every address
# the pattern admits is accepted (tests/library/test_schemas.py checks it with Hypothesis).
EMAIL_PATTERN = (
    r"^[-!#$%&'*+/=?^_`{}|~0-9A-Za-z]+(\.[-!#$%&'*+/=?^_`{}|~0-9A-Za-z]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,63}|[Xx][Nn]--[A-Za-z0-9]{1,59})$"
)


def ecma_pattern(pattern: str) -> str | None:
    """A Python regex as a JSON Schema pattern, or None when it cannot be said the same way.

    ``\\A`` / ``\\Z`` become ``^`` / ``$``; inline flags, named groups and
    look-behinds have no ECMA-262 spelling every validator reads alike.
    """
    if re.search(r"\(\?[aiLmsux]|\(\?P|\(\?<[=!]", pattern):
        return None
    return pattern.replace(r"\A", "^").replace(r"\Z", "$")


def validator_json_schema(validator: Callable[[Any], None]) -> dict[str, Any]:
    """The JSON Schema keywords a validator stands for ({} when none can say it)."""
    declared = getattr(validator, "json_schema", None)
    if isinstance(declared, Mapping):
        return dict(declared)
    if isinstance(validator, django_validators.EmailValidator):
        # No ``format: email``: validators of that format take addresses Django refuses ("0@0.a") and
        # refuse some it takes (an xn-- label that is not valid punycode); the pattern is exact.
        return {"pattern": EMAIL_PATTERN}
    if isinstance(validator, django_validators.URLValidator):
        return {"format": "uri"}
    if isinstance(validator, django_validators.RegexValidator):
        pattern = ecma_pattern(validator.regex.pattern)
        if pattern is None or validator.regex.flags & ~re.UNICODE:
            return {}
        return {"not": {"pattern": pattern}} if validator.inverse_match else {"pattern": pattern}
    bounds = {
        django_validators.MaxLengthValidator: "maxLength",
        django_validators.MinLengthValidator: "minLength",
        django_validators.MaxValueValidator: "maximum",
        django_validators.MinValueValidator: "minimum",
    }
    limit = getattr(validator, "limit_value", None)
    for kind, keyword in bounds.items():
        if type(validator) is kind and not callable(limit):
            return {keyword: limit}
    return {}


def _anchored(pattern: str) -> bool:
    return pattern.startswith("^") and pattern.endswith("$")


def _merge(schema: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Add keywords; a second ``pattern`` (a string may need to match several) goes to ``allOf``.

    An anchored pattern (the whole string) leads: generators build strings from
    ``pattern`` and filter by the others, and a whole-string pattern usually
    implies a loose one (``\\S``, not blank), never the other way round.
    """
    for key, value in extra.items():
        if key == "pattern" and "pattern" in schema and schema["pattern"] != value:
            if _anchored(value) and not _anchored(schema["pattern"]):
                schema["pattern"], value = value, schema["pattern"]
            schema.setdefault("allOf", []).append({"pattern": value})
        elif key == "items" and isinstance(schema.get("items"), dict):
            _merge(schema["items"], value)
        else:
            schema[key] = value


def field_json_schema(field: Field) -> dict[str, Any]:
    """The keywords a field's declaration adds to its type's schema (maxLength, enum, pattern, format...)."""
    schema: dict[str, Any] = {}
    if isinstance(field, UUIDField):
        schema["format"] = "uuid"
    elif isinstance(field, CharField) and field.max_length is not None:
        schema["maxLength"] = field.max_length
    if isinstance(field, DecimalField):
        if field.max_digits is not None:
            schema["x-max-digits"] = field.max_digits
        if field.decimal_places is not None:
            schema["x-decimal-places"] = field.decimal_places
    if isinstance(field, ListField):
        schema["items"] = field_json_schema(field.item_field) if field.item_field is not None else {}
    if field.choices is not None:
        schema["enum"] = [*field.choices, *([None] if field.nullable else [])]
    for validator in field.validators:
        _merge(schema, validator_json_schema(validator))
    return schema


# --- one field -> a pydantic annotation --------------------------------------------------------


def _base_type(field: Field, *, output: bool) -> Any:
    """The JSON value type a field takes (input) or gives (output)."""
    if isinstance(field, BooleanField):
        return Annotated[bool, Strict()]
    if isinstance(field, IntegerField):
        return Annotated[int, Strict()]
    if isinstance(field, FloatField):
        return Annotated[float, Strict()]
    if isinstance(field, DecimalField):
        return decimal.Decimal
    if isinstance(field, DateTimeField | TTLField):
        # Input: an ISO-8601 string the field parses itself; output: the datetime.
        return (
            dt.datetime if output else Annotated[str, Strict(), SchemaField(json_schema_extra={"format": "date-time"})]
        )
    if isinstance(field, CharField):  # UUIDField too: a string the field canonicalises
        return Annotated[str, Strict()]
    if isinstance(field, ListField):
        if field.item_field is not None:
            return Annotated[list[_base_type(field.item_field, output=output)], Strict()]  # type: ignore[misc]
        return Annotated[list[Any], Strict()]
    if isinstance(field, JSONField):
        return Any
    return Any


def _cleaner(field: Field) -> Callable[[Any], Any]:
    """The field's own ``clean()`` as a pydantic validator: same checks, same messages as full_clean()."""

    def clean(value: Any) -> Any:
        try:
            return field.clean(value)
        except FieldValueError as error:
            message = str(error)
        except DjangoValidationError as error:
            message = " ".join(error.messages)
        raise pydantic_core.PydanticCustomError("field_invalid", "{message}", {"message": message})

    return clean


def field_annotation(field: Field, *, output: bool = False, nullable: bool | None = None) -> Any:
    """A pydantic annotation for one field: its type, its JSON Schema keywords, and (input) its clean()."""
    annotation = _base_type(field, output=output)
    if field.nullable if nullable is None else nullable:
        annotation = annotation | None
    extra = field_json_schema(field)
    if extra:
        annotation = Annotated[annotation, SchemaField(json_schema_extra=extra)]
    if not output:
        annotation = Annotated[annotation, AfterValidator(_cleaner(field))]
    return annotation


def _json_default(field: Field) -> Any:
    """A constant default to show in the schema (NOT_PROVIDED for none or a callable one)."""
    default = field.default
    if default is NOT_PROVIDED or callable(default):
        return NOT_PROVIDED
    return default


def _typed_dict(name: str, items: dict[str, Any], *, config: ConfigDict) -> type:
    # The functional form: the keys are only known at run time.
    cls = TypedDict(name, items)  # type: ignore[misc]
    cls.__pydantic_config__ = config  # type: ignore[attr-defined]
    return cls


def _is_auto(field: Field) -> bool:
    return bool(getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False))


class ModelSchema:
    """The request and response schemas of one model, derived from its fields.

    ``writable``: the fields a client may send (default: every field but the
    primary key and those set automatically). ``read_only``: the fields it
    only reads (default: the primary key and the automatic ones). ``extra``:
    computed properties a response adds (name -> annotation: a type, or
    another schema's ``read_type``), read-only too. ``optional``: properties a
    response may leave out. ``nullable``: properties a response may give as
    null although the field may not be (a reference whose target is gone).
    ``descriptions``: a sentence for a property. ``name``: the schema's name
    (default: the model's); ``<name>Create`` and ``<name>Update`` name the
    request bodies.
    """

    def __init__(
        self,
        model: Any,
        *,
        writable: Sequence[str] | None = None,
        read_only: Iterable[str] | None = None,
        extra: Mapping[str, Any] | None = None,
        optional: Iterable[str] = (),
        nullable: Iterable[str] = (),
        descriptions: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> None:
        model_fields: dict[str, Field] = model._meta.fields
        automatic = [n for n, f in model_fields.items() if f.primary_key or _is_auto(f)]
        self.model = model
        self.name = name or model.__name__
        self.writable = tuple(writable if writable is not None else [n for n in model_fields if n not in automatic])
        self.extra = dict(extra or {})
        read_only = set(read_only if read_only is not None else automatic) - set(self.extra)
        unknown = (set(self.writable) | read_only) - set(model_fields)
        if unknown:
            raise ValueError(f"{model.__name__} has no field(s) {sorted(unknown)}")
        # The read schema's fields, in the model's order.
        self.fields = tuple(n for n in model_fields if n in read_only or n in self.writable)
        self.read_only = frozenset([*read_only, *self.extra])
        self.optional = frozenset(optional)
        self.nullable = frozenset(nullable)
        self.descriptions = dict(descriptions or {})
        self.create_type = self._request_type(partial=False)
        self.update_type = self._request_type(partial=True)
        self.read_type = self._read_type()
        self._create: TypeAdapter[dict[str, Any]] = TypeAdapter(self.create_type)
        self._update: TypeAdapter[dict[str, Any]] = TypeAdapter(self.update_type)
        self._read: TypeAdapter[dict[str, Any]] = TypeAdapter(self.read_type)

    def __repr__(self) -> str:
        return f"<ModelSchema {self.name}>"

    # -- the types ----------------------------------------------------------------------
    def required(self) -> list[str]:
        """Writable fields a create must give: not nullable, and no default to fall back on."""
        fields = self.model._meta.fields
        return [n for n in self.writable if not fields[n].nullable and fields[n].default is NOT_PROVIDED]

    def _request_type(self, *, partial: bool) -> type:
        fields = self.model._meta.fields
        required = set() if partial else set(self.required())
        items: dict[str, Any] = {}
        for name in self.writable:
            annotation = field_annotation(fields[name])
            default = _json_default(fields[name])
            if not partial and default is not NOT_PROVIDED:
                annotation = Annotated[annotation, SchemaField(json_schema_extra={"default": default})]
            annotation = self._described(name, annotation)
            items[name] = Required[annotation] if name in required else NotRequired[annotation]
        suffix = "Update" if partial else "Create"
        return _typed_dict(f"{self.name}{suffix}", items, config=ConfigDict(extra="forbid"))

    def _read_type(self) -> type:
        fields = self.model._meta.fields
        items: dict[str, Any] = {}
        for name in self.fields:
            nullable = True if name in self.nullable else None
            annotation = field_annotation(fields[name], output=True, nullable=nullable)
            items[name] = self._read_item(name, annotation)
        for name, annotation in self.extra.items():
            items[name] = self._read_item(name, annotation)
        return _typed_dict(self.name, items, config=ConfigDict(extra="forbid"))

    def _described(self, name: str, annotation: Any) -> Any:
        if name in self.descriptions:
            return Annotated[annotation, SchemaField(description=self.descriptions[name])]
        return annotation

    def _read_item(self, name: str, annotation: Any) -> Any:
        if name in self.read_only:
            annotation = Annotated[annotation, SchemaField(json_schema_extra={"readOnly": True})]
        annotation = self._described(name, annotation)
        return NotRequired[annotation] if name in self.optional else Required[annotation]

    def adapters(self) -> list[tuple[tuple[str, str], JsonSchemaMode, TypeAdapter[Any]]]:
        """(key, mode, adapter) of the read, create and update schemas, for ``TypeAdapter.json_schemas``."""
        return [
            ((self.name, "read"), "serialization", self._read),
            ((self.name, "create"), "validation", self._create),
            ((self.name, "update"), "validation", self._update),
        ]

    # -- requests -----------------------------------------------------------------------
    def validate(self, data: Any, *, partial: bool = False) -> dict[str, Any]:
        """The given writable fields of ``data``, cleaned as the model cleans them; or ValidationError.

        ``partial`` (an update) checks only what is given; otherwise the
        required fields must be there too. Every problem is reported at once:
        unknown and read-only fields, missing ones, and each field's own.
        """
        adapter = self._update if partial else self._create
        try:
            return adapter.validate_python(data)
        except PydanticValidationError as exc:
            raise ValidationError(self.messages(exc.errors(include_url=False))) from None

    def messages(self, errors: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
        """pydantic's error list as ``{field: [message, ...]}``, in the words of full_clean()."""
        out: dict[str, list[str]] = {}
        for error in errors:
            loc = error.get("loc") or ()
            name = str(loc[0]) if loc else NON_FIELD_ERRORS
            kind = error.get("type", "")
            if kind == "extra_forbidden":
                message = READ_ONLY if name in self.read_only else UNKNOWN
            elif kind == "missing":
                message = REQUIRED
            elif len(loc) == 1 and error.get("input", ...) is None:
                message = NOT_NULL
            elif kind == "field_invalid":
                message = str((error.get("ctx") or {}).get("message") or error.get("msg"))
            else:
                message = f"{error.get('msg', 'Invalid value')}."
            messages = out.setdefault(name, [])
            if message not in messages:
                messages.append(message)
        return out

    # -- responses ----------------------------------------------------------------------
    def dump(self, obj: Any, **values: Any) -> dict[str, Any]:
        """The readable fields of ``obj`` as a dict, then ``values`` (computed properties, overrides)."""
        data = {name: getattr(obj, name) for name in self.fields}
        data.update(values)
        return data

    def check(self, payload: Any) -> dict[str, Any]:
        """Validate a response payload against the read schema (tests use it; responses skip it)."""
        return self._read.validate_python(payload)


def to_json(payload: Any) -> bytes:
    """Render a response payload (dicts, lists, datetimes, Decimals, UUIDs) as compact JSON bytes."""
    return pydantic_core.to_json(payload)


def to_jsonable(payload: Any) -> Any:
    """The payload with only JSON types left (datetimes as RFC 3339 strings...), for ``json.dumps``."""
    return pydantic_core.to_jsonable_python(payload)


def json_schemas(
    *schemas: ModelSchema, ref_template: str = "#/components/schemas/{model}"
) -> tuple[dict[tuple[tuple[str, str], JsonSchemaMode], Any], dict[str, Any]]:
    """The references to each schema's read/create/update types, and the definitions they point at."""
    inputs = [item for schema in schemas for item in schema.adapters()]
    refs, definitions = TypeAdapter.json_schemas(inputs, ref_template=ref_template)
    return refs, definitions.get("$defs", {})
