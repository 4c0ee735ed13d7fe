"""What every command shares: option types, error handling, opening the store."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape

from ..errors import GcdedupError, UsageError
from ..settings import DEFAULT_BATCH_SIZE, DEFAULT_CONCURRENCY, Settings
from ..sources import FORMATS
from .output import Output

F = TypeVar("F", bound=Callable[..., Any])

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Dedup store URL: sqlite:///path (default: a file in your state directory), "
        "dynamodb://Table, memory://. (env: GCDEDUP_STORE)",
        show_default=False,
    ),
]
NamespaceOpt = Annotated[
    str | None,
    typer.Option(
        "--namespace",
        "-n",
        help="Key prefix separating test keys from production keys. (default: default; "
        "env: GCDEDUP_NAMESPACE)",
        show_default=False,
    ),
]
StrategyOpt = Annotated[
    str | None,
    typer.Option(
        "--key",
        "-k",
        help="Key strategy: genesys, envelope, content, tutorial or jmespath:<expr> "
        "(see 'gcdedup keys --list'). (default: genesys; env: GCDEDUP_KEY_STRATEGY)",
        show_default=False,
    ),
]
TtlOpt = Annotated[
    str | None,
    typer.Option(
        "--ttl",
        help="How long a processed key is remembered, e.g. 24h, 5d. (default: 5d; "
        "env: GCDEDUP_TTL)",
        show_default=False,
    ),
]
LeaseOpt = Annotated[
    str | None,
    typer.Option(
        "--lease",
        help="How long a claim blocks other workers if this one dies, e.g. 5m. "
        "(default: 5m; env: GCDEDUP_LEASE)",
        show_default=False,
    ),
]
ConcurrencyOpt = Annotated[
    int | None,
    typer.Option(
        "--concurrency",
        "-j",
        min=1,
        help=f"Handlers (and DynamoDB calls) run at once. (default: {DEFAULT_CONCURRENCY}; "
        "env: GCDEDUP_CONCURRENCY)",
        show_default=False,
    ),
]
BatchOpt = Annotated[
    int | None,
    typer.Option(
        "--batch-size",
        min=1,
        help=f"Events claimed per store round trip. (default: {DEFAULT_BATCH_SIZE})",
        show_default=False,
    ),
]
RunIdOpt = Annotated[
    str | None,
    typer.Option(
        "--run-id",
        help="Label stored with every key of this run (purge --run-id removes them). "
        "(default: a new timestamped id)",
        show_default=False,
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print exactly one JSON document instead of tables.")
]
FormatOpt = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        help=f"Input format ({', '.join(FORMATS)}); auto sniffs each file's first bytes.",
    ),
]
StrictOpt = Annotated[
    bool, typer.Option("--strict", help="Exit 1 if any input record is bad (default: report only).")
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
                f"[bold red]Error:[/] {escape(exc.message)}", highlight=False
            )
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            Output.error_console().print("Interrupted.")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


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
    """Flags > GCDEDUP_* environment > defaults."""
    return Settings.resolve(**explicit)


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
