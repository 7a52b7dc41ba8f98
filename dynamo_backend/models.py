"""ModelBase and DynamoModel: fields, validation, and conditional writes."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from django.core import exceptions as django_exceptions

from . import connection, loading
from .exceptions import (
    ConditionalCheckFailed,
    FieldError,
    ItemAlreadyExists,
    UniqueConstraintError,
    ValidationError,
    VersionConflict,
)
from .expressions import Builder, compile_update
from .fields import MAX_ITEM_BYTES, NOT_PROVIDED, Field, FieldValueError, UUIDField, item_size
from .options import Options

# A claim older than this whose owner does not hold the value is stale (a crash
# between claiming and writing); younger claims may belong to a write in flight.
STALE_CLAIM_SECONDS = 30


class ModelState:
    """Per-instance bookkeeping: new or loaded, and the stored values for change tracking."""

    __slots__ = ("adding", "stored")

    def __init__(self, adding: bool = True, stored: dict | None = None) -> None:
        self.adding = adding
        self.stored = stored or {}


class ModelBase(type):
    """Metaclass: collects fields, builds _meta, exceptions and the default manager."""

    def __new__(mcs, name: str, bases: tuple, attrs: dict, **kwargs: Any) -> type:
        parents = [b for b in bases if isinstance(b, ModelBase)]
        if not parents:
            return super().__new__(mcs, name, bases, attrs, **kwargs)
        meta = attrs.pop("Meta", None)
        declared = {k: v for k, v in attrs.items() if isinstance(v, Field)}
        for key in declared:
            attrs.pop(key)
        cls = super().__new__(mcs, name, bases, attrs, **kwargs)
        opts = Options(meta, name, attrs.get("__module__", ""))
        cls._meta = opts

        fields: dict[str, Field] = {}
        for parent in reversed(cls.__mro__[1:]):
            parent_meta = getattr(parent, "_meta", None)
            if isinstance(parent_meta, Options):
                for fname, field in parent_meta.fields.items():
                    fields[fname] = _copy_field(field)
        for fname, field in sorted(declared.items(), key=lambda kv: kv[1].creation_counter):
            fields[fname] = field
        if "pk" not in fields:
            fields = {"pk": UUIDField(primary_key=True, nullable=False), **fields}
        elif not fields["pk"].primary_key:
            raise FieldError(f"{name}: 'pk' is reserved for the primary key")
        for fname, field in fields.items():
            field.contribute_to_class(cls, fname)
        opts.finalize(cls)

        module = attrs.get("__module__")
        cls.DoesNotExist = type(
            "DoesNotExist",
            _exc_bases(parents, "DoesNotExist", django_exceptions.ObjectDoesNotExist),
            {"__module__": module, "__qualname__": f"{name}.DoesNotExist"},
        )
        cls.MultipleObjectsReturned = type(
            "MultipleObjectsReturned",
            _exc_bases(parents, "MultipleObjectsReturned", django_exceptions.MultipleObjectsReturned),
            {"__module__": module, "__qualname__": f"{name}.MultipleObjectsReturned"},
        )

        from .manager import DynamoManager

        if not opts.abstract:
            if "objects" not in attrs:
                manager = DynamoManager()
                manager.contribute_to_class(cls, "objects")
            for key, value in attrs.items():
                if isinstance(value, DynamoManager):
                    value.contribute_to_class(cls, key)
            for relation in opts.references:
                if relation not in attrs:
                    setattr(cls, relation, RelatedDescriptor(relation))
        return cls


def _exc_bases(parents: list, attr: str, default: type) -> tuple:
    bases = tuple(
        getattr(p, attr)
        for p in parents
        if hasattr(p, attr) and not getattr(p._meta, "abstract", False) and hasattr(p, "_meta")
    )
    return bases or (default,)


def _copy_field(field: Field) -> Field:
    import copy

    clone = copy.copy(field)
    clone.model = None
    return clone


class RelatedDescriptor:
    """``post.author``: the referenced instance, from prefetch or loaded on first access."""

    def __init__(self, relation: str) -> None:
        self.relation = relation
        self.cache_name = f"_rel_{relation}"

    def __get__(self, instance: Any, owner: type) -> Any:
        if instance is None:
            return self
        field_name, _ = owner._meta.references[self.relation]
        key = instance.__dict__.get(field_name)
        cached = instance.__dict__.get(self.cache_name, NOT_PROVIDED)
        if cached is not NOT_PROVIDED and (cached is None or cached.pk == key):
            return cached
        if key is None:
            return None
        target = owner._meta.related_model(self.relation)
        raw = loading.load_one(target, key)
        value = target.from_raw(raw) if raw is not None else None
        instance.__dict__[self.cache_name] = value
        return value

    def __set__(self, instance: Any, value: Any) -> None:
        field_name, _ = type(instance)._meta.references[self.relation]
        instance.__dict__[field_name] = value.pk if value is not None else None
        instance.__dict__[self.cache_name] = value


class DynamoModel(metaclass=ModelBase):
    """Base class of DynamoDB-backed models."""

    _meta: Options
    DoesNotExist: type[django_exceptions.ObjectDoesNotExist]
    MultipleObjectsReturned: type[django_exceptions.MultipleObjectsReturned]

    def __init__(self, **kwargs: Any) -> None:
        meta = self._meta
        if meta.abstract:
            raise TypeError(f"{type(self).__name__} is abstract and cannot be instantiated")
        values = self.__dict__
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
    def from_raw(cls, item: dict) -> DynamoModel:
        """Build a fresh instance from a raw DynamoDB item."""
        obj = cls.__new__(cls)
        get = item.get
        values = {name: (None if (av := get(name)) is None else decode(av)) for name, decode in cls._meta.decoders}
        values["_state"] = ModelState(adding=False, stored=item)
        obj.__dict__ = values
        return obj

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
    def _prepare(self, add: bool) -> None:
        for field in self._meta.fields.values():
            field.pre_save(self, add)
        self.full_clean()
        self.check_item_size()

    def check_item_size(self) -> None:
        """Refuse an item over DynamoDB's 400 KB limit, naming its largest field."""
        size, largest = item_size(self.to_raw())
        if size > MAX_ITEM_BYTES:
            raise ValidationError(
                {
                    largest or "__all__": [
                        f"The item would be {size:,} bytes; DynamoDB's limit is {MAX_ITEM_BYTES:,} "
                        f"(this is its largest field)."
                    ]
                }
            )

    def save(self, update_fields: list[str] | None = None) -> None:
        """Validate and write: a conditional insert when new, else an update of the changed fields."""
        if self._state.adding:
            self._insert()
        else:
            self._update(update_fields)

    def _insert(self) -> None:
        self._prepare(add=True)
        meta = self._meta
        version = meta.version_field
        if version is not None:
            self.__dict__[version.name] = 1
        item = self.to_raw()
        claimed = self._claim_unique(item, previous={})
        mark = loading.write_mark()
        try:
            connection.call(
                "PutItem",
                TableName=meta.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": "pk"},
            )
        except ConditionalCheckFailed as error:
            self._release_unique(claimed)
            raise ItemAlreadyExists(
                f"{type(self).__name__} with pk {self.pk} already exists", code=error.code
            ) from error
        except Exception:
            self._release_unique(claimed)
            raise
        self._state = ModelState(adding=False, stored=item)
        loading.remember(type(self), item, since=mark, write=True)
        loading.table_written(type(self))

    def _update(self, update_fields: list[str] | None) -> None:
        meta = self._meta
        if update_fields is not None:
            unknown = [f for f in update_fields if f not in meta.fields]
            if unknown:
                raise FieldError(f"update_fields: {type(self).__name__} has no field(s) {', '.join(unknown)}")
        self._prepare(add=False)
        item = self.to_raw()
        stored = self._state.stored
        version = meta.version_field
        changes: dict[str, Any] = {}
        for name, field in meta.fields.items():
            if name == "pk" or (version is not None and name == version.name):
                continue
            if update_fields is not None and name not in update_fields:
                auto = getattr(field, "auto_now", False)
                if not auto:
                    continue
            if item.get(name) != stored.get(name):
                changes[name] = self.__dict__.get(name)
        if not changes and version is None:
            return
        builder = Builder()
        conditions = [f"attribute_exists({builder.name('pk')})"]
        if version is not None:
            current = self.__dict__.get(version.name)
            if current is None:
                conditions.append(f"attribute_not_exists({builder.name(version.name)})")
            else:
                conditions.append(f"{builder.name(version.name)} = {builder.value({'N': str(current)})}")
            changes[version.name] = (current or 0) + 1
        update = compile_update(type(self), changes, builder)
        claimed = self._claim_unique({k: item.get(k) for k in changes if k in item}, previous=stored)
        mark = loading.write_mark()
        try:
            response = connection.call(
                "UpdateItem",
                TableName=meta.table_name,
                Key={"pk": {"S": self.pk}},
                UpdateExpression=update,
                ConditionExpression=" AND ".join(conditions),
                ReturnValues="ALL_NEW",
                **builder.params(),
            )
        except ConditionalCheckFailed as error:
            self._release_unique(claimed)
            loading.forget(type(self), self.pk)
            if version is not None:
                raise VersionConflict(
                    f"{type(self).__name__} {self.pk} was changed or deleted since it was loaded "
                    f"(version {self.__dict__.get(version.name)})",
                    code=error.code,
                ) from error
            raise type(self).DoesNotExist(
                f"{type(self).__name__} {self.pk} no longer exists; nothing was written"
            ) from error
        except Exception:
            self._release_unique(claimed)
            raise
        new_item = response.get("Attributes") or item
        self._release_unique(
            [
                (name, stored[name]["S"])
                for name in changes
                if meta.fields[name].unique and name in stored and stored.get(name) != new_item.get(name)
            ],
            owner=self.pk,
        )
        self._refresh_from_item(new_item)
        loading.remember(type(self), new_item, since=mark, write=True)
        loading.table_written(type(self))

    def _refresh_from_item(self, item: dict) -> None:
        for name, field in self._meta.fields.items():
            av = item.get(name)
            self.__dict__[name] = None if av is None else field.from_dynamo(av)
        self._state = ModelState(adding=False, stored=item)

    def delete(self) -> tuple[int, dict[str, int]]:
        """Delete the item and release its unique values; return Django's (count, per-model) pair."""
        meta = self._meta
        if self.pk is None:
            raise ValueError(f"{type(self).__name__} has no pk; it cannot be deleted")
        params: dict = {"TableName": meta.table_name, "Key": {"pk": {"S": self.pk}}, "ReturnValues": "ALL_OLD"}
        version = meta.version_field
        if version is not None and self.__dict__.get(version.name) is not None:
            params["ConditionExpression"] = "attribute_not_exists(#pk) OR #v = :v"
            params["ExpressionAttributeNames"] = {"#pk": "pk", "#v": version.name}
            params["ExpressionAttributeValues"] = {":v": {"N": str(self.__dict__[version.name])}}
        try:
            response = connection.call("DeleteItem", **params)
        except ConditionalCheckFailed as error:
            raise VersionConflict(
                f"{type(self).__name__} {self.pk} changed since it was loaded; not deleted", code=error.code
            ) from error
        old = response.get("Attributes")
        delete_cleanup(type(self), self.pk, old)
        self._state = ModelState(adding=True)
        return (1 if old else 0), {meta.label: 1 if old else 0}

    def refresh_from_db(self) -> None:
        """Reload every field from DynamoDB (a strongly consistent read)."""
        raw = loading.load_one(type(self), self.pk, consistent=True)
        if raw is None:
            raise type(self).DoesNotExist(f"{type(self).__name__} {self.pk} does not exist")
        self._refresh_from_item(raw)
        for key in [k for k in self.__dict__ if k.startswith("_rel_")]:
            del self.__dict__[key]

    # -- unique values -------------------------------------------------------
    def _claim_unique(self, item: dict, previous: dict) -> list[tuple[str, str]]:
        """Claim every new unique value; return what was claimed (to release on failure)."""
        claimed: list[tuple[str, str]] = []
        for field in self._meta.unique_fields:
            av = item.get(field.name)
            if av is None or av == previous.get(field.name):
                continue
            value = av["S"]
            try:
                claim_value(type(self), field.name, value, self.pk)
            except Exception:
                self._release_unique(claimed)
                raise
            claimed.append((field.name, value))
        return claimed

    def _release_unique(self, claimed: list[tuple[str, str]], owner: str | None = None) -> None:
        for name, value in claimed:
            release_value(type(self), name, value, owner or self.pk)


