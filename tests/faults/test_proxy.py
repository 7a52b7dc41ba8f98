"""The fault proxy itself: pure boto3 calls through it to a moto server, one mode at a time.

Each test makes its own table and its own proxy; the client under test
never retries unless the test says so, so every fault shows as what the
SDK sees, and the emulator is then read directly (around the proxy).
"""

from __future__ import annotations

import threading
import time
import uuid

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from tests.engines import FAKE_KEY, REGION, make_client
from tests.faults.proxy import Fault, FaultProxy, parse_fault

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def table(emulator):
    name = f"proxy_{uuid.uuid4().hex[:8]}"
    admin = make_client(emulator)
    admin.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield name
    admin.delete_table(TableName=name)


@pytest.fixture
def proxy(emulator):
    with FaultProxy(emulator, seed=1) as proxy:
        yield proxy


def client_through(proxy, *, attempts: int = 1, read_timeout: float = 10):
    """A bare boto3 client through the proxy, making ``attempts`` attempts a call (1: no retry)."""
    return boto3.client(
        "dynamodb",
        endpoint_url=proxy.url,
        region_name=REGION,
        aws_access_key_id=FAKE_KEY,
        aws_secret_access_key=FAKE_KEY,
        config=Config(
            connect_timeout=2, read_timeout=read_timeout, retries={"mode": "standard", "total_max_attempts": attempts}
        ),
    )


def put(client, table: str, pk: str, **extra):
    return client.put_item(TableName=table, Item={"pk": {"S": pk}}, **extra)


def stored(emulator: str, table: str, pk: str) -> bool:
    return "Item" in make_client(emulator).get_item(TableName=table, Key={"pk": {"S": pk}}, ConsistentRead=True)


def test_without_faults_calls_pass_through_on_one_kept_alive_connection(proxy, table, emulator):
    client = client_through(proxy)
    for n in range(5):
        put(client, table, f"k{n}")
    item = client.get_item(TableName=table, Key={"pk": {"S": "k3"}}, ConsistentRead=True)["Item"]
    assert item == {"pk": {"S": "k3"}}
    counts = proxy.counts()
    assert counts["request", "PutItem"] == counts["forward", "PutItem"] == 5
    assert counts["request", "GetItem"] == counts["forward", "GetItem"] == 1
    assert proxy.count("request") == 6
    assert proxy.connections == 1


def test_drop_request_closes_the_connection_and_nothing_is_written(proxy, table, emulator):
    proxy.set(Fault("drop_request"))
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        put(client_through(proxy), table, "dropped")
    assert not stored(emulator, table, "dropped")
    assert proxy.counts()["drop_request", "PutItem"] == 1
    assert proxy.count("forward") == 0


def test_drop_response_writes_and_the_client_cannot_know(proxy, table, emulator):
    proxy.set(Fault("drop_response"))
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        put(client_through(proxy), table, "written")
    assert stored(emulator, table, "written")
    assert proxy.counts()["drop_response", "PutItem"] == 1
    assert proxy.counts()["forward", "PutItem"] == 1


def test_an_sdk_retry_after_a_dropped_response_fails_its_own_create_condition(proxy, table, emulator):
    # The mechanism behind issue 10's "409 already exists for a stored comment".
    proxy.set(Fault("drop_response", times=1))
    client = client_through(proxy, attempts=3)
    with pytest.raises(client.exceptions.ConditionalCheckFailedException):
        put(client, table, "mine", ConditionExpression="attribute_not_exists(pk)")
    assert stored(emulator, table, "mine")
    assert proxy.counts()["forward", "PutItem"] == 2


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException"])
def test_throttle_answers_400_with_the_code_and_forwards_nothing(proxy, table, emulator, code):
    proxy.set(Fault("throttle", code="" if code.startswith("Provisioned") else code))
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        put(client_through(proxy), table, "throttled")
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert not stored(emulator, table, "throttled")
    assert proxy.counts()["throttle", "PutItem"] == 1


def test_error_500_answers_internal_server_error_and_forwards_nothing(proxy, table, emulator):
    proxy.set(Fault("error_500"))
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        put(client_through(proxy), table, "failed")
    assert raised.value.response["Error"]["Code"] == "InternalServerError"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert not stored(emulator, table, "failed")


