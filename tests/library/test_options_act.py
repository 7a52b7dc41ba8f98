"""Every Meta option and field argument the library accepts acts; anything else fails at class creation."""

from __future__ import annotations

import pytest
from django.core.validators import MinValueValidator

from dynamo_backend import CharField, DynamoModel, FieldError, IntegerField, ValidationError
from dynamo_backend.stats import count_calls
from dynamo_backend.table import ensure_table

from .models import Post


class Ranked(DynamoModel):
    class Meta:
        app_label = "libtests"
        ordering = ["-rank", "name"]

    name = CharField()
    rank = IntegerField()


class Graded(DynamoModel):
    class Meta:
        app_label = "libtests"

    grade = CharField(choices=[("a", "Top"), ("b", "Middle"), ("Low", [("c", "Low"), ("d", "Lowest")])])
    size = CharField(choices=["s", "m", "l"])
    score = IntegerField(validators=[MinValueValidator(0)])


# -- refused at class creation (no engine) -------------------------------------------


@pytest.mark.parametrize("option", ["verbose_name", "verbose_name_plural", "db_table", "orderin"])
def test_unknown_meta_option_fails_at_class_creation(option):
    with pytest.raises(FieldError, match=option):
        type("Bad", (DynamoModel,), {"__module__": __name__, "Meta": type("Meta", (), {option: "x"})})


def test_meta_ordering_naming_an_unknown_field_fails_at_class_creation():
    meta = type("Meta", (), {"app_label": "libtests", "ordering": ["-nope"]})
    with pytest.raises(FieldError, match="nope"):
        type("Bad", (DynamoModel,), {"__module__": __name__, "Meta": meta, "name": CharField()})


def test_meta_ordering_as_a_string_fails_at_class_creation():
    meta = type("Meta", (), {"app_label": "libtests", "ordering": "name"})
    with pytest.raises(FieldError, match="list"):
        type("Bad", (DynamoModel,), {"__module__": __name__, "Meta": meta, "name": CharField()})


@pytest.mark.parametrize("argument", ["help_text", "verbose_name", "db_column", "blank"])
def test_unknown_field_argument_is_refused(argument):
    with pytest.raises(TypeError, match=argument):
        CharField(**{argument: "x"})


def test_validators_must_be_callables():
    with pytest.raises(TypeError, match="callables"):
        IntegerField(validators=[0])


# -- choices and validators (full_clean, no engine) ---------------------------------------


def test_choices_accept_listed_values_and_grouped_pairs():
    Graded(grade="a", size="m", score=1).full_clean()
    Graded(grade="d", size="l", score=0).full_clean()


def test_choices_refuse_other_values_naming_the_field():
    with pytest.raises(ValidationError) as info:
        Graded(grade="Low", size="xl", score=1).full_clean()
    assert set(info.value.message_dict) == {"grade", "size"}
    assert "not a valid choice" in info.value.message_dict["size"][0]


def test_validators_run_in_full_clean_with_their_message():
    with pytest.raises(ValidationError) as info:
        Graded(grade="a", size="s", score=-1).full_clean()
    assert list(info.value.message_dict) == ["score"]
    assert "greater than or equal to 0" in info.value.message_dict["score"][0]


def test_null_skips_choices_and_validators():
    Graded(grade=None, size=None, score=None).full_clean()


# -- Meta.ordering and bulk_create(batch_size=) on an engine ---------------------------------


@pytest.fixture
def ranked(engine):
    ensure_table(Ranked)
    Ranked.objects.bulk_create(
        [Ranked(name=n, rank=r) for n, r in [("b", 1), ("a", 3), ("c", 3), ("d", None), ("e", 2)]]
    )
    return Ranked


def test_meta_ordering_orders_every_queryset(ranked):
    assert [r.name for r in Ranked.objects.all()] == ["a", "c", "e", "b", "d"]
    assert Ranked.objects.all().ordered


def test_meta_ordering_drives_first_and_last(ranked):
    assert Ranked.objects.first().name == "a"
    assert Ranked.objects.last().name == "d"


def test_order_by_replaces_meta_ordering_and_empty_order_by_clears_it(ranked):
    assert [r.name for r in Ranked.objects.order_by("name")] == ["a", "b", "c", "d", "e"]
    unordered = Ranked.objects.order_by()
    assert not unordered.ordered
    assert sorted(r.name for r in unordered) == ["a", "b", "c", "d", "e"]


def test_meta_ordering_applies_before_slicing(ranked):
    assert [r.name for r in Ranked.objects.all()[1:3]] == ["c", "e"]


@pytest.mark.models("Post")
def test_bulk_create_batch_size_caps_items_per_call(tables):
    posts = [Post(title=f"t{n}", slug=f"s{n}") for n in range(7)]
    with count_calls() as log:
        Post.objects.bulk_create(posts, batch_size=3)
    # 7 items in calls of at most 3, plus one conditional claim per unique slug
    assert log.count("BatchWriteItem") == 3
    assert Post.objects.count() == 7


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_bulk_create_refuses_a_bad_batch_size(bad):
    with pytest.raises(ValueError, match="batch_size"):
        Post.objects.bulk_create([Post(title="t", slug="s")], batch_size=bad)


def test_a_lone_surrogate_is_a_validation_error_naming_the_field():
    with pytest.raises(ValidationError) as info:
        Post(title="ok \ud800", slug="s").full_clean()
    assert list(info.value.message_dict) == ["title"]
    assert "surrogate" in info.value.message_dict["title"][0]
