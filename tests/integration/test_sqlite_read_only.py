"""``stats --store`` and ``process --mode check`` only read, so they work on a store
that sits on a read-only filesystem, and say that they opened it read-only; a command
that writes says why it cannot.

The filesystem really is read-only: each command runs in its own mount namespace
(``unshare -m``) where the store's directory is bind-mounted read-only, so nothing
outside the test sees the mount. Skipped where mount namespaces are not allowed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gcdedup.store import KeyItem, open_store

SAMPLE_EVENTS = Path(__file__).resolve().parents[2] / "sample_events"
_READ_ONLY = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && exec "$@"'


def _namespaced(path: Path, *command: str) -> list[str]:
    """``command`` with ``path`` (a directory or a file) mounted read-only for it alone."""
    return [
        "unshare",
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        _READ_ONLY,
        str(path),
        *command,
    ]


def read_only_run(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m gcdedup ARGS`` with ``directory`` mounted read-only for it alone."""
    return subprocess.run(
        _namespaced(directory, sys.executable, "-m", "gcdedup", *args),
        capture_output=True,
        text=True,
        timeout=120,
    )


def gcdedup(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gcdedup", *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module", autouse=True)
def _mount_namespaces(tmp_path_factory: pytest.TempPathFactory) -> None:
    probe = tmp_path_factory.mktemp("probe")
    try:
        done = subprocess.run(
            _namespaced(probe, "sh", "-c", '! touch "$0"/x 2>/dev/null', str(probe)),
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        pytest.skip("no unshare here")
    if done.returncode != 0:
        pytest.skip("mount namespaces are not allowed here")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A store filled by a real run over the sample events (closed: no WAL left)."""
    path = tmp_path / "ro" / "dedup.sqlite3"
    path.parent.mkdir()
    filled = gcdedup("process", str(SAMPLE_EVENTS), "--store", f"sqlite:///{path}")
    assert filled.returncode == 0, filled.stderr
    return path


def _warning(path: Path) -> str:
    return (
        f"SQLite store {path} opened read-only (its directory {path.parent} is not "
        "writable): reading works, writing does not"
    )


def test_stats_reads_a_store_on_a_read_only_filesystem(store: Path) -> None:
    url = f"sqlite:///{store}"
    expected = json.loads(gcdedup("stats", "--store", url, "--json").stdout)
    done = read_only_run(store.parent, "stats", "--store", url, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == expected
    assert expected["records"] > 0
    assert _warning(store) in done.stderr


def test_a_read_only_store_file_in_a_writable_directory_is_read(store: Path) -> None:
    url = f"sqlite:///{store}"
    expected = json.loads(gcdedup("stats", "--store", url, "--json").stdout)
    done = read_only_run(store, "stats", "--store", url, "--json")  # the file alone
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == expected
    assert (
        f"SQLite store {store} opened read-only (the file is not writable): reading works"
        in done.stderr
    )
    written = read_only_run(store, "process", str(SAMPLE_EVENTS), "--store", url)
    assert written.returncode == 1
    assert (
        written.stderr.strip()
        .splitlines()[-1]
        .startswith(
            f"Error: SQLite store {store} is read-only (the file is not writable): this command"
        )
    )


def test_check_mode_reads_a_store_on_a_read_only_filesystem(store: Path) -> None:
    url = f"sqlite:///{store}"
    args = ("process", str(SAMPLE_EVENTS), "--mode", "check", "--store", url, "--json")
    expected = json.loads(gcdedup(*args).stdout)
    done = read_only_run(store.parent, *args)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    for volatile in ("run_id", "elapsed_seconds", "events_per_second"):
        report.pop(volatile, None)
        expected.pop(volatile, None)
    assert report == expected
    assert report["new"] == 0 and report["duplicates"] > 0
    assert _warning(store) in done.stderr


def test_a_writing_run_on_a_read_only_filesystem_says_why_it_cannot(store: Path) -> None:
    done = read_only_run(
        store.parent, "process", str(SAMPLE_EVENTS), "--store", f"sqlite:///{store}"
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"Error: SQLite store {store} is read-only (its directory {store.parent} is not "
        "writable): this command writes to it; use a writable copy, or --mode check and "
        "stats --store, which only read"
    )
    assert "Traceback" not in done.stderr


def test_commits_still_in_the_wal_are_read(tmp_path: Path) -> None:
    """A store left with a WAL (its writer still open, or killed) is read with it."""
    path = tmp_path / "wal" / "dedup.sqlite3"
    path.parent.mkdir()
    writer = open_store(f"sqlite:///{path}")
    try:
        writer.mark_done(
            [KeyItem(f"k{i}", "default", "t") for i in range(100)], 3600, count_duplicates=True
        )
        assert path.with_name(path.name + "-wal").stat().st_size > 0
        done = read_only_run(path.parent, "stats", "--store", f"sqlite:///{path}", "--json")
    finally:
        writer.close()
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["records"] == 100
