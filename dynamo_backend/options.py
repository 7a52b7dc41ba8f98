"""Model metadata: Meta -> _meta (whitelisted keys, table names, indexes, relations)."""

from __future__ import annotations

import json
from typing import Any

from django.apps import apps

from . import projections
from .conf import get_setting
from .exceptions import FieldError
from .fields import TTLField, VersionField
from .keys import PrimaryKey
from .table_options import META_OPTIONS, TableOptions, declared, resolve

ALLOWED_META = frozenset(
    {
        "table_name",
        "app_label",
        "indexes",
        "cache_ttl",
        "abstract",
        "ordering",
        "unique_together",
    }
    | META_OPTIONS
)

_registry: dict[str, Any] = {}


class Index:
    """A secondary index: partition key, optional sort key, and what it projects.

    A global one (GSI) by default; ``local=True`` makes a local secondary index
    (LSI): same partition key as the table (a composite-key table), another
    sort key, readable consistently, created with the table only.

    ``projection``: ``Index.ALL`` (the default: whole items), ``Index.KEYS_ONLY``
    (the table's and the index's keys), or ``include=["title", ...]`` (INCLUDE:
    the keys and those fields). A query the projection cannot answer reads keys
    from the index and completes the items from the table (BatchGetItem).
    """

    ALL = projections.ALL
    KEYS_ONLY = projections.KEYS_ONLY
    INCLUDE = projections.INCLUDE

    def __init__(
        self,
        partition_key: str,
        sort_key: str | None = None,
        *,
        name: str | None = None,
        local: bool = False,
        projection: str | None = None,
        include: list[str] | tuple[str, ...] | None = None,
    ) -> None:
        self.partition_key = partition_key
        self.sort_key = sort_key
        self.local = local
        self.table = False  # True only for the base table's own key (see Options.table_index)
        self.name = name or (f"{partition_key}-{sort_key}-index" if sort_key else f"{partition_key}-index")
        self.projection, self.include = projections.normalise(projection, include)
        self.projected: frozenset[str] | None = None  # field names it holds (None: all); set by the model

    def __repr__(self) -> str:
        return f"<Index {self.name}>"


class UniqueConstraint:
    """Fields whose values together may belong to one item only (unique=True or Meta.unique_together).

    Enforced with one claim item per value in ``<table>__unique`` (see unique.py).
    A value with a None part claims nothing: NULLs never conflict, as in SQL.
    """

    def __init__(self, fields: tuple[str, ...]) -> None:
        self.fields = fields
        self.label = ",".join(fields)

    def __repr__(self) -> str:
        return f"<UniqueConstraint {self.label}>"

    def claim(self, values: dict[str, dict | None]) -> tuple[str, str] | None:
        """Return (label, claim value) for the stored attribute values, or None if a part is absent."""
        parts = [values.get(name) for name in self.fields]
        if any(av is None for av in parts):
            return None
        if len(parts) == 1 and "S" in parts[0]:  # type: ignore[operator]
            return self.label, parts[0]["S"]  # type: ignore[index]
        return self.label, json.dumps(parts, sort_keys=True, separators=(",", ":"))


def get_model(label: str) -> Any:
    """Return a registered model by "app_label.ModelName" (case-insensitive)."""
    try:
        return _registry[label.lower()]
    except KeyError:
        raise LookupError(f"No DynamoModel registered as '{label}'") from None


def all_models() -> list:
    """Return every concrete registered model."""
    return list(_registry.values())


def _default_app_label(module: str) -> str:
    try:
        if apps.apps_ready:
            config = apps.get_containing_app_config(module)
            if config is not None:
                return config.label
    except Exception:  # app registry unavailable outside Django
        pass
    parts = module.split(".")
    return parts[-2] if len(parts) > 1 and parts[-1] == "models" else parts[-1]


def _unique_together(model_name: str, value: Any) -> list[tuple[str, ...]]:
    """Normalise Meta.unique_together: one tuple of names, or a list of them (as Django accepts)."""
    if not value:
        return []
    if isinstance(value, str):
        raise FieldError(f"{model_name}.Meta.unique_together must be a list of tuples of field names")
    groups = [value] if all(isinstance(v, str) for v in value) else list(value)
    out = []
    for group in groups:
        if isinstance(group, str) or not all(isinstance(name, str) for name in group) or len(group) < 2:
            raise FieldError(f"{model_name}.Meta.unique_together: {group!r} must be a tuple of two or more field names")
        out.append(tuple(group))
    return out


