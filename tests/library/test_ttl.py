"""TTLField: DynamoDB's Time to Live, enabled by ensure_table, and expired items hidden before DynamoDB deletes them."""

from __future__ import annotations

import datetime as dt

import pytest

from dynamo_backend import CharField, DynamoModel, FieldError, TTLField
from dynamo_backend.fields import scalars
from dynamo_backend.schema_apply import capabilities
from dynamo_backend.table import enable_ttl

NOW = 1_800_000_000  # a fixed "now" (2027-01-15)


class Session(DynamoModel):
    class Meta:
        app_label = "libtests"

    user = CharField(index=True)
    expires_at = TTLField()


@pytest.fixture
def clock(monkeypatch):
    now = {"t": NOW}
    monkeypatch.setattr(scalars, "ttl_clock", lambda: now["t"])
    return now


@pytest.fixture
def sessions(engine, clock):
    engine.create_tables(Session)
    live = Session.objects.create(user="u", expires_at=NOW + 60)
    dead = Session.objects.create(user="u", expires_at=NOW - 1)
    eternal = Session.objects.create(user="u")
    return live, dead, eternal


def test_ttl_field_stores_epoch_seconds_and_reads_an_aware_datetime(engine, sessions):
    live = sessions[0]
    raw = engine.raw_get(Session, live.pk)
    assert raw["expires_at"] == {"N": str(NOW + 60)}
    assert Session.objects.get(pk=live.pk).expires_at == dt.datetime.fromtimestamp(NOW + 60, dt.UTC)


def test_expired_items_are_absent_to_get_and_in_bulk(sessions):
    live, dead, eternal = sessions
    with pytest.raises(Session.DoesNotExist):
        Session.objects.get(pk=dead.pk)
    assert set(Session.objects.in_bulk([live.pk, dead.pk, eternal.pk])) == {live.pk, eternal.pk}


def test_expired_items_are_absent_to_queries_scans_and_counts(sessions):
    live, _dead, eternal = sessions
    assert {s.pk for s in Session.objects.filter(user="u")} == {live.pk, eternal.pk}
    assert {s.pk for s in Session.objects.all()} == {live.pk, eternal.pk}
    assert Session.objects.filter(user="u").count() == 2


def test_items_expire_while_cached(sessions, clock):
    live = sessions[0]
    assert Session.objects.get(pk=live.pk)  # now in the item cache
    clock["t"] = NOW + 61
    with pytest.raises(Session.DoesNotExist):
        Session.objects.get(pk=live.pk)


def test_ensure_table_enables_time_to_live_where_the_engine_has_it(engine, sessions):
    enabled = enable_ttl(Session)
    if capabilities().why_not("ttl"):  # dynalite: no UpdateTimeToLive; the table works, expired items are only hidden
        assert enabled is False
        assert Session.objects.count() == 2
        return
    assert enabled is True
    described = engine.client.describe_time_to_live(TableName=Session._meta.table_name)["TimeToLiveDescription"]
    assert described["TimeToLiveStatus"] in ("ENABLED", "ENABLING")
    assert described["AttributeName"] == "expires_at"


def test_two_ttl_fields_fail_at_class_creation():
    with pytest.raises(FieldError, match="one TTLField"):
        type(
            "Twice",
            (DynamoModel,),
            {
                "__module__": __name__,
                "Meta": type("Meta", (), {"app_label": "libtests"}),
                "a": TTLField(),
                "b": TTLField(),
            },
        )
