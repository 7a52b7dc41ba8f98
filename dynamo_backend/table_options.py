"""Table options: capacity, point-in-time recovery, deletion protection, tags, encryption, streams.

A model sets them in ``Meta``; DYNAMO_BACKEND holds the project's defaults.
:func:`declared` checks a Meta's values when the class is created;
:func:`resolve` merges them over the settings when a table is created or
planned (settings may change, as in tests). The rest turns options into
request parameters and reads them back from DescribeTable; nothing here
performs I/O.

========================  =======================  =================================================
Meta option               DYNAMO_BACKEND default   value
========================  =======================  =================================================
billing_mode              BILLING_MODE             "PAY_PER_REQUEST" (on-demand) or "PROVISIONED"
read_capacity             READ_CAPACITY            read capacity units, PROVISIONED only
write_capacity            WRITE_CAPACITY           write capacity units, PROVISIONED only
index_capacity            (the table's)            {"index name": (read, write)}, PROVISIONED only
point_in_time_recovery    POINT_IN_TIME_RECOVERY   True / False
deletion_protection       DELETION_PROTECTION      True / False
tags                      TABLE_TAGS               {"key": "value"}; a model's tags add to the project's
sse_kms_key               SSE_KMS_KEY              None (an AWS owned key), "aws/dynamodb" (the AWS
                                                   managed key) or a customer managed key's id, ARN or alias
stream_view_type          STREAM_VIEW_TYPE         "NEW_AND_OLD_IMAGES", "NEW_IMAGE", "OLD_IMAGE",
                                                   "KEYS_ONLY", or None (no stream)
========================  =======================  =================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .conf import get_setting
from .exceptions import ConfigurationError, FieldError

__all__ = [
    "AWS_MANAGED_KEY",
    "META_OPTIONS",
    "TableOptions",
    "create_params",
    "declared",
    "resolve",
    "sse_matches",
    "sse_spec",
    "throughput",
]

PAY_PER_REQUEST = "PAY_PER_REQUEST"
PROVISIONED = "PROVISIONED"
AWS_MANAGED_KEY = "aws/dynamodb"
VIEW_TYPES = ("NEW_AND_OLD_IMAGES", "NEW_IMAGE", "OLD_IMAGE", "KEYS_ONLY")


class _Invalid(ValueError):
    """A value an option does not take; the caller names the model or setting."""


def _billing(value: Any) -> str:
    if value not in (PAY_PER_REQUEST, PROVISIONED):
        raise _Invalid(f"must be {PAY_PER_REQUEST!r} or {PROVISIONED!r}, got {value!r}")
    return value


def _units(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _Invalid(f"must be a whole number of capacity units >= 1, got {value!r}")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"must be True or False, got {value!r}")
    return value


def _tags(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _Invalid(f"must be a dict of tag keys to values, got {value!r}")
    for key, text in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 128 or key.lower().startswith("aws:"):
            raise _Invalid(f"tag key {key!r} must be 1-128 characters, not starting with 'aws:'")
        if not isinstance(text, str) or len(text) > 256:
            raise _Invalid(f"tag {key!r} must have a string value of at most 256 characters, got {text!r}")
    return dict(value)


def _kms_key(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise _Invalid(f"must be None, {AWS_MANAGED_KEY!r} or a KMS key id, ARN or alias, got {value!r}")
    return value


def _view_type(value: Any) -> str | None:
    if value is not None and value not in VIEW_TYPES:
        raise _Invalid(f"must be None or one of {', '.join(VIEW_TYPES)}, got {value!r}")
    return value


def _index_capacity(value: Any) -> dict[str, tuple[int, int]]:
    if not isinstance(value, dict):
        raise _Invalid(f"must be a dict of index names to (read, write) units, got {value!r}")
    out = {}
    for name, pair in value.items():
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise _Invalid(f"index {name!r} must map to (read, write) capacity units, got {pair!r}")
        read, write = (_units(units) for units in pair)
        if read is None or write is None:
            raise _Invalid(f"index {name!r} must map to (read, write) capacity units, got {pair!r}")
        out[str(name)] = (read, write)
    return out


# Meta option -> (DYNAMO_BACKEND key or None, validator)
_OPTIONS: dict[str, tuple[str | None, Callable[[Any], Any]]] = {
    "billing_mode": ("BILLING_MODE", _billing),
    "read_capacity": ("READ_CAPACITY", _units),
    "write_capacity": ("WRITE_CAPACITY", _units),
    "index_capacity": (None, _index_capacity),
    "point_in_time_recovery": ("POINT_IN_TIME_RECOVERY", _flag),
    "deletion_protection": ("DELETION_PROTECTION", _flag),
    "tags": ("TABLE_TAGS", _tags),
    "sse_kms_key": ("SSE_KMS_KEY", _kms_key),
    "stream_view_type": ("STREAM_VIEW_TYPE", _view_type),
}
META_OPTIONS = frozenset(_OPTIONS)
HINT = "See the table options in the README (Meta and DYNAMO_BACKEND)."
SETTING_KEYS = tuple(key for key, _ in _OPTIONS.values() if key is not None)


def declared(model_name: str, values: dict[str, Any]) -> dict[str, Any]:
    """Return the table options a Meta declares, checked; raise FieldError naming the model and option."""
    out = {}
    for name, (_key, check) in _OPTIONS.items():
        if name in values:
            try:
                out[name] = check(values[name])
            except _Invalid as error:
                raise FieldError(f"{model_name}.Meta.{name} {error}") from None
    return out


def setting(key: str) -> Any:
    """Return one table-option setting of DYNAMO_BACKEND, checked; raise ConfigurationError naming it."""
    check = next(check for name, check in _OPTIONS.values() if name == key)
    try:
        return check(get_setting(key))
    except _Invalid as error:
        raise ConfigurationError(f"DYNAMO_BACKEND['{key}'] {error}") from None


@dataclass(frozen=True)
class TableOptions:
    """One table's options, Meta over DYNAMO_BACKEND."""

    billing_mode: str = PAY_PER_REQUEST
    read_capacity: int | None = None
    write_capacity: int | None = None
    index_capacity: dict[str, tuple[int, int]] = field(default_factory=dict)
    point_in_time_recovery: bool = False
    deletion_protection: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    sse_kms_key: str | None = None
    stream_view_type: str | None = None
    # False: the table's stream is left as it is (STREAMS off and no Meta.stream_view_type).
    stream_managed: bool = False

    @property
    def provisioned(self) -> bool:
        return self.billing_mode == PROVISIONED

    def for_side_table(self) -> TableOptions:
        """Return the options of a model's side tables (claims, counters): the same, without a stream."""
        return TableOptions(
            billing_mode=self.billing_mode,
            read_capacity=self.read_capacity,
            write_capacity=self.write_capacity,
            point_in_time_recovery=self.point_in_time_recovery,
            deletion_protection=self.deletion_protection,
            tags=self.tags,
            sse_kms_key=self.sse_kms_key,
        )


