"""DynamoDB-only behaviour: races, throttling, unprocessed batches, limits, set-up errors.

Everything runs against moto's server over HTTP (see dynamodb_server.py) with the
store's real boto3 client; faults are injected with botocore event hooks on that
client, so the retry code under test is the production code. Stores get a fake
sleep (``open_dynamodb_store``): retry waits are recorded and asserted, not slept.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gcdedup.errors import ConfigError, MissingDependencyError, StoreError
from gcdedup.store import KeyItem, Outcome, PurgeFilter, open_store

pytest.importorskip("moto")
boto3 = pytest.importorskip("boto3")

from botocore.awsrequest import AWSResponse  # noqa: E402
from conftest import FakeSleep  # noqa: E402
from dynamodb_server import DynamoDBServer  # noqa: E402

from gcdedup.store import dynamodb as ddb  # noqa: E402
from gcdedup.store.dynamodb import DynamoDBStore  # noqa: E402
from gcdedup.store.dynamodb.store import MAX_UNPROCESSED_ROUNDS, backoff_bound  # noqa: E402

TTL = 3600
LEASE = 60.0
#: botocore's longest wait between two retries (standard and adaptive modes).
BOTOCORE_MAX_BACKOFF = 20.0

OpenStore = Callable[..., DynamoDBStore]


@pytest.fixture
def store(dynamodb_store: DynamoDBStore) -> DynamoDBStore:
    return dynamodb_store


def kitems(keys: list[str], namespace: str = "ns") -> list[KeyItem]:
    return [KeyItem(k, namespace, "topic") for k in keys]


class _Body:
    """The raw stream botocore reads an HTTP response body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def error_response(code: str, status: int = 400, message: str = "injected") -> AWSResponse:
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message})
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected"}
    return AWSResponse("http://injected", status, headers, _Body(body.encode()))


class FailFirst:
    """A before-send hook answering the first ``times`` requests with an error."""

    def __init__(self, code: str, times: int) -> None:
        self.code, self.left, self.fired = code, times, 0
        self.lock = threading.Lock()

    def __call__(self, **_: Any) -> AWSResponse | None:
        with self.lock:
            if self.left <= 0:
                return None
            self.left -= 1
            self.fired += 1
        return error_response(self.code)


class CallLog:
    """Records the parameters of every call of some operations (before-parameter-build)."""

    def __init__(self, store: DynamoDBStore, *operations: str) -> None:
        self.calls: dict[str, list[dict[str, Any]]] = {op: [] for op in operations}
        self.lock = threading.Lock()
        for op in operations:
            store.client.meta.events.register(
                f"before-parameter-build.dynamodb.{op}", self._recorder(op)
            )

    def _recorder(self, op: str) -> Callable[..., None]:
        def record(params: dict[str, Any], **_: Any) -> None:
            with self.lock:
                self.calls[op].append(json.loads(json.dumps(params)))

        return record


# -- races ---------------------------------------------------------------------------------

RACE_THREADS = 8
RACE_PROCESSES = 4
#: Every key is fought over by all 12 racers. moto answers ~100-300 conditional
#: writes a second (it is CPU-bound Python), and a 200-key round is ~4,600 requests
#: (the claims plus the losers' duplicate counts), so the default keeps the suite
#: fast; GCDEDUP_RACE_KEYS=200 GCDEDUP_RACE_ROUNDS=5 is the long soak.
RACE_KEYS = int(os.environ.get("GCDEDUP_RACE_KEYS", "30"))
RACE_ROUNDS = int(os.environ.get("GCDEDUP_RACE_ROUNDS", "2"))


def _race_worker(url: str, start: Any, inbox: Any, outbox: Any) -> None:
    """A racer in its own process (spawned): its own store, its own client. Each round
    it claims once every racer (threads and processes) is at the ``start`` barrier."""
    store = open_store(url, concurrency=4)
    outbox.put("ready")
    while (keys := inbox.get()) is not None:
        start.wait(timeout=60)
        results = store.claim(kitems(keys), LEASE, TTL)
        outbox.put([r.key for r in results if r.outcome is Outcome.CLAIMED])
    store.close()


