"""The SQLite store's layout and statements (see :mod:`gcdedup.store.sqlite` for why
it is laid out this way), and rows as Records."""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import blake2b
from typing import Any

from .base import Record, RecordStatus

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
"""

COLUMNS = (
    "key, status, expires_at, lease_until, claim_token, namespace, topic, "
    "first_seen_at, dup_count, last_dup_at, run_id, fingerprint, origin, result, uncounted"
)

#: Columns added after the first layout: a file without them gets them on open.
ADDED_COLUMNS = ("fingerprint TEXT", "origin TEXT", "result TEXT", "uncounted INTEGER")

# The claim: insert, or take over a record that is expired or whose lease ran out,
# or (?10 = 1: --on-conflict process) a completed record of another payload.
# Numbered parameters: ?1 key, ?2 expires_at, ?3 lease_until, ?4 token, ?5 namespace,
# ?6 topic, ?7 now, ?8 run_id, ?9 key_hash, ?10 take conflicts, ?11 fingerprint (NULL:
# unknown), ?12 origin, ?13 uncounted (1: claimed without duplicate counting) (tuples
# bind faster than dicts).
CLAIM = f"""
INSERT INTO dedup (key_hash, {COLUMNS})
VALUES (?9, ?1, 'IN_PROGRESS', ?2, ?3, ?4, ?5, ?6, ?7, 0, NULL, ?8, ?11, ?12, NULL, ?13)
ON CONFLICT(key_hash) DO UPDATE SET
    status = 'IN_PROGRESS', expires_at = excluded.expires_at,
    lease_until = excluded.lease_until, claim_token = excluded.claim_token,
    namespace = excluded.namespace, topic = excluded.topic,
    first_seen_at = excluded.first_seen_at, dup_count = 0, last_dup_at = NULL,
    run_id = excluded.run_id, fingerprint = excluded.fingerprint,
    origin = excluded.origin, result = NULL, uncounted = excluded.uncounted
WHERE dedup.expires_at < ?7
   OR (dedup.status = 'IN_PROGRESS' AND dedup.lease_until < ?7)
   OR (?10 AND dedup.status = 'COMPLETED' AND ?11 IS NOT NULL
       AND dedup.fingerprint IS NOT NULL AND dedup.fingerprint <> ?11)
"""

SEED = f"""
INSERT INTO dedup (key_hash, {COLUMNS}) VALUES
    (:key_hash, :key, 'COMPLETED', :expires_at, NULL, NULL, :namespace, :topic, :now, 0, NULL,
     :run_id, :fingerprint, :origin, NULL, NULL)
ON CONFLICT(key_hash) DO UPDATE SET
    status = 'COMPLETED', expires_at = excluded.expires_at, lease_until = NULL,
    claim_token = NULL, namespace = excluded.namespace, topic = excluded.topic,
    first_seen_at = excluded.first_seen_at, dup_count = 0, last_dup_at = NULL,
    run_id = excluded.run_id, fingerprint = excluded.fingerprint,
    origin = excluded.origin, result = NULL, uncounted = NULL
WHERE dedup.expires_at < :now
   OR (dedup.status = 'IN_PROGRESS' AND dedup.lease_until < :now)
"""

BUMP = (
    "UPDATE dedup SET dup_count = dup_count + 1, last_dup_at = ?, uncounted = NULL "
    "WHERE key_hash = ?"
)
COMPLETE = (
    "UPDATE dedup SET status = 'COMPLETED', expires_at = ?, lease_until = NULL, "
    "claim_token = NULL, result = ? "
    "WHERE key_hash = ? AND claim_token = ? AND status = 'IN_PROGRESS'"
)
RENEW = (
    "UPDATE dedup SET lease_until = ?1, expires_at = max(expires_at, ?2) "
    "WHERE key_hash = ?3 AND claim_token = ?4 AND status = 'IN_PROGRESS'"
)
RELEASE = "DELETE FROM dedup WHERE key_hash = ? AND claim_token = ? AND status = 'IN_PROGRESS'"


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
