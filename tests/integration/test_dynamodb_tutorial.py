"""Sharing a table the tutorial's Lambda filled: its items carry only ``dedup_key``,
``processed_at`` (an ISO-8601 string) and ``expires_at``, and gcdedup reads them as
COMPLETED records of the ``tutorial`` namespace."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from gcdedup.store import KeyItem, Outcome, PurgeFilter, RecordStatus

pytest.importorskip("moto")
pytest.importorskip("boto3")

from typer.testing import CliRunner

from gcdedup.cli.app import app
from gcdedup.store.dynamodb import FOREIGN_NAMESPACE, DynamoDBStore

TTL = 3600
LEASE = 60.0
PROCESSED_AT = "2025-01-01T00:00:00"
PROCESSED_TS = datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp()


@pytest.fixture
def store(dynamodb_store: DynamoDBStore) -> DynamoDBStore:
    return dynamodb_store


def put_tutorial_item(
    store: DynamoDBStore, key: str, processed_at: str | None = PROCESSED_AT, ttl: int = 86400
) -> None:
    """An item exactly as the tutorial's Lambda writes it, with the low-level client."""
    item = {"dedup_key": {"S": key}, "expires_at": {"N": str(int(time.time()) + ttl)}}
    if processed_at is not None:
        item["processed_at"] = {"S": processed_at}
    store.client.put_item(TableName=store.table, Item=item)


def raw_item(store: DynamoDBStore, key: str) -> dict[str, object] | None:
    response = store.client.get_item(
        TableName=store.table, Key={"dedup_key": {"S": key}}, ConsistentRead=True
    )
    return response.get("Item")


def test_a_claim_on_a_tutorial_item_is_a_counted_duplicate(store: DynamoDBStore) -> None:
    put_tutorial_item(store, "evt-1#0123456789abcdef")
    [first] = store.claim([KeyItem("evt-1#0123456789abcdef", "default", "t")], LEASE, TTL)
    assert first.outcome is Outcome.DUPLICATE
    assert first.token is None
    assert first.record is not None
    assert first.record.status is RecordStatus.COMPLETED
    assert first.record.namespace == FOREIGN_NAMESPACE
    assert first.record.first_seen_at == PROCESSED_TS
    assert first.record.dup_count == 1
    [second] = store.claim([KeyItem("evt-1#0123456789abcdef", "default", "t")], LEASE, TTL)
    assert second.outcome is Outcome.DUPLICATE
    assert second.record is not None and second.record.dup_count == 2
    # The count is added to the item; what the tutorial wrote is left as it was.
    item = raw_item(store, "evt-1#0123456789abcdef")
    assert item is not None
    assert item["processed_at"] == {"S": PROCESSED_AT}
    assert "status" not in item and item["dup_count"] == {"N": "2"}


def test_check_get_and_seed_read_a_tutorial_item(store: DynamoDBStore) -> None:
    put_tutorial_item(store, "evt-2#0123456789abcdef")
    [checked] = store.check(["evt-2#0123456789abcdef"])
    assert checked.outcome is Outcome.DUPLICATE
    record = store.get("evt-2#0123456789abcdef")
    assert record is not None
    assert (record.status, record.dup_count, record.topic, record.run_id) == (
        RecordStatus.COMPLETED,
        0,
        "",
        None,
    )
    [seeded] = store.seed([KeyItem("evt-2#0123456789abcdef", "default", "t")], TTL)
    assert seeded.outcome is Outcome.DUPLICATE


@pytest.mark.parametrize("processed_at", [None, "yesterday", "2025-01-01T01:00:00+01:00"])
def test_processed_at_missing_unreadable_or_with_an_offset(
    store: DynamoDBStore, processed_at: str | None
) -> None:
    put_tutorial_item(store, "evt-3", processed_at=processed_at)
    record = store.get("evt-3")
    assert record is not None
    expected = PROCESSED_TS if processed_at and processed_at[0].isdigit() else 0.0
    assert record.first_seen_at == expected


def test_an_expired_tutorial_item_is_claimed_again(store: DynamoDBStore) -> None:
    put_tutorial_item(store, "evt-4", ttl=-10)  # TTL deletion has not run yet
    [claim] = store.claim([KeyItem("evt-4", "default", "t")], LEASE, TTL)
    assert claim.outcome is Outcome.CLAIMED
    assert store.complete("evt-4", claim.token or "", TTL)
    record = store.get("evt-4")
    assert record is not None and record.namespace == "default"


def test_summary_counts_tutorial_items_and_purge_deletes_them(store: DynamoDBStore) -> None:
    for i in range(3):
        put_tutorial_item(store, f"evt-5.{i}#0123456789abcdef")
    store.claim([KeyItem("evt-5.0#0123456789abcdef", "default", "t")], LEASE, TTL)
    [own] = store.claim([KeyItem("default#mine", "default", "t")], LEASE, TTL)
    assert store.complete("default#mine", own.token or "", TTL)
    summary = store.summary()
    assert summary.records == 4
    assert summary.duplicates == 1
    assert summary.by_namespace[FOREIGN_NAMESPACE] == {"records": 3, "duplicates": 1}
    assert summary.by_namespace["default"] == {"records": 1, "duplicates": 0}
    assert summary.by_status == {"COMPLETED": 4}
    assert summary.by_age[">7d"] == 3
    # The filters select them as the summary groups and ages them.
    assert store.purge(PurgeFilter(namespace=FOREIGN_NAMESPACE), dry_run=True) == 3
    assert store.purge(PurgeFilter(namespace="default"), dry_run=True) == 1
    assert store.purge(PurgeFilter(older_than=7 * 86400), dry_run=True) == 3
    assert store.purge(PurgeFilter(all_records=True)) == 4
    assert store.summary().records == 0
    assert [r.outcome for r in store.check(["evt-5.1#0123456789abcdef"])] == [Outcome.NEW]


def tutorial_event_key(detail: dict[str, object]) -> str:
    """The tutorial's formula, written out again here."""
    digest = hashlib.sha256(json.dumps(detail, sort_keys=True).encode()).hexdigest()[:16]
    return f"{detail['eventId']}#{digest}"


def test_process_with_the_tutorial_key_finds_what_the_tutorial_processed(
    store: DynamoDBStore, dynamodb_table_url: str, tmp_path: Path
) -> None:
    seen = {"eventId": "evt-6", "eventType": "conversation.update", "data": {"id": "c1"}}
    fresh = {"eventId": "evt-7", "eventType": "conversation.update", "data": {"id": "c2"}}
    put_tutorial_item(store, tutorial_event_key(seen))
    events = tmp_path / "events.jsonl"
    events.write_text(
        "".join(
            json.dumps(
                {
                    "version": "0",
                    "id": f"env-{n}",
                    "detail-type": "conversation",
                    "source": "genesys.cloud",
                    "detail": detail,
                }
            )
            + "\n"
            for n, detail in enumerate([seen, fresh])
        )
    )
    args = ["process", str(events), "--key", "tutorial", "--store", dynamodb_table_url, "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["duplicates"], report["processed"], report["in_flight"]) == (1, 1, 0)
    record = store.get(tutorial_event_key(seen))
    assert record is not None and record.dup_count == 1
