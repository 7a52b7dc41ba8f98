"""ModelBase and DynamoModel: fields, validation, and the model's entry points to writes.py."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from django.core import exceptions as django_exceptions
from django.db.models import signals

from . import loading, writes
from .codec import FieldValueError
from .exceptions import FieldError, ValidationError
from .fields import Field, UUIDField
from .keys import CompositePrimaryKey
from .manager import DynamoManager
from .options import Options
from .query_writes import DATABASE_ALIAS
from .relations import RelatedDescriptor

__all__ = ["DynamoModel", "ModelBase", "ModelState"]


class ModelState:
    """Per-instance bookkeeping: new or loaded, the stored item for change tracking, deferred fields."""

    __slots__ = ("adding", "stored", "deferred", "dirty")

    def __init__(self, adding: bool = True, stored: dict | None = None, deferred: frozenset = frozenset()) -> None:
        self.adding = adding
        self.stored = stored or {}
        self.deferred = deferred
        self.dirty: set[str] = set()  # fields assigned since the item was loaded or saved


class ModelBase(type):
    """Metaclass: collects fields, builds _meta, exceptions and the default manager."""

    def __new__(mcs, name: str, bases: tuple, attrs: dict, **kwargs: Any) -> type:
        parents = [b for b in bases if isinstance(b, ModelBase)]
        if not parents:
            return super().__new__(mcs, name, bases, attrs, **kwargs)
        meta = attrs.pop("Meta", None)
        composite = attrs.pop("pk") if isinstance(attrs.get("pk"), CompositePrimaryKey) else None
        declared = {k: v for k, v in attrs.items() if isinstance(v, Field)}
        for key in declared:
            attrs.pop(key)
        cls = super().__new__(mcs, name, bases, attrs, **kwargs)
        opts = Options(meta, name, attrs.get("__module__", ""))
        cls._meta = opts  # type: ignore[attr-defined]
        if composite is not None:
            opts.composite_key = composite.field_names
            cls.pk = CompositePk(composite.field_names)  # type: ignore[attr-defined]
        for fname, field in _collect_fields(cls, name, declared, composite is not None).items():
            field.contribute_to_class(cls, fname)
        opts.finalize(cls)
        _add_exceptions(cls, name, parents, attrs.get("__module__"))
        if not opts.abstract:
            _add_managers_and_relations(cls, opts, attrs)
        return cls


def _collect_fields(cls: type, name: str, declared: dict[str, Field], composite: bool) -> dict[str, Field]:
    """Return the model's fields: inherited copies first, then declared ones, with ``pk`` in front."""
    fields: dict[str, Field] = {}
    for parent in reversed(cls.__mro__[1:]):
        parent_meta = getattr(parent, "_meta", None)
        if isinstance(parent_meta, Options):
            for fname, field in parent_meta.fields.items():
                clone = copy.copy(field)
                clone.model = None
                fields[fname] = clone
    for fname, field in sorted(declared.items(), key=lambda kv: kv[1].creation_counter):
        fields[fname] = field
    if composite:
        if "pk" in fields:
            raise FieldError(f"{name}: 'pk' is the CompositePrimaryKey; it cannot also be a field")
        return fields
    if "pk" not in fields:
        return {"pk": UUIDField(primary_key=True, nullable=False), **fields}
    if not fields["pk"].primary_key:
        raise FieldError(f"{name}: 'pk' is reserved for the primary key")
    return fields


def _add_exceptions(cls: Any, name: str, parents: list, module: str | None) -> None:
    for attr, default in (
        ("DoesNotExist", django_exceptions.ObjectDoesNotExist),
        ("MultipleObjectsReturned", django_exceptions.MultipleObjectsReturned),
    ):
        bases = tuple(getattr(p, attr) for p in parents if hasattr(p, attr) and not getattr(p._meta, "abstract", False))
        setattr(cls, attr, type(attr, bases or (default,), {"__module__": module, "__qualname__": f"{name}.{attr}"}))


def _add_managers_and_relations(cls: Any, opts: Options, attrs: dict) -> None:
    if "objects" not in attrs:
        DynamoManager().contribute_to_class(cls, "objects")
    for key, value in attrs.items():
        if isinstance(value, DynamoManager):
            value.contribute_to_class(cls, key)
    for relation in opts.references:
        if relation not in attrs:
            setattr(cls, relation, RelatedDescriptor(relation))


