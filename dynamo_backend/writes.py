"""Every write the library makes: insert, update and delete of items, one by one or in bulk.

Each follows the same steps: take the item cache's mark, call DynamoDB,
remember what was written (write-through) and invalidate the table's cached
queries. Model saves, QuerySet writes and transactions all come through here.
"""

from __future__ import annotations

from typing import Any

from . import batch, cache, connection, loading, unique
from .codec import MAX_ITEM_BYTES, FieldValueError, item_size
from .compiler import UPDATE_VALUES, Builder, compile_node, compile_update
from .exceptions import ConditionalCheckFailed, FieldError, ItemAlreadyExists, ValidationError, VersionConflict
from .expressions import Node, matches, required_attributes, resolve_update

__all__ = [
    "after_delete",
    "bulk_delete",
    "bulk_insert",
    "clean_changes",
    "delete",
    "insert",
    "prepare_insert",
    "update",
    "update_item",
    "update_request",
]


def clean_changes(model: Any, kwargs: dict) -> dict:
    """Validate update() keyword arguments: known fields, valid expressions (F, Coalesce), clean values."""
    changes: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, value in kwargs.items():
        field = model._meta.fields.get(name)
        if field is None:
            raise FieldError(f"{model.__name__} has no field named '{name}'")
        if name == "pk":
            raise FieldError("The primary key cannot be updated")
        if hasattr(value, "resolve_expression"):
            changes[name] = resolve_update(model, name, value)
            continue
        try:
            changes[name] = field.clean(value)
        except FieldValueError as error:
            errors.setdefault(name, []).append(str(error))
    if errors:
        raise ValidationError(errors)
    return changes


def written(model: Any, item: dict | None, pk: str, mark: int, *, created: bool = False, changed: Any = None) -> None:
    """Record a confirmed write: remember the new item (or forget the key) and invalidate queries.

    ``created`` (a new item) or ``changed`` (the attributes an update set)
    lets only the cached queries the write can change go; otherwise all of the table's do.
    """
    if item:
        loading.remember(model, item, since=mark, write=True)
    else:
        loading.forget(model, pk)
    if item and created:
        loading.table_written(model, cache.Change.created(item))
    elif item and changed is not None:
        loading.table_written(model, cache.Change.modified(item, changed))
    else:
        loading.table_written(model)


def check_item_size(obj: Any) -> None:
    """Refuse an item over DynamoDB's 400 KB limit, naming its largest field."""
    size, largest = item_size(obj.to_raw())
    if size > MAX_ITEM_BYTES:
        raise ValidationError(
            {
                largest or "__all__": [
                    f"The item would be {size:,} bytes; DynamoDB's limit is {MAX_ITEM_BYTES:,} "
                    f"(this is its largest field)."
                ]
            }
        )


def prepare(obj: Any, add: bool) -> None:
    """Fill automatic values, validate every field and the item's size."""
    for field in obj._meta.fields.values():
        field.pre_save(obj, add)
    obj.full_clean()
    check_item_size(obj)


def prepare_insert(obj: Any) -> dict:
    """Validate a new object, start its version at 1 and return the item to put."""
    prepare(obj, add=True)
    version = obj._meta.version_field
    if version is not None:
        obj.__dict__[version.name] = 1
    return obj.to_raw()


def insert(obj: Any) -> None:
    """Put a new item, never overwriting one (ItemAlreadyExists), with its unique claims."""
    model, meta = type(obj), obj._meta
    item = prepare_insert(obj)
    claimed = unique.claim_new_values(model, obj.pk, item, previous={})
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
        unique.release_all(model, claimed, obj.pk)
        raise ItemAlreadyExists(f"{model.__name__} with pk {obj.pk} already exists", code=error.code) from error
    except Exception:
        unique.release_all(model, claimed, obj.pk)
        raise
    obj._set_stored(item)
    written(model, item, obj.pk, mark, created=True)


def _changed_fields(obj: Any, item: dict, update_fields: list[str] | None) -> dict[str, Any]:
    meta = obj._meta
    stored = obj._state.stored
    version = meta.version_field
    changes: dict[str, Any] = {}
    for name, field in meta.fields.items():
        if name == "pk" or (version is not None and name == version.name):
            continue
        if update_fields is not None and name not in update_fields and not getattr(field, "auto_now", False):
            continue
        if item.get(name) != stored.get(name):
            changes[name] = obj.__dict__.get(name)
    return changes


def _version_condition(obj: Any, builder: Builder, changes: dict) -> list[str]:
    """Condition on the loaded version and bump it; return the extra conditions."""
    version = obj._meta.version_field
    if version is None:
        return []
    current = obj.__dict__.get(version.name)
    changes[version.name] = (current or 0) + 1
    name = builder.name(version.name)
    if current is None:
        return [f"attribute_not_exists({name})"]
    return [f"{name} = {builder.value({'N': str(current)})}"]


