"""The QuerySet's write methods: create, bulk_create, get_or_create, update_or_create, update, delete.

A mixin of DynamoQuerySet, kept apart so query.py holds the reading side; the
DynamoDB calls themselves are in writes.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import signals

from . import updates, writes
from .compiler import UPDATE_VALUES
from .exceptions import FieldError, ItemAlreadyExists, UniqueConstraintError
from .expressions import Arith, IfAbsent, Node, Num, Q, fold

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .planner import Plan

__all__ = ["DATABASE_ALIAS", "QuerySetWrites"]

# What Django's model signals receive as ``using`` (the ORM's database alias).
DATABASE_ALIAS = "dynamodb"


class QuerySetWrites:
    """Write methods of DynamoQuerySet."""

    # Provided by DynamoQuerySet.
    model: Any
    _where: list[Node]
    _values_mode: str | None

    if TYPE_CHECKING:

        def get(self, *args: Any, **kwargs: Any) -> Any: ...
        def consistent(self, value: bool = True) -> Any: ...
        def _plan(self, *, for_count: bool = False) -> Plan: ...
        def _stream(self, the_plan: Plan) -> Iterator[Any]: ...
        def _check_unsliced(self, action: str) -> None: ...

    def create(self, **kwargs: Any) -> Any:
        """Create and save an item; never overwrites an existing one."""
        obj = self.model(**kwargs)
        obj.save()
        return obj

    def bulk_create(self, objs: list, batch_size: int | None = None) -> list:
        """Validate every object, then write them with BatchWriteItem (at most min(batch_size, 25) a call)."""
        return writes.bulk_insert(self.model, list(objs), batch_size)

    def get_or_create(self, defaults: dict | None = None, **kwargs: Any) -> tuple[Any, bool]:
        """Return (object, created): look it up, else create it; safe against a racing create."""
        try:
            return self.get(**kwargs), False
        except self.model.DoesNotExist:
            pass
        params = {k: v for k, v in kwargs.items() if "__" not in k}
        params.update(defaults or {})
        params = {k: (v() if callable(v) else v) for k, v in params.items()}
        try:
            return self.create(**params), True
        except (UniqueConstraintError, ItemAlreadyExists):
            return self.consistent().get(**kwargs), False

    def update_or_create(
        self, defaults: dict | None = None, create_defaults: dict | None = None, **kwargs: Any
    ) -> tuple[Any, bool]:
        """Update the matching object with defaults, or create it; return (object, created)."""
        defaults = defaults or {}
        try:
            obj = self.get(**kwargs)
        except self.model.DoesNotExist:
            params = {k: v for k, v in kwargs.items() if "__" not in k}
            params.update(defaults if create_defaults is None else create_defaults)
            try:
                return self.create(**params), True
            except (UniqueConstraintError, ItemAlreadyExists):
                obj = self.consistent().get(**kwargs)
        for name, value in defaults.items():
            setattr(obj, name, value() if callable(value) else value)
        obj.save()
        return obj, False

    def update(self, **kwargs: Any) -> int:
        """Apply changes with one conditional UpdateItem per matching item; F() updates are atomic.

        As in Django, an expression with a NULL operand is NULL (``F("n") + 1``
        leaves a missing n missing); ``Coalesce(F("n"), 0) + 1`` is the counter
        idiom (DynamoDB's if_not_exists).
        """
        self._check_unsliced("update")
        if not kwargs:
            return 0
        meta = self.model._meta
        changes = updates.clean_changes(self.model, kwargs)
        claimed_fields = {name for constraint in meta.unique_constraints for name in constraint.fields} & set(changes)
        computed = [name for name in claimed_fields if isinstance(changes[name], UPDATE_VALUES)]
        if computed:
            raise FieldError(f"update(): unique field(s) {', '.join(sorted(computed))} cannot take an expression")
        version = meta.version_field
        if version is not None and version.name not in changes:
            changes[version.name] = Arith(IfAbsent(version.name, Num(0)), "+", Num(1))
        the_plan = self._plan()
        if the_plan.empty:
            return 0
        if the_plan.operation == "GetItem" and the_plan.residual is None and not claimed_fields and the_plan.keys:
            return int(updates.update_item(self.model, the_plan.keys[0], changes))
        condition = fold(Node(Q.AND, False, list(self._where))) if self._where else None
        done = 0
        for obj in list(self._stream(the_plan)):
            if claimed_fields:
                done += updates.update_unique_item(obj, changes, condition)
            else:
                done += updates.update_item(self.model, obj.pk, changes, condition, known=obj.__dict__)
        return done

    def delete(self) -> tuple[int, dict[str, int]]:
        """Delete every matching item with BatchWriteItem (25 a call); return Django's pair."""
        self._check_unsliced("delete")
        if self._values_mode is not None:
            raise TypeError("Cannot call delete() after values() or values_list().")
        objs = list(self._stream(self._plan()))
        for obj in objs:
            signals.pre_delete.send(sender=self.model, instance=obj, using=DATABASE_ALIAS, origin=self)
        deleted = writes.bulk_delete(self.model, objs)
        for obj in objs:
            signals.post_delete.send(sender=self.model, instance=obj, using=DATABASE_ALIAS, origin=self)
        return deleted, {self.model._meta.label: deleted}