class Options:
    """The ``_meta`` of a model."""

    def __init__(self, meta: Any, model_name: str, module: str) -> None:
        values = {k: v for k, v in vars(meta).items() if not k.startswith("_")} if meta else {}
        unknown = set(values) - ALLOWED_META
        if unknown:
            raise FieldError(
                f"{model_name}.Meta has unknown option(s): {', '.join(sorted(unknown))}. "
                f"Allowed: {', '.join(sorted(ALLOWED_META))}"
            )
        self.object_name = model_name
        self.model_name = model_name.lower()
        self.abstract = bool(values.get("abstract", False))
        self.app_label = values.get("app_label") or _default_app_label(module)
        self.base_table_name = values.get("table_name") or f"{self.app_label}_{self.model_name}"
        self.declared_indexes = list(values.get("indexes", []))
        self.cache_ttl = values.get("cache_ttl")
        ordering = values.get("ordering", [])
        if isinstance(ordering, str):
            raise FieldError(f"{model_name}.Meta.ordering must be a list of field names, not a string")
        self.ordering: list[str] = list(ordering)
        self.declared_unique_together = _unique_together(model_name, values.get("unique_together", ()))
        self.declared_table_options = declared(model_name, values)
        self.unique_constraints: list[UniqueConstraint] = []
        self.fields: dict[str, Any] = {}
        self.composite_key: tuple[str, ...] | None = None  # set by ModelBase for CompositePrimaryKey
        self.primary_key: PrimaryKey | None = None
        self.table_index: Index | None = None
        self.indexes: list[Index] = []
        self.references: dict[str, tuple[str, Any]] = {}
        self.model: Any = None

    @property
    def label(self) -> str:
        return f"{self.app_label}.{self.object_name}"

    @property
    def table_name(self) -> str:
        return f"{get_setting('TABLE_PREFIX')}{self.base_table_name}"

    @property
    def table_options(self) -> TableOptions:
        """Return the table's options: Meta over DYNAMO_BACKEND, read now (settings may change)."""
        return resolve(self)

    @property
    def unique_table_name(self) -> str:
        return f"{self.table_name}__unique"

    @property
    def unique_fields(self) -> list:
        return [f for f in self.fields.values() if f.unique]

    @property
    def has_claims(self) -> bool:
        """Return whether the model has unique constraints (and so a claims table)."""
        return bool(self.unique_constraints)

    @property
    def version_field(self) -> VersionField | None:
        for field in self.fields.values():
            if isinstance(field, VersionField):
                return field
        return None

    @property
    def ttl_field(self) -> TTLField | None:
        """Return the model's TTLField (DynamoDB's Time to Live attribute), if any."""
        return next((f for f in self.fields.values() if isinstance(f, TTLField)), None)

    def expired(self, raw: dict) -> bool:
        """Return whether a raw item's TTL has passed: DynamoDB has not deleted it yet, reads treat it as gone."""
        ttl = self.ttl_field
        return ttl is not None and ttl.expired(raw)

    @property
    def keys(self) -> PrimaryKey:
        assert self.primary_key is not None, f"{self.object_name} is not finalised"
        return self.primary_key

    @property
    def hash_key(self) -> str:
        """Return the table's partition key attribute ("pk" unless the key is composite)."""
        return self.keys.hash_key

    def key(self, pk: Any) -> dict:
        """Return the DynamoDB Key of the item with primary key ``pk``."""
        return self.keys.key(pk)

    def pk_of(self, item: dict) -> Any:
        """Return the primary key of a raw item (a string, or a tuple for a composite key)."""
        return self.keys.of(item)

    @property
    def global_indexes(self) -> list[Index]:
        return [i for i in self.indexes if not i.local]

    @property
    def local_indexes(self) -> list[Index]:
        return [i for i in self.indexes if i.local]

    def add_field(self, field: Any) -> None:
        self.fields[field.name] = field

    def effective_cache_ttl(self) -> float:
        """Return this model's item cache TTL in seconds (0 = off)."""
        ttl = get_setting("CACHE_TTL")
        if not ttl:
            return 0
        return ttl if self.cache_ttl is None else self.cache_ttl

    def finalize(self, model: Any) -> None:
        """Build indexes and relations once all fields are installed."""
        self.model = model
        self._build_primary_key(model)
        self.indexes = self._build_indexes(model)
        ttl_fields = [f.name for f in self.fields.values() if isinstance(f, TTLField)]
        if len(ttl_fields) > 1:
            raise FieldError(f"{model.__name__}: one TTLField per table (DynamoDB's rule), got {', '.join(ttl_fields)}")
        self._check_ordering(model)
        self.unique_constraints = self._build_unique_constraints(model)
        self.decoders = [(name, field.decoder()) for name, field in self.fields.items()]
        for field in self.fields.values():
            if field.references is not None:
                relation = field.related_name or (
                    field.name[:-3] if field.name.endswith("_pk") else f"{field.name}_obj"
                )
                self.references[relation] = (field.name, field.references)
        if not self.abstract:
            _registry[self.label.lower()] = model

    def _build_primary_key(self, model: Any) -> None:
        names = self.composite_key or ("pk",)
        for name in names:
            field = self.fields.get(name)
            if field is None:
                raise FieldError(f"{model.__name__}: the primary key names unknown field '{name}'")
            if field.dynamo_type not in ("S", "N") or field.nullable:
                raise FieldError(
                    f"{model.__name__}.{name}: a key field must be a non-nullable S or N field "
                    "(CharField, UUIDField, IntegerField, DecimalField, DateTimeField) with nullable=False"
                )
        self.primary_key = PrimaryKey(self.fields, names)
        if self.composite_key:
            self.table_index = Index(names[0], names[1], name="(table)")
            self.table_index.table = True

    def _build_indexes(self, model: Any) -> list[Index]:
        indexes = [Index(f.name) for f in self.fields.values() if f.index and not f.primary_key]
        indexes.extend(self.declared_indexes)
        names = set()
        for index in indexes:
            if not isinstance(index, Index):
                raise FieldError(f"{model.__name__}.Meta.indexes must hold Index objects, got {index!r}")
            for key in (index.partition_key, index.sort_key):
                if key is not None:
                    self._check_index_key(model, index, key)
            if index.local and (not self.composite_key or index.partition_key != self.composite_key[0]):
                raise FieldError(
                    f"{model.__name__}: local index {index.name} must share the table's partition key; "
                    "a local secondary index needs a CompositePrimaryKey"
                )
            if index.name in names:
                raise FieldError(f"{model.__name__}: duplicate index name {index.name}")
            names.add(index.name)
            projections.check(model, self, index)
        projections.check_totals(model, indexes)
        if len([i for i in indexes if not i.local]) > 20:
            raise FieldError(f"{model.__name__}: {len(indexes)} indexes; DynamoDB allows 20 GSIs per table")
        if len([i for i in indexes if i.local]) > 5:
            raise FieldError(f"{model.__name__}: DynamoDB allows 5 local secondary indexes per table")
        return indexes

    def _check_index_key(self, model: Any, index: Index, key: str) -> None:
        field = self.fields.get(key)
        if field is None:
            raise FieldError(f"{model.__name__}: index {index.name} names unknown field '{key}'")
        field.is_index_key = True
        if not field.indexable:
            raise FieldError(
                f"{model.__name__}.{key}: {type(field).__name__} cannot be a GSI key. "
                "Hint: GSI keys must be top-level S, N or B attributes."
            )

    def _build_unique_constraints(self, model: Any) -> list[UniqueConstraint]:
        constraints = [UniqueConstraint((f.name,)) for f in self.fields.values() if f.unique]
        for names in self.declared_unique_together:
            for name in names:
                field = self.fields.get(name)
                if field is None:
                    raise FieldError(f"{model.__name__}.Meta.unique_together names unknown field '{name}'")
                if field.dynamo_type not in ("S", "N", "BOOL"):
                    raise FieldError(
                        f"{model.__name__}.Meta.unique_together: {type(field).__name__} '{name}' cannot be part "
                        "of a unique constraint (only string, number and boolean fields can)."
                    )
            constraints.append(UniqueConstraint(names))
        return constraints

    def _check_ordering(self, model: Any) -> None:
        for name in self.ordering:
            if not isinstance(name, str) or name.lstrip("-") not in self.fields:
                raise FieldError(
                    f"{model.__name__}.Meta.ordering refers to unknown field {name!r}. "
                    f"Choices are: {', '.join(self.fields)}"
                )

    def related_model(self, relation: str) -> Any:
        """Return the target model class of a relation name."""
        try:
            _, target = self.references[relation]
        except KeyError:
            raise FieldError(
                f"{self.object_name} has no relation '{relation}'. "
                f"Relations: {', '.join(self.references) or 'none'} (declare references= on a field)"
            ) from None
        if isinstance(target, str):
            if "." not in target:
                target = f"{self.app_label}.{target}"
            return get_model(target)
        return target
