"""The DedupStore behaviour suite, run against every backend (see conftest.BACKENDS)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gcdedup.store import DedupStore, KeyItem, Outcome, PurgeFilter, RecordStatus

TTL = 3600
DAY = 86400
LEASE = 60.0

MakeStore = Callable[..., DedupStore]


def items(*keys: str, namespace: str = "test", topic: str = "t") -> list[KeyItem]:
    return [KeyItem(k, namespace, topic) for k in keys]


def outcomes(results: list) -> list[Outcome]:
    return [r.outcome for r in results]


def test_first_claim_wins_then_in_flight_then_duplicate(make_store: MakeStore) -> None:
    store = make_store()
    first = store.claim(items("a"), LEASE, TTL)
    assert outcomes(first) == [Outcome.CLAIMED]
    assert first[0].token
    assert outcomes(store.claim(items("a"), LEASE, TTL)) == [Outcome.IN_FLIGHT]
    assert store.complete("a", first[0].token, TTL) is True
    assert outcomes(store.claim(items("a"), LEASE, TTL)) == [Outcome.DUPLICATE]
    record = store.get("a")
    assert record is not None
    assert record.status is RecordStatus.COMPLETED
    assert record.dup_count == 2
    assert record.claim_token is None


def test_results_keep_input_order_in_a_mixed_batch(make_store: MakeStore) -> None:
    store = make_store()
    done = store.claim(items("done"), LEASE, TTL)[0]
    store.complete("done", done.token or "", TTL)
    store.claim(items("held"), LEASE, TTL)
    results = store.claim(items("new1", "done", "held", "new2"), LEASE, TTL)
    assert [r.key for r in results] == ["new1", "done", "held", "new2"]
    assert outcomes(results) == [
        Outcome.CLAIMED,
        Outcome.DUPLICATE,
        Outcome.IN_FLIGHT,
        Outcome.CLAIMED,
    ]
    assert results[0].token != results[3].token


def test_record_fields_after_claim_and_complete(make_store: MakeStore, clock) -> None:
    store = make_store(run_id="run-1")
    start = clock.now
    token = store.claim([KeyItem("k", "ns1", "v2.audits")], LEASE, TTL)[0].token
    record = store.get("k")
    assert record is not None
    assert record.status is RecordStatus.IN_PROGRESS
    assert record.claim_token == token
    assert record.namespace == "ns1"
    assert record.topic == "v2.audits"
    assert record.run_id == "run-1"
    assert record.first_seen_at == pytest.approx(start)
    assert record.lease_until == pytest.approx(start + LEASE)
    assert record.expires_at == int(start) + TTL
    clock.advance(10)
    assert store.complete("k", token or "", TTL)
    record = store.get("k")
    assert record is not None
    assert record.expires_at == int(start + 10) + TTL
    assert record.lease_until is None


def test_release_makes_the_key_claimable_and_needs_the_token(make_store: MakeStore) -> None:
    store = make_store()
    token = store.claim(items("a"), LEASE, TTL)[0].token or ""
    assert store.release("a", "not-the-token") is False
    assert store.complete("a", "not-the-token", TTL) is False
    assert outcomes(store.claim(items("a"), LEASE, TTL)) == [Outcome.IN_FLIGHT]
    assert store.release("a", token) is True
    assert store.get("a") is None
    assert store.release("a", token) is False
    assert outcomes(store.claim(items("a"), LEASE, TTL)) == [Outcome.CLAIMED]


def test_an_expired_lease_can_be_taken_over_and_the_old_holder_loses(
    make_store: MakeStore, clock
) -> None:
    store = make_store()
    old = store.claim(items("a"), LEASE, TTL)[0].token or ""
    clock.advance(LEASE - 1)
    assert outcomes(store.claim(items("a"), LEASE, TTL)) == [Outcome.IN_FLIGHT]
    clock.advance(2)
    new = store.claim(items("a"), LEASE, TTL)[0]
    assert new.outcome is Outcome.CLAIMED
    assert store.complete("a", old, TTL) is False
    assert store.release("a", old) is False
    assert store.complete("a", new.token or "", TTL) is True


def test_an_expired_record_not_yet_deleted_is_claimable(make_store: MakeStore, clock) -> None:
    store = make_store()
    token = store.claim(items("a"), LEASE, TTL)[0].token or ""
    store.complete("a", token, TTL)
    clock.advance(TTL - 5)
    assert outcomes(store.claim(items("a"), LEASE, TTL)) == [Outcome.DUPLICATE]
    clock.advance(10)
    assert store.get("a") is not None  # still there, as TTL deletion lags
    result = store.claim(items("a"), LEASE, TTL)[0]
    assert result.outcome is Outcome.CLAIMED
    record = store.get("a")
    assert record is not None
    assert record.dup_count == 0  # a new life for the key


def test_seed_marks_done_and_never_overwrites_a_live_claim(make_store: MakeStore) -> None:
    store = make_store()
    live = store.claim(items("live"), LEASE, TTL)[0].token or ""
    done = store.claim(items("done"), LEASE, TTL)[0].token or ""
    store.complete("done", done, TTL)
    results = store.seed(items("new", "live", "done"), TTL)
    assert outcomes(results) == [Outcome.SEEDED, Outcome.IN_FLIGHT, Outcome.DUPLICATE]
    assert outcomes(store.claim(items("new"), LEASE, TTL)) == [Outcome.DUPLICATE]
    assert store.complete("live", live, TTL) is True  # the claim survived the seed
    record = store.get("done")
    assert record is not None
    assert record.dup_count == 0  # seeding is not a delivery


def test_seed_takes_over_an_abandoned_claim(make_store: MakeStore, clock) -> None:
    store = make_store()
    store.claim(items("a"), LEASE, TTL)
    clock.advance(LEASE + 1)
    assert outcomes(store.seed(items("a"), TTL)) == [Outcome.SEEDED]
    record = store.get("a")
    assert record is not None
    assert record.status is RecordStatus.COMPLETED


def test_check_is_read_only(make_store: MakeStore) -> None:
    store = make_store()
    token = store.claim(items("done"), LEASE, TTL)[0].token or ""
    store.complete("done", token, TTL)
    store.claim(items("held"), LEASE, TTL)
    results = store.check(["absent", "done", "held"])
    assert outcomes(results) == [Outcome.NEW, Outcome.DUPLICATE, Outcome.IN_FLIGHT]
    assert results[0].record is None
    assert results[1].record is not None and results[1].record.status is RecordStatus.COMPLETED
    assert store.get("absent") is None
    record = store.get("done")
    assert record is not None and record.dup_count == 0


def test_large_batches_are_split_and_all_answered(make_store: MakeStore) -> None:
    store = make_store()
    keys = [f"k{i:04d}" for i in range(260)]
    claimed = store.claim(items(*keys), LEASE, TTL)
    assert [r.key for r in claimed] == keys
    assert outcomes(claimed) == [Outcome.CLAIMED] * 260
    done = store.complete_many([(r.key, r.token or "") for r in claimed], TTL)
    assert done == [True] * 260
    checked = store.check(keys)
    assert outcomes(checked) == [Outcome.DUPLICATE] * 260
    seeded = store.seed(items(*[f"s{i:04d}" for i in range(130)]), TTL)
    assert outcomes(seeded) == [Outcome.SEEDED] * 130
    summary = store.summary()
    assert summary.records == 390


def test_complete_many_reports_each_lost_claim(make_store: MakeStore, clock) -> None:
    store = make_store()
    first = store.claim(items("a", "b"), LEASE, TTL)
    clock.advance(LEASE + 1)
    store.claim(items("b"), LEASE, TTL)  # b's lease is taken over
    assert store.complete_many([(r.key, r.token or "") for r in first], TTL) == [True, False]


def test_two_handles_share_state(make_store: MakeStore) -> None:
    one, two = make_store(), make_store()
    assert outcomes(one.claim(items("a"), LEASE, TTL)) == [Outcome.CLAIMED]
    assert outcomes(two.claim(items("a"), LEASE, TTL)) == [Outcome.IN_FLIGHT]


def _fill(store: DedupStore, clock) -> None:
    for namespace, keys in (("prod", ["p1", "p2"]), ("test", ["t1", "t2", "t3"])):
        store.seed([KeyItem(f"{namespace}#{k}", namespace, "topic") for k in keys], TTL)


def test_purge_by_namespace_leaves_others(make_store: MakeStore, clock) -> None:
    store = make_store()
    _fill(store, clock)
    assert store.purge(PurgeFilter(namespace="test"), dry_run=True) == 3
    assert store.summary().records == 5
    assert store.purge(PurgeFilter(namespace="test")) == 3
    assert store.get("prod#p1") is not None
    assert store.get("test#t1") is None
    assert store.summary().by_namespace == {"prod": {"records": 2, "duplicates": 0}}


def test_purge_filters_combine(make_store: MakeStore, clock) -> None:
    run_a = make_store(run_id="A")
    run_a.seed(items("x#1", "x#2", namespace="x"), TTL)
    clock.advance(7200)
    run_b = make_store(run_id="B")
    run_b.seed(items("x#3", "y#1", namespace="x"), TTL)
    assert run_b.purge(PurgeFilter()) == 0  # an empty filter deletes nothing
    assert run_b.purge(PurgeFilter(run_id="A"), dry_run=True) == 2
    assert run_b.purge(PurgeFilter(older_than=3600), dry_run=True) == 2
    assert run_b.purge(PurgeFilter(prefix="x#"), dry_run=True) == 3
    assert run_b.purge(PurgeFilter(prefix="x#", run_id="B")) == 1
    assert run_b.get("x#3") is None
    assert run_b.purge(PurgeFilter(all_records=True)) == 3
    assert run_b.summary().records == 0


def test_summary_counts(make_store: MakeStore, clock) -> None:
    store = make_store()
    a = store.claim([KeyItem("ns1#a", "ns1", "audit")], LEASE, DAY)[0].token or ""
    store.complete("ns1#a", a, DAY)
    store.claim([KeyItem("ns1#a", "ns1", "audit")], LEASE, DAY)
    store.claim([KeyItem("ns1#a", "ns1", "audit")], LEASE, DAY)
    store.claim([KeyItem("ns2#b", "ns2", "conv")], LEASE, DAY)
    old = store.claim([KeyItem("ns2#old", "ns2", "conv")], LEASE, 100)[0].token or ""
    store.complete("ns2#old", old, 100)
    clock.advance(7200)  # ns2#old has expired; the rest are 2 h old
    summary = store.summary()
    assert summary.records == 2
    assert summary.expired == 1
    assert summary.duplicates == 2
    assert summary.by_status == {"COMPLETED": 1, "IN_PROGRESS": 1}
    assert summary.by_namespace == {
        "ns1": {"records": 1, "duplicates": 2},
        "ns2": {"records": 1, "duplicates": 0},
    }
    assert summary.by_topic == {
        "audit": {"records": 1, "duplicates": 2},
        "conv": {"records": 1, "duplicates": 0},
    }
    assert summary.by_age == {"1h-24h": 2}
    assert summary.duplicate_rate == pytest.approx(2 / 4)


def test_sqlite_refuses_a_file_of_an_older_layout(tmp_path) -> None:
    import sqlite3

    from gcdedup.errors import StoreError
    from gcdedup.store import open_store

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE dedup (key TEXT PRIMARY KEY, status TEXT)")
    with pytest.raises(StoreError, match="has an older layout \\(no key_hash column\\)"):
        open_store(f"sqlite:///{path}")


def test_renew_keeps_a_running_claim_from_being_taken_over(make_store: MakeStore, clock) -> None:
    store = make_store()
    ours = store.claim(items("a", "b"), LEASE, 1)
    tokens = [(r.key, r.token or "") for r in ours]
    clock.advance(LEASE - 1)
    assert store.renew(tokens, LEASE) == [True, True]
    clock.advance(LEASE - 1)  # past the first lease and the TTL of 1 s, within the renewed one
    assert outcomes(store.claim(items("a", "b"), LEASE, TTL)) == [Outcome.IN_FLIGHT] * 2
    record = store.get("a")
    assert record is not None
    assert record.lease_until == pytest.approx(clock() + 1)
    assert record.expires_at >= record.lease_until
    assert store.complete("a", tokens[0][1], TTL) is True


def test_renew_answers_false_for_claims_no_longer_held(make_store: MakeStore, clock) -> None:
    store = make_store()
    first = store.claim(items("a", "b", "c"), LEASE, TTL)
    store.complete("b", first[1].token or "", TTL)
    clock.advance(LEASE + 1)
    taken = store.claim(items("a"), LEASE, TTL)  # a's lease ran out: another worker took it
    assert outcomes(taken) == [Outcome.CLAIMED]
    pairs = [(r.key, r.token or "") for r in first]
    assert store.renew(pairs, LEASE) == [False, False, True]
    assert store.renew([("never-claimed", "t")], LEASE) == [False]
    assert store.renew([], LEASE) == []
    record = store.get("b")
    assert record is not None and record.status is RecordStatus.COMPLETED


def test_release_many_releases_only_what_each_token_holds(make_store: MakeStore) -> None:
    store = make_store()
    claimed = store.claim(items("a", "b", "c"), LEASE, TTL)
    store.complete("c", claimed[2].token or "", TTL)
    pairs = [(r.key, r.token or "") for r in claimed]
    assert store.release_many([*pairs, ("a", "not-the-token")]) == [True, True, False, False]
    assert outcomes(store.claim(items("a", "b", "c"), LEASE, TTL)) == [
        Outcome.CLAIMED,
        Outcome.CLAIMED,
        Outcome.DUPLICATE,
    ]
    assert store.release_many([]) == []


@pytest.mark.parametrize("counting", [True, False])
def test_mark_done_writes_new_keys_done_and_answers_the_rest_like_a_claim(
    make_store: MakeStore, clock, counting: bool
) -> None:
    store = make_store()
    done = store.claim(items("done"), LEASE, TTL)
    store.complete("done", done[0].token or "", TTL)
    store.claim(items("live"), LEASE, TTL)
    store.claim(items("lapsed"), LEASE, TTL)
    clock.advance(LEASE + 1)  # "lapsed" and "live" lapse; renew "live" only
    live = store.claim(items("live"), LEASE, TTL)  # taken over, live again
    answers = store.mark_done(
        items("new", "done", "live", "lapsed", "new", "live"), TTL, count_duplicates=counting
    )
    assert outcomes(answers) == [
        Outcome.SEEDED,
        Outcome.DUPLICATE,
        Outcome.IN_FLIGHT,
        Outcome.SEEDED,  # a lapsed claim is taken over
        Outcome.DUPLICATE,  # the later copy of a key written by this call
        Outcome.IN_FLIGHT,
    ]
    assert answers[2].record is not None
    assert answers[2].record.lease_until == pytest.approx(clock() + LEASE)
    for key in ("new", "lapsed"):
        record = store.get(key)
        assert record is not None and record.status is RecordStatus.COMPLETED
        assert record.claim_token is None and record.expires_at == int(clock()) + TTL
    # counting: every DUPLICATE / IN_FLIGHT answer is a duplicate seen, as for a claim
    assert store.get("done").dup_count == (1 if counting else 0)
    assert store.get("live").dup_count == (2 if counting else 0)
    assert store.get("new").dup_count == (1 if counting else 0)
    assert store.complete("live", live[0].token or "", TTL) is True  # never overwritten


def test_mark_done_answers_every_key_of_a_large_batch(make_store: MakeStore, backend: str) -> None:
    # Many more keys than one SQLite read binds (900) or one DynamoDB batch holds; a
    # remote table gets fewer keys (each is a request there).
    count = 300 if backend.startswith("dynamodb") else 6000
    store = make_store()
    keys = [f"k{n:05d}" for n in range(count)]
    first = store.mark_done(items(*keys), TTL, count_duplicates=True)
    assert outcomes(first) == [Outcome.SEEDED] * count
    again = store.mark_done(items(*keys[::-1]), TTL, count_duplicates=True)
    assert outcomes(again) == [Outcome.DUPLICATE] * count
    assert [r.key for r in again] == keys[::-1]


# -- fingerprints, conflicts, optional counters, saved results ----------------------------


def fp_items(key: str, fingerprint: str, origin: str = "") -> list[KeyItem]:
    return [KeyItem(key, "test", "t", fingerprint, origin)]


def _completed(store: DedupStore, key: str, fingerprint: str, origin: str = "a.json:1") -> None:
    token = store.claim(fp_items(key, fingerprint, origin), LEASE, TTL)[0].token
    assert store.complete(key, token or "", TTL)


def test_a_record_keeps_the_fingerprint_and_origin_of_its_claim(make_store: MakeStore) -> None:
    store = make_store()
    _completed(store, "k", "f1", "03.json:1")
    record = store.get("k")
    assert record is not None
    assert (record.fingerprint, record.origin) == ("f1", "03.json:1")


def test_same_key_other_payload_is_a_conflict_left_as_it_was(make_store: MakeStore) -> None:
    store = make_store()
    _completed(store, "k", "f1")
    before = store.get("k")
    results = store.claim(fp_items("k", "f2", "05.json:1"), LEASE, TTL)
    assert outcomes(results) == [Outcome.CONFLICT]
    assert results[0].record is not None
    assert results[0].record.origin == "a.json:1"
    assert store.get("k") == before  # not taken, not counted
    # The same payload again is a plain duplicate.
    assert outcomes(store.claim(fp_items("k", "f1"), LEASE, TTL)) == [Outcome.DUPLICATE]


def test_a_record_or_a_delivery_without_a_fingerprint_is_never_a_conflict(
    make_store: MakeStore,
) -> None:
    store = make_store()
    _completed(store, "old", "")
    _completed(store, "new", "f1")
    assert outcomes(store.claim(fp_items("old", "f2"), LEASE, TTL)) == [Outcome.DUPLICATE]
    assert outcomes(store.claim(fp_items("new", ""), LEASE, TTL)) == [Outcome.DUPLICATE]
    assert outcomes(store.claim(fp_items("old", "f2"), LEASE, TTL, take_conflicts=True)) == [
        Outcome.DUPLICATE
    ]


def test_take_conflicts_claims_a_completed_record_of_another_payload(
    make_store: MakeStore,
) -> None:
    store = make_store()
    _completed(store, "k", "f1", "03.json:1")
    taken = store.claim(fp_items("k", "f2", "05.json:1"), LEASE, TTL, take_conflicts=True)[0]
    assert taken.outcome is Outcome.CLAIMED
    assert taken.conflict is True
    assert taken.record is not None and taken.record.origin == "03.json:1"
    record = store.get("k")
    assert record is not None
    assert (record.status, record.fingerprint, record.origin) == (
        RecordStatus.IN_PROGRESS,
        "f2",
        "05.json:1",
    )
    # A live claim of the other payload is never taken, whatever the fingerprints.
    held = store.claim(fp_items("k", "f3"), LEASE, TTL, take_conflicts=True)
    assert outcomes(held) == [Outcome.IN_FLIGHT]
    assert store.complete("k", taken.token or "", TTL)
    same = store.claim(fp_items("k", "f2"), LEASE, TTL, take_conflicts=True)
    assert outcomes(same) == [Outcome.DUPLICATE]


def test_without_counting_a_duplicate_changes_nothing(make_store: MakeStore) -> None:
    store = make_store()
    _completed(store, "k", "f1")
    before = store.get("k")
    again = store.claim(fp_items("k", "f1"), LEASE, TTL, count_duplicates=False)
    assert outcomes(again) == [Outcome.DUPLICATE]
    assert again[0].record == before
    assert store.get("k") == before
    assert outcomes(store.claim(fp_items("k", "f1"), LEASE, TTL)) == [Outcome.DUPLICATE]
    record = store.get("k")
    assert record is not None and record.dup_count == 1


def test_a_saved_result_comes_back_with_each_duplicate(make_store: MakeStore) -> None:
    store = make_store()
    tokens = [r.token or "" for r in store.claim(items("a", "b"), LEASE, TTL)]
    assert store.complete_many(
        [("a", tokens[0]), ("b", tokens[1])], TTL, ['{"status":200}', None]
    ) == [True, True]
    dup = store.claim(items("a", "b"), LEASE, TTL, count_duplicates=False)
    assert [r.record.result if r.record else "?" for r in dup] == ['{"status":200}', None]


def test_sqlite_adds_the_new_columns_to_a_file_of_the_first_layout(tmp_path) -> None:
    import sqlite3

    from gcdedup.store import open_store

    path = tmp_path / "v1.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE dedup (key_hash BLOB NOT NULL UNIQUE, key TEXT NOT NULL, "
            "status TEXT NOT NULL, expires_at INTEGER NOT NULL, lease_until REAL, "
            "claim_token TEXT, namespace TEXT NOT NULL, topic TEXT NOT NULL DEFAULT '', "
            "first_seen_at REAL NOT NULL, dup_count INTEGER NOT NULL DEFAULT 0, "
            "last_dup_at REAL, run_id TEXT)"
        )
        conn.execute(
            "INSERT INTO dedup VALUES (?, 'old', 'COMPLETED', 9999999999, NULL, NULL, "
            "'test', 't', 1.0, 0, NULL, NULL)",
            [__import__("gcdedup.store.sqlite", fromlist=["key_hash"]).key_hash("old")],
        )
    with open_store(f"sqlite:///{path}") as store:
        record = store.get("old")
        assert record is not None and record.fingerprint is None
        assert outcomes(store.claim(fp_items("old", "f1"), LEASE, TTL)) == [Outcome.DUPLICATE]
        _completed(store, "new", "f1")
    with open_store(f"sqlite:///{path}") as store:  # opening again changes nothing
        record = store.get("new")
        assert record is not None and record.fingerprint == "f1"


def test_the_summary_tells_records_claimed_without_counting_apart(make_store: MakeStore) -> None:
    store = make_store()
    for key, counted in (("a", True), ("b", False), ("c", False)):
        token = store.claim(items(key), LEASE, TTL, count_duplicates=counted)[0].token
        store.complete(key, token or "", TTL)
    store.claim(items("a", "b"), LEASE, TTL)  # a counted duplicate starts b's counter
    summary = store.summary()
    assert (summary.records, summary.uncounted, summary.duplicates) == (3, 1, 2)


# -- the container cache in front of every backend ----------------------------------------


def test_the_cache_answers_completed_keys_without_the_store(make_store: MakeStore) -> None:
    from gcdedup.store.cache import CachedStore

    inner = make_store()
    store = CachedStore(inner, size=10)
    token = store.claim(fp_items("k", "f1"), LEASE, TTL)[0].token
    assert store.complete("k", token or "", TTL, '{"r":1}')
    again = store.claim(fp_items("k", "f1"), LEASE, TTL)
    assert outcomes(again) == [Outcome.DUPLICATE]
    assert again[0].cached is True
    assert again[0].record is not None and again[0].record.result == '{"r":1}'
    record = inner.get("k")
    assert record is not None and record.dup_count == 0  # the store was not asked
    assert store.hits == 1
    # Another payload goes to the store, which says conflict.
    other = store.claim(fp_items("k", "f2"), LEASE, TTL)
    assert outcomes(other) == [Outcome.CONFLICT]
    assert other[0].cached is False


def test_the_cache_forgets_expired_keys_and_is_bounded(make_store: MakeStore, clock) -> None:
    from gcdedup.store.cache import CachedStore

    store = CachedStore(make_store(), size=2)
    for key in ("a", "b", "c"):
        token = store.claim(items(key), LEASE, TTL)[0].token
        store.complete(key, token or "", TTL)
    results = store.claim(items("a", "b", "c"), LEASE, TTL)
    assert [r.cached for r in results] == [False, True, True]  # "a" was pushed out
    assert outcomes(results) == [Outcome.DUPLICATE] * 3
    clock.advance(TTL + 1)
    expired = store.claim(items("b"), LEASE, TTL)
    assert outcomes(expired) == [Outcome.CLAIMED]  # the store's answer, not the cache's


def test_the_cache_never_answers_for_a_released_or_purged_key(make_store: MakeStore) -> None:
    from gcdedup.store.cache import CachedStore

    store = CachedStore(make_store(), size=10)
    token = store.claim(items("k"), LEASE, TTL)[0].token
    assert store.release("k", token or "")
    again = store.claim(items("k"), LEASE, TTL)
    assert outcomes(again) == [Outcome.CLAIMED]
    assert store.complete("k", again[0].token or "", TTL)
    assert store.purge(PurgeFilter(all_records=True)) == 1  # a purge empties the cache too
    assert outcomes(store.claim(items("k"), LEASE, TTL)) == [Outcome.CLAIMED]


# -- single-table designs (dynamodb://T?pk=PK&sk=SK) ---------------------------------------


def test_a_single_table_store_leaves_the_other_entities_alone(
    make_store: MakeStore, backend: str, store_url: str
) -> None:
    if not backend.startswith("dynamodb-sk"):
        pytest.skip("a single-table layout is a DynamoDB option")
    import boto3
    from conftest import OTHER_ENTITIES

    from gcdedup.store.dynamodb.client import parse_url

    store = make_store()
    assert "records at PK = " in store.init()
    _completed(store, "a", "f1")
    store.claim(items("b"), LEASE, TTL)
    summary = store.summary()
    assert (summary.records, summary.by_status) == (2, {"COMPLETED": 1, "IN_PROGRESS": 1})
    table, options = parse_url(store_url)
    client = boto3.client(
        "dynamodb", endpoint_url=options["endpoint_url"], region_name=options["region"]
    )
    stored = client.get_item(TableName=table, Key=store.layout.key("a"))["Item"]  # type: ignore[attr-defined]
    assert stored["dedup_key"] == {"S": "a"}
    assert store.purge(PurgeFilter(all_records=True)) == 2
    left = client.scan(TableName=table)["Items"]
    assert sorted(map(str, left)) == sorted(map(str, OTHER_ENTITIES))


@pytest.mark.integration
def test_init_names_what_a_single_table_url_needs(dynamodb_server) -> None:
    from conftest import single_table

    from gcdedup.errors import StoreError
    from gcdedup.store import open_store

    plain = dynamodb_server.table_url()
    single_table(plain)
    with open_store(plain) as store, pytest.raises(StoreError) as refused:
        store.init()
    assert "it has a sort key 'SK', gcdedup needs none (or name both in the URL:" in str(
        refused.value
    )
    with open_store(f"{plain}&pk=PK&sk=Other") as store, pytest.raises(StoreError) as wrong:
        store.init()
    assert "its sort key is 'SK', the URL names 'Other'" in str(wrong.value)
    missing = dynamodb_server.table_url()
    with open_store(f"{missing}&pk=PK&sk=SK") as store, pytest.raises(StoreError) as absent:
        store.init()
    assert "does not exist: a store with pk/sk options lives in an existing" in str(absent.value)
