"""What every command shares: option types, error handling, opening the store."""

from __future__ import annotations

import functools
import logging
import os
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape
from typer.models import OptionInfo

from ..display import display_path
from ..errors import GcdedupError, UsageError
from ..settings import SETTINGS, Settings, check_store_url, env_name
from ..sources import FORMATS
from .output import Output
from .params import duration_flag
from .pipe import discard_stdout

F = TypeVar("F", bound=Callable[..., Any])
STORE_ENV = env_name("store_url")


def note(text: str, *, default: object = None, env: str | None = None) -> str:
    """Help text ending in the notation every option uses: ``[default: 5d; env: VARIABLE]``."""
    notes = []
    if default is not None:
        notes.append(f"default: {default}")
    if env:
        notes.append(f"env: {env}")
    # "\[": the help is Rich markup, where [...] would be a style
    return f"{text} \\[{'; '.join(notes)}]" if notes else text


def setting_option(name: str, help: str | None = None, **extra: Any) -> Any:
    """The option of setting ``name``, from its one declaration in the settings
    schema: flags, metavar, help (``[default: ...; env: ...]``) and panel.

    The variable itself is read by :meth:`Settings.resolve`, not by Typer, so an
    invalid value names it in the error.
    """
    spec = SETTINGS[name]
    decls = list(spec.flags)
    if spec.short:
        decls.append(spec.short)
    default = spec.default.split(";", 1)[0]  # the CLI's (the Lambda's may follow)
    options: dict[str, Any] = {
        # the help is Rich markup: a default such as local[*] is text, not a style
        "help": note(escape(help or spec.help), default=escape(default), env=spec.env),
        "rich_help_panel": spec.panel,
        "show_default": False,
    }
    if spec.metavar:
        options["metavar"] = spec.metavar
    options.update(extra)
    return typer.Option(*decls, **options)


StoreOpt = Annotated[str | None, setting_option("store_url")]
NamespaceOpt = Annotated[str | None, setting_option("namespace")]
StrategyOpt = Annotated[str | None, setting_option("key_strategy")]
# a flag's duration needs its unit (the variables keep taking bare seconds)
TtlOpt = Annotated[str | None, setting_option("ttl_seconds", parser=duration_flag("--ttl"))]
LeaseOpt = Annotated[str | None, setting_option("lease_seconds", parser=duration_flag("--lease"))]
JobsOpt = Annotated[int | None, setting_option("concurrency", min=1)]
BatchOpt = Annotated[int | None, setting_option("batch_size", min=1)]
RunIdOpt = Annotated[str | None, setting_option("run_id")]
JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print exactly one JSON document instead of tables.",
        rich_help_panel="Output",
    ),
]
FormatOpt = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        metavar="FORMAT",
        help=note(
            f"Input format: {', '.join(FORMATS)}; auto sniffs each file's first bytes.",
            default="auto",
        ),
        show_default=False,
        rich_help_panel="Input",
    ),
]
StrictOpt = Annotated[
    bool,
    typer.Option(
        "--strict",
        help="Exit 1 if any input record is bad or no event was found (without it: warnings).",
        rich_help_panel="Input",
    ),
]
SinceOpt = Annotated[
    str | None,
    typer.Option(
        "--since",
        metavar="TIME",
        help="s3:// inputs: only objects from this time on (ISO date or time, UTC unless it "
        "says): the hour of their Firehose date path (YYYY/MM/DD/HH/), else LastModified.",
        show_default=False,
        rich_help_panel="Input",
    ),
]
UntilOpt = Annotated[
    str | None,
    typer.Option(
        "--until",
        metavar="TIME",
        help="s3:// inputs: only objects from before this time (same rules as --since).",
        show_default=False,
        rich_help_panel="Input",
    ),
]
WindowSinceOpt = Annotated[
    str | None,
    typer.Option(
        "--since",
        metavar="TIME",
        help="Only events whose envelope time is this time or later (ISO date or time, UTC "
        "unless it says); s3:// listings also skip objects of earlier hours.",
        show_default=False,
        rich_help_panel="Input",
    ),
]
WindowUntilOpt = Annotated[
    str | None,
    typer.Option(
        "--until",
        metavar="TIME",
        help="Only events whose envelope time is before this time (same forms as --since).",
        show_default=False,
        rich_help_panel="Input",
    ),
]
PathsArg = Annotated[
    list[str],
    typer.Argument(
        metavar="PATH",
        help="Event files, directories or globs; '-' reads stdin; s3://bucket/prefix reads "
        "the objects under it; sqs://queue drains a queue. JSON Lines, JSON, concatenated "
        "JSON, CloudWatch exports, SQS/SNS batches; gzip or not.",
        show_default=False,
    ),
]