def update(obj: Any, update_fields: list[str] | None) -> None:
    """Write the changed fields of a loaded object with one conditional UpdateItem."""
    model, meta = type(obj), obj._meta
    if update_fields is not None:
        unknown = [f for f in update_fields if f not in meta.fields]
        if unknown:
            raise FieldError(f"update_fields: {model.__name__} has no field(s) {', '.join(unknown)}")
    prepare(obj, add=False)
    item = obj.to_raw()
    stored = obj._state.stored
    changes = _changed_fields(obj, item, update_fields)
    if not changes and meta.version_field is None:
        return
    builder = Builder()
    conditions = [f"attribute_exists({builder.name('pk')})", *_version_condition(obj, builder, changes)]
    expression = compile_update(model, changes, builder).expression
    claimed = unique.claim_new_values(model, obj.pk, _overlay(stored, item, changes), stored)
    mark = loading.write_mark()
    try:
        response = connection.call(
            "UpdateItem",
            TableName=meta.table_name,
            Key=meta.key(obj.pk),
            UpdateExpression=expression,
            ConditionExpression=" AND ".join(conditions),
            ReturnValues="ALL_NEW",
            **builder.params(),
        )
    except ConditionalCheckFailed as error:
        unique.release_all(model, claimed, obj.pk)
        loading.forget(model, obj.pk)
        raise _update_refused(obj, error) from error
    except Exception:
        unique.release_all(model, claimed, obj.pk)
        raise
    new_item = response.get("Attributes") or item
    unique.release_all(model, unique.replaced_values(model, stored, new_item), obj.pk)
    obj._refresh_from_item(new_item)
    written(model, new_item, obj.pk, mark, changed=changes)


def _update_refused(obj: Any, error: ConditionalCheckFailed) -> Exception:
    model, version = type(obj), obj._meta.version_field
    if version is not None:
        return VersionConflict(
            f"{model.__name__} {obj.pk} was changed or deleted since it was loaded "
            f"(version {obj.__dict__.get(version.name)})",
            code=error.code,
        )
    return model.DoesNotExist(f"{model.__name__} {obj.pk} no longer exists; nothing was written")


def _overlay(stored: dict, item: dict, changes: dict) -> dict:
    """Return the stored item with the changed attributes replaced by their new values."""
    new_item = dict(stored)
    for name in changes:
        if name in item:
            new_item[name] = item[name]
        else:
            new_item.pop(name, None)
    return new_item


def condition_text(model: Any, condition: Node | None, builder: Builder) -> str:
    """Return "the item exists" AND the condition, compiled with builder's placeholders."""
    text = f"attribute_exists({builder.name('pk')})"
    extra = compile_node(condition, builder) if condition is not None else ""
    return f"{text} AND ({extra})" if extra else text


def update_request(
    model: Any, pk: str, changes: dict, condition: Node | None = None, absent: frozenset[str] = frozenset()
) -> dict:
    """Return the UpdateItem parameters applying cleaned changes to an existing item matching condition.

    Expressions are conditioned on their operands being present (or, for the
    names in ``absent``, absent), so a NULL operand can never be read as 0.
    """
    builder = Builder()
    update = compile_update(model, changes, builder, absent)
    conditions = [condition_text(model, condition, builder), *update.condition(builder)]
    return {
        "TableName": model._meta.table_name,
        "Key": model._meta.key(pk),
        "UpdateExpression": update.expression,
        "ConditionExpression": " AND ".join(conditions),
        **builder.params(),
    }


# Re-reads after a refused expression update before giving up (the operands kept changing).
_EXPRESSION_ATTEMPTS = 5


def _operands(changes: dict) -> set[str]:
    refs: set[str] = set()
    for value in changes.values():
        if isinstance(value, UPDATE_VALUES):
            refs |= required_attributes(value)
    return refs


def update_item(
    model: Any, pk: str, changes: dict, condition: Node | None = None, *, known: dict | None = None
) -> bool:
    """Apply cleaned changes to one item if it exists (and matches condition); return whether it did.

    ``known`` (the item's values as last read) guesses which F() operands are
    NULL. When DynamoDB refuses the condition, one consistent read says whether
    the item is gone, no longer matches, or had other operands NULL (then the
    update is retried with that knowledge), as Django's NULL + 1 = NULL needs.
    """
    operands = _operands(changes)
    absent = frozenset(name for name in operands if known is not None and known.get(name) is None)
    for _attempt in range(_EXPRESSION_ATTEMPTS):
        mark = loading.write_mark()
        try:
            request = update_request(model, pk, changes, condition, absent)
            response = connection.call("UpdateItem", ReturnValues="ALL_NEW", **request)
        except ConditionalCheckFailed:
            # Nothing was written: drop what we knew of the item, keep the table's queries.
            loading.forget(model, pk)
            if not operands:
                return False
            current = loading.load_one(model, pk, consistent=True)
            if current is None:
                return False
            values = model.from_raw(current).__dict__
            if condition is not None and not matches(condition, values):
                return False
            absent = frozenset(name for name in operands if values.get(name) is None)
            continue
        written(model, response.get("Attributes"), pk, mark, changed=changes)
        return True
    raise ConditionalCheckFailed(f"{model.__name__} {pk}: the operands of the update kept changing; not written")


