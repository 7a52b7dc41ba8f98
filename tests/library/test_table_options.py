"""Table options in Meta over DYNAMO_BACKEND defaults: checked at class creation, resolved at table time (pure)."""

from __future__ import annotations

import pytest
from django.core import checks
from django.test import override_settings

from dynamo_backend import CharField, ConfigurationError, DynamoModel, FieldError
from dynamo_backend.table import side_table_specs, table_spec
from dynamo_backend.table_options import create_params, sse_matches

from .schema_models import ShopV1, TicketV1, TicketV2, Vault

pytestmark = pytest.mark.usefixtures("no_dynamodb")


def model_with(**meta) -> type:
    """An abstract model (never registered) with these Meta options and one indexed field."""
    attrs = {"app_label": "schematests", "abstract": True, **meta}
    return type("Optioned", (DynamoModel,), {"__module__": __name__, "Meta": type("Meta", (), attrs),
                                              "owner": CharField(index=True)})  # fmt: skip


@pytest.mark.parametrize(
    "option, value, words",
    [
        ("billing_mode", "ON_DEMAND", "'PAY_PER_REQUEST' or 'PROVISIONED'"),
        ("read_capacity", 0, "capacity units >= 1"),
        ("write_capacity", True, "capacity units >= 1"),
        ("index_capacity", {"owner-index": 5}, "(read, write)"),
        ("point_in_time_recovery", "yes", "True or False"),
        ("deletion_protection", 1, "True or False"),
        ("tags", {"aws:x": "y"}, "not starting with 'aws:'"),
        ("tags", ["team"], "dict of tag keys"),
        ("sse_kms_key", "", "KMS key"),
        ("stream_view_type", "BOTH", "NEW_AND_OLD_IMAGES"),
    ],
)
def test_a_bad_option_value_fails_at_class_creation_naming_model_and_option(option, value, words):
    with pytest.raises(FieldError) as info:
        model_with(**{option: value})
    assert f"Optioned.Meta.{option}" in str(info.value) and words in str(info.value)


def test_a_misspelt_option_fails_naming_it():
    with pytest.raises(FieldError, match=r"Optioned\.Meta has unknown option\(s\): point_in_time_recovry"):
        model_with(point_in_time_recovry=True)


def test_defaults_are_on_demand_with_a_new_and_old_images_stream():
    options = ShopV1._meta.table_options
    assert options.billing_mode == "PAY_PER_REQUEST" and options.read_capacity is None
    assert options.stream_view_type == "NEW_AND_OLD_IMAGES" and options.stream_managed
    assert not options.point_in_time_recovery and not options.deletion_protection
    assert options.tags == {} and options.sse_kms_key is None


def test_settings_give_the_project_defaults_and_meta_overrides_them():
    project = {"BILLING_MODE": "PROVISIONED", "READ_CAPACITY": 10, "WRITE_CAPACITY": 5,
               "POINT_IN_TIME_RECOVERY": True, "TABLE_TAGS": {"env": "prod", "team": "web"},
               "SSE_KMS_KEY": "aws/dynamodb", "STREAM_VIEW_TYPE": "KEYS_ONLY"}  # fmt: skip
    with override_settings(DYNAMO_BACKEND=project):
        shop, ticket = ShopV1._meta.table_options, TicketV2._meta.table_options
    assert (shop.billing_mode, shop.read_capacity, shop.write_capacity) == ("PROVISIONED", 10, 5)
    assert shop.point_in_time_recovery and shop.sse_kms_key == "aws/dynamodb"
    assert shop.stream_view_type == "KEYS_ONLY"
    assert (ticket.read_capacity, ticket.write_capacity) == (3, 2)  # its Meta wins
    assert ticket.tags == {"env": "prod", "team": "support"}  # a model's tags add to the project's


def test_stream_view_type_none_means_no_stream_and_streams_off_leaves_the_stream_alone():
    assert TicketV1._meta.table_options.stream_view_type is None
    assert "StreamSpecification" not in table_spec(TicketV1)
    with override_settings(DYNAMO_BACKEND={"STREAMS": False}):
        options = ShopV1._meta.table_options
        assert not options.stream_managed and "StreamSpecification" not in table_spec(ShopV1)
        assert Vault._meta.table_options.stream_managed  # its Meta says KEYS_ONLY


