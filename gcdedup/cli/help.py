"""``--help`` that reads at 80 columns: options grouped in panels, names never cut.

Each option is one row: its names and value on the left, its help on the right,
wrapped at word boundaries; names longer than the left column take a line of their
own with the help below (the layout is :mod:`gcdedup.cli.help_page`). Panels follow
:data:`gcdedup.settings.PANELS`.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperGroup

from ..settings import PANELS
from .help_page import Page, Row, name, names, print_page

#: Where arguments and options without a panel go.
ARGUMENTS = "Arguments"
OTHER = "Options"


def print_help(command: Any, ctx: Any) -> None:
    """Write ``command``'s help to stdout (what ``--help`` shows)."""
    print_page(page_of(command, ctx))


def page_of(command: Any, ctx: Any) -> Page:
    """What ``command``'s help says, read from its Click parameters."""
    panels = _panels(command, ctx)
    if isinstance(command, TyperGroup):
        commands: list[Row] = [
            (name(cmd), sub.get_short_help_str(limit=200))
            for cmd in command.list_commands(ctx)
            if (sub := command.get_command(ctx, cmd)) is not None and not sub.hidden
        ]
        panels.append(("Commands", commands))
    usage = f"Usage: {ctx.command_path} {' '.join(command.collect_usage_pieces(ctx))}"
    return Page(usage, command.help or "", panels, command.epilog)


def _panels(command: Any, ctx: Any) -> list[tuple[str, list[Row]]]:
    grouped: dict[str, list[Row]] = {}
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


def _names(param: Any) -> Any:
    """``-k, --key STRATEGY``; ``--x / --no-x`` for a toggle; ``PATH...`` for an argument."""
    if isinstance(param, TyperArgument):
        metavar = param.metavar or param.name or ""
        return name(f"{metavar}..." if param.nargs != 1 else metavar)
    opts = sorted(param.opts, key=lambda o: (not o.startswith("--"), len(o) > 2))
    is_flag = getattr(param, "is_flag", False) or getattr(param, "count", False)
    return names(
        [o for o in opts if not o.startswith("--")],
        [o for o in opts if o.startswith("--")],
        list(getattr(param, "secondary_opts", None) or []),
        None if is_flag else param.metavar,
    )