def handle_errors(func: F) -> F:
    """Turn library errors into ``Error: <message>`` on stderr and the class's exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GcdedupError as exc:
            Output.error_console().print(
                f"[bold red]Error:[/] {escape(cli_message(exc, func))}", highlight=False
            )
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            Output.error_console().print("Interrupted.")
            raise typer.Exit(130) from None
        except BrokenPipeError:
            # the reader went away (| head): the results are not wanted, nothing failed
            discard_stdout()
            raise typer.Exit(0) from None

    return wrapper  # type: ignore[return-value]


def cli_message(exc: GcdedupError, command: Callable[..., Any] | None = None) -> str:
    """The library's message, plus the command's flag for the setting it names (a
    library message names the setting as the store URL or the environment knows it)."""
    flag = _flag_for(command, exc.setting) if command is not None else None
    return f"{exc.message}; {flag} sets {exc.setting} for this command" if flag else exc.message


def _flag_for(command: Callable[..., Any], setting: str | None) -> str | None:
    """The command's long option for a parameter named ``setting``, if it has one."""
    if setting is None:
        return None
    try:
        hint = typing.get_type_hints(command, include_extras=True).get(setting)
    except Exception:  # pragma: no cover - an annotation that cannot be resolved
        return None
    for meta in getattr(hint, "__metadata__", ()):
        if isinstance(meta, OptionInfo):
            # Under Annotated, typer takes the first name given to Option as ``default``.
            names = (meta.default, *(meta.param_decls or ()))
            flags = [d for d in names if isinstance(d, str) and d.startswith("--")]
            return max(flags, key=len) if flags else None
    return None


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def inputs(paths: list[str] | None) -> str:
    """The inputs as given, for a message (``-`` is stdin)."""
    return " ".join("stdin" if p == "-" else display_path(p) for p in paths or [])


def stdin_hint(paths: list[str], output: Output) -> None:
    """Reading stdin from a terminal looks like a hang: say what it waits for."""
    if "-" in paths and stdin_is_terminal():
        output.info(
            "reading events from stdin (a terminal): paste or type them and end with "
            "Ctrl-D, or Ctrl-C to stop; give file names to read files"
        )


def require_existing_store(url: str) -> None:
    """Read-only and maintenance commands must not take a mistyped SQLite path for an
    empty store (opening one would create it)."""
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :].split("?", 1)[0]).expanduser()
        if not path.exists():
            raise UsageError(
                f"no SQLite store at {path}: check the path, or create it with gcdedup init"
            )


def settings_from(**explicit: Any) -> Settings:
    """Flags > the environment > defaults; an error in a variable names it."""
    settings = Settings.resolve(**explicit)
    if "store_url" in explicit and explicit["store_url"] is None and os.environ.get(STORE_ENV):
        check_store_url(settings.store_url, STORE_ENV)
    return settings


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (it may be swapped, e.g. in tests)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_logging(verbose: int) -> None:
    """Logs go to stderr; -v for info, -vv for debug."""
    level = logging.WARNING - 10 * min(verbose, 2)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
