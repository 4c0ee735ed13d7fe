"""The layout of a ``--help`` page, apart from where its content comes from.

A :class:`Page` is what a help page says (usage, paragraphs, panels of rows, an
epilog); :func:`print_page` lays it out at the terminal's width with Rich alone.
Commands fill a page from their Click parameters (:mod:`gcdedup.cli.help`); the root
page is also filled from the static command table (:mod:`gcdedup.cli.quick`), so
``gcdedup --help`` prints before Typer is imported.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

#: Width of the names column; longer names take a line of their own.
NAMES_WIDTH = 26

#: One row of a panel: the names (styled) and the help text (Rich markup).
Row = tuple[Text, str]


@dataclass
class Page:
    """What one ``--help`` shows, in order."""

    usage: str
    help: str = ""
    panels: list[tuple[str, list[Row]]] = field(default_factory=list)
    epilog: str | None = None


def print_page(page: Page) -> None:
    """Write ``page`` to stdout (what ``--help`` shows)."""
    console = Console(highlight=False, soft_wrap=False)
    console.print(render(page))


def render(page: Page) -> Group:
    parts: list[RenderableType] = [Text(""), Padding(Text(page.usage, style="bold"), (0, 1))]
    for paragraph in paragraphs(page.help):
        parts.append(Text(""))
        parts.append(Padding(Text.from_markup(paragraph), (0, 1)))
    parts.append(Text(""))
    for title, rows in page.panels:
        parts.append(_panel(title, rows))
    if page.epilog:
        parts.append(Padding(Text.from_markup(join(page.epilog)), (0, 1)))
    return Group(*parts)


def names(shorts: list[str], longs: list[str], secondary: list[str], metavar: str | None) -> Text:
    """``-k, --key STRATEGY``; ``--x / --no-x`` for a toggle (``metavar`` None for a flag)."""
    shown = ", ".join([*shorts, *longs])
    if secondary:
        shown += " / " + ", ".join(secondary)
    text = Text(shown, style="bold cyan")
    if metavar:
        text.append(f" {metavar}", style="yellow")
    return text


def name(shown: str) -> Text:
    """A command's or an argument's name."""
    return Text(shown, style="bold cyan")


def paragraphs(text: str) -> list[str]:
    """The docstring's paragraphs, each re-joined (the source wraps them at 100)."""
    cleaned = inspect.cleandoc(text)
    return [join(p) for p in cleaned.split("\n\n") if p.strip()]


def join(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _panel(title: str, rows: list[Row]) -> Panel:
    lines: list[RenderableType] = []
    for shown, help_text in rows:
        body = Text.from_markup(join(help_text)) if help_text else Text("")
        if shown.cell_len > NAMES_WIDTH:
            lines.append(shown)
            lines.append(Padding(body, (0, 0, 0, NAMES_WIDTH + 1)))
            continue
        row = Table.grid(padding=(0, 1), expand=True)
        row.add_column(width=NAMES_WIDTH, no_wrap=True)
        row.add_column(ratio=1)
        row.add_row(shown, body)
        lines.append(row)
    return Panel(Group(*lines), title=title, title_align="left", border_style="dim", padding=(0, 1))
