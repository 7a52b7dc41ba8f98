"""The schema planner (schema.py), pure: wanted tables against described ones -> typed steps, in order.

Live tables are built here as DescribeTable would describe them; no engine runs.
"""

from __future__ import annotations

import copy

import pytest
from django.test import override_settings

from dynamo_backend.schema import plan_model, wanted
from dynamo_backend.schema_steps import (
    BackfillClaims,
    Capabilities,
    CreateIndex,
    CreateTable,
    DeleteIndex,
    Live,
    MarkClaimsComplete,
    Plan,
    Rebuild,
    TagTable,
    UnmarkClaims,
    UpdatePointInTimeRecovery,
    UpdateTable,
    UpdateTimeToLive,
)

from .models import Comment, Counted, Message, Post
from .schema_models import LogV1, LogV2, ShopV1, ShopV2, ShopV3, ShopV4, ShopV5, TicketV1, TicketV2, Vault

pytestmark = pytest.mark.usefixtures("no_dynamodb")

ZERO = {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0}
ALL = Capabilities()


def described(request: dict) -> dict:
    """The DescribeTable answer for a table CreateTable made from ``request`` (and that became ACTIVE)."""
    table = {
        "TableName": request["TableName"],
        "TableStatus": "ACTIVE",
        "TableArn": f"arn:aws:dynamodb:us-east-1:000000000000:table/{request['TableName']}",
        "KeySchema": copy.deepcopy(request["KeySchema"]),
        "AttributeDefinitions": copy.deepcopy(request["AttributeDefinitions"]),
        "BillingModeSummary": {"BillingMode": request["BillingMode"]},
        "ProvisionedThroughput": dict(request.get("ProvisionedThroughput", ZERO)),
        "GlobalSecondaryIndexes": [
            {**copy.deepcopy(g), "IndexStatus": "ACTIVE", "ProvisionedThroughput": g.get("ProvisionedThroughput", ZERO)}
            for g in request.get("GlobalSecondaryIndexes", [])
        ],
        "LocalSecondaryIndexes": copy.deepcopy(request.get("LocalSecondaryIndexes", [])),
        "DeletionProtectionEnabled": request.get("DeletionProtectionEnabled", False),
    }  # fmt: skip
    if "StreamSpecification" in request:
        table["StreamSpecification"] = dict(request["StreamSpecification"])
    sse = request.get("SSESpecification")
    if sse and sse.get("Enabled"):
        key = sse.get("KMSMasterKeyId", "arn:aws:kms:r:1:key/managed")
        table["SSEDescription"] = {"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": key}
    return table


def in_sync(model) -> dict[str, Live]:
    """The live tables of a model exactly as it wants them."""
    return {
        want.name: Live(
            table=described(want.create),
            ttl=want.ttl,
            pitr=want.options.point_in_time_recovery,
            tags=dict(want.options.tags),
            complete=frozenset(want.claims),
        )
        for want in wanted(model)
    }


def steps_for(model, lives, caps=ALL, old_claims=None):
    return plan_model(wanted(model), lives, caps, old_claims)


def kinds(steps) -> list[str]:
    return [type(step).__name__ for step in steps]


def table_of(lives, model) -> dict:
    return lives[model._meta.table_name].table


@pytest.mark.parametrize("model", [Post, Comment, Counted, Message, ShopV2, ShopV4, ShopV5, TicketV2, Vault, LogV1])
def test_tables_that_match_their_model_need_nothing(model):
    assert steps_for(model, in_sync(model)) == []


def test_a_missing_table_is_created_with_its_side_tables_then_its_claims_marked_complete():
    steps = steps_for(ShopV2, {w.name: Live() for w in wanted(ShopV2)})
    assert kinds(steps) == ["CreateTable", "CreateTable", "MarkClaimsComplete"]
    assert steps[0].request["GlobalSecondaryIndexes"][0]["IndexName"] == "city-index"
    assert steps[2].labels == ("email",)


def test_what_create_table_cannot_set_follows_it():
    steps = steps_for(Vault, {w.name: Live() for w in wanted(Vault)})
    assert kinds(steps) == [
        "CreateTable", "UpdatePointInTimeRecovery", "CreateTable", "UpdatePointInTimeRecovery", "MarkClaimsComplete"
    ]  # fmt: skip
    ttl = steps_for(TicketV2, {w.name: Live() for w in wanted(TicketV2)})
    assert isinstance(ttl[1], UpdateTimeToLive) and ttl[1].attribute == "expires_at"


