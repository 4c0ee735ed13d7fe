"""What handlers print while a ``process`` run has them in threads, and how their
failures are told: whole lines, and one message per failure.

``print`` writes its arguments, separators and the newline one call at a time: from
eight threads, lines interleave mid-word. :func:`whole_lines` puts a wrapper on
``sys.stdout`` and ``sys.stderr`` that keeps each thread's text until its line is
complete (or flushed) and writes whole lines under one lock.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

#: The pipeline's log record for a failed handler; the CLI reports failures itself.
FAILED_MESSAGE = "handler failed"


class LineLockedStream:
    """A text stream writing whole lines only: each thread's text is kept until a
    newline or a flush, then written under ``lock`` (shared by stdout and stderr)."""

    def __init__(self, stream: TextIO, lock: threading.Lock) -> None:
        self._stream = stream
        self._lock = lock
        #: thread id -> text of its unfinished line
        self._pending: dict[int, str] = {}

    @property
    def wrapped(self) -> TextIO:
        return self._stream

    def write(self, text: str) -> int:
        thread = threading.get_ident()
        pending = self._pending.get(thread, "") + text
        cut = pending.rfind("\n") + 1
        if cut:
            with self._lock:
                self._stream.write(pending[:cut])
        self._pending[thread] = pending[cut:]
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Write this thread's unfinished line (Rich flushes after each render)."""
        rest = self._pending.pop(threading.get_ident(), "")
        with self._lock:
            if rest:
                self._stream.write(rest)
            self._stream.flush()

    def drain(self) -> None:
        """Write every thread's unfinished line (the run is over)."""
        with self._lock:
            for thread in list(self._pending):
                rest = self._pending.pop(thread, "")
                if rest:
                    self._stream.write(rest)
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, buffer ...
        return getattr(self._stream, name)


@contextmanager
def whole_lines() -> Iterator[None]:
    """While inside: ``sys.stdout`` and ``sys.stderr`` write whole lines only."""
    lock = threading.Lock()
    saved = sys.stdout, sys.stderr
    out, err = LineLockedStream(sys.stdout, lock), LineLockedStream(sys.stderr, lock)
    sys.stdout, sys.stderr = out, err
    try:
        yield
    finally:
        for stream in (out, err):
            # a closed pipe: nothing more to say there (the next write says so)
            with contextlib.suppress(OSError, ValueError):
                stream.drain()
        if sys.stdout is out:
            sys.stdout = saved[0]
        if sys.stderr is err:
            sys.stderr = saved[1]


class _DropFailureRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != FAILED_MESSAGE


@contextmanager
def failures_told_once() -> Iterator[None]:
    """The CLI lists each failure with its reason; the pipeline's own log line for it
    (meant for the Lambda's structured logs, without the reason) is left out."""
    logger = logging.getLogger("gcdedup.pipeline")
    dropped = _DropFailureRecords()
    logger.addFilter(dropped)
    try:
        yield
    finally:
        logger.removeFilter(dropped)