def test_threads_and_processes_racing_claim_each_key_exactly_once(
    dynamodb_server: DynamoDBServer,
) -> None:
    url = dynamodb_server.table_url()
    main = open_store(url)
    main.init()
    ctx = multiprocessing.get_context("spawn")
    # One barrier for all racers, threads and processes alike (it works for both and
    # is reused round after round): every claim of a round starts together.
    start = ctx.Barrier(RACE_THREADS + RACE_PROCESSES)
    pipes = [(ctx.Queue(), ctx.Queue()) for _ in range(RACE_PROCESSES)]
    procs = [
        ctx.Process(target=_race_worker, args=(url, start, inbox, outbox), daemon=True)
        for inbox, outbox in pipes
    ]
    for proc in procs:
        proc.start()
    stores = [open_store(url, concurrency=4) for _ in range(RACE_THREADS)]
    try:
        for _, outbox in pipes:
            assert outbox.get(timeout=60) == "ready"
        for round_no in range(RACE_ROUNDS):
            keys = [f"race{round_no}#{i:03d}" for i in range(RACE_KEYS)]
            for inbox, _ in pipes:
                inbox.put(random.sample(keys, len(keys)))
            winners: list[list[str]] = [[] for _ in stores]

            def race(n: int, keys: list[str] = keys, winners: list[list[str]] = winners) -> None:
                shuffled = kitems(random.sample(keys, len(keys)))
                start.wait(timeout=60)
                results = stores[n].claim(shuffled, LEASE, TTL)
                winners[n] = [r.key for r in results if r.outcome is Outcome.CLAIMED]

            threads = [threading.Thread(target=race, args=(n,)) for n in range(len(stores))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=120)
            claimed = Counter(k for w in winners for k in w)
            for _, outbox in pipes:
                claimed.update(outbox.get(timeout=120))
            assert claimed == Counter(keys), f"round {round_no}: not exactly one winner per key"
            # every losing claim was counted on its record: nothing lost in the race
            racers = RACE_THREADS + RACE_PROCESSES
            assert {r.record.dup_count for r in main.check(keys) if r.record} == {racers - 1}
    finally:
        for inbox, _ in pipes:
            inbox.put(None)
        for proc in procs:
            proc.join(timeout=30)
        for s in [*stores, main]:
            s.close()


def test_a_repeated_key_in_one_call_is_answered_in_order(store: DynamoDBStore) -> None:
    claimed = store.claim(kitems(["a", "a", "b"]), LEASE, TTL)
    assert [r.outcome for r in claimed] == [Outcome.CLAIMED, Outcome.IN_FLIGHT, Outcome.CLAIMED]
    seeded = store.seed(kitems(["c", "c"]), TTL)
    assert [r.outcome for r in seeded] == [Outcome.SEEDED, Outcome.DUPLICATE]
    checked = store.check(["a", "a", "c"])
    assert [r.outcome for r in checked] == [Outcome.IN_FLIGHT, Outcome.IN_FLIGHT, Outcome.DUPLICATE]


# -- throttling and unprocessed batches ------------------------------------------------------


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException"])
def test_throttled_writes_are_retried_and_nothing_is_lost(
    store: DynamoDBStore, fake_sleep: FakeSleep, code: str
) -> None:
    throttle = FailFirst(code, times=3)
    store.client.meta.events.register("before-send.dynamodb.PutItem", throttle)
    keys = [f"t{i}" for i in range(20)]
    results = store.claim(kitems(keys), LEASE, TTL)
    assert throttle.fired == 3
    # botocore chose a backoff before each of the 3 retries; the store's sleep waited it
    assert len(fake_sleep.waits) == 3
    assert all(0 <= wait <= BOTOCORE_MAX_BACKOFF for wait in fake_sleep.waits)
    assert [r.outcome for r in results] == [Outcome.CLAIMED] * 20
    assert store.complete_many([(r.key, r.token or "") for r in results], TTL) == [True] * 20
    assert [r.outcome for r in store.check(keys)] == [Outcome.DUPLICATE] * 20


def test_throttling_beyond_the_retries_is_a_clear_error(
    open_dynamodb_store: OpenStore, fake_sleep: FakeSleep
) -> None:
    store = open_dynamodb_store(max_attempts=2)
    store.client.meta.events.register(
        "before-send.dynamodb.PutItem", FailFirst("ThrottlingException", times=10)
    )
    table = store.table
    with pytest.raises(StoreError) as info:
        store.claim(kitems(["x"]), LEASE, TTL)
    assert str(info.value) == (
        f"DynamoDB throttled claim on table {table} after all retries (ThrottlingException): "
        "lower the store's concurrency (concurrency=N in the store URL) "
        "or raise the table's capacity"
    )
    assert info.value.setting == "concurrency"  # the CLI adds its --concurrency
    assert len(fake_sleep.waits) == 1  # two attempts: one wait between them


