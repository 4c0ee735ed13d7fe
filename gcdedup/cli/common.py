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

from ..errors import GcdedupError, UsageError
from ..keys import DEFAULT_NAMESPACE, DEFAULT_STRATEGY
from ..settings import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CONCURRENCY,
    ENV_VARS,
    MARK_DONE_BATCH_SIZE,
    Settings,
    check_store_url,
)
from ..sources import FORMATS
from .output import Output, discard_stdout

F = TypeVar("F", bound=Callable[..., Any])
STORE_ENV = ENV_VARS["store_url"]


def note(text: str, *, default: object = None, env: str | None = None) -> str:
    """Help text ending in the notation every option uses: ``[default: 5d; env: GCDEDUP_TTL]``."""
    notes = []
    if default is not None:
        notes.append(f"default: {default}")
    if env:
        notes.append(f"env: {env}")
    # "\[": the help is Rich markup, where [...] would be a style
    return f"{text} \\[{'; '.join(notes)}]" if notes else text


StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        metavar="URL",
        help=note(
            "Dedup store URL: sqlite:///path, dynamodb://Table or memory://.",
            default="a SQLite file in your state directory",
            env="GCDEDUP_STORE",
        ),
        show_default=False,
    ),
]
NamespaceOpt = Annotated[
    str | None,
    typer.Option(
        "--namespace",
        "-n",
        metavar="NAME",
        help=note(
            "Key prefix separating test keys from production keys.",
            default=DEFAULT_NAMESPACE,
            env="GCDEDUP_NAMESPACE",
        ),
        show_default=False,
    ),
]
StrategyOpt = Annotated[
    str | None,
    typer.Option(
        "--key",
        "-k",
        metavar="STRATEGY",
        help=note(
            "Key strategy: genesys, envelope, content, tutorial or jmespath:EXPR "
            "(see 'gcdedup keys --list').",
            default=DEFAULT_STRATEGY,
            env="GCDEDUP_KEY_STRATEGY",
        ),
        show_default=False,
    ),
]
TtlOpt = Annotated[
    str | None,
    typer.Option(
        "--ttl",
        metavar="DURATION",
        help=note(
            "How long a processed key is remembered, e.g. 24h, 5d.", default="5d", env="GCDEDUP_TTL"
        ),
        show_default=False,
    ),
]
LeaseOpt = Annotated[
    str | None,
    typer.Option(
        "--lease",
        metavar="DURATION",
        help=note(
            "How long a claim blocks other workers if this one dies, e.g. 5m.",
            default="5m",
            env="GCDEDUP_LEASE",
        ),
        show_default=False,
    ),
]
JobsOpt = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        "-j",
        "--concurrency",
        min=1,
        metavar="N",
        help=note(
            "Handlers (and DynamoDB calls) run at once; --concurrency is the same option.",
            default=DEFAULT_CONCURRENCY,
            env="GCDEDUP_CONCURRENCY",
        ),
        show_default=False,
    ),
]
BatchOpt = Annotated[
    int | None,
    typer.Option(
        "--batch-size",
        min=1,
        metavar="N",
        help=note(
            "Events per store batch (one transaction on SQLite).",
            default=f"{DEFAULT_BATCH_SIZE} with a handler, {MARK_DONE_BATCH_SIZE} without",
            env="GCDEDUP_BATCH_SIZE",
        ),
        show_default=False,
    ),
]
RunIdOpt = Annotated[
    str | None,
    typer.Option(
        "--run-id",
        metavar="ID",
        help=note(
            "Label stored with every key of this run (purge --run-id removes them).",
            default="a new timestamped id",
            env="GCDEDUP_RUN_ID",
        ),
        show_default=False,
    ),
]
JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print exactly one JSON document instead of tables."),
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
    ),
]
StrictOpt = Annotated[
    bool,
    typer.Option(
        "--strict",
        help="Exit 1 if any input record is bad or no event was found (without it: warnings).",
    ),
]
SinceOpt = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="s3:// inputs: only objects from this time on (ISO date or time, UTC unless it "
        "says): the hour of their Firehose date path (YYYY/MM/DD/HH/), else LastModified.",
        show_default=False,
    ),
]
UntilOpt = Annotated[
    str | None,
    typer.Option(
        "--until",
        help="s3:// inputs: only objects from before this time (same rules as --since).",
        show_default=False,
    ),
]
PathsArg = Annotated[
    list[str],
    typer.Argument(
        metavar="PATH",
        help="Event files, directories or globs; '-' reads stdin; s3://bucket/prefix reads "
        "the objects under it. JSON Lines, JSON, concatenated JSON, CloudWatch exports, "
        "SQS/SNS batches; gzip or not.",
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
    return " ".join("stdin" if p == "-" else p for p in paths or [])


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
    """Flags > GCDEDUP_* environment > defaults; an error in a variable names it."""
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
