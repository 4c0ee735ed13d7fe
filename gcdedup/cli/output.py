"""Rendering: Rich tables for people, one JSON document for programs.

Results go to stdout; progress, warnings and errors to stderr, so
``gcdedup ... --json | jq`` always sees exactly one document.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text


class Output:
    """Chosen once per command from ``--json``."""

    def __init__(self, json_mode: bool = False) -> None:
        self.json_mode = json_mode
        self.console = Console()
        self.err = self.error_console()

    @staticmethod
    def error_console() -> Console:
        return Console(stderr=True, highlight=False, soft_wrap=True)

    def json(self, document: Any) -> None:
        sys.stdout.write(
            orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
            + "\n"
        )
        sys.stdout.flush()

    def table(
        self,
        title: str | None,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        numeric: Sequence[str] = (),
    ) -> None:
        if title:
            self.console.print(Text(title, style="bold"))
        table = Table(header_style="bold")
        for name in columns:
            table.add_column(name, justify="right" if name in numeric else "left", overflow="fold")
        for row in rows:
            # Text, not str: a key or file name with [brackets] is data, not markup
            table.add_row(*(Text(fmt(cell)) for cell in row))
        self.console.print(table)

    def line(self, text: str) -> None:
        self.console.print(text, highlight=False, soft_wrap=True, markup=False)

    def warn(self, text: str) -> None:
        self.err.print(f"[yellow]Warning:[/] {escape(text)}", highlight=False)

    def info(self, text: str) -> None:
        self.err.print(text, highlight=False, markup=False)

    def progress(self, total_bytes: int | None) -> AbstractContextManager[Progress | None]:
        """A byte progress bar on stderr, only when stderr is a terminal and not --json."""
        if self.json_mode or not self.err.is_terminal or not total_bytes:
            return nullcontext(None)
        return Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.err,
            transient=True,
        )


def fmt(value: Any) -> str:
    """Numbers with thousands separators, None as '-' (rates go through :func:`percent`)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


_ID = re.compile(
    r"\b([0-9a-fA-F]{8})(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\b|\b([0-9a-fA-F]{8})[0-9a-fA-F]{24,}\b"
)


def short_key(key: str) -> str:
    """A key for a table: UUIDs and long hex digests cut to 8 characters and an ellipsis.

    A Genesys key holds up to three UUIDs (190 characters): in full it wraps over four
    lines of a table column. The prefixes still tell keys apart by eye and can be
    searched for; --json and --csv keep the full keys.
    """
    return _ID.sub(lambda m: (m.group(1) or m.group(2)) + "…", key)


def rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def percent(value: float) -> str:
    return f"{value:.2%}"
