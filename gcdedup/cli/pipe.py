"""Output to a pipe whose reader has gone (``gcdedup ... | head``) ends quietly, with 0.

Light on purpose (no Rich, no Typer): the quick ``--help`` path uses it too.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def discard_stdout() -> None:
    """Point stdout at /dev/null, so that flushing what is still buffered for a closed
    pipe raises nothing (not even at exit)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real file descriptor (e.g. a test runner)
        pass


def quiet_broken_pipe(console: Any) -> None:
    """Rich's ``Console.on_broken_pipe``: Rich exits 1 when stdout's reader has gone;
    that is not a failure, so the CLI exits 0 instead."""
    discard_stdout()
    raise SystemExit(0)


def flush_quietly() -> None:
    """Flush stdout; output still buffered for a reader that has gone is dropped."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        discard_stdout()
