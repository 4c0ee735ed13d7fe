"""The SQLite store's layout and statements (see :mod:`gcdedup.store.sqlite` for why
it is laid out this way), and rows as Records."""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import blake2b
from typing import Any

from .base import (
    AGE_BUCKETS,
    KeyItem,
    Outcome,
    PurgeFilter,
    Record,
    RecordStatus,
    Result,
    classify,
    is_conflict,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS dedup (
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
CREATE INDEX IF NOT EXISTS dedup_namespace ON dedup(namespace);
CREATE TABLE IF NOT EXISTS dedup_counts (
    key_hash BLOB PRIMARY KEY,
    dup_count INTEGER NOT NULL,
    last_dup_at REAL
) WITHOUT ROWID;
"""
# Duplicate counters live in ``dedup_counts``, one narrow row per key that has met a
# duplicate (16-byte digest, count, time: about 500 to a 16 KiB page), not in the
# record's row: bumping a row of ``dedup`` rewrote a random page of a table far larger
# than the page cache, where the counters of a whole run fit in a few cached pages.
# A record's count is its own ``dup_count`` (what stores of the first layouts counted,
# kept as it was: that is the whole migration) plus its row in ``dedup_counts``. The
# writes that delete a record or take it over drop that row in the same transaction
# (RESET_COUNTS, PURGE_COUNTS), so a new record of the key starts from zero. (Not
# triggers: with them a 1 M-event first run was 2-3x slower, with three times the
# system time; statement journals for the upserts are the likely reason.) A key with a
# counter row has been counted (``uncounted`` is read as NULL).

COLUMNS = (
    "key, status, expires_at, lease_until, claim_token, namespace, topic, "
    "first_seen_at, dup_count, last_dup_at, run_id, fingerprint, origin, result, uncounted"
)

#: SQLite's default limit on host parameters is 999 on old builds; stay under it.
IN_CHUNK = 900

#: A record as read (the columns of COLUMNS, in order), its counters added in; append
#: ``WHERE d...`` (``d`` is the record's table, ``c`` its counter row).
READ = (
    "SELECT d.key, d.status, d.expires_at, d.lease_until, d.claim_token, d.namespace, "
    "d.topic, d.first_seen_at, d.dup_count + coalesce(c.dup_count, 0), "
    "coalesce(c.last_dup_at, d.last_dup_at), d.run_id, d.fingerprint, d.origin, d.result, "
    "CASE WHEN c.key_hash IS NULL THEN d.uncounted END "
    "FROM dedup d LEFT JOIN dedup_counts c ON c.key_hash = d.key_hash"
)

#: Columns added after the first layout: a file without them gets them on open.
ADDED_COLUMNS = ("fingerprint TEXT", "origin TEXT", "result TEXT", "uncounted INTEGER")

# The claim: insert, or take over a record that is expired or whose lease ran out,
# or (take = 1: --on-conflict process) a completed record of another payload.
# Parameters, in this order (tuples bind faster than dicts): key, expires_at,
# lease_until, token, namespace, topic, now, run_id, key_hash, fingerprint (NULL:
# unknown), origin, uncounted (1: claimed without duplicate counting), take. Plain
# ``?`` placeholders in the order of the tuple: CPython 3.12.0 and 3.12.1 warn
# (DeprecationWarning, once per row) about numbered ones (``?1``) bound from a
# sequence; ``now`` and the fingerprint are read back as ``excluded.first_seen_at``
# and ``excluded.fingerprint`` instead of being bound twice.
CLAIM = """
INSERT INTO dedup (
    key, expires_at, lease_until, claim_token, namespace, topic, first_seen_at, run_id,
    key_hash, fingerprint, origin, uncounted, status, dup_count, last_dup_at, result)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'IN_PROGRESS', 0, NULL, NULL)
ON CONFLICT(key_hash) DO UPDATE SET
    status = 'IN_PROGRESS', expires_at = excluded.expires_at,
    lease_until = excluded.lease_until, claim_token = excluded.claim_token,
    namespace = excluded.namespace, topic = excluded.topic,
    first_seen_at = excluded.first_seen_at, dup_count = 0, last_dup_at = NULL,
    run_id = excluded.run_id, fingerprint = excluded.fingerprint,
    origin = excluded.origin, result = NULL, uncounted = excluded.uncounted
WHERE dedup.expires_at < excluded.first_seen_at
   OR (dedup.status = 'IN_PROGRESS' AND dedup.lease_until < excluded.first_seen_at)
   OR (? AND dedup.status = 'COMPLETED' AND excluded.fingerprint IS NOT NULL
       AND dedup.fingerprint IS NOT NULL AND dedup.fingerprint <> excluded.fingerprint)
"""

# Mark a key done in one write (count only, seed): insert it COMPLETED, or take over a
# record that is expired or whose lease ran out; a live record is left as it is.
# Parameters: key_hash, key, expires_at, namespace, topic, now, run_id, fingerprint
# (NULL: unknown), origin, uncounted (1: no duplicate counting).
MARK_DONE = """
INSERT INTO dedup (
    key_hash, key, expires_at, namespace, topic, first_seen_at, run_id, fingerprint,
    origin, uncounted, status, lease_until, claim_token, dup_count, last_dup_at, result)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'COMPLETED', NULL, NULL, 0, NULL, NULL)
