"""Opening a SQLite store file: read-write when it can be written, read-only when it
cannot, and never using a damaged one.

Why read-only at all: ``stats --store`` and ``process --mode check`` only read, so
they must work on a store that sits on a read-only filesystem or in a file the user
may not write (a copy taken for inspection, a backup). SQLite's default open wants to
write (the WAL and its shared-memory file beside the store), so those are opened
with ``mode=ro``, or, when not even the directory is writable and no WAL is pending,
as ``immutable=1`` (SQLite then takes no locks and reads the file as it is).

Why a full ``PRAGMA quick_check`` before the first write: SQLite has no page
checksums, so a page overwritten in the middle of the file is found only by reading
it. A write that does not touch that page succeeds, and ``process`` went on adding
keys to a store whose other keys were gone. quick_check reads every page and checks
the B-tree structure (not that each index matches its table: that is
``integrity_check``, 13x slower). Measured on a store of 1,000,000 keys (234 MB,
warm page cache, bench/sqlite_health.py): 0.9 s, against 34 s to process a million
events. A check that reads less (the header, the page count) misses exactly the
damage that was reported.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from ..errors import StoreError

log = logging.getLogger(__name__)


def read_only_reason(path: Path) -> str | None:
    """Why this existing store must be opened read-only (None: it can be written)."""
    if not path.exists():
        return None
    if not os.access(path.parent, os.W_OK):
        return f"its directory {path.parent} is not writable"
    if not os.access(path, os.W_OK):
        return "the file is not writable"
    return None


def _pending_wal(path: Path) -> bool:
    """A WAL beside the store still holds commits not yet copied into it."""
    wal = path.with_name(path.name + "-wal")
    try:
        return wal.stat().st_size > 0
    except OSError:
        return False


def connect(path: Path, timeout: float) -> tuple[sqlite3.Connection, str | None]:
    """A connection to the store file and, when it is read-only, why (said once on
    stderr through logging, as every command's warnings are)."""
    reason = read_only_reason(path)
    if reason is None:
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        return conn, None
    # immutable=1 reads the main file only: right when nothing can write it, wrong when
    # a WAL holds recent commits (then mode=ro reads them, through the WAL's index).
    immutable = not os.access(path.parent, os.W_OK) and not _pending_wal(path)
    option = "immutable=1" if immutable else "mode=ro"
    conn = sqlite3.connect(
        f"file:{quote(str(path))}?{option}",
        uri=True,
        timeout=timeout,
        isolation_level=None,
        check_same_thread=False,
    )
    log.warning(
        "SQLite store %s opened read-only (%s): reading works, writing does not", path, reason
    )
    return conn, reason


def quick_check(conn: sqlite3.Connection) -> str:
    """The first problem ``PRAGMA quick_check`` reports, or '' when it says ok."""
    try:
        rows = conn.execute("PRAGMA quick_check(1)").fetchall()
    except sqlite3.Error as exc:
        return str(exc)
    verdict = " ".join(str(row[0]) for row in rows).strip()
    return "" if verdict == "ok" else " ".join(verdict.split())


def damaged(path: Path, verdict: str) -> StoreError:
    """The one-line error for a damaged store file: which file, what SQLite found, the fix."""
    return StoreError(
        f"SQLite store {path} is damaged (PRAGMA quick_check: {verdict}): "
        "move it aside or restore a backup; its keys cannot be trusted"
    )


def refuse_if_damaged(conn: sqlite3.Connection, path: Path) -> None:
    """Raise the damaged-store error unless the file is new (empty) or passes quick_check.
    Called on open, before anything is written."""
    try:
        if path.stat().st_size == 0:
            return
    except OSError:  # not there yet: a new store
        return
    verdict = quick_check(conn)
    if verdict:
        raise damaged(path, verdict)


def read_only_error(path: Path, reason: str) -> StoreError:
    """What a write to a store opened read-only says."""
    return StoreError(
        f"SQLite store {path} is read-only ({reason}): this command writes to it; "
        "use a writable copy, or --mode check and stats --store, which only read"
    )
