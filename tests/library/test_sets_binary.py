"""SetField (SS / NS / BS) and BinaryField (B): storage, validation, lookups and binary index keys, on every engine."""

from __future__ import annotations

import decimal

import pytest

from dynamo_backend import (
    BinaryField,
    CharField,
    CompositePrimaryKey,
    DynamoModel,
    FieldError,
    Index,
    JSONField,
    SetField,
    ValidationError,
    cache,
)

from .models import Tagged

pytestmark = [pytest.mark.usefixtures("tables"), pytest.mark.models("Tagged")]


def reloaded(obj: Tagged) -> Tagged:
    cache.reset()
    return Tagged.objects.get(pk=obj.pk)


# -- storage ------------------------------------------------------------------------------


def test_sets_round_trip_as_python_sets(engine):
    obj = Tagged.objects.create(
        tags={"b", "a", ""}, scores={1, 2.5, decimal.Decimal("7")}, blobs={b"\x00", b"\xff"}, ids=[1, 2, 2]
    )

    back = reloaded(obj)

    assert back.tags == {"a", "b", ""} and isinstance(back.tags, set)
    assert back.scores == {1, 2.5, 7}
    assert back.blobs == {b"\x00", b"\xff"}
    assert back.ids == {1, 2}


def test_sets_are_stored_as_dynamodb_sets(engine):
    obj = Tagged.objects.create(tags={"b", "a"}, scores={decimal.Decimal("1.50"), 10}, blobs={b"x"})

    raw = engine.raw_get(Tagged, obj.pk)

    assert sorted(raw["tags"]["SS"]) == ["a", "b"]
    assert sorted(raw["scores"]["NS"]) == ["1.5", "10"]  # one spelling per number
    assert raw["blobs"]["BS"] == [b"x"]


def test_an_empty_set_is_stored_absent_and_reads_back_none(engine):
    obj = Tagged.objects.create(tags=set(), scores=[])

    assert obj.tags is None and obj.scores is None
    assert "tags" not in engine.raw_get(Tagged, obj.pk)
    assert reloaded(obj).tags is None


def test_a_non_nullable_set_needs_an_element():
    field = SetField(of="string", nullable=False)

    with pytest.raises(ValueError, match="at least one element"):
        field.clean(set())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (SetField(of="string"), "abc"),
        (SetField(of="string"), {1}),
        (SetField(of="number"), {True}),
        (SetField(of="number"), {float("nan")}),
        (SetField(of="binary"), {"text"}),
        (SetField(of="string"), {None}),
    ],
)
def test_set_elements_are_validated(field, value):
    with pytest.raises(ValueError):
        field.clean(value)


def test_choices_apply_to_each_element(engine):
    with pytest.raises(ValidationError) as error:
        Tagged.objects.create(ids={1, 9})

    assert "ids" in error.value.message_dict


def test_set_field_declarations_are_checked():
    with pytest.raises(TypeError, match="one of the two"):
        SetField()
    with pytest.raises(TypeError, match="'string', 'number' or 'binary'"):
        SetField(of="text")
    with pytest.raises(TypeError, match="strings, numbers or bytes"):
        SetField(JSONField())


def test_binary_round_trips_as_bytes(engine):
    obj = Tagged.objects.create(blob=bytearray(b"\x00\x01\xfe"), digest=b"")

    back = reloaded(obj)

    assert back.blob == b"\x00\x01\xfe" and type(back.blob) is bytes
    assert engine.raw_get(Tagged, obj.pk)["blob"] == {"B": b"\x00\x01\xfe"}


def test_empty_bytes_in_an_index_key_are_stored_absent(engine):
    obj = Tagged.objects.create(kind="k", blob=b"")

    assert "blob" not in engine.raw_get(Tagged, obj.pk)
    assert Tagged.objects.filter(blob__isnull=True).count() == 1


def test_binary_rejects_text():
    with pytest.raises(ValueError, match="Expected bytes"):
        BinaryField().clean("text")


def test_a_huge_set_is_refused_before_it_is_sent(engine):
    with pytest.raises(ValidationError) as error:
        Tagged.objects.create(tags={f"{i:06d}" + "x" * 1000 for i in range(500)})

    assert "tags" in error.value.message_dict


# -- saves of loaded instances ------------------------------------------------------------------


def test_saving_other_fields_leaves_a_concurrently_grown_set_alone(engine):
    obj = Tagged.objects.create(tags={"c", "a", "b"}, scores={3, 1, 2})
    loaded = reloaded(obj)
    engine.client.update_item(
        TableName=Tagged._meta.table_name,
        Key={"pk": {"S": obj.pk}},
        UpdateExpression="ADD #t :v",
        ExpressionAttributeNames={"#t": "tags"},
        ExpressionAttributeValues={":v": {"SS": ["d"]}},
    )

    loaded.title = "renamed"
    loaded.save()

    assert reloaded(obj).tags == {"a", "b", "c", "d"}


def test_a_set_changed_in_place_is_saved(engine):
    obj = reloaded(Tagged.objects.create(tags={"a"}))

    obj.tags.add("z")
    obj.save()

    assert reloaded(obj).tags == {"a", "z"}


# -- lookups ----------------------------------------------------------------------------------