class FailNth:
    """A before-send hook answering only the ``nth`` request with an error."""

    def __init__(self, code: str, nth: int) -> None:
        self.code, self.nth, self.seen = code, nth, 0
        self.lock = threading.Lock()

    def __call__(self, **_: Any) -> AWSResponse | None:
        with self.lock:
            self.seen += 1
            if self.seen != self.nth:
                return None
        return error_response(self.code)


def all_items(store: DynamoDBStore) -> list[dict[str, Any]]:
    return store.client.scan(TableName=store.table, ConsistentRead=True)["Items"]


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_failed_claim_leaves_no_claim_behind(
    open_dynamodb_store: OpenStore, concurrency: int
) -> None:
    store = open_dynamodb_store(max_attempts=1, concurrency=concurrency)
    keys = [f"leak{i}" for i in range(40)]
    failing = FailNth("ProvisionedThroughputExceededException", nth=5)
    store.client.meta.events.register("before-send.dynamodb.PutItem", failing)
    with pytest.raises(StoreError, match="throttled claim"):
        store.claim(kitems(keys), LEASE, TTL)
    assert failing.seen >= 5
    # The claims that succeeded before the failure were released, none is in flight.
    assert [i["status"]["S"] for i in all_items(store) if "status" in i] == []
    store.client.meta.events.unregister("before-send.dynamodb.PutItem", failing)
    assert [r.outcome for r in store.claim(kitems(keys), LEASE, TTL)] == [Outcome.CLAIMED] * 40


def test_a_failed_claim_says_which_claims_it_could_not_release(
    open_dynamodb_store: OpenStore,
) -> None:
    store = open_dynamodb_store(max_attempts=1, concurrency=1)
    store.client.meta.events.register(
        "before-send.dynamodb.PutItem", FailNth("ThrottlingException", nth=4)
    )
    store.client.meta.events.register(
        "before-send.dynamodb.DeleteItem", FailNth("ThrottlingException", nth=2)
    )
    with pytest.raises(StoreError) as info:
        store.claim(kitems(["a", "b", "c", "d", "e"]), LEASE, TTL)
    assert "(ThrottlingException)" in str(info.value)
    assert str(info.value).endswith(
        "(1 of the 3 keys claimed before the failure could not be released: "
        "they stay in flight until their lease runs out)"
    )
    assert [i["dedup_key"]["S"] for i in all_items(store)] == ["b"]


