"""dynamo_tables plan / apply on every engine: the live tables brought to the models, safely and once.

Models come in versions over one table (schema_models.py): the table is made
for V1, then planned and applied for V2. What an engine lacks (dynalite: TTL
updates, streams, point-in-time recovery, deletion protection, encryption) is
a skipped step there, never a failure: those tests assert either outcome by
asking the endpoint's capabilities, as apply does.
"""

from __future__ import annotations

import io
import logging

import pytest
from django.core.management import CommandError, call_command

from dynamo_backend import schema_apply, unique
from dynamo_backend.schema_steps import (
    BackfillClaims,
    CreateIndex,
    CreateTable,
    DeleteIndex,
    MarkClaimsComplete,
    TagTable,
    UpdateTable,
    UpdateTimeToLive,
)
from dynamo_backend.stats import count_calls
from dynamo_backend.table import ensure_table
from dynamo_backend.table_options import live_billing

from .models import Comment, Counted, Message, Post, Thread
from .schema_models import LogV1, LogV2, ShopV1, ShopV2, ShopV3, ShopV4, TicketV1, TicketV2, Vault

# Calls that change a table or an item: a second apply sends none of them.
WRITES = {
    "CreateTable",
    "UpdateTable",
    "DeleteTable",
    "UpdateTimeToLive",
    "UpdateContinuousBackups",
    "TagResource",
    "UntagResource",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
}
MODELS = [Post, Comment, Counted, Thread, Message, TicketV2]


def kinds(steps) -> list[str]:
    return [type(step).__name__ for step in steps]


