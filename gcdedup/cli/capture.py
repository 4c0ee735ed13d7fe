"""``gcdedup capture``: replay an EventBridge archive into a file through a private queue."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from ..capture import CaptureOptions, CaptureProgress, parse_time
from ..capture import capture as run_capture
from .common import JsonOpt, handle_errors, note
from .output import Output

#: Progress lines on stderr: at most one per this many seconds (and on each state change).
PROGRESS_EVERY = 5.0


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the capture is, so its clean-up runs as on Ctrl-C."""


@contextlib.contextmanager
def _interrupt_on_sigterm() -> Iterator[None]:
    """Turn the first SIGTERM into :class:`Terminated` (later ones are ignored while the
    clean-up runs): Python's default SIGTERM ends the process at once, leaving the
    temporary rule and queue and a running replay behind. Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(_signum: int, _frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@handle_errors
def capture(
    archive: Annotated[
        str,
        typer.Option(
            "--archive", "-a", metavar="NAME", help="Name of the EventBridge archive to replay."
        ),
    ],
    start: Annotated[
        str,
        typer.Option(
            "--from",
            metavar="TIME",
            help="Replay events from this time: ISO (2024-05-01T13:00Z; UTC unless it says), "
            "a date, or -2h / -3d (ago).",
        ),
    ],
    end: Annotated[
        str,
        typer.Option("--to", metavar="TIME", help="... up to this time (same forms, or 'now')."),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE",
            help="JSON Lines file to append the events to (gzip if it ends in .gz). Running "
            "again with the same file appends only the events it does not hold yet.",
        ),
    ],
    bus: Annotated[
        str | None,
        typer.Option(
            "--bus",
            metavar="BUS",
            help=note(
                "The archive's event bus (name or ARN), as a check: a replay always goes to "
                "the archive's own bus.",
                default="read from the archive",
            ),
            show_default=False,
        ),
    ] = None,
    keep: Annotated[
        bool,
        typer.Option(
            "--keep", help="Keep the temporary rule and queue afterwards (to inspect them)."
        ),
    ] = False,
    settle: Annotated[
        float,
        typer.Option(
            "--settle",
            min=0,
            metavar="SECONDS",
            help="Seconds the queue must stay empty after the replay COMPLETED before the "
            "capture ends (delivery trails the replay's state).",
        ),
    ] = 10.0,
    json_output: JsonOpt = False,
) -> None:
    """Replay an archive's events into a file, without any other rule seeing them.

    Creates a temporary SQS queue and a temporary rule on the archive's bus matching
    this replay only, starts the replay with FilterArns naming only that rule, drains
    the queue into --out while the replay runs, and deletes the rule and the queue
    (also on Ctrl-C and on errors). Uses boto3's credentials, region and
    AWS_ENDPOINT_URL_* variables; the IAM actions it needs are in the docs (guides/capture.md).

    Example: gcdedup capture --archive genesys-archive --from -1d --to now --out events.jsonl.gz
    """
    output = Output(json_output)
    options = CaptureOptions(
        archive=archive,
        start=parse_time(start, "--from"),
        end=parse_time(end, "--to"),
        out=out,
        bus=bus,
        keep=keep,
        settle_seconds=settle,
    )
    shown_state = [""]
    shown_at = [0.0]

    def on_progress(progress: CaptureProgress) -> None:
        now = time.monotonic()
        if progress.state != shown_state[0] or now - shown_at[0] >= PROGRESS_EVERY:
            shown_state[0], shown_at[0] = progress.state, now
            output.info(
                f"replay {progress.state}: {progress.written:,} event(s) written, "
                f"{progress.already_in_file:,} already in {out}"
            )

    try:
        with _interrupt_on_sigterm():
            result = run_capture(options, on_progress)
    except Terminated:
        output.error_console().print("Terminated.", highlight=False, markup=False)
        raise typer.Exit(128 + signal.SIGTERM) from None
    data = result.to_dict()
    if json_output:
        output.json(data)
        return
    output.line(
        f"{result.progress.written:,} event(s) written to {out} "
        f"({result.progress.already_in_file:,} already there; {data['in_file']:,} in the file) "
        f"from replay {result.replay_name} of archive {archive} in {data['duration_seconds']} s"
    )
    if result.kept:
        output.line(f"kept: rule {result.kept['rule']}, queue {result.kept['queue']}")