def test_gsis_no_model_declares_go_first_and_missing_ones_come_last():
    lives = in_sync(ShopV1)
    steps = steps_for(ShopV2, {**{w.name: Live() for w in wanted(ShopV2)}, **lives})
    index_steps = [s for s in steps if isinstance(s, DeleteIndex | CreateIndex)]
    assert [(type(s).__name__, s.index) for s in index_steps] == [
        ("DeleteIndex", "name-index"),
        ("CreateIndex", "city-index"),
    ]
    create = index_steps[1].request
    assert create["AttributeDefinitions"] == [{"AttributeName": "city", "AttributeType": "S"}]
    assert [u["Create"]["IndexName"] for u in create["GlobalSecondaryIndexUpdates"]] == ["city-index"]


def test_a_gsi_whose_key_changed_is_deleted_then_created_again():
    steps = steps_for(ShopV3, in_sync(ShopV1))
    index_steps = [s for s in steps if isinstance(s, DeleteIndex | CreateIndex)]
    assert [(type(s).__name__, s.index) for s in index_steps] == [
        ("DeleteIndex", "name-index"),
        ("CreateIndex", "name-index"),
    ]
    assert "replaced" in index_steps[0].reason


def test_a_gsi_whose_projection_changed_is_replaced():
    lives = in_sync(Post)
    (index,) = table_of(lives, Post)["GlobalSecondaryIndexes"]
    index["Projection"] = {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["title"]}
    assert kinds(steps_for(Post, lives)) == ["DeleteIndex", "CreateIndex"]


def test_a_model_whose_index_projection_changed_replaces_the_index_with_the_new_projection():
    for old, new, projection in [
        (ShopV1, ShopV4, {"ProjectionType": "KEYS_ONLY"}),
        (ShopV4, ShopV5, {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["city", "email"]}),
        (ShopV5, ShopV1, {"ProjectionType": "ALL"}),
    ]:
        steps = steps_for(new, in_sync(old))
        index_steps = [s for s in steps if isinstance(s, DeleteIndex | CreateIndex)]
        assert [(type(s).__name__, s.index) for s in index_steps] == [
            ("DeleteIndex", "name-index"),
            ("CreateIndex", "name-index"),
        ]
        (update,) = index_steps[1].request["GlobalSecondaryIndexUpdates"]
        assert update["Create"]["Projection"] == projection


def test_included_attributes_listed_in_another_order_are_no_change():
    lives = in_sync(ShopV5)
    (index,) = table_of(lives, ShopV5)["GlobalSecondaryIndexes"]
    index["Projection"]["NonKeyAttributes"] = ["email", "city"]
    assert steps_for(ShopV5, lives) == []


def test_a_local_index_whose_projection_changed_is_a_rebuild():
    lives = in_sync(LogV1)
    (index,) = table_of(lives, LogV1)["LocalSecondaryIndexes"]
    index["Projection"] = {"ProjectionType": "KEYS_ONLY"}
    assert kinds(steps_for(LogV1, lives)) == ["Rebuild"]


def test_a_gsi_key_of_another_type_is_replaced_but_a_type_the_table_forgot_is_not():
    lives = in_sync(Post)
    definitions = table_of(lives, Post)["AttributeDefinitions"]
    for definition in definitions:
        if definition["AttributeName"] == "author_pk":
            definition["AttributeType"] = "N"
    assert kinds(steps_for(Post, lives)) == ["DeleteIndex", "CreateIndex"]
    definitions[:] = [d for d in definitions if d["AttributeName"] != "author_pk"]  # moto drops definitions
    assert steps_for(Post, lives) == []


def test_a_gsi_being_deleted_counts_as_absent():
    lives = in_sync(Post)
    table_of(lives, Post)["GlobalSecondaryIndexes"][0]["IndexStatus"] = "DELETING"
    assert kinds(steps_for(Post, lives)) == ["CreateIndex"]


def test_another_table_key_is_a_rebuild_and_nothing_else():
    lives = in_sync(ShopV1)
    table_of(lives, ShopV1)["KeySchema"] = [{"AttributeName": "id", "KeyType": "HASH"}]
    steps = steps_for(ShopV1, lives)
    assert kinds(steps) == ["Rebuild"] and "key never changes in place" in steps[0].reason