class CompositePk:
    """``obj.pk`` of a composite-key model: the (partition, sort) pair, as Django's CompositePrimaryKey."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names

    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is None:
            return self
        parts = tuple(instance.__dict__.get(name) for name in self.names)
        return None if any(part is None for part in parts) else parts

    def __set__(self, instance: Any, value: Any) -> None:
        parts = instance._meta.keys.normalize(value)
        for name, part in zip(self.names, parts, strict=True):
            setattr(instance, name, part)


class DynamoModel(metaclass=ModelBase):
    """Base class of DynamoDB-backed models."""

    # Made by ModelBase for every concrete model; declared here so their types are known.
    _meta: ClassVar[Options]
    objects: ClassVar[DynamoManager]
    DoesNotExist: ClassVar[type[django_exceptions.ObjectDoesNotExist]]
    MultipleObjectsReturned: ClassVar[type[django_exceptions.MultipleObjectsReturned]]
    pk: Any  # the primary key field's value (a UUID string unless the model declares pk)
    _state: ModelState

    def __init__(self, **kwargs: Any) -> None:
        meta = self._meta
        if meta.abstract:
            raise TypeError(f"{type(self).__name__} is abstract and cannot be instantiated")
        values = self.__dict__
        if meta.composite_key and "pk" in kwargs:
            kwargs.update(zip(meta.composite_key, meta.keys.normalize(kwargs.pop("pk")), strict=True))
        for relation in meta.references:
            if relation in kwargs:
                setattr(self, relation, kwargs.pop(relation))
        for name, field in meta.fields.items():
            if name in kwargs:
                values[name] = kwargs.pop(name)
            elif name not in values:
                values[name] = field.get_default()
        if kwargs:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
        self._state = ModelState(adding=True)

    # -- construction from storage ----------------------------------------
    @classmethod
    def from_raw(cls, item: dict, *, partial: bool = False) -> DynamoModel:
        """Build a fresh instance from a raw DynamoDB item.

        ``partial``: the item holds only some attributes (a projection); the
        others are deferred and loaded, all at once, when one is first read.
        """
        obj = cls.__new__(cls)
        get = item.get
        if partial:
            values = {name: decode(item[name]) for name, decode in cls._meta.decoders if name in item}
            deferred = frozenset(cls._meta.fields) - values.keys()
            values["_state"] = ModelState(adding=False, stored=item, deferred=deferred)
        else:
            values = {name: (None if (av := get(name)) is None else decode(av)) for name, decode in cls._meta.decoders}
            values["_state"] = ModelState(adding=False, stored=item)
        obj.__dict__ = values
        return obj

    def __setattr__(self, name: str, value: Any) -> None:
        # A field assigned is written by the next save(), even if it equals the (maybe cached) loaded value.
        if name in self._meta.fields and "_state" in self.__dict__:
            self._state.dirty.add(name)
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes missing from __dict__: deferred fields of a partial instance.
        if name.startswith("_") or name not in self._state.deferred:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        self._load_deferred()
        return self.__dict__[name]

    def get_deferred_fields(self) -> set[str]:
        """Return the fields not loaded yet (only() / defer() / values projections), as Django does."""
        return set(self._state.deferred)

    def _load_deferred(self) -> None:
        """Read the whole item (consistently) and fill in the deferred fields; keep loaded ones as they are."""
        model = type(self)
        raw = loading.load_one(model, self.pk, consistent=True)
        if raw is None:
            raise model.DoesNotExist(f"{model.__name__} {self.pk} does not exist")
        fields = self._meta.fields
        for name in self._state.deferred:
            av = raw.get(name)
            self.__dict__[name] = None if av is None else fields[name].from_dynamo(av)
        self._state = ModelState(adding=False, stored=raw)

    @classmethod
    def same_raw(cls, stored: dict, item: dict) -> bool:
        """Return whether two raw items hold the same field values (DynamoDB normalises numbers, so decode)."""
        return bool(cls.from_raw(stored).to_dict() == cls.from_raw(item).to_dict())

    def to_raw(self) -> dict:
        """Return the raw DynamoDB item for the current values."""
        item = {}
        for name, field in self._meta.fields.items():
            av = field.to_dynamo(self.__dict__.get(name))
            if av is not None:
                item[name] = av
        return item

    def to_dict(self, fields: list[str] | None = None) -> dict:
        """Return the field values as a dict."""
        names = fields or list(self._meta.fields)
        return {name: self.__dict__.get(name) for name in names}

    # -- dunder ------------------------------------------------------------
    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.pk}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DynamoModel) or type(other)._meta.label != self._meta.label:
            return NotImplemented
        return self.pk is not None and self.pk == other.pk

    def __hash__(self) -> int:
        if self.pk is None:
            raise TypeError("Model instances without a primary key are unhashable")
        return hash((self._meta.label, self.pk))

    # -- validation --------------------------------------------------------
    def clean(self) -> None:
        """Hook for cross-field validation; raise ValidationError."""

    def clean_fields(self, exclude: list[str] | None = None) -> None:
        """Coerce and validate every field, collecting all errors."""
        errors: dict[str, list[str]] = {}
        for name, field in self._meta.fields.items():
            if exclude and name in exclude:
                continue
            try:
                self.__dict__[name] = field.clean(self.__dict__.get(name))
            except FieldValueError as error:
                errors.setdefault(name, []).append(str(error))
            except ValidationError as error:
                errors.setdefault(name, []).extend(error.messages)
        if errors:
            raise ValidationError(errors)

    def full_clean(self, exclude: list[str] | None = None) -> None:
        """Validate all fields and the model; raise one ValidationError naming every bad field."""
        errors: dict[str, list[str]] = {}
        try:
            self.clean_fields(exclude)
        except ValidationError as error:
            errors.update(error.message_dict)
        try:
            self.clean()
        except django_exceptions.ValidationError as error:
            for key, messages in (
                error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}
            ).items():
                errors.setdefault(key, []).extend(messages)
        if errors:
            raise ValidationError(errors)

    # -- writes ------------------------------------------------------------
    def check_item_size(self) -> None:
        """Refuse an item over DynamoDB's 400 KB limit, naming its largest field."""
        writes.check_item_size(self)

    def save(self, update_fields: list[str] | None = None, *, condition: Any = None) -> None:
        """Validate and write: a conditional insert when new, else an update of the changed fields.

        ``condition`` (a Q) makes the update happen only if the stored item
        matches it; otherwise ConditionNotMet is raised and nothing is written.
        Sends Django's pre_save and post_save signals (``created``, ``update_fields``, ``raw=False``).
        """
        model, created = type(self), self._state.adding
        if created and condition is not None:
            raise ValueError(f"{model.__name__}: save(condition=...) needs a stored item; a new one is only created")
        if self._state.deferred:
            self._load_deferred()
        fields = frozenset(update_fields) if update_fields is not None else None
        signals.pre_save.send(sender=model, instance=self, raw=False, using=DATABASE_ALIAS, update_fields=fields)
        if created:
            writes.insert(self)
        else:
            writes.update(self, update_fields, condition)
        signals.post_save.send(
            sender=model, instance=self, created=created, update_fields=fields, raw=False, using=DATABASE_ALIAS
        )

    def delete(self, *, condition: Any = None) -> tuple[int, dict[str, int]]:
        """Delete the item and release its unique values; return Django's (count, per-model) pair.

        ``condition`` (a Q): delete only if the stored item matches it, else raise
        ConditionNotMet. Sends Django's pre_delete and post_delete signals.
        """
        model = type(self)
        signals.pre_delete.send(sender=model, instance=self, using=DATABASE_ALIAS, origin=self)
        deleted = writes.delete(self, condition)
        self._state = ModelState(adding=True)
        signals.post_delete.send(sender=model, instance=self, using=DATABASE_ALIAS, origin=self)
        return deleted, {self._meta.label: deleted}

    def _set_stored(self, item: dict) -> None:
        """Record that ``item`` is what DynamoDB now holds for this instance."""
        self._state = ModelState(adding=False, stored=item)

    def _refresh_from_item(self, item: dict) -> None:
        for name, field in self._meta.fields.items():
            av = item.get(name)
            self.__dict__[name] = None if av is None else field.from_dynamo(av)
        self._state = ModelState(adding=False, stored=item)

    def refresh_from_db(self) -> None:
        """Reload every field from DynamoDB (a strongly consistent read)."""
        raw = loading.load_one(type(self), self.pk, consistent=True)
        if raw is None:
            raise type(self).DoesNotExist(f"{type(self).__name__} {self.pk} does not exist")
        self._refresh_from_item(raw)
        for key in [k for k in self.__dict__ if k.startswith("_rel_")]:
            del self.__dict__[key]
