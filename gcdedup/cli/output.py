"""Rendering: Rich tables for people, one JSON document for programs.

Results go to stdout; progress, warnings and errors to stderr, so
``gcdedup ... --json | jq`` always sees exactly one document.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

import orjson
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from .cut import cut, min_width

if TYPE_CHECKING:
    from rich.progress import Progress


class View:
    """Another layout of a table's data (e.g. transposed, for a narrow terminal)."""

    def __init__(
        self, columns: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[str] = ()
    ) -> None:
        self.columns = list(columns)
        self.rows = [list(r) for r in rows]
        self.numeric = list(numeric)


class Middle:
    """A one-line cell that, when its column is narrower than the text, is cut by
    :func:`gcdedup.cli.cut.cut`: a key keeps its topic's last words and its tail
    (``…customer.start#…#1764201600000``), a file name its tail and extension. Every
    table's shortened columns go through here; --json and --csv keep values whole."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(min_width(self.text), len(self.text))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text(cut(self.text, options.max_width), no_wrap=True, overflow="crop")


class Output:
    """Chosen once per command from ``--json``."""

    def __init__(self, json_mode: bool = False) -> None:
        self.json_mode = json_mode
        self.console = Console()
        # Rich exits 1 on a closed pipe; the CLI exits 0 (see common.handle_errors)
        self.console.on_broken_pipe = _raise_broken_pipe  # type: ignore[method-assign]
        self.err = self.error_console()
        #: Lines printed through :meth:`print` and :meth:`table` so far.
        self.lines = 0

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
        shorten: Sequence[str] = (),
        narrow: Sequence[View] = (),
    ) -> None:
        """Print a titled table; ``shorten`` columns (keys, paths, topics) are cut in the
        middle to fit. When the table cannot fit the console without breaking a word or a
        number, the first of the ``narrow`` views that fits is printed instead."""
        table = self.rich_table(columns, rows, numeric=numeric, shorten=shorten)
        for view in narrow:
            if self.fits(table):
                break
            table = self.rich_table(view.columns, view.rows, numeric=view.numeric)
        if title:
            self.print(Text(title, style="bold"))
        self.print(table)

    def rich_table(
        self,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        numeric: Sequence[str] = (),
        shorten: Sequence[str] = (),
    ) -> Table:
        table = Table(header_style="bold")
        for name in columns:
            table.add_column(
                # Text: Rich wraps a header between words, never inside one
                Text(name),
                justify="right" if name in numeric else "left",
            )
        cut = [name in shorten for name in columns]
        for row in rows:
            # Text, not str: a key or file name with [brackets] is data, not markup
            cells = zip(row, cut, strict=True)
            table.add_row(*(Middle(fmt(cell)) if c else Text(fmt(cell)) for cell, c in cells))
        return table

    def fits(self, table: Table) -> bool:
        """Whether ``table`` fits the console with no word or number broken across lines."""
        options = self.console.options
        # Measured without a limit: Measurement.get clamps a minimum to the width given.
        unlimited = options.update_width(1 << 16)
        if Measurement.get(self.console, unlimited, table).minimum > options.max_width:
            return False
        # Rich may still lay a tight table out with a column narrower than its longest
        # word ("duplicat…"): every word of the headers and plain cells must be there
        lines = self.console.render_lines(table, options, pad=False)
        shown = {w for line in lines for w in "".join(s.text for s in line).split()}
        for column in table.columns:
            cells = [c for c in column.cells if isinstance(c, Text)]
            header = column.header if isinstance(column.header, Text) else Text("")
            for text in (header, *cells):
                if any(word not in shown for word in text.plain.split()):
                    return False
        return True

    def print(self, renderable: Any) -> None:
        """Print to stdout, counting the lines (see :attr:`lines`)."""
        self.lines += len(self.console.render_lines(renderable, pad=False))
        self.console.print(renderable)

    def line(self, text: str) -> None:
        self.lines += 1
        self.console.print(text, highlight=False, soft_wrap=True, markup=False)

    def warn(self, text: str) -> None:
        self.err.print(f"[yellow]Warning:[/] {escape(text)}", highlight=False)

    def info(self, text: str) -> None:
        self.err.print(text, highlight=False, markup=False)

    def progress(self, total_bytes: int | None) -> AbstractContextManager[Progress | None]:
        """A byte progress bar on stderr, only when stderr is a terminal and not --json."""
        if self.json_mode or not self.err.is_terminal or not total_bytes:
            return nullcontext(None)
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        return Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.err,
            transient=True,
        )


def _raise_broken_pipe() -> None:
    raise BrokenPipeError


def duration(seconds: float | None) -> str:
    """``90`` -> ``1m30s``; ``86400`` -> ``1d``: short, for tables."""
    if seconds is None:
        return "-"
    s = round(seconds)
    if s == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if s >= size:
            parts.append(f"{s // size}{unit}")
            s %= size
    return "".join(parts[:2])


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


def usd(value: float) -> str:
    """Dollars for a table: two decimals, or two significant digits for an amount below
    a cent (a small table's cost is not ``0.00``), down to ``< 0.0001``."""
    if value == 0 or value >= 0.01:
        return f"{value:,.2f}"
    if value < 0.0001:
        return "< 0.0001"
    decimals = 1 - math.floor(math.log10(value))
    return f"{value:.{decimals}f}"


def rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def percent(value: float) -> str:
    return f"{value:.2%}"
