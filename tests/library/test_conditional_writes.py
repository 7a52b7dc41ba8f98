"""save(condition=Q(...)) and delete(condition=Q(...)): a write only if the stored item matches, on every engine."""

from __future__ import annotations

import pytest

from dynamo_backend import (
    ConditionalCheckFailed,
    ConditionNotMet,
    ProtectedError,
    Q,
    ServiceUnavailable,
    UniqueConstraintError,
    VersionConflict,
    cache,
    connection,
)
from dynamo_backend.stats import count_calls

from .models import INTEGRITY_MODELS, Album, Book, Guarded, Shelf, Tagged, Track
from .test_exactly_once import LoseAnswers


@pytest.fixture
def models(engine):
    engine.create_tables(Guarded, Tagged)


def loaded(model, pk):
    cache.reset()
    return model.objects.get(pk=pk)


def set_raw(engine, model, pk, **values):
    """Change stored attributes behind the library's back (another process; no version bump)."""
    names = {f"#a{i}": name for i, name in enumerate(values)}
    engine.client.update_item(
        TableName=model._meta.table_name,
        Key={"pk": {"S": pk}},
        UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(values))),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={f":v{i}": {"S": v} for i, v in enumerate(values.values())},
    )


# -- save(condition=...) --------------------------------------------------------------------------


def test_a_save_whose_condition_holds_is_written(models):
    obj = Guarded.objects.create(status="open", n=1)

    obj.n = 2
    obj.save(condition=Q(status="open"))

    assert loaded(Guarded, obj.pk).n == 2 and obj.version == 2


def test_a_save_whose_condition_fails_raises_and_writes_nothing(models, engine):
    obj = Guarded.objects.create(status="open", n=1)
    set_raw(engine, Guarded, obj.pk, status="closed")

    obj.n = 2
    with pytest.raises(ConditionNotMet) as error:
        obj.save(condition=Q(status="open"))

    assert isinstance(error.value, ConditionalCheckFailed)
    stored = loaded(Guarded, obj.pk)
    assert (stored.n, stored.status, stored.version) == (1, "closed", 1)


def test_of_two_claims_on_one_item_exactly_one_wins_even_writing_the_same_value(models):
    job = Tagged.objects.create(kind="open")
    first, second = loaded(Tagged, job.pk), loaded(Tagged, job.pk)

    first.kind = "taken"
    first.save(condition=Q(kind="open"))
    second.kind = "taken"  # the very value the winner wrote: still not a success
    with pytest.raises(ConditionNotMet):
        second.save(condition=Q(kind="open"))


def test_a_stale_version_is_a_version_conflict_whatever_the_condition(models):
    obj = Guarded.objects.create(status="open")
    stale = loaded(Guarded, obj.pk)
    obj.n = 5
    obj.save()

    stale.n = 6
    with pytest.raises(VersionConflict):
        stale.save(condition=Q(status="open"))


def test_a_refused_conditional_save_releases_the_new_unique_value_and_keeps_the_old(models, engine):
    obj = Guarded.objects.create(status="open", slug="old")
    set_raw(engine, Guarded, obj.pk, status="closed")

    obj.slug = "new"
    with pytest.raises(ConditionNotMet):
        obj.save(condition=Q(status="open"))

    Guarded.objects.create(slug="new")  # released
    with pytest.raises(UniqueConstraintError):
        Guarded.objects.create(slug="old")  # still held by the stored item


def test_a_condition_that_can_never_hold_makes_no_call(models):
    obj = Guarded.objects.create(status="open")

    obj.n = 1
    with count_calls() as calls, pytest.raises(ConditionNotMet):
        obj.save(condition=Q(pk__in=[]))

    assert calls.count("UpdateItem") == 0


def test_a_new_instance_takes_no_condition(models):
    with pytest.raises(ValueError, match="stored item"):
        Guarded(status="x").save(condition=Q(status="x"))


def test_a_save_with_nothing_to_write_still_checks_its_condition(models, engine):
    obj = loaded(Tagged, Tagged.objects.create(kind="open").pk)

    obj.save(condition=Q(kind="open"))
    set_raw(engine, Tagged, obj.pk, kind="closed")
    with pytest.raises(ConditionNotMet):
        obj.save(condition=Q(kind="open"))


