"""batch_get / batch_write: chunking, dedupe and Unprocessed* retries, on a stubbed client."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.stub import ANY, Stubber
from django.test import override_settings

from dynamo_backend import connection, stats
from dynamo_backend.batch import RetryPolicy, batch_get, batch_write, chunked, write_chunks
from dynamo_backend.exceptions import BatchGetError, BatchWriteError

TABLE = "blog_post"


def item(pk: str, **attrs: str) -> dict:
    return {"pk": {"S": pk}, **{name: {"S": value} for name, value in attrs.items()}}


def keys(*pks: str) -> list[dict]:
    return [{"pk": {"S": pk}} for pk in pks]


def get_params(pks, consistent: bool = False) -> dict:
    return {
        "RequestItems": {TABLE: {"Keys": keys(*pks), "ConsistentRead": consistent}},
        "ReturnConsumedCapacity": ANY,
    }


def write_params(requests: list[dict]) -> dict:
    return {"RequestItems": {TABLE: requests}, "ReturnConsumedCapacity": ANY}


def put(pk: str) -> dict:
    return {"PutRequest": {"Item": item(pk)}}


def delete(pk: str) -> dict:
    return {"DeleteRequest": {"Key": {"pk": {"S": pk}}}}


@pytest.fixture
def stubber() -> Iterator[Stubber]:
    client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    with Stubber(client) as stub, connection.use_client(client):
        yield stub
        stub.assert_no_pending_responses()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def policy(sleeps: list[float]) -> RetryPolicy:
    # random() == 1.0 turns full jitter into the plain exponential ceiling.
    return RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=2.0, sleep=sleeps.append, random=lambda: 1.0)


# --- RetryPolicy and chunking ---------------------------------------------


def test_delay_doubles_per_retry_up_to_max_delay():
    policy = RetryPolicy(max_attempts=8, base_delay=0.05, max_delay=0.3, random=lambda: 1.0)
    assert [policy.delay(n) for n in range(5)] == [0.05, 0.1, 0.2, 0.3, 0.3]


def test_delay_is_scaled_by_random_for_full_jitter():
    policy = RetryPolicy(max_attempts=8, base_delay=0.1, max_delay=2.0, random=lambda: 0.25)
    assert policy.delay(2) == pytest.approx(0.1)


def test_retry_policy_from_settings_reads_batch_settings():
    with override_settings(DYNAMO_BACKEND={"BATCH_MAX_ATTEMPTS": 3, "BATCH_BASE_DELAY": 0.5, "BATCH_MAX_DELAY": 4}):
        policy = RetryPolicy.from_settings()
    assert (policy.max_attempts, policy.base_delay, policy.max_delay) == (3, 0.5, 4.0)


def test_retry_policy_refuses_zero_attempts():
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0, base_delay=0.1, max_delay=1)


def test_chunked_yields_lists_of_at_most_n():
    assert list(chunked(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]


def test_chunked_refuses_a_size_below_one():
    with pytest.raises(ValueError):
        list(chunked([1], 0))


# --- batch_get ---------------------------------------------------------------


def test_batch_get_retries_unprocessed_keys_until_resolved(stubber, policy, sleeps):
    stubber.add_response(
        "batch_get_item",
        {"Responses": {TABLE: [item("a")]}, "UnprocessedKeys": {TABLE: {"Keys": keys("b", "c")}}},
        get_params(["a", "b", "c"]),
    )
    stubber.add_response(
        "batch_get_item",
        {"Responses": {TABLE: [item("b")]}, "UnprocessedKeys": {TABLE: {"Keys": keys("c")}}},
        get_params(["b", "c"]),
    )
    stubber.add_response(
        "batch_get_item",
        {"Responses": {TABLE: [item("c")]}, "UnprocessedKeys": {}},
        get_params(["c"]),
    )

    found = batch_get(TABLE, ["a", "b", "c"], policy=policy)

    assert found == {"a": item("a"), "b": item("b"), "c": item("c")}
    assert sleeps == [0.05, 0.1]


def test_batch_get_raises_listing_leftover_pks_when_attempts_run_out(stubber, sleeps):
    policy = RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=2.0, sleep=sleeps.append, random=lambda: 1.0)
    stubber.add_response(
        "batch_get_item",
        {"Responses": {TABLE: [item("a")]}, "UnprocessedKeys": {TABLE: {"Keys": keys("b", "c")}}},
        get_params(["a", "b", "c"]),
    )
    for _ in range(2):
        stubber.add_response(
            "batch_get_item",
            {"Responses": {TABLE: []}, "UnprocessedKeys": {TABLE: {"Keys": keys("b", "c")}}},
            get_params(["b", "c"]),
        )

    with pytest.raises(BatchGetError) as info:
        batch_get(TABLE, ["a", "b", "c"], policy=policy)

    assert info.value.unprocessed == ["b", "c"]
    assert "2 of 3 key(s)" in str(info.value)
    assert sleeps == [0.05, 0.1]


def test_batch_get_error_also_lists_keys_of_chunks_never_sent(stubber, policy):
    pks = [f"k{i:03}" for i in range(150)]
    stuck = {"Responses": {TABLE: []}, "UnprocessedKeys": {TABLE: {"Keys": keys(*pks[:100])}}}
    for _ in range(policy.max_attempts):
        stubber.add_response("batch_get_item", stuck)

    with pytest.raises(BatchGetError) as info:
        batch_get(TABLE, pks, policy=policy)

    assert info.value.unprocessed == pks


def test_batch_get_dedupes_250_keys_into_3_calls_of_at_most_100(stubber, policy):
    unique = [f"k{i:03}" for i in range(220)]
    pks = unique + unique[:30]  # 250 keys, 30 of them repeated
    for chunk in (unique[:100], unique[100:200], unique[200:]):
        stubber.add_response("batch_get_item", {"Responses": {TABLE: [item(pk) for pk in chunk]}}, get_params(chunk))

    with stats.count_calls() as log:
        found = batch_get(TABLE, pks, policy=policy)

    assert list(found) == unique
    assert log.by_operation() == {"BatchGetItem": 3}


def test_batch_get_omits_pks_that_do_not_exist(stubber, policy):
    stubber.add_response("batch_get_item", {"Responses": {TABLE: [item("a")]}}, get_params(["a", "zz"]))
    assert batch_get(TABLE, ["a", "zz"], policy=policy) == {"a": item("a")}


def test_batch_get_passes_consistent_read(stubber, policy):
    stubber.add_response("batch_get_item", {"Responses": {TABLE: []}}, get_params(["a"], consistent=True))
    assert batch_get(TABLE, ["a"], consistent_read=True, policy=policy) == {}


def test_batch_get_without_pks_makes_no_call(stubber, policy):
    with stats.count_calls() as log:
        assert batch_get(TABLE, [], policy=policy) == {}
    assert log.total == 0


# --- batch_write -------------------------------------------------------------


def test_batch_write_retries_unprocessed_items_until_resolved(stubber, policy, sleeps):
    requests = [put("a"), put("b"), delete("c")]
    stubber.add_response("batch_write_item", {"UnprocessedItems": {TABLE: requests[1:]}}, write_params(requests))
    stubber.add_response("batch_write_item", {"UnprocessedItems": {TABLE: requests[2:]}}, write_params(requests[1:]))
    stubber.add_response("batch_write_item", {"UnprocessedItems": {}}, write_params(requests[2:]))

    batch_write(TABLE, put_items=[item("a"), item("b")], delete_pks=["c"], policy=policy)

    assert sleeps == [0.05, 0.1]


def test_batch_write_raises_with_raw_leftover_requests_when_attempts_run_out(stubber, policy, sleeps):
    requests = [put("a"), delete("b")]
    stubber.add_response("batch_write_item", {"UnprocessedItems": {TABLE: [delete("b")]}}, write_params(requests))
    for _ in range(policy.max_attempts - 1):
        stubber.add_response(
            "batch_write_item", {"UnprocessedItems": {TABLE: [delete("b")]}}, write_params([delete("b")])
        )

    with pytest.raises(BatchWriteError) as info:
        batch_write(TABLE, put_items=[item("a")], delete_pks=["b"], policy=policy)

    assert info.value.unprocessed == [delete("b")]
    assert "1 of 2 request(s)" in str(info.value)
    assert sleeps == [0.05, 0.1, 0.2]


def test_batch_write_sends_60_puts_in_chunks_of_25_25_10(stubber, policy):
    requests = [put(f"p{i:02}") for i in range(60)]
    for chunk in (requests[:25], requests[25:50], requests[50:]):
        stubber.add_response("batch_write_item", {"UnprocessedItems": {}}, write_params(chunk))

    with stats.count_calls() as log:
        batch_write(TABLE, put_items=[r["PutRequest"]["Item"] for r in requests], policy=policy)

    assert log.count("BatchWriteItem") == 3


def test_batch_write_puts_a_repeated_pk_in_a_later_call(stubber, policy):
    first, second = item("a", title="old"), item("a", title="new")
    stubber.add_response("batch_write_item", {}, write_params([{"PutRequest": {"Item": first}}, put("b")]))
    stubber.add_response("batch_write_item", {}, write_params([{"PutRequest": {"Item": second}}]))

    batch_write(TABLE, put_items=[first, second, item("b")], policy=policy)


def test_write_chunks_never_repeat_a_pk_and_keep_its_order():
    requests = [put("x")] + [put(f"p{i:02}") for i in range(30)] + [delete("x")]
    chunks = write_chunks(requests)

    assert [len(c) for c in chunks] == [25, 7]
    for chunk in chunks:
        pks = [r.get("PutRequest", {}).get("Item", r.get("DeleteRequest", {}).get("Key"))["pk"]["S"] for r in chunk]
        assert len(pks) == len(set(pks))
    assert chunks[0][0] == put("x") and delete("x") in chunks[1]


def test_write_chunks_send_a_third_request_for_one_pk_in_a_third_call():
    chunks = write_chunks([put("x"), delete("x"), put("x"), put("y")])
    assert chunks == [[put("x"), put("y")], [delete("x")], [put("x")]]


def test_batch_write_refuses_an_item_without_a_string_pk(policy):
    with pytest.raises(ValueError):
        batch_write(TABLE, put_items=[{"title": {"S": "no pk"}}], policy=policy)


def test_batch_write_without_requests_makes_no_call(stubber, policy):
    with stats.count_calls() as log:
        batch_write(TABLE, policy=policy)
    assert log.total == 0
