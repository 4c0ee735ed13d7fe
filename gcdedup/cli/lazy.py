"""Commands imported when they run, not when the CLI starts.

``gcdedup --help`` lists each command with the first lines of its docstring, and
``gcdedup --version`` prints one line: neither needs the store, the pipeline or the
analysis, which the command modules import. The root group here knows each command
by module, function and summary, and imports a module only when its command is
resolved to run or to show its own help.
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

from typer.core import TyperCommand
from typer.main import get_command_from_info
from typer.models import CommandInfo

from .command_table import LazyCommand
from .help_style import Command, Group


class LazyGroup(Group):
    """A root group whose commands (``commands`` of a subclass) are imported on use."""

    lazy: ClassVar[dict[str, LazyCommand]] = {}
    _summaries_only = False

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in self.lazy if n not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands or cmd_name not in self.lazy:
            return super().get_command(ctx, cmd_name)
        spec = self.lazy[cmd_name]
        if self._summaries_only:
            # the root help's list: name and summary, no import
            return TyperCommand(name=cmd_name, help=spec.summary)
        command = load(cmd_name, spec, self.rich_markup_mode)
        self.commands[cmd_name] = command
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._summaries_only = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._summaries_only = False


def load(name: str, spec: LazyCommand, markup_mode: Any = "rich") -> Any:
    """The Click command of ``spec``, built as ``app.command(name, cls=Command)`` would."""
    function = getattr(importlib.import_module(spec.module), spec.function)
    info = CommandInfo(name=name, cls=Command, epilog=spec.epilog, callback=function)
    return get_command_from_info(info, pretty_exceptions_short=True, rich_markup_mode=markup_mode)
