"""SQLite-only behaviour: damaged files, missing directories, releasing under a held lock."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gcdedup.cli.app import app
from gcdedup.errors import ConfigError, StoreError
from gcdedup.store import KeyItem, Outcome, open_store
from gcdedup.store.sqlite import RELEASE_TIMEOUT_MS, SQLiteStore

SAMPLE_EVENTS = Path(__file__).resolve().parents[2] / "sample_events"


def _filled_store(path: Path, keys: int = 3000) -> None:
    with open_store(f"sqlite:///{path}") as store:
        items = [KeyItem(f"default:k{i:06d}" + "x" * 100, "default", "t") for i in range(keys)]
        results = store.claim(items, 60, 3600)
        store.complete_many([(r.key, r.token or "") for r in results], 3600)


def _damage(path: Path) -> None:
    """Overwrite the middle of every page after the first few with garbage."""
    size = path.stat().st_size
    with path.open("r+b") as f:
        for offset in range(4 * 4096, size, 4096):
            f.seek(offset + 200)
            f.write(b"\xa5" * 300)


@pytest.fixture
def damaged(tmp_path: Path) -> Path:
    path = tmp_path / "damaged.sqlite3"
    _filled_store(path)
    _damage(path)
    return path


def test_verify_names_the_file_and_quick_checks_verdict(damaged: Path) -> None:
    with pytest.raises(StoreError) as info:
        SQLiteStore(damaged)  # refused on open, before anything is written
    message = info.value.message
    assert message.startswith(f"SQLite store {damaged} is damaged (PRAGMA quick_check: ")
    assert message.endswith("move it aside or restore a backup; its keys cannot be trusted")
    assert "\n" not in message


def test_a_healthy_store_verifies(tmp_path: Path) -> None:
    path = tmp_path / "ok.sqlite3"
    _filled_store(path, keys=10)
    SQLiteStore(path).verify()  # no exception


@pytest.mark.parametrize(
    "args",
    [
        ["stats", "--store", "{url}"],
        ["purge", "--all", "--dry-run", "--store", "{url}"],
        ["purge", "--all", "--yes", "--store", "{url}"],
        ["process", str(SAMPLE_EVENTS), "--store", "{url}"],
    ],
    ids=["stats", "purge-dry-run", "purge", "process"],
)
def test_every_command_refuses_a_damaged_store_in_one_line(damaged: Path, args: list[str]) -> None:
    url = f"sqlite:///{damaged}"
    result = CliRunner().invoke(app, [a.replace("{url}", url) for a in args])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith(f"Error: SQLite store {damaged} is damaged (PRAGMA quick_check:")
    assert "Traceback" not in result.output
    assert "would delete" not in result.output


def test_a_file_that_is_not_a_database_is_named(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite3"
    path.write_bytes(os.urandom(8192))
    with pytest.raises(StoreError) as info:
        SQLiteStore(path)
    assert info.value.message.startswith(f"SQLite store {path} is damaged (PRAGMA quick_check: ")
    assert "file is not a database" in info.value.message


def test_a_missing_directory_is_an_error_not_a_new_store(tmp_path: Path) -> None:
    path = tmp_path / "typo" / "dedup.sqlite3"
    with pytest.raises(ConfigError) as info:
        open_store(f"sqlite:///{path}")
    assert info.value.message == (
        f"no directory {path.parent} for the SQLite store {path}: "
        "check the path, or create it (gcdedup init creates it)"
    )
    assert not path.parent.exists()


def test_create_makes_the_directory(tmp_path: Path) -> None:
    path = tmp_path / "new" / "deeper" / "dedup.sqlite3"
    with open_store(f"sqlite:///{path}", create=True) as store:
        assert store.claim([KeyItem("k", "default", "t")], 60, 60)[0].outcome is Outcome.CLAIMED
    assert path.exists()


def test_cli_missing_directory_exits_2_and_create_or_init_make_it(tmp_path: Path) -> None:
    runner = CliRunner()
    path = tmp_path / "nodir" / "x.sqlite3"
    url = f"sqlite:///{path}"
    refused = runner.invoke(app, ["process", str(SAMPLE_EVENTS), "--store", url])
    assert refused.exit_code == 2
    assert refused.output.strip().splitlines()[-1] == (
        f"Error: no directory {path.parent} for the SQLite store {path}: "
        "check the path, or create it (gcdedup init creates it)"
    )
    assert not path.parent.exists()
    made = runner.invoke(app, ["process", str(SAMPLE_EVENTS), "--store", url, "--create"])
    assert made.exit_code == 0, made.output
    other = tmp_path / "other" / "y.sqlite3"
    assert runner.invoke(app, ["init", "--store", f"sqlite:///{other}"]).exit_code == 0
    assert other.exists()


def test_release_many_gives_up_after_the_short_timeout_when_the_store_is_locked(
    tmp_path: Path,
) -> None:
    path = tmp_path / "locked.sqlite3"
    store = SQLiteStore(path, busy_timeout_ms=60_000)
    claims = store.claim([KeyItem(f"k{i}", "default", "t") for i in range(50)], 60, 60)
    pairs = [(c.key, c.token or "") for c in claims]
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        started = time.monotonic()
        with pytest.raises(StoreError) as info:
            store.release_many(pairs)
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "is busy or unwritable" in info.value.message
    # One wait of the release timeout, not one per claim nor the 60 s busy timeout.
    assert waited < 5 * RELEASE_TIMEOUT_MS / 1000
    # The lock is gone: the claims are released in one call.
    assert store.release_many(pairs) == [True] * 50
    # Everything else waits the store's own busy timeout again: a lock held a little
    # longer than the release timeout is waited out, not an error.
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    unlock = threading.Timer(RELEASE_TIMEOUT_MS / 1000 + 0.5, holder.execute, ["ROLLBACK"])
    unlock.start()
    try:
        again = store.claim([KeyItem("k0", "default", "t")], 60, 60)
    finally:
        unlock.join()
        holder.close()
    assert again[0].outcome is Outcome.CLAIMED
    store.close()


def test_the_url_sets_the_lock_timeout_and_refuses_unknown_options(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    store = open_store(f"{url}?timeout=0.2")
    holder = sqlite3.connect(tmp_path / "a.sqlite3", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    try:
        with pytest.raises(StoreError, match="is busy or unwritable: database is locked"):
            store.claim([KeyItem("k", "default", "t")], 60, 60)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert time.monotonic() - started < 5  # not the 30 s default
    with pytest.raises(ConfigError, match=r"unknown SQLite URL option\(s\) wal: use timeout"):
        open_store(f"{url}?wal=1")
    with pytest.raises(ConfigError, match="invalid SQLite URL option timeout='soon'"):
        open_store(f"{url}?timeout=soon")


def test_a_new_store_has_large_pages_and_an_existing_one_keeps_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gcdedup.store import sqlite as sqlite_store

    def pragma(store: SQLiteStore, name: str) -> int:
        return int(store._conn.execute(f"PRAGMA {name}").fetchone()[0])

    with SQLiteStore(tmp_path / "new.sqlite3") as new:
        assert pragma(new, "page_size") == sqlite_store.PAGE_SIZE == 16384
        assert pragma(new, "wal_autocheckpoint") == 2048  # 32 MiB of WAL
    monkeypatch.setattr(sqlite_store, "PAGE_SIZE", 4096)  # a store made before the change
    with SQLiteStore(tmp_path / "old.sqlite3") as old:
        old.mark_done([KeyItem("k1", "default")], 60, count_duplicates=False)
    monkeypatch.undo()
    with SQLiteStore(tmp_path / "old.sqlite3") as old:
        assert pragma(old, "page_size") == 4096
        assert pragma(old, "wal_autocheckpoint") == 8192
        found = old.mark_done([KeyItem("k1", "default")], 60, count_duplicates=False)
        assert [r.outcome for r in found] == [Outcome.DUPLICATE]