def test_a_condition_on_a_field_the_save_changes_is_never_sent_twice(models, engine):
    obj = Tagged.objects.create(kind="open")

    obj.kind = "taken"
    lossy = connection.use_client(LoseAnswers(connection.get_client(), "update_item"))
    with lossy as client, pytest.raises(ServiceUnavailable) as error:
        obj.save(condition=Q(kind="open"))

    assert error.value.maybe_applied and client.calls.count("update_item") == 1
    assert loaded(Tagged, obj.pk).kind == "taken"  # applied once; the caller was told it may have been


def test_a_condition_on_other_fields_is_retried_after_a_lost_answer_and_succeeds_once(models):
    obj = Tagged.objects.create(kind="open", title="a")

    obj.title = "b"
    with connection.use_client(LoseAnswers(connection.get_client(), "update_item")) as client:
        obj.save(condition=Q(kind="open"))

    assert client.calls.count("update_item") == 2
    assert loaded(Tagged, obj.pk).title == "b"


# -- delete(condition=...) ------------------------------------------------------------------------


def test_a_delete_whose_condition_holds_deletes(models):
    obj = Guarded.objects.create(status="done", slug="s")

    assert obj.delete(condition=Q(status="done")) == (1, {"libtests.Guarded": 1})

    Guarded.objects.create(slug="s")  # its claim went with it


@pytest.mark.parametrize("condition", [Q(kind="done"), Q(kind="done") | Q(title="t"), ~Q(kind="open")])
def test_a_conditional_delete_of_an_unversioned_item(models, condition):
    kept = Tagged.objects.create(kind="open")
    gone = Tagged.objects.create(kind="done")

    with pytest.raises(ConditionNotMet):
        kept.delete(condition=condition)
    assert gone.delete(condition=condition)[0] == 1

    assert [o.pk for o in Tagged.objects.all()] == [kept.pk]


def test_a_delete_whose_condition_fails_keeps_the_item_and_its_claims(models, engine):
    obj = Guarded.objects.create(status="open", slug="s")

    with pytest.raises(ConditionNotMet):
        obj.delete(condition=Q(status="done"))

    assert loaded(Guarded, obj.pk).status == "open"
    with pytest.raises(UniqueConstraintError):
        Guarded.objects.create(slug="s")


def test_a_conditional_delete_of_a_missing_item_is_zero(models):
    obj = Guarded.objects.create(status="done")
    Guarded.objects.filter(pk=obj.pk).delete()

    assert obj.delete(condition=Q(status="done"))[0] == 0


def test_a_conditional_delete_of_a_stale_version_is_a_version_conflict(models):
    obj = Guarded.objects.create(status="done")
    loaded(Guarded, obj.pk).save()  # bumps the version

    with pytest.raises(VersionConflict):
        obj.delete(condition=Q(status="done"))


def test_a_cascading_delete_checks_its_condition_before_touching_a_child(engine):
    engine.create_tables(*INTEGRITY_MODELS)
    album = Album.objects.create(name="kept")
    Track.objects.create(album_pk=album.pk, title="t")

    with pytest.raises(ConditionNotMet):
        album.delete(condition=Q(name="other"))

    assert Track.objects.filter(album_pk=album.pk).count() == 1
    assert album.delete(condition=Q(name="kept"))[0] == 1
    assert Track.objects.count() == 0


def test_a_refused_conditional_save_does_not_move_a_guarded_reference(engine):
    engine.create_tables(*INTEGRITY_MODELS)
    first, second = Shelf.objects.create(name="1"), Shelf.objects.create(name="2")
    book = Book.objects.create(shelf_pk=first.pk, title="b")

    book.shelf_pk = second.pk
    with pytest.raises(ConditionNotMet):
        book.save(condition=Q(title="another"))

    assert loaded(Book, book.pk).shelf_pk == first.pk
    second.delete()  # nothing counted on it
    with pytest.raises(ProtectedError):
        first.delete()