def delete_cleanup(model: Any, pk: str, old: dict | None) -> None:
    """After a delete: release unique claims and update the caches."""
    if old:
        for field in model._meta.unique_fields:
            av = old.get(field.name)
            if av is not None:
                release_value(model, field.name, av["S"], pk)
    loading.forget(model, pk, deleted=True)
    loading.table_written(model)


def claim_value(model: Any, field_name: str, value: str, owner: str) -> None:
    """Take the unique claim for value, or raise UniqueConstraintError."""
    table = model._meta.unique_table_name
    key = f"{field_name}#{value}"
    now = int(time.time())
    try:
        connection.call(
            "PutItem",
            TableName=table,
            Item={"pk": {"S": key}, "owner": {"S": owner}, "claimed_at": {"N": str(now)}},
            ConditionExpression="attribute_not_exists(#pk) OR #owner = :owner",
            ExpressionAttributeNames={"#pk": "pk", "#owner": "owner"},
            ExpressionAttributeValues={":owner": {"S": owner}},
        )
        return
    except ConditionalCheckFailed:
        pass
    # Taken: take it over only if the claim is stale (its owner never wrote or moved on).
    current = connection.call("GetItem", TableName=table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
    if current is not None:
        holder = current["owner"]["S"]
        age = now - int(current.get("claimed_at", {"N": "0"})["N"])
        if age >= STALE_CLAIM_SECONDS:
            owner_item = connection.call(
                "GetItem", TableName=model._meta.table_name, Key={"pk": {"S": holder}}, ConsistentRead=True
            ).get("Item")
            if owner_item is None or owner_item.get(field_name) != {"S": value}:
                try:
                    connection.call(
                        "PutItem",
                        TableName=table,
                        Item={"pk": {"S": key}, "owner": {"S": owner}, "claimed_at": {"N": str(now)}},
                        ConditionExpression="#owner = :holder",
                        ExpressionAttributeNames={"#owner": "owner"},
                        ExpressionAttributeValues={":holder": {"S": holder}},
                    )
                    return
                except ConditionalCheckFailed:
                    pass
    raise UniqueConstraintError(
        f"{model.__name__} with {field_name}={value!r} already exists", field=field_name, value=value, model=model
    )


def release_value(model: Any, field_name: str, value: str, owner: str) -> None:
    """Release a unique claim held by owner; a claim held by someone else is left alone."""
    with contextlib.suppress(ConditionalCheckFailed):
        connection.call(
            "DeleteItem",
            TableName=model._meta.unique_table_name,
            Key={"pk": {"S": f"{field_name}#{value}"}},
            ConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#owner": "owner"},
            ExpressionAttributeValues={":owner": {"S": owner}},
        )
