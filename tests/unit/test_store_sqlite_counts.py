"""SQLite duplicate counters live in ``dedup_counts``, beside the records (see
gcdedup.store.sqlite_schema); stores of the earlier layout keep their counts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from gcdedup.store import KeyItem, Outcome, PurgeFilter
from gcdedup.store.sqlite import SQLiteStore
from gcdedup.store.sqlite_schema import key_hash

#: The layout every store had before the counters moved (first created by 0.1.0).
EARLIER_LAYOUT = """
CREATE TABLE dedup (
    key_hash BLOB NOT NULL UNIQUE,
    key TEXT NOT NULL,
    status TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    lease_until REAL,
    claim_token TEXT,
    namespace TEXT NOT NULL,
    topic TEXT NOT NULL DEFAULT '',
    first_seen_at REAL NOT NULL,
    dup_count INTEGER NOT NULL DEFAULT 0,
    last_dup_at REAL,
    run_id TEXT,
    fingerprint TEXT,
    origin TEXT,
    result TEXT,
    uncounted INTEGER
);
CREATE INDEX dedup_namespace ON dedup(namespace);
"""

NOW = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def earlier_store(path: Path) -> None:
    """A file as the earlier layout left it: a counted record and a seeded one."""
    conn = sqlite3.connect(path)
    conn.executescript(EARLIER_LAYOUT)
    row = (
        "INSERT INTO dedup VALUES (?, ?, 'COMPLETED', ?, NULL, NULL, 'default', 't', ?, ?, ?, "
        "'r', 'fp', 'f:1', NULL, ?)"
    )
    conn.execute(row, (key_hash("counted"), "counted", int(NOW) + 3600, NOW - 10, 3, NOW - 5, None))
    conn.execute(row, (key_hash("seeded"), "seeded", int(NOW) + 3600, NOW - 10, 0, None, 1))
    conn.commit()
    conn.close()


def item(key: str) -> KeyItem:
    return KeyItem(key, "default", "t", "fp", "f:2")


def test_an_earlier_store_opens_migrates_and_keeps_its_counts(tmp_path: Path) -> None:
    path = tmp_path / "earlier.sqlite3"
    earlier_store(path)
    clock = Clock()
    with SQLiteStore(path, clock=clock) as store:
        record = store.get("counted")
        assert record is not None and (record.dup_count, record.last_dup_at) == (3, NOW - 5)
        seeded = store.get("seeded")
        assert seeded is not None and (seeded.dup_count, seeded.counted) == (0, False)
        summary = store.summary()
        assert (summary.records, summary.duplicates, summary.uncounted) == (2, 3, 1)

        clock.now = NOW + 1
        answers = store.claim([item("counted"), item("seeded")], 60, 3600)
        assert [a.outcome for a in answers] == [Outcome.DUPLICATE, Outcome.DUPLICATE]
        assert answers[0].record is not None and answers[0].record.dup_count == 4
        record = store.get("counted")
        assert record is not None and (record.dup_count, record.last_dup_at) == (4, NOW + 1)
        seeded = store.get("seeded")
        assert seeded is not None and (seeded.dup_count, seeded.counted) == (1, True)
        summary = store.summary()
        assert (summary.records, summary.duplicates, summary.uncounted) == (2, 5, 0)
    names = {
        row[0]
        for row in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")
        if not row[0].startswith("sqlite_")
    }
    assert names == {"dedup", "dedup_namespace", "dedup_counts"}


def test_a_bump_writes_the_side_table_not_the_record(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with SQLiteStore(path, clock=Clock()) as store:
        store.mark_done([item("k")], 3600, count_duplicates=True)
        store.mark_done([item("k"), item("k")], 3600, count_duplicates=True)
        record = store.get("k")
        assert record is not None and record.dup_count == 2
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT dup_count, last_dup_at FROM dedup").fetchall() == [(0, None)]
    assert conn.execute("SELECT dup_count FROM dedup_counts").fetchall() == [(2,)]


def test_a_takeover_and_a_delete_drop_the_counter_row(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    clock = Clock()
    with SQLiteStore(path, clock=clock) as store:
        store.mark_done([item("k"), item("k"), item("j"), item("j")], 100, count_duplicates=True)
        clock.now = NOW + 101  # both expired: the next claim takes "k" over
        (taken,) = store.claim([item("k")], 60, 3600)
        assert taken.outcome is Outcome.CLAIMED
        record = store.get("k")
        assert record is not None and (record.dup_count, record.last_dup_at) == (0, None)
        (again,) = store.claim([item("k")], 60, 3600)
        assert again.outcome is Outcome.IN_FLIGHT
        record = store.get("k")
        assert record is not None and record.dup_count == 1
        assert store.purge(PurgeFilter(all_records=True)) == 2
        assert store.summary().records == 0
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM dedup_counts").fetchone() == (0,)


def test_a_seed_takeover_and_a_release_drop_the_counter_row(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    clock = Clock()
    with SQLiteStore(path, clock=clock) as store:
        store.mark_done([item("k"), item("k")], 100, count_duplicates=True)
        clock.now = NOW + 101
        (taken,) = store.mark_done([item("k")], 3600, count_duplicates=True)
        assert taken.outcome is Outcome.SEEDED
        record = store.get("k")
        assert record is not None and record.dup_count == 0
        claimed, again = store.claim([item("j"), item("j")], 60, 3600)
        assert (claimed.outcome, again.outcome) == (Outcome.CLAIMED, Outcome.IN_FLIGHT)
        record = store.get("j")
        assert record is not None and record.dup_count == 1
        assert store.release_many([("j", claimed.token or "")]) == [True]
        (fresh,) = store.claim([item("j")], 60, 3600)
        assert fresh.outcome is Outcome.CLAIMED
        record = store.get("j")
        assert record is not None and record.dup_count == 0
