"""scripts/moto_server.py: the moto every part of the project starts (test engines, `make run`, benchmarks).

Its transaction backups copy what a TransactWriteItems can change, not whole
tables: a cancelled transaction must leave every item and the stream exactly
as they were, on a table with and without a sort key.
"""

from __future__ import annotations

import boto3
import pytest

from scripts import moto_server

REGION = "us-east-1"


@pytest.fixture
def client():
    with moto_server.serialized_mock_aws():
        client = boto3.client(
            "dynamodb", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        stream = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        for name, keys in (("flat", ["pk"]), ("sorted", ["pk", "sk"])):
            client.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in zip(keys, ("HASH", "RANGE"), strict=False)],
                AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
                BillingMode="PAY_PER_REQUEST",
                StreamSpecification=stream,
            )
        for n in range(3):
            client.put_item(TableName="flat", Item={"pk": {"S": f"k{n}"}, "v": {"N": "1"}})
            client.put_item(TableName="sorted", Item={"pk": {"S": "p"}, "sk": {"S": f"{n}"}, "v": {"N": "1"}})
        yield client


def _backend():
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends["123456789012"][REGION]


def _state(client) -> tuple:
    items = {name: client.scan(TableName=name, ConsistentRead=True)["Items"] for name in ("flat", "sorted")}
    records = {name: len(_backend().tables[name].stream_shard.items) for name in ("flat", "sorted")}
    return items, records


def _set_v(table: str, key: dict, value: str) -> dict:
    return {
        "Update": {
            "TableName": table,
            "Key": key,
            "UpdateExpression": "SET v = :v",
            "ExpressionAttributeValues": {":v": {"N": value}},
        }
    }


def test_a_cancelled_transaction_leaves_items_and_stream_as_they_were(client):
    before = _state(client)
    with pytest.raises(client.exceptions.TransactionCanceledException) as cancelled:
        client.transact_write_items(
            TransactItems=[
                _set_v("flat", {"pk": {"S": "k0"}}, "99"),  # changed in place, then rolled back
                _set_v("sorted", {"pk": {"S": "p"}, "sk": {"S": "1"}}, "99"),
                {"Delete": {"TableName": "flat", "Key": {"pk": {"S": "k1"}}}},
                {"Put": {"TableName": "sorted", "Item": {"pk": {"S": "p"}, "sk": {"S": "9"}}}},
                {
                    "ConditionCheck": {
                        "TableName": "flat",
                        "Key": {"pk": {"S": "k2"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    codes = [reason["Code"] for reason in cancelled.value.response["CancellationReasons"]]
    assert codes == ["None", "None", "None", "None", "ConditionalCheckFailed"]
    assert _state(client) == before
    for name in ("flat", "sorted"):
        table = _backend().tables[name]
        assert table.stream_shard.table is table


def test_a_committed_transaction_applies_and_records_each_change(client):
    items, records = _state(client)
    client.transact_write_items(
        TransactItems=[
            _set_v("flat", {"pk": {"S": "k0"}}, "2"),
            _set_v("sorted", {"pk": {"S": "p"}, "sk": {"S": "1"}}, "2"),
            {"Delete": {"TableName": "flat", "Key": {"pk": {"S": "k1"}}}},
        ]
    )
    flat = {i["pk"]["S"]: i["v"]["N"] for i in client.scan(TableName="flat")["Items"]}
    assert flat == {"k0": "2", "k2": "1"}
    sorted_v = client.get_item(TableName="sorted", Key={"pk": {"S": "p"}, "sk": {"S": "1"}})["Item"]["v"]["N"]
    assert sorted_v == "2"
    assert _state(client)[1] == {"flat": records["flat"] + 2, "sorted": records["sorted"] + 1}


def test_the_backup_copies_only_the_items_the_transaction_updates(client):
    from moto.dynamodb.models.dynamo_type import DynamoType

    table = _backend().tables["flat"]
    backup = moto_server._table_backup(table, [_set_v("flat", {"pk": {"S": "k0"}}, "5")])
    k0, k1 = DynamoType({"S": "k0"}), DynamoType({"S": "k1"})
    assert backup.items is not table.items
    assert backup.items[k0] is not table.items[k0]  # an Update changes it in place: copied
    assert backup.items[k0].attrs == table.items[k0].attrs
    assert backup.items[k1] is table.items[k1]  # untouched: shared, not copied
    assert backup.stream_shard.items == table.stream_shard.items
    assert backup.stream_shard.items is not table.stream_shard.items