@pytest.fixture
def tagged(engine):
    return [
        Tagged.objects.create(title="one", tags={"red", "blue"}, scores={1, 2.5}, blobs={b"\x01"}, blob=b"\x10"),
        Tagged.objects.create(title="two", tags={"red"}, scores={3}, blob=b"\x80"),
        Tagged.objects.create(title="three", blob=b"\xff\x00"),
    ]


def titles(qs) -> list[str]:
    return sorted(o.title for o in qs)


def test_contains_on_a_set_is_element_membership(tagged):
    assert titles(Tagged.objects.filter(tags__contains="red")) == ["one", "two"]
    assert titles(Tagged.objects.filter(tags__contains="blue")) == ["one"]
    assert titles(Tagged.objects.filter(scores__contains=2.5)) == ["one"]
    assert titles(Tagged.objects.filter(blobs__contains=b"\x01")) == ["one"]
    assert titles(Tagged.objects.exclude(tags__contains="blue")) == ["three", "two"]


def test_contains_on_a_set_is_checked_in_python_after_a_get_item(tagged):
    one = tagged[0]

    assert Tagged.objects.filter(pk=one.pk, tags__contains="blue").exists()
    assert not Tagged.objects.filter(pk=one.pk, tags__contains="green").exists()


def test_exact_and_isnull_on_a_set(tagged):
    assert titles(Tagged.objects.filter(tags={"red"})) == ["two"]
    assert titles(Tagged.objects.filter(tags=set())) == ["three"]
    assert titles(Tagged.objects.filter(tags__isnull=True)) == ["three"]


@pytest.mark.parametrize("lookup", ["in", "gt", "startswith", "range"])
def test_lookups_sets_do_not_have_are_refused(lookup):
    with pytest.raises(FieldError):
        Tagged.objects.filter(**{f"tags__{lookup}": "x"})


def test_exact_in_and_isnull_on_binary(tagged):
    assert titles(Tagged.objects.filter(blob=b"\x80")) == ["two"]
    assert titles(Tagged.objects.filter(blob__in=[b"\x10", b"\xff\x00"])) == ["one", "three"]
    assert titles(Tagged.objects.filter(digest__isnull=True)) == ["one", "three", "two"]


def test_binary_compares_byte_by_byte_as_python_bytes(tagged):
    # 0x80 > 0x7f: unsigned bytes, as Python orders bytes
    assert titles(Tagged.objects.filter(blob__gt=b"\x7f")) == ["three", "two"]
    assert titles(Tagged.objects.filter(blob__range=(b"\x00", b"\x80"))) == ["one", "two"]
    ordered = [o.blob for o in Tagged.objects.order_by("-blob")]
    assert ordered == sorted(ordered, reverse=True)


@pytest.mark.parametrize("lookup", ["contains", "startswith"])
def test_substring_lookups_on_binary_are_refused(lookup):
    with pytest.raises(ValidationError):
        Tagged.objects.filter(**{f"blob__{lookup}": b"\x00"})


def test_a_binary_partition_key_is_queried_on_its_index(tagged):
    qs = Tagged.objects.filter(blob=b"\x80")

    assert (qs.explain()["operation"], qs.explain()["index"]) == ("Query", "blob-index")
    assert titles(qs) == ["two"]


def test_a_binary_sort_key_orders_and_bounds_the_query(engine):
    digests = [b"\x00", b"\x7f", b"\x80", b"\xff", b"\xff\x01"]
    for digest in digests:
        Tagged.objects.create(kind="k", digest=digest, title=digest.hex())
    qs = Tagged.objects.filter(kind="k", digest__gte=b"\x7f").order_by("-digest")

    plan = qs.explain()
    assert (plan["operation"], plan["index"], plan["scan_index_forward"]) == ("Query", "kind-digest-index", False)
    assert [o.digest for o in qs] == sorted(digests[1:], reverse=True)


def test_the_binary_index_key_is_declared_as_b(engine):
    table = engine.client.describe_table(TableName=Tagged._meta.table_name)["Table"]

    types = {d["AttributeName"]: d["AttributeType"] for d in table["AttributeDefinitions"]}
    assert types["blob"] == "B" and types["digest"] == "B"


# -- declarations ------------------------------------------------------------------------------


def test_a_set_cannot_be_an_index_key():
    with pytest.raises(FieldError, match="GSI keys"):

        class SetIndexed(DynamoModel):
            class Meta:
                app_label = "libtests"

            tags = SetField(of="string", index=True)


def test_binary_cannot_key_the_table():
    with pytest.raises(FieldError, match="key field"):

        class BinaryKeyed(DynamoModel):
            class Meta:
                app_label = "libtests"

            pk = CompositePrimaryKey("owner", "digest")
            owner = CharField(nullable=False)
            digest = BinaryField(nullable=False)


def test_binary_and_sets_cannot_be_unique_together():
    with pytest.raises(FieldError, match="unique constraint"):

        class BinaryUnique(DynamoModel):
            class Meta:
                app_label = "libtests"
                unique_together = [("owner", "digest")]
                indexes = [Index("owner")]

            owner = CharField()
            digest = BinaryField()


def test_stored_sets_compare_without_order_or_number_spelling():
    strings, numbers = SetField(of="string"), SetField(of="number")

    assert strings.stored_equal({"SS": ["b", "a"]}, {"SS": ["a", "b"]})
    assert numbers.stored_equal({"NS": ["1.50", "2"]}, {"NS": ["2", "1.5"]})
    assert not strings.stored_equal({"SS": ["a"]}, None)
    assert strings.stored_equal(None, None)