def test_unprocessed_keys_are_retried_until_done(
    store: DynamoDBStore, fake_sleep: FakeSleep
) -> None:
    keys = [f"u{i:03d}" for i in range(120)]
    store.seed(kitems(keys), TTL)
    trimmed = {"calls": 0}
    lock = threading.Lock()  # the two chunks are read in parallel

    def trim(parsed: dict[str, Any], **_: Any) -> None:
        """Hand back half of what was read as unprocessed, for the first three calls."""
        with lock:
            trimmed["calls"] += 1
            if trimmed["calls"] > 3:
                return
        got = parsed["Responses"][store.table]
        keep, back = got[: len(got) // 2], got[len(got) // 2 :]
        parsed["Responses"][store.table] = keep
        parsed["UnprocessedKeys"] = {
            store.table: {"Keys": [{"dedup_key": i["dedup_key"]} for i in back]}
        }

    store.client.meta.events.register("after-call.dynamodb.BatchGetItem", trim)
    results = store.check(keys)
    assert [r.outcome for r in results] == [Outcome.DUPLICATE] * 120
    assert [r.key for r in results] == keys
    assert trimmed["calls"] > 2  # two chunks, plus the retries of what came back
    # one jittered wait per round handed back; the chunks run in parallel, so the three
    # rounds are of attempts 0, 0, 1 or (one chunk first) 0, 1, 2
    assert len(fake_sleep.waits) == 3
    assert all(0 <= wait <= backoff_bound(2) for wait in fake_sleep.waits)


def test_keys_unprocessed_after_every_round_are_a_clear_error(
    store: DynamoDBStore, fake_sleep: FakeSleep
) -> None:
    store.seed(kitems(["k1", "k2"]), TTL)

    def hand_back_all(parsed: dict[str, Any], **_: Any) -> None:
        got = parsed["Responses"][store.table]
        parsed["Responses"][store.table] = []
        parsed["UnprocessedKeys"] = {
            store.table: {"Keys": [{"dedup_key": i["dedup_key"]} for i in got]}
        }

    store.client.meta.events.register("after-call.dynamodb.BatchGetItem", hand_back_all)
    with pytest.raises(StoreError) as info:
        store.check(["k1", "k2"])
    assert str(info.value) == (
        f"DynamoDB check on table {store.table}: 2 keys still unprocessed after "
        f"{MAX_UNPROCESSED_ROUNDS} rounds (throttled): retry later or lower the store's "
        "concurrency (concurrency=N in the store URL)"
    )
    assert info.value.setting == "concurrency"
    waits = fake_sleep.waits
    assert len(waits) == MAX_UNPROCESSED_ROUNDS
    assert all(0 <= w <= backoff_bound(n) for n, w in enumerate(waits))


def test_unprocessed_items_are_retried_until_done(
    store: DynamoDBStore, fake_sleep: FakeSleep
) -> None:
    store.seed(kitems([f"p{i:03d}" for i in range(60)], namespace="gone"), TTL)
    store.seed(kitems(["keep1", "keep2"], namespace="kept"), TTL)
    log = CallLog(store, "BatchWriteItem")
    sent: list[list[Any]] = []
    state = {"left": 2}

    def remember(params: dict[str, Any], **_: Any) -> None:
        sent.append(params["RequestItems"][store.table])

    def trim(parsed: dict[str, Any], **_: Any) -> None:
        """Say the last third of the first two requests was not processed."""
        if state["left"] > 0:
            state["left"] -= 1
            requests = sent[-1]
            parsed["UnprocessedItems"] = {store.table: requests[-(len(requests) // 3 or 1) :]}

    store.concurrency = 1  # one segment at a time, so "the last request" is well defined
    store.client.meta.events.register("before-parameter-build.dynamodb.BatchWriteItem", remember)
    store.client.meta.events.register("after-call.dynamodb.BatchWriteItem", trim)
    assert store.purge(PurgeFilter(namespace="gone")) == 60
    assert len(log.calls["BatchWriteItem"]) >= 3 + 2  # 60 deletes in >=3 calls, 2 retries
    # one request handed back twice in a row: waits of its rounds 0 and 1
    assert len(fake_sleep.waits) == 2
    assert 0 <= fake_sleep.waits[0] <= backoff_bound(0)
    assert 0 <= fake_sleep.waits[1] <= backoff_bound(1)
    assert store.summary().by_namespace == {"kept": {"records": 2, "duplicates": 0}}


# -- DynamoDB's per-call limits -------------------------------------------------------------


def test_batches_and_pages_respect_dynamodb_limits(store: DynamoDBStore) -> None:
    log = CallLog(store, "BatchGetItem", "BatchWriteItem", "Scan")
    keys = [f"lim#{i:03d}" for i in range(130)]
    store.seed(kitems(keys, namespace="lim"), TTL)
    store.seed(kitems(["other#1"], namespace="other"), TTL)
    # 160 keys with 30 repeats: 130 distinct keys (BatchGetItem refuses a key twice)
    results = store.check(keys + keys[:30])
    assert [r.outcome for r in results] == [Outcome.DUPLICATE] * 160
    sizes = sorted(len(c["RequestItems"][store.table]["Keys"]) for c in log.calls["BatchGetItem"])
    assert sizes == [30, 100]
    assert all(c["RequestItems"][store.table]["ConsistentRead"] for c in log.calls["BatchGetItem"])

    assert store.purge(PurgeFilter(namespace="lim"), dry_run=True) == 130
    assert log.calls["BatchWriteItem"] == []  # a dry run only counts
    assert store.purge(PurgeFilter(namespace="lim")) == 130
    writes = [len(c["RequestItems"][store.table]) for c in log.calls["BatchWriteItem"]]
    assert sum(writes) == 130
    assert max(writes) <= 25
    scans = log.calls["Scan"]
    assert scans and all(0 < c["Limit"] <= ddb.SCAN_PAGE_ITEMS for c in scans)
    assert {c["TotalSegments"] for c in scans} == {ddb.SCAN_SEGMENTS}
    assert {c["Segment"] for c in scans} == set(range(ddb.SCAN_SEGMENTS))
    assert store.get("other#1") is not None


def test_scans_follow_pages(store: DynamoDBStore) -> None:
    store.scan_page_items = 7
    store.seed(kitems([f"pg{i:02d}" for i in range(40)]), TTL)
    log = CallLog(store, "Scan")
    assert store.summary().records == 40
    scans = log.calls["Scan"]
    assert {c["Limit"] for c in scans} == {7}
    # pages were followed: 40 items at 7 a page are at least 6 pages, however the
    # segments split them (one page per segment would be 4)
    assert len(scans) >= -(-40 // 7)
    assert any("ExclusiveStartKey" in c for c in scans)
    assert store.purge(PurgeFilter(prefix="pg1")) == 10
    assert store.summary().records == 30


def test_a_key_longer_than_dynamodb_allows_is_refused(store: DynamoDBStore) -> None:
    with pytest.raises(StoreError, match="1 to 2048 bytes"):
        store.claim(kitems(["x" * 2049]), LEASE, TTL)


def test_purge_of_one_namespace_leaves_the_others(store: DynamoDBStore) -> None:
    for namespace in ("prod", "test", "staging"):
        store.seed(kitems([f"{namespace}#{i}" for i in range(12)], namespace=namespace), TTL)
    assert store.purge(PurgeFilter(namespace="test")) == 12
    assert store.purge(PurgeFilter(namespace="test")) == 0
    summary = store.summary()
    assert summary.by_namespace == {
        "prod": {"records": 12, "duplicates": 0},
        "staging": {"records": 12, "duplicates": 0},
    }
    assert store.check(["test#1"])[0].outcome is Outcome.NEW


# -- set-up and errors -----------------------------------------------------------------------


def _create(server: DynamoDBServer, table: str, keys: list[tuple[str, str, str]]) -> None:
    client = boto3.client("dynamodb", endpoint_url=server.endpoint_url, region_name=server.region)
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": n, "KeyType": k} for n, _, k in keys],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t, _ in keys],
        BillingMode="PAY_PER_REQUEST",
    )
    client.close()


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        ([("id", "S", "HASH")], "its partition key is 'id' (S), gcdedup needs 'dedup_key' (S)"),
        (
            [("dedup_key", "N", "HASH")],
            "its partition key 'dedup_key' is of type N, gcdedup needs S (string)",
        ),
        (
            [("dedup_key", "S", "HASH"), ("ts", "N", "RANGE")],
            "it has a sort key 'ts', gcdedup needs none",
        ),
    ],
)
def test_init_on_a_table_with_the_wrong_key_schema(
    dynamodb_server: DynamoDBServer,
    open_dynamodb_store: OpenStore,
    keys: list[tuple[str, str, str]],
    problem: str,
) -> None:
    store = open_dynamodb_store(init=False)
    _create(dynamodb_server, store.table, keys)
    with pytest.raises(StoreError) as info:
        store.init()
    assert str(info.value) == f"table {store.table} cannot hold gcdedup records: {problem}"


def test_init_creates_then_verifies_and_checks_ttl(open_dynamodb_store: OpenStore) -> None:
    store = open_dynamodb_store(init=False)
    log = CallLog(store, "CreateTable")
    table = store.table
    assert store.init() == (
        f"created DynamoDB table {table} (on-demand, key dedup_key, TTL on expires_at)"
    )
    assert store.init() == f"DynamoDB table {table} is ready (key dedup_key, TTL on expires_at)"
    client = store.client
    description = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert description == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    assert [call["BillingMode"] for call in log.calls["CreateTable"]] == ["PAY_PER_REQUEST"]
    billing = client.describe_table(TableName=table)["Table"].get("BillingModeSummary")
    assert billing == {"BillingMode": "PAY_PER_REQUEST"}

    # an interrupted init (table, no TTL) is finished by the next init
    client.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires_at"}
    )
    assert store.init().endswith("TTL enabled on expires_at now)")

    # TTL on another attribute cannot be fixed by us: say exactly what is wrong
    client.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
    )
    with pytest.raises(StoreError) as info:
        store.init()
    assert str(info.value) == (
        f"table {table} has TTL on 'ttl', but gcdedup records expire by 'expires_at': "
        "disable that TTL (and wait an hour) or use another table"
    )