def _pick(meta: Any, name: str) -> Any:
    values = meta.declared_table_options
    key = _OPTIONS[name][0]
    return values[name] if name in values else (setting(key) if key else None)


def resolve(meta: Any) -> TableOptions:
    """Return a model's table options (its Meta over DYNAMO_BACKEND); raise FieldError for a contradiction."""
    values = meta.declared_table_options
    billing = _pick(meta, "billing_mode")
    read, write = _pick(meta, "read_capacity"), _pick(meta, "write_capacity")
    capacity = {name: values.get(name) for name in ("read_capacity", "write_capacity", "index_capacity")}
    if billing == PROVISIONED and (read is None or write is None):
        raise FieldError(
            f"{meta.object_name}: billing_mode PROVISIONED needs read_capacity and write_capacity "
            "(in Meta, or READ_CAPACITY and WRITE_CAPACITY in DYNAMO_BACKEND)"
        )
    if billing == PAY_PER_REQUEST and any(v is not None for v in capacity.values()):
        named = ", ".join(name for name, v in capacity.items() if v is not None)
        raise FieldError(f"{meta.object_name}.Meta.{named}: capacity applies to billing_mode PROVISIONED only")
    index_capacity = values.get("index_capacity") or {}
    known = {index.name for index in meta.global_indexes}
    for name in index_capacity:
        if name not in known:
            raise FieldError(
                f"{meta.object_name}.Meta.index_capacity names unknown index {name!r}. "
                f"Global indexes: {', '.join(sorted(known)) or 'none'}"
            )
    if "stream_view_type" in values:
        stream, managed = values["stream_view_type"], True
    elif get_setting("STREAMS"):
        stream, managed = setting("STREAM_VIEW_TYPE"), True
    else:
        stream, managed = None, False
    return TableOptions(
        billing_mode=billing,
        read_capacity=read if billing == PROVISIONED else None,
        write_capacity=write if billing == PROVISIONED else None,
        index_capacity=index_capacity,
        point_in_time_recovery=_pick(meta, "point_in_time_recovery"),
        deletion_protection=_pick(meta, "deletion_protection"),
        tags={**setting("TABLE_TAGS"), **values.get("tags", {})},
        sse_kms_key=_pick(meta, "sse_kms_key"),
        stream_view_type=stream,
        stream_managed=managed,
    )


