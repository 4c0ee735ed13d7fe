"""``--help`` that reads at 80 columns: options grouped in panels, names never cut.

Each option is one row: its names and value on the left, its help on the right,
wrapped at word boundaries; names longer than the left column take a line of their
own with the help below. Panels follow :data:`gcdedup.settings.PANELS`.
"""

from __future__ import annotations

import inspect
from typing import Any

from rich.console import Console, Group
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from typer.core import TyperArgument, TyperGroup

from ..settings import PANELS

#: Width of the names column; longer names take a line of their own.
NAMES_WIDTH = 26
#: Where arguments and options without a panel go.
ARGUMENTS = "Arguments"
OTHER = "Options"


def print_help(command: Any, ctx: Any) -> None:
    """Write ``command``'s help to stdout (what ``--help`` shows)."""
    console = Console(highlight=False, soft_wrap=False)
    console.print(_render(command, ctx))


def _render(command: Any, ctx: Any) -> Group:
    parts: list[Any] = [Text(""), Padding(Text(_usage(command, ctx), style="bold"), (0, 1))]
    for paragraph in _paragraphs(command.help or ""):
        parts.append(Text(""))
        parts.append(Padding(Text.from_markup(paragraph), (0, 1)))
    parts.append(Text(""))
    for title, rows in _panels(command, ctx):
        parts.append(_panel(title, rows))
    if isinstance(command, TyperGroup):
        commands: list[tuple[Text, str]] = [
            (Text(name, style="bold cyan"), sub.get_short_help_str(limit=200))
            for name in command.list_commands(ctx)
            if (sub := command.get_command(ctx, name)) is not None and not sub.hidden
        ]
        parts.append(_panel("Commands", commands))
    if command.epilog:
        parts.append(Padding(Text.from_markup(_join(command.epilog)), (0, 1)))
    return Group(*parts)


def _usage(command: Any, ctx: Any) -> str:
    pieces = command.collect_usage_pieces(ctx)
    return f"Usage: {ctx.command_path} {' '.join(pieces)}"


def _paragraphs(text: str) -> list[str]:
    """The docstring's paragraphs, each re-joined (the source wraps them at 100)."""
    cleaned = inspect.cleandoc(text)
    return [_join(p) for p in cleaned.split("\n\n") if p.strip()]


def _join(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _panels(command: Any, ctx: Any) -> list[tuple[str, list[tuple[Text, str]]]]:
    grouped: dict[str, list[tuple[Text, str]]] = {}
    for param in command.get_params(ctx):
        if getattr(param, "hidden", False):
            continue
        if isinstance(param, TyperArgument):
            panel = ARGUMENTS
        else:
            panel = getattr(param, "rich_help_panel", None) or OTHER
        grouped.setdefault(panel, []).append((_names(param), getattr(param, "help", "") or ""))
    order = [ARGUMENTS, *PANELS, OTHER]
    known = [(title, grouped.pop(title)) for title in order if title in grouped]
    return known + sorted(grouped.items())


def _names(param: Any) -> Text:
    """``-k, --key STRATEGY``; ``--x / --no-x`` for a toggle; ``PATH...`` for an argument."""
    if isinstance(param, TyperArgument):
        metavar = param.metavar or param.name or ""
        shown = f"{metavar}..." if param.nargs != 1 else metavar
        return Text(shown, style="bold cyan")
    opts = sorted(param.opts, key=lambda o: (not o.startswith("--"), len(o) > 2))
    longs = [o for o in opts if o.startswith("--")]
    shorts = [o for o in opts if not o.startswith("--")]
    names = ", ".join([*shorts, *longs])
    if getattr(param, "secondary_opts", None):
        names += " / " + ", ".join(param.secondary_opts)
    text = Text(names, style="bold cyan")
    is_flag = getattr(param, "is_flag", False) or getattr(param, "count", False)
    if not is_flag and param.metavar:
        text.append(f" {param.metavar}", style="yellow")
    return text


def _panel(title: str, rows: list[tuple[Text, str]]) -> Panel:
    lines: list[Any] = []
    for names, help_text in rows:
        body = Text.from_markup(_join(help_text)) if help_text else Text("")
        if names.cell_len > NAMES_WIDTH:
            lines.append(names)
            lines.append(Padding(body, (0, 0, 0, NAMES_WIDTH + 1)))
            continue
        row = Table.grid(padding=(0, 1), expand=True)
        row.add_column(width=NAMES_WIDTH, no_wrap=True)
        row.add_column(ratio=1)
        row.add_row(names, body)
        lines.append(row)
    return Panel(Group(*lines), title=title, title_align="left", border_style="dim", padding=(0, 1))