def test_a_missing_table_names_the_fix(open_dynamodb_store: OpenStore) -> None:
    store = open_dynamodb_store(init=False)
    expected = (
        f"table {store.table} does not exist: run gcdedup init --store dynamodb://{store.table}"
    )
    for call in (
        lambda: store.claim(kitems(["a"]), LEASE, TTL),
        lambda: store.check(["a"]),
        lambda: store.complete("a", "t", TTL),
        lambda: store.purge(PurgeFilter(all_records=True)),
        store.summary,
    ):
        with pytest.raises(StoreError) as info:
            call()
        assert str(info.value) == expected


def test_access_denied_names_the_missing_action(store: DynamoDBStore) -> None:
    store.client.meta.events.register(
        "before-send.dynamodb.BatchGetItem", FailFirst("AccessDeniedException", times=1)
    )
    with pytest.raises(StoreError) as info:
        store.check(["a"])
    assert str(info.value) == (
        f"access denied for dynamodb:BatchGetItem on table {store.table} (needed by check): "
        "grant it to this role or user (see docs/stores/dynamodb.md, IAM permissions)"
    )


def test_an_item_gcdedup_did_not_write_is_a_clear_error(store: DynamoDBStore) -> None:
    store.client.put_item(TableName=store.table, Item={"dedup_key": {"S": "alien"}})
    with pytest.raises(StoreError, match="holds an item gcdedup cannot read"):
        store.check(["alien"])


