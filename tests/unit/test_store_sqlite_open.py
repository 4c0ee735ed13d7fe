"""A damaged SQLite store is refused when it is opened, by every command and in every
mode, before anything is written to it.

The damage is the one a fault campaign found ``process`` writing through: 4 KiB of
garbage at three quarters of a store of a few thousand keys. A write that does not
touch that page succeeds, so only reading every page finds it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gcdedup.cli.app import app
from gcdedup.errors import StoreError
from gcdedup.store import KeyItem, Outcome, open_store
from gcdedup.store.sqlite import SQLiteStore

SAMPLE_EVENTS = Path(__file__).resolve().parents[2] / "sample_events"
KEYS = 5000
PAGE = 4096


def _fill(path: Path, keys: int = KEYS) -> None:
    with open_store(f"sqlite:///{path}") as store:
        items = [KeyItem(f"default:k{i:06d}" + "x" * 100, "default", "t") for i in range(keys)]
        store.mark_done(items, 86400, count_duplicates=True)


def _overwrite(path: Path, fraction: float, garbage: bytes = b"\xa5" * PAGE) -> int:
    """Overwrite 4 KiB at ``fraction`` of the file (aligned to 4 KiB); the offset."""
    offset = int(path.stat().st_size * fraction) // PAGE * PAGE
    with path.open("r+b") as f:
        f.seek(offset)
        f.write(garbage)
    return offset


def _state(path: Path) -> tuple[str, int]:
    """The store file's digest and the bytes waiting in its WAL: what a write changes."""
    wal = path.with_name(path.name + "-wal")
    return (
        hashlib.sha256(path.read_bytes()).hexdigest(),
        wal.stat().st_size if wal.exists() else 0,
    )


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("pristine") / "store.sqlite3"
    _fill(path)
    return path.read_bytes()


@pytest.fixture
def damaged(tmp_path: Path, pristine: bytes) -> Path:
    path = tmp_path / "store.sqlite3"
    path.write_bytes(pristine)
    _overwrite(path, 0.75)
    return path


COMMANDS = {
    "process": ["process", str(SAMPLE_EVENTS)],
    "process-handler": ["process", str(SAMPLE_EVENTS), "--handler", "builtins:id"],
    "process-check": ["process", str(SAMPLE_EVENTS), "--mode", "check"],
    "process-seed": ["process", str(SAMPLE_EVENTS), "--mode", "seed"],
    "process-no-counting": ["process", str(SAMPLE_EVENTS), "--no-count-duplicates"],
    "stats": ["stats"],
    "purge": ["purge", "--all", "--yes"],
    "init": ["init"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_refuses_the_damaged_store_before_writing(
    damaged: Path, command: str
) -> None:
    before = _state(damaged)
    args = [*COMMANDS[command], "--store", f"sqlite:///{damaged}"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith(f"Error: SQLite store {damaged} is damaged (PRAGMA quick_check: ")
    assert last.endswith("move it aside or restore a backup; its keys cannot be trusted")
    assert "Traceback" not in result.output
    assert _state(damaged) == before  # not a byte written


def test_the_library_refuses_it_on_open(damaged: Path) -> None:
    with pytest.raises(StoreError) as info:
        SQLiteStore(damaged)
    assert info.value.message.startswith(f"SQLite store {damaged} is damaged")


def test_the_same_store_undamaged_opens_and_takes_keys(tmp_path: Path, pristine: bytes) -> None:
    path = tmp_path / "store.sqlite3"
    path.write_bytes(pristine)
    result = CliRunner().invoke(
        app, ["process", str(SAMPLE_EVENTS), "--store", f"sqlite:///{path}"]
    )
    assert result.exit_code == 0, result.output
    with SQLiteStore(path) as store:
        assert store.summary().records > KEYS


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(fraction=st.floats(min_value=0.05, max_value=0.98), seed=st.binary(min_size=8, max_size=8))
def test_an_overwritten_page_is_refused_or_harmless(
    tmp_path: Path, pristine: bytes, fraction: float, seed: bytes
) -> None:
    """Garbage anywhere in the store is found on open, unless it landed where SQLite
    keeps nothing (the unused middle of a page): then every key reads as before."""
    path = tmp_path / "any.sqlite3"
    path.write_bytes(pristine)
    _overwrite(path, fraction, hashlib.shake_256(seed).digest(PAGE))
    try:
        store = SQLiteStore(path)
    except StoreError as refused:
        assert f"SQLite store {path} is damaged" in refused.message
        return
    with store:
        keys = [f"default:k{i:06d}" + "x" * 100 for i in range(KEYS)]
        assert {r.outcome for r in store.check(keys)} == {Outcome.DUPLICATE}
        assert store.summary().records == KEYS
