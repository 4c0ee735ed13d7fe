"""How parameters look in ``--help``; light enough for the CLI's start (Typer only)."""

from __future__ import annotations

from typing import Any

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
    """A command whose help shows metavars, not Python types (see :func:`_hide_types`)."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        _hide_types(params)
        return params


class Group(TyperGroup):
    """The root command, with the same help conventions as :class:`Command`."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        _hide_types(params)
        return params
