"""Where every benchmark runner puts its numbers: ``results/NAME.json`` for the data
and ``results/NAME.md`` for the table made from it, side by side, the table also printed
(one way of writing them, so every runner's files look alike)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def save(directory: Path, name: str, doc: dict[str, Any], table: str) -> None:
    """Write ``doc`` as NAME.json and ``table`` (Markdown) as NAME.md, and print the table."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.json").write_text(json.dumps(doc, indent=2) + "\n")
    (directory / f"{name}.md").write_text(table)
    print(table, end="" if table.endswith("\n") else "\n")