def test_changed_local_indexes_are_a_rebuild_apply_never_runs():
    steps = steps_for(LogV2, in_sync(LogV1))
    (rebuild,) = [s for s in steps if isinstance(s, Rebuild)]
    assert "stream-code-index" in rebuild.reason and "stream-level-index" in rebuild.reason
    plan = Plan(steps)
    assert plan.rebuilds == [rebuild] and rebuild not in plan.changes and plan


def test_switching_to_provisioned_is_one_update_after_deletes_and_before_creates():
    lives = in_sync(TicketV1)
    table_of(lives, TicketV1)["GlobalSecondaryIndexes"] = [
        {"IndexName": "title-index", "KeySchema": [{"AttributeName": "title", "KeyType": "HASH"}],
         "Projection": {"ProjectionType": "ALL"}, "IndexStatus": "ACTIVE", "ProvisionedThroughput": ZERO}
    ]  # fmt: skip
    steps = steps_for(TicketV2, {**{w.name: Live() for w in wanted(TicketV2)}, **lives})
    billing = [s for s in steps if isinstance(s, UpdateTable) and "billing" in s.what]
    assert kinds(steps)[:2] == ["DeleteIndex", "UpdateTable"]
    (update,) = billing
    assert update.request == {
        "BillingMode": "PROVISIONED",
        "ProvisionedThroughput": {"ReadCapacityUnits": 3, "WriteCapacityUnits": 2},
    }  # the index being deleted gets no capacity


def test_a_kept_gsi_gets_capacity_in_the_same_update():
    lives = in_sync(Vault)
    table = table_of(lives, Vault)
    table["BillingModeSummary"] = {"BillingMode": "PAY_PER_REQUEST"}
    table["ProvisionedThroughput"] = dict(ZERO)
    table["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"] = dict(ZERO)
    (update,) = [s for s in steps_for(Vault, lives) if isinstance(s, UpdateTable)]
    units = {"ReadCapacityUnits": 2, "WriteCapacityUnits": 1}
    assert update.request["GlobalSecondaryIndexUpdates"] == [
        {"Update": {"IndexName": "owner-index", "ProvisionedThroughput": units}}
    ]


def test_only_the_capacity_that_changed_is_sent():
    lives = in_sync(Vault)
    table_of(lives, Vault)["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"] = {
        "ReadCapacityUnits": 9, "WriteCapacityUnits": 9
    }  # fmt: skip
    (update,) = steps_for(Vault, lives)
    assert update.what.startswith("provisioned capacity")
    assert set(update.request) == {"GlobalSecondaryIndexUpdates"}


def test_a_provisioned_table_goes_back_to_on_demand():
    lives = in_sync(ShopV1)
    table_of(lives, ShopV1)["BillingModeSummary"] = {"BillingMode": "PROVISIONED"}
    (update,) = steps_for(ShopV1, lives)
    assert update.request == {"BillingMode": "PAY_PER_REQUEST"}


