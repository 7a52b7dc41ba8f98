"""Values come back from DynamoDB exactly as they went in, with their Python types."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
import zoneinfo

import pytest

from dynamo_backend import cache

from .models import Post, Typed

pytestmark = [pytest.mark.usefixtures("tables"), pytest.mark.models("Typed")]


def round_trip(**values) -> Typed:
    """Create, forget every cache, and read the item back from the engine."""
    obj = Typed.objects.create(**values)
    cache.reset()
    return Typed.objects.get(pk=obj.pk)


def test_int_stays_int(engine):
    back = round_trip(i=2**62 + 1)

    assert back.i == 2**62 + 1 and type(back.i) is int


def test_negative_and_zero_ints_stay_ints(engine):
    assert round_trip(i=-7).i == -7
    assert type(round_trip(i=0).i) is int


def test_float_point_one_stays_point_one(engine):
    back = round_trip(f=0.1)

    assert back.f == 0.1 and type(back.f) is float
    assert engine.raw_get(Typed, back.pk)["f"] == {"N": "0.1"}


@pytest.mark.parametrize("value", [1 / 3, 1e-7, 123456.789, -2.5, 1e100])
def test_float_round_trips_exactly(engine, value):
    assert round_trip(f=value).f == value


def test_whole_float_stays_float(engine):
    back = round_trip(f=2.0)

    assert back.f == 2.0 and type(back.f) is float


def test_decimal_is_exact(engine):
    value = decimal.Decimal("12345678901234567890.123456789")

    back = round_trip(d=value)

    assert back.d == value and isinstance(back.d, decimal.Decimal)


def test_decimal_money_keeps_its_value(engine):
    assert round_trip(d=decimal.Decimal("19.99")).d == decimal.Decimal("19.99")


def test_datetime_comes_back_aware_utc(engine):
    paris = dt.datetime(2024, 7, 14, 10, 30, 15, 123456, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))

    back = round_trip(dt=paris)

    assert back.dt == paris
    assert back.dt.utcoffset() == dt.timedelta(0)
    assert back.dt.tzinfo is not None


@pytest.mark.models("Post")
def test_auto_now_add_is_aware_utc(engine):
    post = Post.objects.create(title="t", slug="s")
    cache.reset()

    created = Post.objects.get(pk=post.pk).created_at

    assert created.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - created) < dt.timedelta(minutes=5)


def test_json_nested_with_floats_round_trips(engine):
    value = {"a": [1, 2.5, {"b": 0.1, "c": None, "d": True}], "e": "s", "f": {"g": {"h": [[]]}}, "i": -0.25}

    back = round_trip(j=value)

    assert back.j == value
    assert type(back.j["a"][0]) is int and type(back.j["a"][1]) is float
    assert type(back.j["a"][2]["b"]) is float


def test_json_list_at_top_level_round_trips(engine):
    assert round_trip(j=[1, "two", 3.5, None]).j == [1, "two", 3.5, None]


def test_list_round_trips(engine):
    value = ["a", 1, 0.5, True, None, {"x": [1]}]

    assert round_trip(items=value).items == value


def test_empty_list_round_trips(engine):
    assert round_trip(items=[]).items == []


def test_uuid_comes_back_as_its_canonical_string(engine):
    value = uuid.uuid4()

    back = round_trip(u=value)

    assert back.u == str(value)


def test_bool_false_stays_false(engine):
    back = round_trip(b=False)

    assert back.b is False


def test_bool_true_stays_true(engine):
    assert round_trip(b=True).b is True


def test_none_is_stored_as_an_absent_attribute(engine):
    back = round_trip(i=None, f=None, j=None)

    assert (back.i, back.f, back.j) == (None, None, None)
    item = engine.raw_get(Typed, back.pk)
    assert not {"i", "f", "j"} & set(item)


def test_pk_is_a_uuid4_string(engine):
    obj = Typed.objects.create()

    assert isinstance(obj.pk, str) and uuid.UUID(obj.pk).version == 4


def test_types_survive_a_scan_as_well(engine):
    Typed.objects.create(i=3, f=0.1, d=decimal.Decimal("1.10"), b=False, items=[1.5])
    cache.reset()

    (back,) = Typed.objects.filter(i=3)

    assert (back.f, back.d, back.b, back.items) == (0.1, decimal.Decimal("1.10"), False, [1.5])
    assert type(back.i) is int


def test_filter_by_float_and_decimal_values(engine):
    Typed.objects.create(f=0.1, d=decimal.Decimal("19.99"))

    assert Typed.objects.filter(f=0.1).count() == 1
    assert Typed.objects.filter(d=decimal.Decimal("19.99")).count() == 1


def test_filter_by_datetime_range(engine):
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    for days in (0, 10, 20):
        Typed.objects.create(i=days, dt=base + dt.timedelta(days=days))

    found = Typed.objects.filter(dt__range=(base + dt.timedelta(days=5), base + dt.timedelta(days=25)))

    assert sorted(t.i for t in found) == [10, 20]