def test_a_filter_faults_only_the_operations_named(proxy, table):
    proxy.set(Fault("error_500", operations={"PutItem"}))
    client = client_through(proxy)
    client.get_item(TableName=table, Key={"pk": {"S": "x"}})
    with pytest.raises(botocore.exceptions.ClientError):
        put(client, table, "x")
    assert proxy.counts()["error_500", "PutItem"] == 1
    assert proxy.counts()["error_500", "GetItem"] == 0


def test_match_faults_only_requests_that_name_the_table(proxy, table, emulator):
    other = f"{table}_other"
    proxy.set(Fault("error_500", match=f'"{other}"'))
    client = client_through(proxy)
    put(client, table, "fine")
    with pytest.raises(botocore.exceptions.ClientError):
        put(client, other, "faulted")  # answered by the proxy: the table need not exist
    assert proxy.counts()["error_500", "PutItem"] == 1


def test_wait_idle_returns_once_released_writes_have_landed(proxy, table, emulator):
    proxy.set(Fault("delay", seconds=60))
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        put(client_through(proxy, read_timeout=0.3), table, "landed")
    with pytest.raises(TimeoutError):
        proxy.wait_idle(timeout=0.2)
    proxy.clear()
    proxy.wait_idle(quiet=0.1, timeout=5)
    assert stored(emulator, table, "landed")


def test_delay_before_forwarding_holds_the_call(proxy, table, emulator):
    proxy.set(Fault("delay", seconds=0.4, operations={"PutItem"}))
    started = time.monotonic()
    put(client_through(proxy), table, "late")
    assert time.monotonic() - started >= 0.4
    assert stored(emulator, table, "late")


def test_a_delay_beyond_the_read_timeout_times_the_client_out_and_the_write_lands_later(proxy, table, emulator):
    proxy.set(Fault("delay", seconds=30, when="before"))
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        put(client_through(proxy, read_timeout=0.3), table, "slow")
    assert not stored(emulator, table, "slow")
    proxy.clear()  # ends the wait: the request goes on to the emulator
    deadline = time.monotonic() + 5
    while not stored(emulator, table, "slow"):
        assert time.monotonic() < deadline, "the released request was never forwarded"
        time.sleep(0.05)


def test_delay_after_answering_applies_the_write_first(proxy, table, emulator):
    proxy.set(Fault("delay", seconds=30, when="after"))
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        put(client_through(proxy, read_timeout=0.3), table, "applied")
    assert stored(emulator, table, "applied")


def test_clear_ends_every_delay_in_progress(proxy, table):
    proxy.set(Fault("delay", seconds=60))
    client = client_through(proxy, read_timeout=30)
    done = []
    threads = [
        threading.Thread(target=lambda n=n: done.append(put(client, table, f"d{n}")), daemon=True) for n in range(3)
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    started = time.monotonic()
    proxy.clear()
    for thread in threads:
        thread.join(5)
    assert len(done) == 3 and time.monotonic() - started < 5


def test_probability_and_times_bound_how_often_a_fault_fires(proxy, table):
    proxy.set(Fault("error_500", probability=0.5, operations={"GetItem"}), Fault("throttle", times=2))
    client = client_through(proxy)
    outcomes = []
    for _ in range(200):
        try:
            client.get_item(TableName=table, Key={"pk": {"S": "p"}})
            outcomes.append("ok")
        except botocore.exceptions.ClientError as exc:
            outcomes.append(exc.response["Error"]["Code"])
    counts = proxy.counts()
    assert 60 <= counts["error_500", "GetItem"] <= 140
    assert outcomes.count("InternalServerError") == counts["error_500", "GetItem"]
    # The first rule that fires decides; the throttle fired twice, on requests the 500 spared.
    assert counts["throttle", "GetItem"] == 2 == outcomes.count("ProvisionedThroughputExceededException")


def test_delays_add_up_with_a_terminal_fault(proxy, table, emulator):
    proxy.set(Fault("delay", seconds=0.3), Fault("drop_response"))
    started = time.monotonic()
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        put(client_through(proxy), table, "both")
    assert time.monotonic() - started >= 0.3
    assert stored(emulator, table, "both")
    assert proxy.counts()["delay", "PutItem"] == proxy.counts()["drop_response", "PutItem"] == 1


def test_faults_parse_from_the_command_line_form():
    assert parse_fault("drop_response:0.3:PutItem,UpdateItem") == Fault(
        "drop_response", 0.3, frozenset({"PutItem", "UpdateItem"})
    )
    assert parse_fault("delay:1::2.5") == Fault("delay", 1.0, None, seconds=2.5)
    with pytest.raises(ValueError):
        Fault("explode")