def gsis(engine, model) -> dict[str, dict]:
    table = engine.client.describe_table(TableName=model._meta.table_name)["Table"]
    return {g["IndexName"]: g for g in table.get("GlobalSecondaryIndexes", [])}


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("dynamo_tables", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_plan_of_an_empty_endpoint_creates_every_table_and_marks_new_claims_complete(engine):
    plan = schema_apply.plan([Post, Counted])

    created = [step.table for step in plan.steps if isinstance(step, CreateTable)]
    assert created == [Post._meta.table_name, Post._meta.unique_table_name, Counted._meta.table_name,
                       f"{Counted._meta.table_name}__counters"]  # fmt: skip
    (mark,) = [step for step in plan.steps if isinstance(step, MarkClaimsComplete)]
    assert mark.labels == ("slug",)
    assert engine.table_names() == []  # planning changes nothing


def test_apply_twice_changes_nothing_the_second_time(engine):
    first = schema_apply.apply(MODELS)
    assert first.ok and first.done

    again = schema_apply.plan(MODELS)
    assert again.changes == [] and not again
    with count_calls() as calls:
        second = schema_apply.apply(MODELS)
    assert second.done == []
    assert not set(calls.by_operation()) & WRITES, calls.by_operation()


def test_what_apply_creates_is_what_ensure_table_creates(engine):
    for model in MODELS:
        ensure_table(model)

    assert schema_apply.plan(MODELS).changes == []


def test_apply_adds_and_removes_global_indexes_one_update_each(engine, spy):
    ensure_table(ShopV1)
    ShopV1.objects.create(name="a", email="a@x", city="Oslo")

    plan = schema_apply.plan([ShopV2])
    assert [(type(s).__name__, s.index) for s in plan.steps if isinstance(s, DeleteIndex | CreateIndex)] == [
        ("DeleteIndex", "name-index"),
        ("CreateIndex", "city-index"),
    ]
    spy.clear()
    result = schema_apply.apply([ShopV2])

    for request in spy.of("update_table"):
        assert len(request.get("GlobalSecondaryIndexUpdates", [])) <= 1
    assert schema_apply.plan([ShopV2]).changes == []
    ignored = schema_apply.capabilities().why_not("index_updates")
    if ignored:  # dynalite takes GSI changes and ignores them: skipped, said why, nothing hangs
        assert ignored.startswith("this endpoint")
        assert not any(isinstance(step, DeleteIndex | CreateIndex) for step in result.done)
        return
    assert set(gsis(engine, ShopV2)) == {"city-index"}
    assert [shop.name for shop in ShopV2.objects.filter(city="Oslo")] == ["a"]


def test_an_index_whose_key_changed_is_deleted_then_created(engine):
    ensure_table(ShopV1)

    plan = schema_apply.plan([ShopV3])
    index_steps = [s for s in plan.steps if isinstance(s, DeleteIndex | CreateIndex)]
    assert kinds(index_steps) == ["DeleteIndex", "CreateIndex"]
    assert {s.index for s in index_steps} == {"name-index"}
    schema_apply.apply([ShopV3])

    assert schema_apply.plan([ShopV3]).changes == []
    if not schema_apply.capabilities().why_not("index_updates"):
        keys = [k["AttributeName"] for k in gsis(engine, ShopV3)["name-index"]["KeySchema"]]
        assert keys == ["city", "name"]


def test_an_index_whose_projection_changed_is_replaced_and_then_completes_its_items(engine):
    ensure_table(ShopV1)
    ShopV1.objects.create(name="a", email="a@x", city="Oslo")

    printed = run("plan", "schematests.ShopV4")
    assert "name-index" in printed and "projection changed" in printed
    schema_apply.apply([ShopV4])

    assert schema_apply.plan([ShopV4]).changes == []
    if not schema_apply.capabilities().why_not("index_updates"):
        assert gsis(engine, ShopV4)["name-index"]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
        assert [(s.name, s.email) for s in ShopV4.objects.filter(name="a")] == [("a", "a@x")]


def test_a_changed_local_index_is_reported_as_a_rebuild_and_never_applied(engine):
    ensure_table(LogV1)
    LogV1.objects.create(stream="s", at=1, level=2, code=3)

    result = schema_apply.apply([LogV2])

    assert not result.ok
    (rebuild,) = result.plan.rebuilds
    assert "local secondary indexes differ" in rebuild.reason and "stream-level-index" in rebuild.reason
    assert [log.at for log in LogV1.objects.filter(stream="s")] == [1]  # the table and its item are still there
    with pytest.raises(CommandError, match="must be rebuilt"):
        run("plan", "schematests.LogV2")


def test_claims_of_a_field_that_became_unique_are_backfilled_then_marked_complete(engine):
    ensure_table(ShopV1)
    shops = [ShopV1.objects.create(name=f"s{i}", email=f"s{i}@x", city="Oslo") for i in range(12)]
    ShopV1.objects.create(name="no email", city="Oslo")

    plan = schema_apply.plan([ShopV2])
    (backfill,) = [step for step in plan.steps if isinstance(step, BackfillClaims)]
    assert backfill.labels == ("email",)
    result = schema_apply.apply([ShopV2], total_segments=3, max_rcu_per_second=1000)

    (done,) = result.backfills
    assert done.complete and done.scanned == 13 and done.claimed == 12
    assert unique.complete_labels(ShopV2._meta.unique_table_name) == {"email"}
    assert ShopV2.objects.get(email="s7@x").pk == shops[7].pk
    with pytest.raises(ShopV2.DoesNotExist):
        ShopV2.objects.get(email="nobody@x")
    assert schema_apply.plan([ShopV2]).changes == []


def test_a_backfill_lists_conflicts_and_leaves_the_constraint_unmarked(engine):
    ensure_table(ShopV1)
    first = ShopV1.objects.create(name="a", email="same@x")
    second = ShopV1.objects.create(name="b", email="same@x")
    ShopV1.objects.create(name="c", email="other@x")

    result = schema_apply.apply([ShopV2])

    assert not result.ok
    (conflict,) = result.conflicts
    assert conflict.label == "email" and conflict.value == "same@x"
    assert {conflict.holder, conflict.other} == {first.pk, second.pk}
    assert "email" not in unique.complete_labels(ShopV2._meta.unique_table_name)
    assert any(isinstance(step, BackfillClaims) for step in schema_apply.plan([ShopV2]).changes)
    with pytest.raises(CommandError, match="held by two items"):
        run("apply", "schematests.ShopV2")

    loser = ShopV2.objects.get(pk=conflict.other)
    loser.email = "fixed@x"
    loser.save()
    assert schema_apply.apply([ShopV2]).ok
    assert schema_apply.plan([ShopV2]).changes == []


def test_apply_resumes_after_an_interruption(engine):
    ensure_table(TicketV1)
    ticket = TicketV1.objects.create(title="t")

    class Interrupted(Exception):
        pass

    def crash_after_one(event, step):
        if event == "done":
            raise Interrupted(step.text())

    planned = len(schema_apply.plan([TicketV2]).changes)
    with pytest.raises(Interrupted):
        schema_apply.apply([TicketV2], report=crash_after_one)
    assert 0 < len(schema_apply.plan([TicketV2]).changes) < planned  # the first step stays done

    assert schema_apply.apply([TicketV2]).ok
    assert schema_apply.plan([TicketV2]).changes == []
    assert TicketV2.objects.get(pk=ticket.pk).title == "t"


def test_capacity_ttl_stream_tags_and_counters_are_applied_or_skipped_with_a_reason(engine, caplog):
    ensure_table(TicketV1)
    caps = schema_apply.capabilities()

    plan = schema_apply.plan([TicketV2])
    by_kind = {type(step).__name__: step for step in plan.steps}
    assert {"UpdateTable", "UpdateTimeToLive", "TagTable", "CreateTable"} <= set(by_kind)
    with caplog.at_level(logging.WARNING, logger="dynamo_backend"):
        result = schema_apply.apply([TicketV2])

    assert result.ok
    table = engine.client.describe_table(TableName=TicketV2._meta.table_name)["Table"]
    assert live_billing(table) == "PROVISIONED"
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 3
    tags = engine.client.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"]
    assert {"Key": "team", "Value": "support"} in tags
    assert f"{TicketV2._meta.table_name}__counters" in engine.table_names()
    ttl = engine.client.describe_time_to_live(TableName=TicketV2._meta.table_name)["TimeToLiveDescription"]
    if caps.why_not("ttl"):
        assert by_kind["UpdateTimeToLive"].skipped and "skipped" in caplog.text
    else:
        assert ttl["TimeToLiveStatus"] in ("ENABLED", "ENABLING") and ttl["AttributeName"] == "expires_at"
    if caps.why_not("streams"):
        assert any(s.skipped for s in plan.steps if isinstance(s, UpdateTable) and "stream" in s.what)
    else:
        assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert schema_apply.plan([TicketV2]).changes == []


def test_every_table_option_at_creation(engine):
    caps = schema_apply.capabilities()

    schema_apply.apply([Vault])

    table = engine.client.describe_table(TableName=Vault._meta.table_name)["Table"]
    assert live_billing(table) == "PROVISIONED"
    assert table["ProvisionedThroughput"]["WriteCapacityUnits"] == 3
    assert gsis(engine, Vault)["owner-index"]["ProvisionedThroughput"]["ReadCapacityUnits"] == 2
    claims = engine.client.describe_table(TableName=Vault._meta.unique_table_name)["Table"]
    assert claims["ProvisionedThroughput"]["ReadCapacityUnits"] == 4  # side tables take the model's capacity
    tags = engine.client.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"]
    assert {"Key": "data", "Value": "secret"} in tags
    if not caps.why_not("pitr"):
        backups = engine.client.describe_continuous_backups(TableName=Vault._meta.table_name)
        recovery = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
        assert recovery["PointInTimeRecoveryStatus"] == "ENABLED"
    if not caps.why_not("deletion_protection"):
        assert table["DeletionProtectionEnabled"] is True
    if not caps.why_not("sse"):
        assert table["SSEDescription"]["SSEType"] == "KMS"
    if not caps.why_not("streams"):
        assert table["StreamSpecification"]["StreamViewType"] == "KEYS_ONLY"
    second = schema_apply.plan([Vault])
    assert second.changes == []
    assert all(step.skipped for step in second.steps)


def test_tags_are_added_never_removed(engine):
    ensure_table(TicketV2)
    arn = engine.client.describe_table(TableName=TicketV2._meta.table_name)["Table"]["TableArn"]
    engine.client.tag_resource(ResourceArn=arn, Tags=[{"Key": "owner", "Value": "ops"}, {"Key": "team", "Value": "x"}])

    (step,) = [s for s in schema_apply.plan([TicketV2]).steps if isinstance(s, TagTable)]
    assert step.tags == {"team": "support"}
    schema_apply.apply([TicketV2])

    tags = {t["Key"]: t["Value"] for t in engine.client.list_tags_of_resource(ResourceArn=arn)["Tags"]}
    assert tags == {"owner": "ops", "team": "support"}


def test_a_disabled_ttl_is_turned_on_again_for_the_models_field(engine):
    ensure_table(TicketV2)
    lacking = schema_apply.capabilities().why_not("ttl")
    if not lacking:
        spec = {"Enabled": False, "AttributeName": "expires_at"}
        engine.client.update_time_to_live(TableName=TicketV2._meta.table_name, TimeToLiveSpecification=spec)

    (step,) = [s for s in schema_apply.plan([TicketV2]).steps if isinstance(s, UpdateTimeToLive)]
    assert step.enabled and step.attribute == "expires_at"
    assert step.skipped == lacking  # dynalite: shown, with the reason, never sent


# -- the command --------------------------------------------------------------------------


def test_command_plan_prints_the_steps_and_apply_carries_them_out(engine):
    ensure_table(ShopV1)

    planned = run("plan", "schematests.ShopV2")
    assert "create index city-index" in planned and "delete index name-index" in planned
    assert "backfill unique claims (email)" in planned
    with pytest.raises(CommandError, match="to apply"):
        run("plan", "schematests.ShopV2", "--check")

    applied = run("apply", "schematests.ShopV2")
    assert "Applied" in applied and "claims (email)" in applied
    assert "No changes" in run("plan", "schematests.ShopV2")
    run("plan", "schematests.ShopV2", "--check")
    assert "No changes." in run("apply", "schematests.ShopV2")


def test_the_create_command_still_creates_what_is_missing(engine):
    run("create", "libtests.Post")

    assert schema_apply.plan([Post]).changes == []
