"""Which mode a run on a queue really has, said on stderr: a queue is never consumed by accident.

A count-only run (``process`` with no handler) marks each new key done: on files
that is a cheap way to count, on a queue it would delete every new message and
make a later run with a handler skip their keys. So on ``sqs://`` a count-only
run is a ``--mode check`` run (read only: nothing deleted, nothing marked done),
and seeding from a queue needs ``--mode seed`` spelt out. See
docs/queue-disposition.md.
"""

from __future__ import annotations

from ..outcomes import Mode
from .output import Output


def queue_mode(output: Output, queue: str, mode: Mode, handler: bool) -> Mode:
    """The mode to drain ``queue`` in, announced on stderr when it is not a handler run."""
    if mode is Mode.PROCESS and not handler:
        output.info(
            f"no handler: {queue} is read as --mode check (read only: no message is "
            "deleted and no key is marked done); give --handler to process its events, "
            "or --mode seed to mark them done and delete their messages"
        )
        return Mode.CHECK
    if mode is Mode.SEED:
        output.info(
            f"--mode seed on {queue}: each new event's key is marked done without a "
            "handler, and its message (and each duplicate's) is deleted"
        )
    elif mode is Mode.CHECK:
        output.info(f"--mode check on {queue}: read only; every message is released at the end")
    return mode
