"""A DynamoDB that cannot be reached for a few seconds does not end a run: the store
retries connection errors and 5xx answers with backoff for ``outage_seconds``
(botocore's own retry quota is spent after a few dozen failed attempts, so without
that a brief outage ended a run within a second).

moto's server over HTTP behind the fault proxy (``tests/fault_proxy.py``), which
refuses connections, or answers 503, for a few seconds and then recovers. Real
sleeps: the outage is real time.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fault_proxy import FaultProxy

from gcdedup.errors import StoreError
from gcdedup.store.base import KeyItem, Outcome
from gcdedup.store.dynamodb import DynamoDBStore

LEASE, TTL = 60.0, 3600
SAMPLE_EVENTS = Path(__file__).resolve().parents[2] / "sample_events"
OUTAGE = 3.0
N = 200  # enough parallel requests to spend botocore's retry quota

OpenStore = Callable[..., DynamoDBStore]


@pytest.fixture
def open_store(
    proxy: FaultProxy, dynamodb_server: Any, open_dynamodb_store: OpenStore
) -> Callable[..., DynamoDBStore]:
    """A store on a fresh table through the proxy, sleeping for real."""
    url = dynamodb_server.table_url().replace(dynamodb_server.endpoint_url, proxy.url)

    def factory(**options: Any) -> DynamoDBStore:
        return open_dynamodb_store(url, sleep=time.sleep, **options)

    return factory


def kitems(n: int) -> list[KeyItem]:
    return [KeyItem(f"ns:{i}", "ns", "t") for i in range(n)]


@pytest.mark.parametrize("fault", ["refused", "503"])
def test_a_short_outage_is_ridden_out(
    open_store: Callable[..., DynamoDBStore], proxy: FaultProxy, fault: str
) -> None:
    store = open_store(outage_seconds=30)
    start = time.monotonic()
    if fault == "refused":
        proxy.outage(OUTAGE)
    else:
        proxy.unavailable(OUTAGE)
    results = store.claim(kitems(N), LEASE, TTL)
    assert time.monotonic() - start >= OUTAGE - 0.5
    assert [r.outcome for r in results] == [Outcome.CLAIMED] * N
    assert store.complete_many([(r.key, r.token or "") for r in results], TTL) == [True] * N
    assert store.summary().by_status == {"COMPLETED": N}
    if fault == "503":
        assert proxy.unavailable_answers > 0


def test_an_outage_longer_than_the_budget_is_a_clear_error(
    open_store: Callable[..., DynamoDBStore], proxy: FaultProxy
) -> None:
    store = open_store(outage_seconds=1)
    proxy.outage(OUTAGE)
    start = time.monotonic()
    with pytest.raises(StoreError) as raised:
        store.claim(kitems(N), LEASE, TTL)
    assert time.monotonic() - start < OUTAGE + 1.5
    message = str(raised.value)
    assert "cannot reach DynamoDB for claim on table gcdedup-test-" in message
    assert "still failing after 1 s of retries: outage_seconds=N in the store URL" in message
    time.sleep(OUTAGE)  # the proxy is back
    # Claims made before the failure are released, and any that could not be (the store
    # was failing) are counted in the message: nothing is left in flight unannounced.
    stuck = re.search(r"\((\d+) of the \d+ keys claimed before the failure could not", message)
    left = store.summary().by_status
    assert left == ({"IN_PROGRESS": int(stuck.group(1))} if stuck else {})


def test_outage_seconds_is_a_checked_url_option(dynamodb_server: Any) -> None:
    from gcdedup.errors import ConfigError

    url = dynamodb_server.table_url()
    with pytest.raises(ConfigError, match="DynamoDB option outage_seconds must be a number"):
        DynamoDBStore.from_url(url + "&outage_seconds=soon")
    with pytest.raises(ConfigError, match=r"DynamoDB outage_seconds must be 0 to 3600, not -1\.0"):
        DynamoDBStore.from_url(url + "&outage_seconds=-1")
    store = DynamoDBStore.from_url(url + "&outage_seconds=2.5")
    assert store._db.outage_seconds == 2.5
    store.close()


def test_a_process_run_rides_out_an_outage_that_starts_before_it(
    proxy: FaultProxy, dynamodb_server: Any, open_dynamodb_store: OpenStore
) -> None:
    """The CLI, end to end: a handled run started during a 3 s outage handles every
    event once and exits 0 (it used to stop within a second, exit 1)."""
    url = dynamodb_server.table_url().replace(dynamodb_server.endpoint_url, proxy.url)
    open_dynamodb_store(url).close()  # the table exists
    proxy.outage(OUTAGE)
    done = subprocess.run(
        [sys.executable, "-m", "gcdedup", "process", str(SAMPLE_EVENTS), "--store",
         f"{url}&outage_seconds=30", "--handler", "builtins:id", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["failed"], report["in_flight"]) == (0, 0)
    assert report["processed"] + report["duplicates"] + report["conflicts"] == report["events"]
    assert report["processed"] > 0
    assert proxy.received["PutItem"] > 0


def test_lambda_leaves_the_waiting_to_its_deadline(dynamodb_server: Any) -> None:
    """Behind an invocation's deadline (the Lambda entry, the decorator) every retry is
    bounded by that deadline: no outage budget of its own, unless the URL sets one."""
    from gcdedup.assembly import _open
    from gcdedup.deadline import Deadline
    from gcdedup.settings import Settings

    url = dynamodb_server.table_url()
    for given, budget in ((url, 0), (url + "&outage_seconds=5", 5)):
        settings = Settings.resolve(env={}, store_url=given)
        store = _open(settings, None, Deadline(5.0), False, None)
        try:
            assert store._db.outage_seconds == budget  # type: ignore[attr-defined]
        finally:
            store.close()
