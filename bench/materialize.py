"""Materialisation: build N model instances from raw DynamoDB items, three ways.

    python -m bench.materialize [--items 10000] [--repeat 7] [--json out.json]

- ours:   ``BenchPost.from_raw(item)``            (dynamo_backend, a blog-Post-shaped model)
- boto3:  ``TypeDeserializer().deserialize``      (plain dicts; numbers become Decimal)
- PynamoDB: ``PynamoPost.from_raw_data(item)``    (an equivalent PynamoDB model)

All three read the same list of raw items (the low-level client's shape:
``{"view_count": {"N": "3"}, ...}``). Each repetition times the three one after
the other (interleaved, so drift hits all alike) after a ``gc.collect()``; the
best of the repetitions is the figure (as ``timeit`` does) and the median is
reported next to it. Runs in its own process: it configures Django minimally.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# PynamoDB's own wire format for datetimes; used for the items when our field reads it too.
PYNAMO_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+0000"


def _setup_django() -> None:
    os.environ.pop("DJANGO_SETTINGS_MODULE", None)
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            SECRET_KEY="bench-materialize-not-a-secret",
            INSTALLED_APPS=["dynamo_backend", "bench"],
            DATABASES={},
            USE_TZ=True,
            DYNAMO_BACKEND={"REGION": "us-east-1", "CREATE_TABLES_ON_STARTUP": False},
            LOGGING_CONFIG=None,
        )
    django.setup()


def _our_model() -> type:
    """The blog's Post shape as a dynamo_backend model."""
    from dynamo_backend import (
        BooleanField,
        CharField,
        DateTimeField,
        DynamoModel,
        IntegerField,
        ListField,
        UUIDField,
    )

    class BenchPost(DynamoModel):
        class Meta:
            app_label = "bench"
            table_name = "bench_posts"

        feed = CharField(default="post")
        title = CharField(max_length=200, nullable=False)
        slug = CharField(max_length=200, nullable=False)
        body = CharField()
        author_pk = UUIDField(auto=False)
        published = BooleanField(default=False)
        tags = ListField()
        view_count = IntegerField(default=0)
        created_at = DateTimeField()
        updated_at = DateTimeField()

    return BenchPost


def _pynamo_model(native_datetimes: bool) -> type:
    """The same shape in PynamoDB (its own datetime attribute when the items use its format)."""
    from pynamodb.attributes import (
        BooleanAttribute,
        ListAttribute,
        NumberAttribute,
        UnicodeAttribute,
        UTCDateTimeAttribute,
    )
    from pynamodb.models import Model

    class ISODateTimeAttribute(UTCDateTimeAttribute):
        def deserialize(self, value: str) -> datetime:
            return datetime.fromisoformat(value)

    DateTimeAttribute = UTCDateTimeAttribute if native_datetimes else ISODateTimeAttribute

    class PynamoPost(Model):
        class Meta:
            table_name = "bench_posts"
            region = "us-east-1"

        pk = UnicodeAttribute(hash_key=True)
        feed = UnicodeAttribute(null=True)
        title = UnicodeAttribute()
        slug = UnicodeAttribute()
        body = UnicodeAttribute(null=True)
        author_pk = UnicodeAttribute(null=True)
        published = BooleanAttribute(null=True)
        tags = ListAttribute(of=UnicodeAttribute, null=True)
        view_count = NumberAttribute(null=True)
        created_at = DateTimeAttribute(null=True)
        updated_at = DateTimeAttribute(null=True)

    return PynamoPost


def make_items(n: int, datetime_format: Callable[[datetime], str]) -> list[dict[str, Any]]:
    """N distinct raw items shaped like the blog's posts."""
    start = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    body = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 4
    items = []
    for i in range(n):
        created = start + timedelta(seconds=i)
        items.append(
            {
                "pk": {"S": str(uuid.UUID(int=i + 1, version=4))},
                "feed": {"S": "post"},
                "title": {"S": f"Post number {i}"},
                "slug": {"S": f"post-number-{i}"},
                "body": {"S": body},
                "author_pk": {"S": str(uuid.UUID(int=(i % 50) + 10_000_000, version=4))},
                "published": {"BOOL": i % 3 != 0},
                "tags": {"L": [{"S": "django"}, {"S": "dynamodb"}, {"S": f"t{i % 7}"}]},
                "view_count": {"N": str(i * 7)},
                "created_at": {"S": datetime_format(created)},
                "updated_at": {"S": datetime_format(created + timedelta(minutes=5))},
            }
        )
    return items