def test_provisioned_without_capacity_is_refused_naming_the_model():
    model = model_with(billing_mode="PROVISIONED", read_capacity=5)
    with pytest.raises(FieldError, match="Optioned: billing_mode PROVISIONED needs read_capacity and write_capacity"):
        model._meta.table_options  # noqa: B018 - reading it resolves the options


def test_capacity_on_an_on_demand_table_is_refused_naming_the_option():
    model = model_with(write_capacity=5)
    with pytest.raises(
        FieldError, match=r"Optioned\.Meta\.write_capacity: capacity applies to billing_mode PROVISIONED"
    ):
        model._meta.table_options  # noqa: B018 - reading it resolves the options


def test_index_capacity_must_name_a_global_index():
    model = model_with(billing_mode="PROVISIONED", read_capacity=1, write_capacity=1, index_capacity={"nope": (1, 1)})
    with pytest.raises(FieldError, match="index_capacity names unknown index 'nope'. Global indexes: owner-index"):
        model._meta.table_options  # noqa: B018 - reading it resolves the options


def test_a_bad_setting_fails_at_use_naming_the_key_and_is_check_e006():
    with override_settings(DYNAMO_BACKEND={"BILLING_MODE": "FREE"}):
        with pytest.raises(ConfigurationError, match=r"DYNAMO_BACKEND\['BILLING_MODE'\] must be"):
            ShopV1._meta.table_options  # noqa: B018 - reading it resolves the options
        ids = [m.id for m in checks.run_checks(tags=["dynamo_backend"])]
    assert "dynamo_backend.E006" in ids


def test_a_model_whose_options_contradict_the_settings_is_check_e007():
    with override_settings(DYNAMO_BACKEND={"BILLING_MODE": "PROVISIONED"}):  # no READ_/WRITE_CAPACITY
        messages = [m for m in checks.run_checks(tags=["dynamo_backend"]) if m.id == "dynamo_backend.E007"]
    assert any("ShopV1" in m.msg for m in messages)


def test_create_params_carry_every_option():
    params = create_params(Vault._meta.table_options)
    assert params["BillingMode"] == "PROVISIONED"
    assert params["ProvisionedThroughput"] == {"ReadCapacityUnits": 4, "WriteCapacityUnits": 3}
    assert params["SSESpecification"] == {"Enabled": True, "SSEType": "KMS"}
    assert params["DeletionProtectionEnabled"] is True
    assert params["Tags"] == [{"Key": "data", "Value": "secret"}, {"Key": "team", "Value": "vault"}]
    assert params["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
    custom = create_params(model_with(sse_kms_key="arn:aws:kms:eu-west-1:1:key/abc")._meta.table_options)
    assert custom["SSESpecification"]["KMSMasterKeyId"] == "arn:aws:kms:eu-west-1:1:key/abc"


def test_gsis_get_the_tables_capacity_unless_index_capacity_says_otherwise():
    (index,) = table_spec(Vault)["GlobalSecondaryIndexes"]
    assert index["ProvisionedThroughput"] == {"ReadCapacityUnits": 2, "WriteCapacityUnits": 1}
    (ticket,) = [s for s in side_table_specs(TicketV2) if s["TableName"].endswith("__counters")]
    assert ticket["ProvisionedThroughput"] == {"ReadCapacityUnits": 3, "WriteCapacityUnits": 2}


def test_side_tables_take_the_models_options_but_never_a_stream():
    (claims,) = side_table_specs(Vault)
    assert claims["TableName"].endswith("__unique") and "StreamSpecification" not in claims
    assert claims["DeletionProtectionEnabled"] is True and claims["SSESpecification"]["SSEType"] == "KMS"


@pytest.mark.parametrize(
    "wanted, live, same",
    [
        (None, None, True),
        (None, "arn:aws:kms:r:1:key/abc", False),
        ("aws/dynamodb", None, False),
        ("aws/dynamodb", "arn:aws:kms:r:1:key/abc", True),  # DescribeTable names no alias
        ("alias/mine", "arn:aws:kms:r:1:key/abc", True),
        ("abc", "arn:aws:kms:r:1:key/abc", True),
        ("def", "arn:aws:kms:r:1:key/abc", False),
        ("arn:aws:kms:r:1:key/abc", "arn:aws:kms:r:1:key/abc", True),
    ],
)
def test_which_kms_key_counts_as_the_one_asked_for(wanted, live, same):
    assert sse_matches(wanted, live) is same
