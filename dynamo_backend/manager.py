"""DynamoManager: the ``objects`` entry point, built from the QuerySet's methods."""

from __future__ import annotations

from typing import Any

from .query import DynamoQuerySet


class BaseManager:
    """Proxy QuerySet methods onto the model class."""

    _queryset_class: type[DynamoQuerySet]  # set by from_queryset()

    def __init__(self) -> None:
        self.model: Any = None
        self.name: str | None = None

    def contribute_to_class(self, cls: type, name: str) -> None:
        """Install the manager on its model."""
        self.model = cls
        self.name = name
        setattr(cls, name, ManagerDescriptor(self))

    def get_queryset(self) -> DynamoQuerySet:
        """Return a fresh QuerySet over the whole table."""
        return self._queryset_class(self.model)

    def all(self) -> DynamoQuerySet:
        return self.get_queryset()

    @classmethod
    def from_queryset(cls, queryset_class: type, class_name: str | None = None) -> type:
        """Build a manager class exposing the public methods of queryset_class."""
        attrs: dict[str, Any] = {"_queryset_class": queryset_class}
        for klass in reversed(queryset_class.__mro__):
            for name, method in vars(klass).items():
                if name.startswith("_") or not callable(method) or name in attrs or hasattr(cls, name):
                    continue
                attrs[name] = _proxy(name)
        return type(class_name or f"{cls.__name__}From{queryset_class.__name__}", (cls,), attrs)


def _proxy(name: str) -> Any:
    def method(self: BaseManager, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.get_queryset(), name)(*args, **kwargs)

    method.__name__ = name
    return method


class ManagerDescriptor:
    """Make the manager reachable from the class only, as in Django."""

    def __init__(self, manager: BaseManager) -> None:
        self.manager = manager

    def __get__(self, instance: Any, owner: type) -> BaseManager:
        if instance is not None:
            raise AttributeError(f"Manager isn't accessible via {owner.__name__} instances")
        return self.manager


class DynamoManager(BaseManager.from_queryset(DynamoQuerySet)):  # type: ignore[misc]
    """The default manager: ``Model.objects``."""
