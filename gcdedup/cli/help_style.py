"""How parameters look in ``--help``; light enough for the CLI's start (Typer only).

The help itself is laid out by :mod:`gcdedup.cli.help` (panels that read at 80
columns), imported only when help is shown.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption


def _hide_types(params: list[Any]) -> None:
    """Typer 0.29's rich help shows each parameter's Python type (``<str>``, ``<bool>``,
    ``<list[str]>``), number ranges (``[x>=1]``) and a required argument as
    ``{paths}...``: show the metavar (``URL``, ``DURATION``) or nothing instead."""
    for param in params:
        shown = param.metavar if isinstance(param, TyperOption) else None
        param.display_type_rich = lambda ctx, shown=shown: shown
        param._get_number_range_help_str = lambda: None
        if isinstance(param, TyperArgument) and param.metavar:
            usage = f"{param.metavar}..." if param.nargs != 1 else param.metavar
            usage = usage if param.required else f"[{usage}]"
            param._usage_display_name = lambda usage=usage: usage  # type: ignore[method-assign,misc]


class Command(TyperCommand):
    """A command whose help reads at 80 columns (see :mod:`gcdedup.cli.help`), and whose
    option parsers (:mod:`gcdedup.cli.params`) report a bad value in one line."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        _hide_types(params)
        return params

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        from ..errors import GcdedupError

        try:
            return super().make_context(*args, **kwargs)
        except GcdedupError as exc:  # raised by a parser, before handle_errors runs
            from rich.markup import escape

            from .output import Output

            Output.error_console().print(f"[bold red]Error:[/] {escape(exc.message)}")
            raise typer.Exit(exc.exit_code) from None

    def format_help(self, ctx: Any, formatter: Any) -> None:
        from .help import print_help

        print_help(self, ctx)


class Group(TyperGroup):
    """The root command, with the same help conventions as :class:`Command`."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        _hide_types(params)
        return params

    def format_help(self, ctx: Any, formatter: Any) -> None:
        from .help import print_help

        print_help(self, ctx)