def update_unique_item(obj: Any, changes: dict, condition: Node | None) -> bool:
    """update_item() for changes to unique constraint fields: claim new values, release replaced ones."""
    model, stored = type(obj), obj._state.stored
    new_item = dict(stored)
    for name, value in changes.items():
        av = obj._meta.fields[name].to_dynamo(value) if not isinstance(value, UPDATE_VALUES) else None
        if av is None:
            new_item.pop(name, None)
        else:
            new_item[name] = av
    claims = unique.claim_new_values(model, obj.pk, new_item, stored)
    if not update_item(model, obj.pk, changes, condition, known=obj.__dict__):
        unique.release_all(model, claims, obj.pk)
        return False
    unique.release_all(model, unique.replaced_values(model, stored, new_item), obj.pk)
    return True


def delete(obj: Any) -> int:
    """Delete the item (conditional on its version, if any); return 1 if it existed, else 0."""
    model, meta = type(obj), obj._meta
    if obj.pk is None:
        raise ValueError(f"{model.__name__} has no pk; it cannot be deleted")
    params: dict = {"TableName": meta.table_name, "Key": meta.key(obj.pk), "ReturnValues": "ALL_OLD"}
    version = meta.version_field
    if version is not None and obj.__dict__.get(version.name) is not None:
        params["ConditionExpression"] = "attribute_not_exists(#pk) OR #v = :v"
        params["ExpressionAttributeNames"] = {"#pk": "pk", "#v": version.name}
        params["ExpressionAttributeValues"] = {":v": {"N": str(obj.__dict__[version.name])}}
    try:
        response = connection.call("DeleteItem", **params)
    except ConditionalCheckFailed as error:
        raise VersionConflict(
            f"{model.__name__} {obj.pk} changed since it was loaded; not deleted", code=error.code
        ) from error
    old = response.get("Attributes")
    after_delete(model, obj.pk, old)
    return 1 if old else 0


def after_delete(model: Any, pk: str, old: dict | None) -> None:
    """After a delete: release the item's unique claims and update the caches."""
    if old:
        unique.release_all(model, unique.claims_of(model, old), pk)
    loading.forget(model, pk, deleted=True)
    loading.table_written(model, cache.Change.deleted(old))


def _validate_all(model: Any, objs: list) -> list[dict]:
    errors: dict[str, list[str]] = {}
    items = []
    for position, obj in enumerate(objs):
        if not isinstance(obj, model):
            raise TypeError(f"bulk_create() expects {model.__name__} instances")
        try:
            items.append(prepare_insert(obj))
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                errors.setdefault(name, []).extend(f"item {position}: {m}" for m in messages)
    if errors:
        raise ValidationError(errors)
    pks = [obj.pk for obj in objs]
    if len(set(pks)) != len(pks):
        raise ValueError("bulk_create() got two objects with the same pk")
    return items


def bulk_insert(model: Any, objs: list, batch_size: int | None = None) -> list:
    """Validate every object, claim unique values, then BatchWriteItem (at most batch_size per call)."""
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"bulk_create()'s batch_size must be a positive integer, got {batch_size!r}")
    if not objs:
        return objs
    items = _validate_all(model, objs)
    claimed: list[tuple[Any, unique.Claims]] = []
    try:
        for obj, item in zip(objs, items, strict=True):
            claimed.append((obj, unique.claim_new_values(model, obj.pk, item, previous={})))
        mark = loading.write_mark()
        batch.batch_write(model._meta.table_name, put_items=items, chunk_size=batch_size)
    except Exception:
        for obj, claims in claimed:
            unique.release_all(model, claims, obj.pk)
        raise
    for obj, item in zip(objs, items, strict=True):
        obj._set_stored(item)
        loading.remember(model, item, since=mark, write=True)
    loading.table_written(model, *(cache.Change.created(item) for item in items))
    return objs


def bulk_delete(model: Any, objs: list) -> int:
    """Delete loaded objects with BatchWriteItem (25 a call) and release their claims."""
    if not objs:
        return 0
    batch.batch_write(model._meta.table_name, delete_pks=[o.pk for o in objs])
    for obj in objs:
        after_delete(model, obj.pk, obj._state.stored)
    return len(objs)