def test_a_table_never_switched_reports_no_billing_summary_and_is_provisioned():
    lives = in_sync(ShopV1)
    del table_of(lives, ShopV1)["BillingModeSummary"]
    table_of(lives, ShopV1)["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    assert kinds(steps_for(ShopV1, lives)) == ["UpdateTable"]


def test_another_stream_view_type_is_turned_off_then_on():
    lives = in_sync(ShopV1)
    table_of(lives, ShopV1)["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
    off, on = steps_for(ShopV1, lives)
    assert off.request == {"StreamSpecification": {"StreamEnabled": False}}
    assert on.request == {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}}


def test_a_model_without_a_stream_turns_it_off_and_streams_off_leaves_it_alone():
    lives = in_sync(TicketV2)
    (off,) = [s for s in steps_for(TicketV1, lives) if isinstance(s, UpdateTable) and "stream" in s.what]
    assert off.request == {"StreamSpecification": {"StreamEnabled": False}}
    lives = in_sync(ShopV1)
    table_of(lives, ShopV1)["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
    with override_settings(DYNAMO_BACKEND={"STREAMS": False}):
        assert steps_for(ShopV1, lives) == []


def test_ttl_is_turned_on_off_or_moved_to_another_attribute():
    lives = in_sync(TicketV2)
    lives[TicketV2._meta.table_name] = Live(**{**vars(lives[TicketV2._meta.table_name]), "ttl": None})
    (on,) = [s for s in steps_for(TicketV2, lives) if isinstance(s, UpdateTimeToLive)]
    assert on.enabled and on.attribute == "expires_at"
    lives[TicketV2._meta.table_name] = Live(**{**vars(lives[TicketV2._meta.table_name]), "ttl": "gone_at"})
    moved = [s for s in steps_for(TicketV2, lives) if isinstance(s, UpdateTimeToLive)]
    assert [(s.attribute, s.enabled) for s in moved] == [("gone_at", False), ("expires_at", True)]
    ticket = in_sync(TicketV1)
    ticket[TicketV1._meta.table_name] = Live(**{**vars(ticket[TicketV1._meta.table_name]), "ttl": "expires_at"})
    (off,) = steps_for(TicketV1, ticket)
    assert isinstance(off, UpdateTimeToLive) and not off.enabled


def test_backups_protection_and_encryption_are_one_step_each():
    lives = in_sync(Vault)
    name = Vault._meta.table_name
    table = table_of(lives, Vault)
    table["DeletionProtectionEnabled"] = False
    del table["SSEDescription"]
    lives[name] = Live(**{**vars(lives[name]), "pitr": False})
    steps = [s for s in steps_for(Vault, lives) if s.table == name]
    assert kinds(steps) == ["UpdatePointInTimeRecovery", "UpdateTable", "UpdateTable"]
    assert steps[1].request == {"DeletionProtectionEnabled": True}
    assert steps[2].request == {"SSESpecification": {"Enabled": True, "SSEType": "KMS"}}


def test_tags_are_added_or_changed_never_removed():
    lives = in_sync(Vault)
    name = Vault._meta.table_name
    lives[name] = Live(**{**vars(lives[name]), "tags": {"team": "other", "owner": "ops"}})
    (tag,) = [s for s in steps_for(Vault, lives) if s.table == name]
    assert isinstance(tag, TagTable) and tag.tags == {"data": "secret", "team": "vault"}


def test_claims_without_a_complete_marker_are_backfilled():
    lives = in_sync(ShopV2)
    claims = ShopV2._meta.unique_table_name
    lives[claims] = Live(**{**vars(lives[claims]), "complete": frozenset()})
    (backfill,) = steps_for(ShopV2, lives)
    assert isinstance(backfill, BackfillClaims)
    assert backfill.labels == ("email",) and backfill.source == ShopV2._meta.table_name


def test_a_claims_table_created_after_the_items_is_backfilled_not_marked():
    lives = {**in_sync(ShopV1), ShopV2._meta.unique_table_name: Live()}
    steps = [s for s in steps_for(ShopV2, lives) if not isinstance(s, DeleteIndex | CreateIndex)]
    assert kinds(steps) == ["CreateTable", "BackfillClaims"]


def test_markers_of_constraints_that_went_are_dropped():
    lives = in_sync(Post)
    claims = Post._meta.unique_table_name
    lives[claims] = Live(**{**vars(lives[claims]), "complete": frozenset({"slug", "title"})})
    (unmark,) = steps_for(Post, lives)
    assert isinstance(unmark, UnmarkClaims) and unmark.labels == ("title",)
    old = Live(table=described(wanted(ShopV2)[1].create), complete=frozenset({"email"}))
    (gone,) = steps_for(ShopV1, in_sync(ShopV1), old_claims=old)
    assert isinstance(gone, UnmarkClaims) and gone.labels == ("email",)


def test_steps_the_endpoint_cannot_make_are_shown_skipped_and_are_no_change():
    lives = in_sync(TicketV1)
    caps = Capabilities({"streams": "no streams here", "ttl": "no TTL here", "tags": "no tags here"})
    steps = steps_for(TicketV2, {**{w.name: Live() for w in wanted(TicketV2)}, **lives}, caps)
    skipped = [s for s in steps if s.skipped]
    assert {type(s).__name__ for s in skipped} == {"UpdateTable", "UpdateTimeToLive", "TagTable"}
    assert all("[skipped: no" in str(s) for s in skipped)
    plan = Plan(skipped)
    assert plan.changes == [] and not plan and plan.skipped == skipped


def test_a_new_table_lists_what_the_endpoint_will_drop():
    caps = Capabilities({"streams": "no streams", "deletion_protection": "none", "sse": "none", "pitr": "none"})
    steps = steps_for(Vault, {w.name: Live() for w in wanted(Vault)}, caps)
    skipped = [s for s in steps if s.table == Vault._meta.table_name and s.skipped]
    assert kinds(skipped) == ["UpdatePointInTimeRecovery", "UpdateTable", "UpdateTable", "UpdateTable"]
    assert all(isinstance(s, CreateTable | MarkClaimsComplete | UpdatePointInTimeRecovery) or s.skipped for s in steps)