ON CONFLICT(key_hash) DO UPDATE SET
    status = 'COMPLETED', expires_at = excluded.expires_at, lease_until = NULL,
    claim_token = NULL, namespace = excluded.namespace, topic = excluded.topic,
    first_seen_at = excluded.first_seen_at, dup_count = 0, last_dup_at = NULL,
    run_id = excluded.run_id, fingerprint = excluded.fingerprint,
    origin = excluded.origin, result = NULL, uncounted = excluded.uncounted
WHERE dedup.expires_at < excluded.first_seen_at
   OR (dedup.status = 'IN_PROGRESS' AND dedup.lease_until < excluded.first_seen_at)
"""

#: A record deleted or taken over: its counters go with it (?: key_hash).
RESET_COUNTS = "DELETE FROM dedup_counts WHERE key_hash = ?"
#: Before a purge deletes records (append the purge's WHERE clause and a ")").
PURGE_COUNTS = "DELETE FROM dedup_counts WHERE key_hash IN (SELECT key_hash FROM dedup WHERE "

# One more duplicate of a key: (key_hash, now) (see dedup_counts above).
BUMP = (
    "INSERT INTO dedup_counts (key_hash, dup_count, last_dup_at) VALUES (?, 1, ?) "
    "ON CONFLICT(key_hash) DO UPDATE SET dup_count = dup_count + 1, "
    "last_dup_at = excluded.last_dup_at"
)
COMPLETE = (
    "UPDATE dedup SET status = 'COMPLETED', expires_at = ?, lease_until = NULL, "
    "claim_token = NULL, result = ? "
    "WHERE key_hash = ? AND claim_token = ? AND status = 'IN_PROGRESS'"
)
RENEW = (
    "UPDATE dedup SET lease_until = ?, expires_at = max(expires_at, ?) "
    "WHERE key_hash = ? AND claim_token = ? AND status = 'IN_PROGRESS'"
)
RELEASE = "DELETE FROM dedup WHERE key_hash = ? AND claim_token = ? AND status = 'IN_PROGRESS'"

# Live records by namespace, status, topic and age bucket; the parameters are ``now``
# once per bucket bound, then once more for the expiry.
SUMMARY = (
    "SELECT namespace, status, topic, CASE "
    + " ".join(
        f"WHEN ? - first_seen_at < {bound!r} THEN '{label}'" for label, bound in AGE_BUCKETS[:-1]
    )
    + f" ELSE '{AGE_BUCKETS[-1][0]}' END AS age, count(*), "
    "sum(d.dup_count + coalesce(c.dup_count, 0)), "
    "sum(CASE WHEN c.key_hash IS NULL THEN coalesce(d.uncounted, 0) ELSE 0 END) "
    "FROM dedup d LEFT JOIN dedup_counts c ON c.key_hash = d.key_hash "
    "WHERE d.expires_at >= ? GROUP BY 1, 2, 3, 4"
)


def purge_where(where: PurgeFilter, now: float) -> tuple[str, list[Any]]:
    """The WHERE clause (and its parameters) of the records ``where`` matches."""
    clauses: list[str] = []
    params: list[Any] = []
    if where.namespace is not None:
        clauses.append("namespace = ?")
        params.append(where.namespace)
    if where.run_id is not None:
        clauses.append("run_id = ?")
        params.append(where.run_id)
    if where.older_than is not None:
        clauses.append("first_seen_at < ?")
        params.append(now - where.older_than)
    if where.prefix is not None:
        clauses.append("substr(key, 1, ?) = ?")
        params.extend([len(where.prefix), where.prefix])
    return (" AND ".join(clauses) or "1"), params


def key_hash(key: str) -> bytes:
    """The indexed form of a key (see the module docstring)."""
    return blake2b(key.encode(), digest_size=16).digest()


def row_to_record(row: Sequence[Any], bumped_at: float | None = None) -> Record:
    """A Record from a row; ``bumped_at`` counts one more duplicate seen at that time."""
    dup_count, last_dup_at, counted = int(row[8]), row[9], not row[14]
    if bumped_at is not None:
        dup_count, last_dup_at, counted = dup_count + 1, bumped_at, True
    return Record(
        key=row[0],
        status=RecordStatus(row[1]),
        expires_at=int(row[2]),
        lease_until=row[3],
        claim_token=row[4],
        namespace=row[5],
        topic=row[6],
        first_seen_at=float(row[7]),
        dup_count=dup_count,
        last_dup_at=last_dup_at,
        run_id=row[10],
        fingerprint=row[11],
        origin=row[12],
        result=row[13],
        counted=counted,
    )


def mark_done_results(
    items: Sequence[KeyItem],
    hashes: dict[str, bytes],
    before: dict[str, Record],
    now: float,
) -> tuple[list[Result], list[bytes]]:
    """Each item's answer in input order, from the records its keys had before the
    write (under the write lock, the rows the upsert met), and the key hashes whose
    dup_count a claim would have bumped: every DUPLICATE and IN_FLIGHT answer, a later
    copy of a key included; a CONFLICT (another payload) is not a duplicate."""
    results: list[Result] = []
    bumps: list[bytes] = []
    first: dict[str, Result] = {}
    fingerprints: dict[str, str] = {}  # key -> the first copy's fingerprint
    seeded = Outcome.SEEDED
    for item in items:
        key = item.key
        earlier = first.get(key)
        if earlier is None and key not in before:  # the common case: a new key
            answer = first[key] = Result(key, seeded)
            fingerprints[key] = item.fingerprint
            results.append(answer)
            continue
        h = hashes[key]
        if earlier is None:
            record = before[key]
            outcome = classify(record, now)
            if outcome is Outcome.NEW:  # absent or claimable: the upsert wrote it
                answer = Result(item.key, Outcome.SEEDED)
            elif outcome is Outcome.DUPLICATE and is_conflict(record, item.fingerprint):
                answer = Result(item.key, Outcome.CONFLICT, record=record)
            else:
                answer = Result(item.key, outcome, record=record)
                bumps.append(h)
            first[item.key] = answer
            fingerprints[item.key] = item.fingerprint
        elif earlier.outcome is Outcome.IN_FLIGHT:
            answer = earlier
            bumps.append(h)
        else:
            # A later copy of a key that is COMPLETED now (by this call or before): a
            # duplicate, or a conflict when its payload differs from the stored one.
            stored: str | None
            if earlier.outcome is Outcome.SEEDED:
                stored = fingerprints[item.key]
            else:
                stored = earlier.record.fingerprint if earlier.record is not None else None
            if item.fingerprint and stored and item.fingerprint != stored:
                answer = Result(item.key, Outcome.CONFLICT, record=earlier.record)
            else:
                answer = Result(item.key, Outcome.DUPLICATE, record=earlier.record)
                bumps.append(h)
        results.append(answer)
    return results, bumps