# -- URLs, options and the client ------------------------------------------------------------


def test_url_options_and_client_configuration(dynamodb_server: DynamoDBServer) -> None:
    store = open_store(dynamodb_server.table_url() + "&concurrency=24&retry_mode=adaptive")
    assert isinstance(store, DynamoDBStore)  # open_store's lazy import picked the backend
    config = store.client.meta.config
    assert store.concurrency == 24
    assert config.max_pool_connections >= 24
    assert config.retries["mode"] == "adaptive"
    assert config.retries["total_max_attempts"] == ddb.DEFAULT_MAX_ATTEMPTS
    assert config.connect_timeout and config.read_timeout
    assert store.client.meta.endpoint_url == dynamodb_server.endpoint_url
    store.close()


# Not "adaptive": it is "standard" plus client-side rate limiting, whose token bucket
# really waits after a throttle (a rate limit, not a retry backoff).
@pytest.mark.parametrize("mode", ["standard", "legacy"])
def test_botocores_retry_waits_go_through_the_injected_sleep(
    open_dynamodb_store: OpenStore, fake_sleep: FakeSleep, mode: str
) -> None:
    store = open_dynamodb_store(retry_mode=mode, max_attempts=3)
    other = FakeSleep()
    again = open_dynamodb_store(store.url, client=store.client, sleep=other)  # shared client
    throttle = FailFirst("ThrottlingException", times=2)
    store.client.meta.events.register("before-send.dynamodb.PutItem", throttle)
    assert [r.outcome for r in again.claim(kitems(["a"]), LEASE, TTL)] == [Outcome.CLAIMED]
    assert throttle.fired == 2
    assert fake_sleep.waits == []  # routed once, to the newest store's sleep
    assert len(other.waits) == 2
    assert all(0 <= wait <= BOTOCORE_MAX_BACKOFF for wait in other.waits)


def test_a_bare_url_uses_boto3s_own_endpoint_variable(open_dynamodb_store: OpenStore) -> None:
    # AWS_ENDPOINT_URL_DYNAMODB and AWS_DEFAULT_REGION are set by the server fixture
    store = open_dynamodb_store(f"dynamodb://bare-{random.randrange(10**9)}", concurrency=2)
    assert [r.outcome for r in store.claim(kitems(["a", "b"]), LEASE, TTL)] == [Outcome.CLAIMED] * 2


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("dynamodb://ab", "invalid DynamoDB table name 'ab'"),
        ("dynamodb://t@ble!", "invalid DynamoDB table name"),
        ("dynamodb://Table/extra", "invalid DynamoDB URL"),
        ("dynamodb://Table?colour=red", "unknown DynamoDB store option(s) colour"),
        ("dynamodb://Table?concurrency=lots", "concurrency must be an integer"),
        ("dynamodb://Table?concurrency=0", "concurrency must be at least 1"),
        ("dynamodb://Table?retry_mode=eager", "invalid retry_mode 'eager'"),
    ],
)
def test_bad_urls_are_config_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        open_store(url + ("&" if "?" in url else "?") + "region=us-east-1")


def test_missing_boto3_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(MissingDependencyError) as info:
        open_store("dynamodb://Table?region=us-east-1")
    assert "pip install '.[dynamodb]' (gcdedup is not on PyPI)" in str(info.value)
