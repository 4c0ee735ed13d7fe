"""Handlers the Spark tasks import (``--handler spark_handlers:record``): each writes
the key it handled to the log named in ``$GCDEDUP_SPARK_TEST_DIR/current``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gcdedup.events import Event, Location
from gcdedup.keys import KeyMaker

_KEYS = KeyMaker.create("genesys", "default")
#: Events this worker process has handled (for crash_once).
_handled = 0


def _base() -> Path:
    return Path(os.environ["GCDEDUP_SPARK_TEST_DIR"])


def record(event: dict[str, Any]) -> None:
    """Append the event's key to the current log (one short append: atomic)."""
    log = Path((_base() / "current").read_text())
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(_KEYS(Event(event, Location("handler"))) + "\n")


def crash_once(event: dict[str, Any]) -> None:
    """Kill this task's worker process at its 30th event, once per test directory
    (a task dying mid-partition, as a lost executor does); record every event otherwise."""
    global _handled
    marker = _base() / "crashed"
    _handled += 1
    if _handled >= 30 and not marker.exists():
        marker.write_text(str(os.getpid()))
        os._exit(1)
    record(event)
