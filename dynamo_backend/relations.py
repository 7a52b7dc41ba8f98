"""References between models (``author_pk = UUIDField(references="blog.Author")``): the ``post.author``
descriptor, and batched loading of a whole result set's references (prefetch).
"""

from __future__ import annotations

from typing import Any

from . import loading
from .fields import NOT_PROVIDED

__all__ = ["RelatedDescriptor", "attach_related"]


class RelatedDescriptor:
    """``post.author``: the referenced instance, from prefetch or loaded on first access."""

    def __init__(self, relation: str) -> None:
        self.relation = relation
        self.cache_name = f"_rel_{relation}"

    def __get__(self, instance: Any, owner: Any) -> Any:
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
        setattr(instance, field_name, value.pk if value is not None else None)
        instance.__dict__[self.cache_name] = value


def attach_related(model: Any, objs: list, relations: list[str]) -> None:
    """Load each relation for all objs at once (one BatchGetItem per table for uncached keys)."""
    for relation in relations:
        field_name, _ = model._meta.references[relation]
        target = model._meta.related_model(relation)
        keys = [o.__dict__.get(field_name) for o in objs]
        found = loading.load_many(target, [k for k in keys if k is not None])
        cache_name = f"_rel_{relation}"
        for obj, key in zip(objs, keys, strict=True):
            raw = found.get(key) if key is not None else None
            obj.__dict__[cache_name] = target.from_raw(raw) if raw is not None else None
