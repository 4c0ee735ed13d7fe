"""The SQLite store's table: its schema, its statements, and rows read back as records.

Kept apart from :mod:`gcdedup.store.sqlite` (the store's logic) so each stays short;
the why of the layout (a rowid table indexed by a 16-byte key digest) is told there.
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import blake2b
from typing import Any

from .base import KeyItem, Outcome, Record, RecordStatus, Result, classify

_SCHEMA = """
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
    run_id TEXT
);
CREATE INDEX IF NOT EXISTS dedup_namespace ON dedup(namespace);
"""

_COLUMNS = (
    "key, status, expires_at, lease_until, claim_token, namespace, topic, "
    "first_seen_at, dup_count, last_dup_at, run_id"
)

# The claim: insert, or take over a record that is expired or whose lease ran out.
# Numbered parameters: ?1 key, ?2 expires_at, ?3 lease_until, ?4 token, ?5 namespace,
# ?6 topic, ?7 now, ?8 run_id, ?9 key_hash (tuples bind faster than dicts).
_CLAIM = f"""
INSERT INTO dedup (key_hash, {_COLUMNS})
VALUES (?9, ?1, 'IN_PROGRESS', ?2, ?3, ?4, ?5, ?6, ?7, 0, NULL, ?8)
ON CONFLICT(key_hash) DO UPDATE SET
    status = 'IN_PROGRESS', expires_at = excluded.expires_at,
    lease_until = excluded.lease_until, claim_token = excluded.claim_token,
    namespace = excluded.namespace, topic = excluded.topic,
    first_seen_at = excluded.first_seen_at, dup_count = 0, last_dup_at = NULL,
    run_id = excluded.run_id
WHERE dedup.expires_at < ?7
   OR (dedup.status = 'IN_PROGRESS' AND dedup.lease_until < ?7)
"""

_BUMP = "UPDATE dedup SET dup_count = dup_count + 1, last_dup_at = ? WHERE key_hash = ?"
_COMPLETE = (
    "UPDATE dedup SET status = 'COMPLETED', expires_at = ?, lease_until = NULL, "
    "claim_token = NULL WHERE key_hash = ? AND claim_token = ? AND status = 'IN_PROGRESS'"
)
_RENEW = (
    "UPDATE dedup SET lease_until = ?1, expires_at = max(expires_at, ?2) "
    "WHERE key_hash = ?3 AND claim_token = ?4 AND status = 'IN_PROGRESS'"
)
_RELEASE = "DELETE FROM dedup WHERE key_hash = ? AND claim_token = ? AND status = 'IN_PROGRESS'"


# Mark a key done (count only, seed): insert it COMPLETED, or take over a record that is
# expired or whose lease ran out; a live record is left as it is.
_MARK_DONE = f"""
INSERT INTO dedup (key_hash, {_COLUMNS})
VALUES (?1, ?2, 'COMPLETED', ?3, NULL, NULL, ?4, ?5, ?6, 0, NULL, ?7)
ON CONFLICT(key_hash) DO UPDATE SET
    status = 'COMPLETED', expires_at = excluded.expires_at, lease_until = NULL,
    claim_token = NULL, namespace = excluded.namespace, topic = excluded.topic,
    first_seen_at = excluded.first_seen_at, dup_count = 0, last_dup_at = NULL,
    run_id = excluded.run_id
WHERE dedup.expires_at < ?6
   OR (dedup.status = 'IN_PROGRESS' AND dedup.lease_until < ?6)
"""


def _mark_done_results(
    items: Sequence[KeyItem],
    hashes: dict[str, bytes],
    before: dict[str, tuple[Any, ...]],
    now: float,
) -> tuple[list[Result], list[bytes]]:
    """Each item's answer in input order, from the rows its keys had before the write,
    and the key hashes whose dup_count a claim would have bumped (every answer but
    SEEDED, a later copy of a key included)."""
    results: list[Result] = []
    bumps: list[bytes] = []
    first: dict[str, Result] = {}
    for item in items:
        h = hashes[item.key]
        earlier = first.get(item.key)
        if earlier is None:
            row = before.get(item.key)
            record = None if row is None else _row_to_record(row)
            outcome = classify(record, now)
            if outcome is Outcome.NEW:  # absent or claimable: the upsert wrote it
                answer = Result(item.key, Outcome.SEEDED)
            else:
                answer = Result(item.key, outcome, record=record)
                bumps.append(h)
            first[item.key] = answer
        else:
            seeded = earlier.outcome is Outcome.SEEDED
            answer = Result(item.key, Outcome.DUPLICATE) if seeded else earlier
            bumps.append(h)
        results.append(answer)
    return results, bumps


def key_hash(key: str) -> bytes:
    """The indexed form of a key (see the module docstring)."""
    return blake2b(key.encode(), digest_size=16).digest()


def _row_to_record(row: Sequence[Any], bumped_at: float | None = None) -> Record:
    """A Record from a row; ``bumped_at`` counts one more duplicate seen at that time."""
    dup_count, last_dup_at = int(row[8]), row[9]
    if bumped_at is not None:
        dup_count, last_dup_at = dup_count + 1, bumped_at
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
    )
