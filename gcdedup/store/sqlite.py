"""The embedded default store: one SQLite file, safe for several processes.

Why it is fast: a batch of claims is one ``BEGIN IMMEDIATE`` transaction of
``executemany`` statements (not a round trip per key). Why it is safe: the
write lock is taken before the first statement, and the claim itself is an
upsert whose ``WHERE`` admits only absent, expired or lease-expired records, so
two processes can never both hold a live key.

Where the time goes: keys are long and random, so every new key lands on a
different B-tree page, and each page a transaction touches is written to the WAL
(and again at the checkpoint). The layout and settings below keep that to about
one small index page per new key:

* rows live in a rowid table, so a batch's rows are appended to the same few
  pages and the later updates of a claim (complete, bump) find them together;
* the only index taking random inserts is on a 16-byte BLAKE2b digest of the key,
  not on the key itself (often 150+ bytes): ten times more entries per page, so a
  batch dirties far fewer pages (the store's work 2.2x faster). Two keys with one
  digest would share a record: ~2^-64 for 2^32 keys, the key strategies' own bet;
* a larger page cache (the index is not re-read on every batch); 16 KiB pages in a
  new store (fewer, fuller pages); a WAL checkpoint every 32 MiB of WAL, not every
  thousand pages (a page changed by consecutive batches is copied back once);
* batches of 20,000 when no handler holds claims: 5,000 random keys already touch
  most pages of a 1M-key index, so 4x the batch writes 1/4 of the WAL per event;
* duplicate counters in a narrow side table (see :mod:`.sqlite_schema`).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from ..errors import ConfigError, StoreError
from .base import (
    AGE_BUCKETS,
    Clock,
    DedupStore,
    KeyItem,
    Outcome,
    PurgeFilter,
    Record,
    Result,
    StoreSummary,
    classify,
    new_token,
)
from .sqlite_open import connect, damaged, quick_check, read_only_error, refuse_if_damaged
from .sqlite_schema import (
    ADDED_COLUMNS,
    BUMP,
    CLAIM,
    COMPLETE,
    IN_CHUNK,
    MARK_DONE,
    PURGE_COUNTS,
    READ,
    RELEASE,
    RENEW,
    RESET_COUNTS,
    SCHEMA,
    SUMMARY,
    key_hash,
    mark_done_results,
    purge_where,
    row_to_record,
)

#: How long a write waits for another process's lock before the store fails.
DEFAULT_BUSY_TIMEOUT_MS = 30_000

#: Words in SQLite's messages for a damaged file ("database disk image is malformed",
#: "file is not a database").
_DAMAGE_HINTS = ("malformed", "not a database")

#: How long releasing a failed run's claims may wait for the write lock: when the
#: store is what failed, waiting the full busy timeout again helps nobody.
RELEASE_TIMEOUT_MS = 2_000

#: Bytes per page of a new store: four times SQLite's default, so a row and an index
#: entry cost less B-tree work (measured: 100k new keys written in 0.39 s instead of
#: 0.61 s, in batches of 5,000; 0.58 s instead of 0.72 s in batches of 500).
PAGE_SIZE = 16384

#: Per-connection settings that change speed only, never what is stored or when it
#: is durable (journal mode and synchronous are set above and stay WAL / NORMAL).
_TUNING = (
    "cache_size = -65536",  # KiB: 64 MiB of pages, allocated only as the store grows
)
#: A WAL checkpoint every this many bytes of WAL instead of every thousand pages, so a
#: page changed by several consecutive batches is copied back into the file once.
WAL_CHECKPOINT_BYTES = 32 * 1024 * 1024


class SQLiteStore(DedupStore):
    """A DedupStore in one SQLite file (WAL mode, busy timeout, batched transactions)."""

    mark_done_batch_size = 20_000  # why: the module's docstring

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Clock | None = None,
        run_id: str | None = None,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        create_parent: bool = False,
    ) -> None:
        super().__init__(clock=clock or time.time, run_id=run_id)
        self.path = Path(path).expanduser()
        self.url = f"sqlite:///{self.path}"
        self._busy_timeout_ms = int(busy_timeout_ms)
        if not self.path.parent.is_dir():
            if not create_parent:
                # A typo in a path must not become a new, empty store somewhere else.
                raise ConfigError(
                    f"no directory {self.path.parent} for the SQLite store {self.path}: "
                    "check the path, or create it (gcdedup init creates it)"
                )
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create {self.path.parent}: {exc}") from exc
        try:
            # read_only: why the file cannot be written (None: it can); see sqlite_open.
            self._conn, self.read_only = connect(self.path, busy_timeout_ms / 1000)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite store {self.path}: {exc}") from exc
        self._lock = threading.Lock()
        with self._errors("open"):
            self._conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        try:  # a damaged file is refused before anything is written to it
            refuse_if_damaged(self._conn, self.path)
        except StoreError:
            self._conn.close()
            raise
        if self.read_only is not None:  # nothing to set up: it can only be read
            with self._errors("open"):
                columns = {row[1] for row in self._conn.execute("PRAGMA table_info(dedup)")}
            if "key_hash" not in columns:
                self._conn.close()
                raise StoreError(f"SQLite store {self.path} is not a gcdedup store of this layout")
            return
        with self._errors("open"):
            # Only a new, empty file takes it (an existing store keeps its page size).
            self._conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode never corrupts; a power cut may lose the last commits,
            # which only means those events are processed again (at-least-once holds).
            self._conn.execute("PRAGMA synchronous = NORMAL")
            for pragma in _TUNING:
                self._conn.execute(f"PRAGMA {pragma}")
            page_size = self._conn.execute("PRAGMA page_size").fetchone()[0]
            pages = WAL_CHECKPOINT_BYTES // page_size
            self._conn.execute(f"PRAGMA wal_autocheckpoint = {pages}")
            columns = {row[1] for row in self._conn.execute("PRAGMA table_info(dedup)")}
            if not columns or "key_hash" in columns:
                self._conn.executescript(SCHEMA)
            if columns and "key_hash" in columns:
                self._add_columns(columns)
        if columns and "key_hash" not in columns:
            self._conn.close()
            raise StoreError(
                f"SQLite store {self.path} has an older layout (no key_hash column): "
                "move it aside and run again to start a new store"
            )

    def _add_columns(self, columns: set[str]) -> None:
        """Bring a file of the first layout up to date (ALTER TABLE ADD COLUMN is cheap:
        existing rows read the new columns as NULL, i.e. no fingerprint)."""
        missing = [c for c in ADDED_COLUMNS if c.split()[0] not in columns]
        if not missing:
            return
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            now = {row[1] for row in self._conn.execute("PRAGMA table_info(dedup)")}
            for column in missing:  # another process may have added them meanwhile
                if column.split()[0] not in now:
                    self._conn.execute(f"ALTER TABLE dedup ADD COLUMN {column}")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        clock: Clock | None = None,
        run_id: str | None = None,
        create_parent: bool = False,
    ) -> SQLiteStore:
        """``sqlite:///relative/file`` or ``sqlite:////absolute/file`` (``~`` expands);
        ``?timeout=SECONDS`` sets how long a write waits for another process's lock."""
        prefix = "sqlite:///"
        if not url.startswith(prefix) or len(url) == len(prefix):
            raise ConfigError(f"invalid SQLite URL {url!r}: use sqlite:///path/to/file.sqlite3")
        path, _, query = url[len(prefix) :].partition("?")
        options = parse_qs(query, keep_blank_values=True)
        unknown = sorted(set(options) - {"timeout"})
        if unknown:
            raise ConfigError(f"unknown SQLite URL option(s) {', '.join(unknown)}: use timeout")
        busy_timeout_ms = DEFAULT_BUSY_TIMEOUT_MS
        if "timeout" in options:
            try:
                busy_timeout_ms = round(float(options["timeout"][-1]) * 1000)
            except ValueError:
                busy_timeout_ms = -1
            if not 0 <= busy_timeout_ms <= 3_600_000:
                raise ConfigError(
                    f"invalid SQLite URL option timeout={options['timeout'][-1]!r}: "
                    "use seconds from 0 to 3600"
                )
        return cls(
            path,
            clock=clock,
            run_id=run_id,
            busy_timeout_ms=busy_timeout_ms,
            create_parent=create_parent,
        )

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """SQLite errors become one StoreError line; a damaged file says so, with
        ``PRAGMA quick_check``'s verdict, whatever the statement that met it."""
        try:
            yield
        except sqlite3.Error as exc:
            raise self._failure(action, exc) from exc

    def _failure(self, action: str, exc: sqlite3.Error) -> StoreError:
        if isinstance(exc, sqlite3.DatabaseError) and any(h in str(exc) for h in _DAMAGE_HINTS):
            return self._damaged(self._quick_check() or str(exc))
        return StoreError(f"SQLite {action} failed on {self.path}: {exc}")

    def _damaged(self, verdict: str) -> StoreError:
        return damaged(self.path, verdict)

    def _quick_check(self) -> str:
        """The first problem ``PRAGMA quick_check`` reports, or '' when it says ok."""
        return quick_check(self._conn)

    def verify(self) -> None:
        """Opening the store ran the same check already (sqlite_open.refuse_if_damaged)."""

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: the write lock is ours before the first read."""
        if self.read_only is not None:
            raise read_only_error(self.path, self.read_only)
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite store {self.path} is busy or unwritable: {exc}") from exc
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    def _select(self, conn: sqlite3.Connection, keys: Sequence[str]) -> dict[str, Record]:
        return {key: row_to_record(row) for key, row in self._rows(conn, keys).items()}

    def _rows(
        self,
        conn: sqlite3.Connection,
        keys: Sequence[str],
        hashes: Sequence[bytes] | None = None,
    ) -> dict[str, tuple[Any, ...]]:
        """Raw rows by key (Record objects are built only where a caller needs one);
        ``hashes`` are the keys' digests when the caller has them already."""
        found: dict[str, tuple[Any, ...]] = {}
        digests = hashes if hashes is not None else [key_hash(key) for key in keys]
        for start in range(0, len(digests), IN_CHUNK):
            chunk = digests[start : start + IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            sql = f"{READ} WHERE d.key_hash IN ({marks})"
            for row in conn.execute(sql, chunk):
                found[row[0]] = row
        return found

    def _unsure(
        self, conn: sqlite3.Connection, keys: list[str], hashes: list[bytes]
    ) -> dict[str, tuple[Any, ...] | None]:
        """Keys whose claim outcome must be read back after the upsert, with their
        rows before it (None: repeated in the batch but not stored yet).

        Under the write lock, a key that is absent now and met once in the batch
        is certainly inserted, so it is ours; only keys already stored (live,
        expired or lease-expired) and keys repeated in the batch are not known in
        advance. In a stream of mostly new events that is a few keys per batch.
        """
        unsure: dict[str, tuple[Any, ...] | None] = {}
        for start in range(0, len(hashes), IN_CHUNK):
            chunk = hashes[start : start + IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            sql = f"{READ} WHERE d.key_hash IN ({marks})"
            unsure.update((row[0], row) for row in conn.execute(sql, chunk))
        if len(set(keys)) < len(keys):
            counts = Counter(keys)
            for key, n in counts.items():
                if n > 1:
                    unsure.setdefault(key, None)
        return unsure

    def init(self) -> str:
        return f"SQLite store ready at {self.path}"

    def claim(
        self,
        items: Sequence[KeyItem],
        lease_seconds: float,
        ttl_seconds: int,
        *,
        take_conflicts: bool = False,
        count_duplicates: bool = True,
    ) -> list[Result]:
        if not items:
            return []
        now = self.clock()
        batch = new_token()
        expires_at = int(now) + ttl_seconds
        lease_until = now + lease_seconds
        run_id = self.run_id
        take = 1 if take_conflicts else 0
        hashes = [key_hash(item.key) for item in items]
        params = [
            (
                item.key,
                expires_at,
                lease_until,
                f"{batch}.{index}",
                item.namespace,
                item.topic,
                now,
                run_id,
                h,
                item.fingerprint or None,
                item.origin or None,
                None if count_duplicates else 1,
                take,
            )
            for index, (item, h) in enumerate(zip(items, hashes, strict=True))
        ]
        keys = [param[0] for param in params]
        try:
            with self._write() as conn:
                before = self._unsure(conn, keys, hashes)
                conn.executemany(CLAIM, params)
                rows = self._rows(conn, list(before)) if before else {}
                results: list[Result] = []
                bumps = []
                resets = []  # records taken over: their counters start again
                for item, param in zip(items, params, strict=True):
                    key, token = param[0], param[3]
                    if key not in before:
                        results.append(Result(key, Outcome.CLAIMED, token=token))
                        continue
                    row = rows.get(key)
                    if row is not None and row[4] == token:
                        old = before[key]
                        if old is not None:
                            resets.append((param[8],))
                        replaced = row_to_record(old) if old is not None else None
                        conflict = replaced is not None and (
                            classify(replaced, now, item.fingerprint) is Outcome.CONFLICT
                        )
                        results.append(
                            Result(
                                key, Outcome.CLAIMED, token=token, record=replaced, conflict=True
                            )
                            if conflict
                            else Result(key, Outcome.CLAIMED, token=token)
                        )
                        continue
                    if row is None:  # only if a key repeats inside this call
                        if count_duplicates:
                            bumps.append((param[8], now))
                        results.append(Result(key, Outcome.IN_FLIGHT))
                        continue
                    record = row_to_record(row)
                    outcome = classify(record, now, item.fingerprint)
                    if outcome is Outcome.NEW:  # cannot happen: the upsert would have won
                        outcome = Outcome.IN_FLIGHT
                    if count_duplicates and outcome is not Outcome.CONFLICT:
                        bumps.append((param[8], now))
                        record = row_to_record(row, bumped_at=now)
                    results.append(Result(key, outcome, record=record))
                conn.executemany(RESET_COUNTS, resets)
                if bumps:
                    conn.executemany(BUMP, bumps)
        except sqlite3.Error as exc:
            raise self._failure("claim", exc) from exc
        return results

    def complete(self, key: str, token: str, ttl_seconds: int, result: str | None = None) -> bool:
        return self.complete_many([(key, token)], ttl_seconds, [result])[0]

    def complete_many(
        self,
        pairs: Sequence[tuple[str, str]],
        ttl_seconds: int,
        results: Sequence[str | None] | None = None,
    ) -> list[bool]:
        if not pairs:
            return []
        expires_at = int(self.clock()) + ttl_seconds
        saved = results if results is not None else [None] * len(pairs)
        try:
            with self._write() as conn:
                # The common case: every claim is still ours, and the update's own
                # token check proves it (one change per pair). Otherwise undo it and
                # find out pair by pair which claims were lost.
                conn.execute("SAVEPOINT complete_all")
                params = [
                    (expires_at, result, key_hash(key), token)
                    for (key, token), result in zip(pairs, saved, strict=True)
                ]
                if conn.executemany(COMPLETE, params).rowcount == len(pairs):
                    conn.execute("RELEASE complete_all")
                    return [True] * len(pairs)
                conn.execute("ROLLBACK TO complete_all")
                conn.execute("RELEASE complete_all")
                # Under the write lock, a claim that still carries our token stays ours
                # until COMMIT: read the tokens once, then update the held ones in bulk.
                rows = self._rows(conn, [key for key, _ in pairs])
                held = [
                    (row := rows.get(key)) is not None
                    and row[4] == token
                    and row[1] == "IN_PROGRESS"
                    for key, token in pairs
                ]
                conn.executemany(
                    COMPLETE,
                    [p for p, ok in zip(params, held, strict=True) if ok],
                )
                return held
        except sqlite3.Error as exc:
            raise self._failure("complete", exc) from exc

    def renew(self, pairs: Sequence[tuple[str, str]], lease_seconds: float) -> list[bool]:
        if not pairs:
            return []
        lease_until = self.clock() + lease_seconds
        keep_until = int(lease_until) + 1
        try:
            with self._write() as conn:
                return [
                    conn.execute(RENEW, (lease_until, keep_until, key_hash(key), token)).rowcount
                    == 1
                    for key, token in pairs
                ]
        except sqlite3.Error as exc:
            raise self._failure("renew", exc) from exc

    def release(self, key: str, token: str) -> bool:
        return self.release_many([(key, token)])[0]

    def release_many(self, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        """One transaction for all pairs, waiting at most RELEASE_TIMEOUT_MS for the lock."""
        if not pairs:
            return []
        short = min(RELEASE_TIMEOUT_MS, self._busy_timeout_ms)
        try:
            with self._lock:
                self._conn.execute(f"PRAGMA busy_timeout = {short}")
            try:
                with self._write() as conn:
                    done = [(key_hash(k), t) for k, t in pairs]
                    released = [conn.execute(RELEASE, pair).rowcount == 1 for pair in done]
                    gone = [(h,) for (h, _), ok in zip(done, released, strict=True) if ok]
                    conn.executemany(RESET_COUNTS, gone)
                    return released
            finally:
                with self._lock:
                    self._conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        except sqlite3.Error as exc:
            raise self._failure("release", exc) from exc

    def seed(self, items: Sequence[KeyItem], ttl_seconds: int) -> list[Result]:
        return self.mark_done(items, ttl_seconds, count_duplicates=False)

    def mark_done(
        self,
        items: Sequence[KeyItem],
        ttl_seconds: int,
        *,
        count_duplicates: bool,
        uncounted: bool = False,
    ) -> list[Result]:
        """One write per key instead of a claim and a completion. Under the write lock
        the rows read first are the rows the upsert meets, so they tell each answer: a
        fresh key has none (in a stream of new events that read finds almost nothing),
        and a key with a live record is not written at all (the upsert's own condition
        still guards the others)."""
        if not items:
            return []
        now = self.clock()
        expires_at = int(now) + ttl_seconds
        run_id = self.run_id
        flag = 1 if uncounted else None
        hashes: dict[str, bytes] = {}
        params = []
        for key, namespace, topic, fingerprint, origin in items:
            if key not in hashes:
                h = hashes[key] = key_hash(key)
                params.append(
                    (h, key, expires_at, namespace, topic, now, run_id,
                     fingerprint or None, origin or None, flag)
                )  # fmt: skip
        try:
            with self._write() as conn:
                rows = self._rows(conn, list(hashes), list(hashes.values()))
                before = {key: row_to_record(row) for key, row in rows.items()}
                if before:  # a live record stays as it is: no write for it (a redelivery)
                    params = [
                        p
                        for p in params
                        if (record := before.get(p[1])) is None
                        or classify(record, now) is Outcome.NEW
                    ]
                if params:
                    conn.executemany(RESET_COUNTS, [(p[0],) for p in params if p[1] in before])
                    conn.executemany(MARK_DONE, params)
                results, bumps = mark_done_results(items, hashes, before, now)
                if count_duplicates and bumps:
                    conn.executemany(BUMP, [(h, now) for h in bumps])
        except sqlite3.Error as exc:
            raise self._failure("claim" if count_duplicates else "seed", exc) from exc
        return results

    def check(self, keys: Sequence[str]) -> list[Result]:
        now = self.clock()
        with self._lock:
            try:
                found = self._select(self._conn, list(keys))
            except sqlite3.Error as exc:
                raise self._failure("check", exc) from exc
        return [Result(key, classify(found.get(key), now), record=found.get(key)) for key in keys]

    def get(self, key: str) -> Record | None:
        with self._lock, self._errors("read"):
            return self._select(self._conn, [key]).get(key)

    def purge(self, where: PurgeFilter, dry_run: bool = False) -> int:
        if where.is_empty():
            return 0
        sql, params = purge_where(where, self.clock())
        try:
            if dry_run:
                with self._lock:
                    return int(
                        self._conn.execute(
                            f"SELECT count(*) FROM dedup WHERE {sql}", params
                        ).fetchone()[0]
                    )
            with self._write() as conn:
                conn.execute(f"{PURGE_COUNTS}{sql})", params)
                return conn.execute(f"DELETE FROM dedup WHERE {sql}", params).rowcount
        except sqlite3.Error as exc:
            raise self._failure("purge", exc) from exc

    def summary(self) -> StoreSummary:
        now = self.clock()
        out = StoreSummary()
        with self._lock, self._errors("summary"):
            rows = self._conn.execute(SUMMARY, [now] * (len(AGE_BUCKETS) - 1) + [now]).fetchall()
            expired = self._conn.execute(
                "SELECT count(*) FROM dedup WHERE expires_at < ?", [now]
            ).fetchone()[0]
        out.expired = int(expired)
        for namespace, status, topic, age, count, dups, uncounted in rows:
            count, dups = int(count), int(dups or 0)
            out.uncounted += int(uncounted or 0)
            out.records += count
            out.duplicates += dups
            ns = out.by_namespace.setdefault(namespace, {"records": 0, "duplicates": 0})
            ns["records"] += count
            ns["duplicates"] += dups
            out.by_status[status] = out.by_status.get(status, 0) + count
            tp = out.by_topic.setdefault(topic or "-", {"records": 0, "duplicates": 0})
            tp["records"] += count
            tp["duplicates"] += dups
            out.by_age[age] = out.by_age.get(age, 0) + count
        return out

    def close(self) -> None:
        with self._lock:
            self._conn.close()
