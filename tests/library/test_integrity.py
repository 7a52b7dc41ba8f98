"""Referential integrity: on_delete PROTECT / CASCADE / SET_NULL, atomic with the writes that add children.

Runs on every engine: TransactWriteItems on moto; dynalite has none, and the
library's fallback (counts moved one call at a time, before a child is added
and after it is removed) must give the same answers here.
"""

from __future__ import annotations

import threading

import pytest

from dynamo_backend import ProtectedError, RelatedObjectMissing, cascade, integrity

from .models import INTEGRITY_MODELS, Album, Book, Lyric, Shelf, Sleeve, Track


@pytest.fixture
def tables(engine):
    engine.create_tables(*INTEGRITY_MODELS)
    return engine


def stored_count(engine, parent, relation_model, field):
    raw = engine.raw_get(type(parent), parent.pk) or {}
    relation = next(r for r in integrity.incoming(type(parent)) if r.child is relation_model and r.field == field)
    return int(raw.get(relation.counter, {"N": "0"})["N"])


# -- PROTECT ---------------------------------------------------------------------------------


def test_protect_refuses_deleting_a_parent_with_children(tables):
    shelf = Shelf.objects.create(name="s")
    book = Book.objects.create(shelf_pk=shelf.pk, title="b")
    with pytest.raises(ProtectedError, match="1 Book"):
        shelf.delete()
    assert tables.raw_get(Shelf, shelf.pk) is not None
    book.delete()
    assert shelf.delete()[0] == 1
    assert tables.raw_get(Shelf, shelf.pk) is None


def test_a_child_of_a_missing_parent_is_refused_naming_the_field(tables):
    with pytest.raises(RelatedObjectMissing) as info:
        Book.objects.create(shelf_pk="00000000-0000-4000-8000-000000000001", title="orphan")
    assert info.value.field == "shelf_pk"
    assert Book.objects.consistent().filter(title="orphan").count() == 0


def test_counts_follow_creates_moves_and_deletes(tables):
    first, second = Shelf.objects.create(name="a"), Shelf.objects.create(name="b")
    books = [Book.objects.create(shelf_pk=first.pk, title=f"b{n}") for n in range(3)]
    assert stored_count(tables, first, Book, "shelf_pk") == 3
    books[0].shelf_pk = second.pk
    books[0].save()
    Book.objects.filter(pk=books[1].pk).update(shelf_pk=second.pk)
    assert (stored_count(tables, first, Book, "shelf_pk"), stored_count(tables, second, Book, "shelf_pk")) == (1, 2)
    Book.objects.filter(shelf_pk=second.pk).delete()
    assert stored_count(tables, second, Book, "shelf_pk") == 0
    second.delete()
    with pytest.raises(ProtectedError):
        first.delete()


def test_moving_a_child_to_a_missing_parent_is_refused_and_writes_nothing(tables):
    shelf = Shelf.objects.create(name="a")
    book = Book.objects.create(shelf_pk=shelf.pk, title="b")
    book.shelf_pk = "00000000-0000-4000-8000-000000000002"
    with pytest.raises(RelatedObjectMissing):
        book.save()
    assert Book.objects.consistent().get(pk=book.pk).shelf_pk == shelf.pk
    assert stored_count(tables, shelf, Book, "shelf_pk") == 1


def test_creating_children_racing_a_protected_delete_leaves_no_orphan(tables):
    for round_ in range(15):
        shelf = Shelf.objects.create(name=f"race{round_}")
        barrier = threading.Barrier(3)
        outcomes = []

        def add_book(n, shelf_pk=shelf.pk, barrier=barrier, outcomes=outcomes):
            barrier.wait()
            try:
                Book.objects.create(shelf_pk=shelf_pk, title=f"r{n}")
                outcomes.append("created")
            except RelatedObjectMissing:
                outcomes.append("refused")

        def delete_shelf(shelf=shelf, barrier=barrier, outcomes=outcomes):
            barrier.wait()
            try:
                shelf.delete()
                outcomes.append("deleted")
            except ProtectedError:
                outcomes.append("protected")

        threads = [threading.Thread(target=add_book, args=(n,)) for n in range(2)]
        threads.append(threading.Thread(target=delete_shelf))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        shelf_exists = tables.raw_get(Shelf, shelf.pk) is not None
        children = [b for b in tables.raw_scan(Book) if b["shelf_pk"]["S"] == shelf.pk]
        assert shelf_exists or not children, (round_, outcomes)  # never an orphan
        assert ("deleted" in outcomes) == (not shelf_exists)
        assert outcomes.count("created") == len(children)
        for child in children:
            Book.objects.get(pk=child["pk"]["S"]).delete()


# -- CASCADE and SET_NULL -------------------------------------------------------------------


def test_cascade_deletes_children_and_grandchildren(tables):
    album = Album.objects.create(name="a")
    other = Album.objects.create(name="keep")
    tracks = [Track.objects.create(album_pk=album.pk, title=f"t{n}") for n in range(12)]
    for track in tracks[:3]:
        Lyric.objects.create(track_pk=track.pk, line="la")
    kept = Track.objects.create(album_pk=other.pk, title="kept")
    assert album.delete()[0] == 1
    assert tables.raw_get(Album, album.pk) is None
    assert [t["pk"]["S"] for t in tables.raw_scan(Track)] == [kept.pk]
    assert tables.raw_scan(Lyric) == []


def test_set_null_detaches_children_then_deletes_the_parent(tables):
    album = Album.objects.create(name="a")
    sleeves = [Sleeve.objects.create(album_pk=album.pk, text=f"s{n}") for n in range(3)]
    album.delete()
    assert tables.raw_get(Album, album.pk) is None
    assert {s.pk: s.album_pk for s in Sleeve.objects.consistent().filter(pk__in=[s.pk for s in sleeves])} == {
        s.pk: None for s in sleeves
    }


def test_a_deleting_parent_takes_no_new_child(tables):
    album = Album.objects.create(name="a")
    cascade._mark_deleting(Album, album.pk)
    with pytest.raises(RelatedObjectMissing):
        Track.objects.create(album_pk=album.pk, title="late")


def test_an_interrupted_cascade_resumes_when_deleted_again(tables, monkeypatch):
    album = Album.objects.create(name="a")
    for n in range(6):
        Track.objects.create(album_pk=album.pk, title=f"t{n}")
    real_delete = Track.delete
    calls = {"n": 0}

    def crash_after_two(self):
        calls["n"] += 1
        if calls["n"] > 2:
            raise RuntimeError("process died")
        return real_delete(self)

    monkeypatch.setattr(Track, "delete", crash_after_two)
    with pytest.raises(RuntimeError):
        album.delete()
    monkeypatch.setattr(Track, "delete", real_delete)
    raw = tables.raw_get(Album, album.pk)
    assert raw is not None and integrity.DELETING in raw  # marked: no new track can join meanwhile
    assert Album.objects.consistent().get(pk=album.pk).delete()[0] == 1
    assert tables.raw_scan(Track) == []