# --- requests -------------------------------------------------------------------------


def throughput(options: TableOptions, index: str | None = None) -> dict:
    """Return the ProvisionedThroughput of the table (or one of its GSIs); {} on-demand."""
    if not options.provisioned:
        return {}
    read, write = options.index_capacity.get(index or "", (options.read_capacity, options.write_capacity))
    return {"ReadCapacityUnits": read, "WriteCapacityUnits": write}


def sse_spec(options: TableOptions) -> dict:
    """Return the SSESpecification that asks for the options' key ({"Enabled": False}: an AWS owned key)."""
    key = options.sse_kms_key
    if key is None:
        return {"Enabled": False}
    if key == AWS_MANAGED_KEY:
        return {"Enabled": True, "SSEType": "KMS"}
    return {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key}


def stream_spec(view_type: str | None) -> dict:
    """Return the StreamSpecification of a view type (None: no stream)."""
    return {"StreamEnabled": True, "StreamViewType": view_type} if view_type else {"StreamEnabled": False}


def create_params(options: TableOptions) -> dict:
    """Return CreateTable's parameters for the options (PITR needs a call of its own once the table exists)."""
    params: dict[str, Any] = {"BillingMode": options.billing_mode}
    if options.provisioned:
        params["ProvisionedThroughput"] = throughput(options)
    if options.sse_kms_key is not None:
        params["SSESpecification"] = sse_spec(options)
    if options.deletion_protection:
        params["DeletionProtectionEnabled"] = True
    if options.tags:
        params["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(options.tags.items())]
    if options.stream_managed and options.stream_view_type:
        params["StreamSpecification"] = stream_spec(options.stream_view_type)
    return params


# --- what DescribeTable says ---------------------------------------------------------------


def live_billing(table: dict) -> str:
    """Return a described table's billing mode (a table never switched has no BillingModeSummary)."""
    mode = table.get("BillingModeSummary", {}).get("BillingMode")
    if mode:
        return mode
    return PROVISIONED if table.get("ProvisionedThroughput", {}).get("ReadCapacityUnits") else PAY_PER_REQUEST


def live_throughput(described: dict) -> dict:
    """Return the read and write units of a described table or index."""
    units = described.get("ProvisionedThroughput", {})
    return {"ReadCapacityUnits": units.get("ReadCapacityUnits"), "WriteCapacityUnits": units.get("WriteCapacityUnits")}


def live_stream(table: dict) -> str | None:
    """Return a described table's stream view type, None without a stream."""
    spec = table.get("StreamSpecification") or {}
    return spec.get("StreamViewType") if spec.get("StreamEnabled") else None


def live_kms_key(table: dict) -> str | None:
    """Return the KMS key ARN a described table is encrypted with, or None (an AWS owned key)."""
    described = table.get("SSEDescription") or {}
    if described.get("Status") in ("ENABLED", "ENABLING", "UPDATING") and described.get("SSEType") == "KMS":
        return described.get("KMSMasterKeyArn") or AWS_MANAGED_KEY
    return None


def sse_matches(wanted: str | None, live: str | None) -> bool:
    """Return whether a table encrypted with ``live`` (a key ARN or None) meets ``wanted``.

    DescribeTable names the key by ARN only: the AWS managed key and an alias
    cannot be told from another KMS key without asking KMS, so they match any
    KMS key; a key id or ARN must be the one in use.
    """
    if wanted is None or live is None:
        return wanted is None and live is None
    if wanted == AWS_MANAGED_KEY or wanted.startswith("alias/") or ":alias/" in wanted or live == AWS_MANAGED_KEY:
        return True
    return live == wanted or live.endswith(f"/{wanted}")
