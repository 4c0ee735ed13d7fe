"""What the analysis tests share: the benchmark's stream generator (``bench/generate.py``,
loaded once), and reports made comparable across file names."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson

from gcdedup.analysis import AnalysisOptions, analyze
from gcdedup.events import Event
from gcdedup.sources import EventReader

REPO = Path(__file__).resolve().parents[1]


def bench_generator() -> ModuleType:
    """``bench/generate.py`` as a module (it is a script, not a package)."""
    if "bench_generate" in sys.modules:
        return sys.modules["bench_generate"]
    spec = importlib.util.spec_from_file_location("bench_generate", REPO / "bench" / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_generate"] = module
    spec.loader.exec_module(module)
    return module


def comparable(doc: dict[str, Any]) -> dict[str, Any]:
    """A report without what names the files: bad records keep their line only."""
    doc = {k: v for k, v in doc.items() if k not in ("by_file", "files")}
    for bad in doc.get("bad", []):
        bad["location"] = bad["location"].rsplit(":", 1)[-1]  # the line, not the name
    return doc


def report(paths: Sequence[Path], options: AnalysisOptions) -> dict[str, Any]:
    return comparable(analyze([str(p) for p in paths], options).to_dict())


def reader_view(path: Path, tmp_path: Path) -> tuple[Path, list[tuple[int | None, str]]]:
    """What the general reader makes of ``path``: its events as a plain JSON Lines file
    (one event per line, in order), and its bad records (line, reason)."""
    events = tmp_path / "reader-events.jsonl"
    bad: list[tuple[int | None, str]] = []
    with events.open("wb") as out:
        for record in EventReader([str(path)]):
            if isinstance(record, Event):
                out.write(orjson.dumps(record.envelope) + b"\n")
            else:
                bad.append((record.location.line, record.reason))
    return events, bad
