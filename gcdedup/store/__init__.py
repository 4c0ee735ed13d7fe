"""Dedup stores chosen by URL: ``sqlite:///path`` (default), ``dynamodb://Table``, ``memory://``.

Backends are imported lazily so the CLI starts fast and boto3 stays optional.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError
from .base import (
    Clock,
    DedupStore,
    KeyItem,
    Outcome,
    PurgeFilter,
    Record,
    RecordStatus,
    Result,
    StoreSummary,
)

__all__ = [
    "Clock",
    "DedupStore",
    "KeyItem",
    "Outcome",
    "PurgeFilter",
    "Record",
    "RecordStatus",
    "Result",
    "StoreSummary",
    "default_store_url",
    "open_store",
]

SCHEMES = ("sqlite", "dynamodb", "memory")


def state_dir() -> Path:
    """The user's state directory ($XDG_STATE_HOME/gcdedup, or the platform's equivalent)."""
    if sys.platform == "win32":  # pragma: no cover - not tested here
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":  # pragma: no cover
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "gcdedup"


def default_store_url() -> str:
    """``sqlite:///<state dir>/dedup.sqlite3``: zero set-up for a first run."""
    return f"sqlite:///{state_dir() / 'dedup.sqlite3'}"


def open_store(
    url: str,
    *,
    clock: Clock | None = None,
    run_id: str | None = None,
    create: bool = False,
    **options: Any,
) -> DedupStore:
    """Open the store a URL names; an unknown scheme is a ConfigError listing the valid ones.

    ``options`` go to the DynamoDB store (its URL options, and ``client`` and ``sleep``
    to inject); the other backends take none. A SQLite file's directory is created
    only for the default store (in the state directory) or with ``create``: otherwise
    a mistyped path would silently become a new, empty store.
    """
    scheme = urlsplit(url).scheme if "://" in url else ""
    if scheme == "memory":
        from .memory import MemoryStore

        return MemoryStore(url, clock=clock, run_id=run_id)
    if scheme == "sqlite":
        from .sqlite import SQLiteStore

        return SQLiteStore.from_url(
            url, clock=clock, run_id=run_id, create_parent=create or url == default_store_url()
        )
    if scheme == "dynamodb":
        from .dynamodb import DynamoDBStore

        return DynamoDBStore.from_url(url, clock=clock, run_id=run_id, **options)
    raise ConfigError(
        f"unsupported store URL {url!r}: use sqlite:///path/to/file, dynamodb://TableName or memory://"
    )
