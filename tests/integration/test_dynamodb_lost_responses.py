"""A response lost after DynamoDB applied the request: botocore retries the same request,
which then meets its own effect. The store must recognise it as its own.

Every test runs on moto's server over HTTP with the fault proxy in between
(``tests/fault_proxy.py``): the proxy forwards the request, lets the server apply
it, and closes the connection before the answer; botocore sees a closed connection
and really retries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fault_proxy import FaultProxy, lose_first_response

from gcdedup.pipeline import Pipeline
from gcdedup.settings import Settings
from gcdedup.store.base import KeyItem, Outcome, RecordStatus
from gcdedup.store.dynamodb import DynamoDBStore

LEASE, TTL = 60.0, 3600
KEYS = ["ns:a", "ns:b", "ns:c", "ns:d"]

OpenStore = Callable[..., DynamoDBStore]


@pytest.fixture
def store(proxy: FaultProxy, dynamodb_server: Any, open_dynamodb_store: OpenStore) -> DynamoDBStore:
    """A store on a fresh table reached through the proxy (no faults until a test sets them)."""
    url = dynamodb_server.table_url().replace(dynamodb_server.endpoint_url, proxy.url)
    return open_dynamodb_store(url)


def kitems(keys: list[str]) -> list[KeyItem]:
    return [KeyItem(key, "ns", "t", fingerprint=f"fp-{key}") for key in keys]


@pytest.mark.parametrize("keys", [KEYS[:1], KEYS], ids=["single", "batch"])
def test_a_claim_whose_response_was_lost_is_ours(
    store: DynamoDBStore, proxy: FaultProxy, keys: list[str]
) -> None:
    proxy.lose = lose_first_response("PutItem")
    results = store.claim(kitems(keys), LEASE, TTL)
    assert proxy.lost["PutItem"] == len(keys)  # every claim's answer was lost once
    assert [r.outcome for r in results] == [Outcome.CLAIMED] * len(keys)
    proxy.lose = None
    for result in results:
        record = store.get(result.key)
        assert record is not None
        assert (record.status, record.claim_token, record.dup_count) == (
            RecordStatus.IN_PROGRESS,
            result.token,
            0,
        )
    # The claims really are ours: they complete.
    assert store.complete_many([(r.key, r.token or "") for r in results], TTL) == [True] * len(keys)


@pytest.mark.parametrize("keys", [KEYS[:1], KEYS], ids=["single", "batch"])
def test_a_completion_whose_response_was_lost_succeeded(
    store: DynamoDBStore, proxy: FaultProxy, keys: list[str]
) -> None:
    claims = store.claim(kitems(keys), LEASE, TTL)
    proxy.lose = lose_first_response("UpdateItem")
    pairs = [(r.key, r.token or "") for r in claims]
    if len(keys) == 1:
        assert store.complete(*pairs[0], TTL) is True
    else:
        assert store.complete_many(pairs, TTL) == [True] * len(keys)
    assert proxy.lost["UpdateItem"] == len(keys)
    proxy.lose = None
    assert [store.get(k).status for k in keys] == [RecordStatus.COMPLETED] * len(keys)  # type: ignore[union-attr]
    # Another holder's token still cannot complete it.
    assert store.complete(keys[0], "someone-else", TTL) is False


@pytest.mark.parametrize("keys", [KEYS[:1], KEYS], ids=["single", "batch"])
def test_a_release_whose_response_was_lost_succeeded(
    store: DynamoDBStore, proxy: FaultProxy, keys: list[str]
) -> None:
    claims = store.claim(kitems(keys), LEASE, TTL)
    proxy.lose = lose_first_response("DeleteItem")
    pairs = [(r.key, r.token or "") for r in claims]
    if len(keys) == 1:
        assert store.release(*pairs[0]) is True
    else:
        assert store.release_many(pairs) == [True] * len(keys)
    assert proxy.lost["DeleteItem"] == len(keys)
    proxy.lose = None
    assert [store.get(k) for k in keys] == [None] * len(keys)
    # Without a lost response, releasing a claim that is gone is still False.
    assert store.release(keys[0], pairs[0][1]) is False


@pytest.mark.parametrize("counting", [True, False], ids=["counting", "count-only"])
@pytest.mark.parametrize("keys", [KEYS[:1], KEYS], ids=["single", "batch"])
def test_mark_done_counts_exactly_when_responses_are_lost(
    store: DynamoDBStore, proxy: FaultProxy, keys: list[str], counting: bool
) -> None:
    proxy.lose = lose_first_response("PutItem", "UpdateItem")
    first = store.mark_done(kitems(keys), TTL, count_duplicates=counting, uncounted=not counting)
    assert [r.outcome for r in first] == [Outcome.SEEDED] * len(keys)
    assert proxy.lost["PutItem"] == len(keys)
    # The same keys again: each a duplicate, counted once although each count's answer
    # (an UpdateItem) was lost too.
    proxy.lose = lose_first_response("PutItem", "UpdateItem")
    again = store.mark_done(kitems(keys), TTL, count_duplicates=True)
    assert [r.outcome for r in again] == [Outcome.DUPLICATE] * len(keys)
    assert proxy.lost["UpdateItem"] == len(keys)
    proxy.lose = None
    assert [store.get(k).dup_count for k in keys] == [1] * len(keys)  # type: ignore[union-attr]


@pytest.mark.parametrize("keys", [KEYS[:1], KEYS], ids=["single", "batch"])
def test_a_seed_whose_response_was_lost_is_seeded(
    store: DynamoDBStore, proxy: FaultProxy, keys: list[str]
) -> None:
    proxy.lose = lose_first_response("PutItem")
    assert [r.outcome for r in store.seed(kitems(keys), TTL)] == [Outcome.SEEDED] * len(keys)
    assert proxy.lost["PutItem"] == len(keys)


def test_a_duplicate_counted_on_a_claim_is_counted_once(
    store: DynamoDBStore, proxy: FaultProxy
) -> None:
    store.mark_done(kitems(KEYS), TTL, count_duplicates=True)
    proxy.lose = lose_first_response("UpdateItem")
    results = store.claim(kitems(KEYS), LEASE, TTL)
    assert [r.outcome for r in results] == [Outcome.DUPLICATE] * len(KEYS)
    assert [r.record.dup_count for r in results] == [1] * len(KEYS)  # type: ignore[union-attr]
    assert proxy.lost["UpdateItem"] == len(KEYS)
    proxy.lose = None
    assert [store.get(k).dup_count for k in KEYS] == [1] * len(KEYS)  # type: ignore[union-attr]


def _events(n: int) -> list[Any]:
    from test_dynamodb_requests import audits

    return list(audits(n))


def _settings(**explicit: Any) -> Settings:
    return Settings.resolve(env={}, store_url="dynamodb://unused", namespace="lost", **explicit)


@pytest.mark.parametrize("counting", [True, False], ids=["counting", "count-only"])
def test_a_count_only_run_counts_four_new_keys_as_four_processed(
    store: DynamoDBStore, proxy: FaultProxy, counting: bool
) -> None:
    proxy.lose = lose_first_response()
    with Pipeline(store, _settings(count_duplicates=counting)) as pipeline:
        report = pipeline.run(_events(4))
    assert (report.processed, report.duplicate, report.in_flight) == (4, 0, 0)
    assert proxy.lost["PutItem"] == 4
    proxy.lose = lose_first_response()
    with Pipeline(store, _settings(count_duplicates=counting)) as pipeline:
        again = pipeline.run(_events(4))
    assert (again.processed, again.duplicate, again.in_flight) == (0, 4, 0)
    proxy.lose = None
    assert store.summary().duplicates == (4 if counting else 0)


def test_a_handled_run_with_every_response_lost_processes_each_event_once(
    store: DynamoDBStore, proxy: FaultProxy
) -> None:
    handled: list[Any] = []
    proxy.lose = lose_first_response()
    with Pipeline(store, _settings(), handler=lambda event: handled.append(event)) as pipeline:
        report = pipeline.run(_events(4))
    assert (report.processed, report.in_flight, report.failed, report.lease_lost) == (4, 0, 0, 0)
    assert len(handled) == 4
    assert (proxy.lost["PutItem"], proxy.lost["UpdateItem"]) == (4, 4)
    proxy.lose = None
    summary = store.summary()
    assert (summary.records, summary.duplicates) == (4, 0)
    assert summary.by_status == {"COMPLETED": 4}
