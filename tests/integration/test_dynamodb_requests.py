"""What each event costs on DynamoDB, counted request by request on moto's server.

Every HTTP request the store's client sends is counted by operation (botocore's
``before-send`` hook, the point where a request leaves: retries count too). The
numbers here are the ones docs/powertools-comparison.md quotes.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from gcdedup.events import Event, Location
from gcdedup.pipeline import Pipeline
from gcdedup.settings import Settings
from gcdedup.store.cache import CachedStore
from gcdedup.store.dynamodb import DynamoDBStore

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "genesys"
N = 200


class Requests(Counter[str]):
    """Requests sent by a boto3 client, by operation."""

    def __init__(self, store: DynamoDBStore) -> None:
        super().__init__()
        store.client.meta.events.register("before-send.dynamodb", self._sent)

    def _sent(self, event_name: str, **_: Any) -> None:
        self[event_name.rsplit(".", 1)[-1]] += 1

    def take(self) -> dict[str, int]:
        """The counts so far, then start again from zero."""
        counts = dict(self)
        self.clear()
        return counts


def audits(n: int) -> list[Event]:
    """n distinct audit events (the real sample 01, each with its own audit id)."""
    sample = json.loads((SAMPLES / "01_user_presence_audit.json").read_text())
    events = []
    for index in range(n):
        envelope = json.loads(json.dumps(sample))
        envelope["detail"]["eventBody"]["id"] = str(uuid.UUID(int=index))
        events.append(Event(envelope, Location("generated", index)))
    return events


def settings(**explicit: Any) -> Settings:
    return Settings.resolve(env={}, store_url="dynamodb://unused", namespace="cost", **explicit)


def run(store: Any, events: list[Event], **explicit: Any) -> Any:
    with Pipeline(store, settings(**explicit)) as pipeline:
        return pipeline.run(events)


@pytest.fixture
def store(dynamodb_store: DynamoDBStore) -> DynamoDBStore:
    dynamodb_store.concurrency = 1  # no thread pool: requests one after the other
    return dynamodb_store


def test_a_new_event_costs_one_write_counted_two_handled_and_a_duplicate_one(
    store: DynamoDBStore,
) -> None:
    requests = Requests(store)
    events = audits(N)
    first = run(store, events, count_duplicates=False)  # count only: nothing runs
    assert first.processed == N
    assert requests.take() == {"PutItem": N}  # one conditional put of a COMPLETED record

    again = run(store, events, count_duplicates=False)
    assert (again.duplicate, again.processed) == (N, 0)
    assert requests.take() == {"PutItem": N}  # the failed put, its item from ALL_OLD

    handled = audits(2 * N)[N:]  # new keys, with a handler: claim, then complete
    with Pipeline(store, settings(count_duplicates=False), handler=lambda event: None) as p:
        report = p.run(handled)
    assert report.processed == N
    assert requests.take() == {"PutItem": N, "UpdateItem": N}


def test_counting_duplicates_costs_one_more_write_each(store: DynamoDBStore) -> None:
    events = audits(N)
    run(store, events)
    requests = Requests(store)
    again = run(store, events, count_duplicates=True)
    assert again.duplicate == N
    assert requests.take() == {"PutItem": N, "UpdateItem": N}


def test_the_container_cache_answers_repeats_without_a_request(store: DynamoDBStore) -> None:
    requests = Requests(store)
    cached = CachedStore(store, size=N)
    events = audits(N)
    run(cached, events, count_duplicates=False)
    assert requests.take() == {"PutItem": N, "UpdateItem": N}
    again = run(cached, events, count_duplicates=False)
    assert (again.duplicate, again.cached) == (N, N)
    assert requests.take() == {}
    # Another payload under a cached key goes to the table: a conflict, one request.
    changed = audits(1)
    changed[0].envelope["detail"]["eventBody"]["changes"] = ["another payload"]
    conflict = run(cached, changed, count_duplicates=False)
    assert (conflict.conflicts, conflict.cached) == (1, 0)
    assert requests.take() == {"PutItem": 1}


def test_a_conflict_costs_one_write_and_one_more_to_process_it(store: DynamoDBStore) -> None:
    events = audits(1)
    run(store, events)
    changed = audits(1)
    changed[0].envelope["detail"]["eventBody"]["changes"] = ["another payload"]
    requests = Requests(store)
    skipped = run(store, changed, count_duplicates=False)
    assert skipped.conflicts == 1
    assert requests.take() == {"PutItem": 1}
    processed = run(store, changed, on_conflict="process", count_duplicates=False)
    assert (processed.conflicts, processed.processed) == (1, 1)
    assert requests.take() == {"PutItem": 1, "UpdateItem": 1}  # take over, complete


def test_a_record_is_under_one_kilobyte_so_each_write_is_one_wcu(store: DynamoDBStore) -> None:
    events = audits(1)
    run(store, events)
    item = store.client.get_item(
        TableName=store.table, Key={"dedup_key": {"S": _key(events[0])}}, ConsistentRead=True
    )["Item"]
    assert item["status"] == {"S": "COMPLETED"}
    # DynamoDB's item size: attribute names plus values (numbers count ~1 byte per 2 digits).
    size = sum(len(name) + len(next(iter(value.values()))) for name, value in item.items())
    assert size < 1024


def _key(event: Event) -> str:
    from gcdedup.keys import KeyMaker

    return KeyMaker.create("genesys", "cost")(event)


def test_a_failed_handler_costs_its_claim_and_one_release(store: DynamoDBStore) -> None:
    def fail(_: dict[str, Any]) -> None:
        raise RuntimeError("downstream said no")

    requests = Requests(store)
    with Pipeline(store, settings(count_duplicates=False), fail) as pipeline:
        report = pipeline.run(audits(1))
    assert report.failed == 1
    assert requests.take() == {"PutItem": 1, "DeleteItem": 1}  # claim, conditional release