def _choose_datetime_format(BenchPost: type) -> tuple[Callable[[datetime], str], str]:
    """PynamoDB's wire format if our DateTimeField reads it, else our own (noted in the result)."""
    probe = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    raw = make_items(1, lambda d: d.strftime(PYNAMO_DATETIME_FORMAT))[0]
    try:
        if BenchPost.from_raw(raw).created_at == probe:
            return (lambda d: d.strftime(PYNAMO_DATETIME_FORMAT)), "PynamoDB's (%Y-%m-%dT%H:%M:%S.%f+0000)"
    except Exception:  # noqa: BLE001 - any refusal means: use our own format
        pass
    field = BenchPost._meta.fields["created_at"]
    return field.to_dynamo, "dynamo_backend's DateTimeField (PynamoDB side reads it with fromisoformat)"


def _check_same(ours: list, dicts: list, pynamo: list) -> None:
    """The three results agree on every field: the comparison is like for like."""
    for a, d, p in zip(ours[:50], dicts[:50], pynamo[:50], strict=False):
        assert a.pk == d["pk"] == p.pk, (a.pk, d["pk"], p.pk)
        assert a.view_count == int(d["view_count"]) == int(p.view_count)
        assert list(a.tags) == list(d["tags"]) == list(p.tags)
        assert a.published is d["published"] is p.published
        assert a.created_at == p.created_at and a.updated_at == p.updated_at
        assert a.title == d["title"] == p.title and a.body == d["body"] == p.body


def run(n: int = 10_000, repeat: int = 7) -> dict[str, Any]:
    _setup_django()
    from boto3.dynamodb.types import TypeDeserializer

    BenchPost = _our_model()
    dt_format, dt_note = _choose_datetime_format(BenchPost)
    PynamoPost = _pynamo_model(native_datetimes=dt_note.startswith("PynamoDB"))
    items = make_items(n, dt_format)
    deserializer = TypeDeserializer()
    deserialize = deserializer.deserialize
    from_raw = BenchPost.from_raw
    from_raw_data = PynamoPost.from_raw_data

    contenders: dict[str, Callable[[], list]] = {
        "ours": lambda: [from_raw(item) for item in items],
        "typedeserializer": lambda: [{k: deserialize(v) for k, v in item.items()} for item in items],
        "pynamodb": lambda: [from_raw_data(item) for item in items],
    }
    _check_same(contenders["ours"](), contenders["typedeserializer"](), contenders["pynamodb"]())

    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, build in contenders.items():
            gc.collect()
            start = time.perf_counter()
            result = build()
            times[name].append(time.perf_counter() - start)
            assert len(result) == n
            del result

    out: dict[str, Any] = {"items": n, "repeat": repeat, "datetime_format": dt_note, "contenders": {}}
    for name, samples in times.items():
        best, median = min(samples), statistics.median(samples)
        out["contenders"][name] = {
            "best_s": best,
            "median_s": median,
            "samples_s": samples,
            "items_per_s": n / best,
            "us_per_item": best / n * 1e6,
        }
    ours = out["contenders"]["ours"]
    out["speedup"] = {
        other: {
            "best": out["contenders"][other]["best_s"] / ours["best_s"],
            "median": out["contenders"][other]["median_s"] / ours["median_s"],
        }
        for other in ("typedeserializer", "pynamodb")
    }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", help="write the result here (default: stdout)")
    args = parser.parse_args(argv)
    result = run(args.items, args.repeat)
    text = json.dumps(result, indent=2)
    if args.json:
        Path(args.json).write_text(text, encoding="utf-8")
    else:
        print(text)
    for other, ratio in result["speedup"].items():
        print(f"ours is {ratio['best']:.2f}x faster than {other} (median {ratio['median']:.2f}x)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
