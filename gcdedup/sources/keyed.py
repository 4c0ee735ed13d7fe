"""Read ahead: read, decode and key events in a second process.

Why: a run without a handler (count only, ``--mode check``, ``--mode seed``) is
reading, decoding and keying on one side and store writes on the other. In one
process they take turns on one core; here the child process runs the same
:class:`~gcdedup.sources.reader.EventReader` and :class:`~gcdedup.keys.KeyMaker`
while the parent writes to the store, so the two halves overlap on two cores.

Only what the pipeline needs crosses the pipe: per event its position, key,
payload fingerprint and topic family (a :class:`~gcdedup.events.KeyedEvent`), per
bad record its position and reason, in chunks of :data:`CHUNK_RECORDS`. The
outcomes are those of the inline reader (a differential test holds both paths to
it). Memory stays flat: the child blocks on a full pipe while the parent is behind.

The child ignores SIGINT and SIGTERM (the parent decides how a run stops and ends
the child when it closes the reader), and exits when the parent is gone.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import GcdedupError, KeyStrategyError
from ..events import (
    MAX_RECORD_BYTES,
    BadRecord,
    Event,
    InputRecord,
    KeyedEvent,
    Location,
    OutsideWindow,
)
from ..keys import NO_KEY, KeyMaker, payload_fingerprint
from .local import STDIN
from .reader import EventReader
from .s3 import is_s3
from .window import Window, apply_window

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

#: Records per message: large enough that pickling is cheap per record, small
#: enough that the pipe never holds much.
CHUNK_RECORDS = 1000

#: Chunks received and not yet taken: how far ahead of the store the child may read
#: (about 0.3 MB each).
QUEUE_CHUNKS = 32

#: How often the child checks that its parent is still there (seconds).
_PARENT_POLL_SECONDS = 1.0

# A message is ("rows", source, bytes_read, rows), ("end", bytes_read) or
# ("error", text). A row is (line, offset, record, key, fingerprint, family) for an
# event, (line, offset, record, reason) for a bad record and (line, offset, record)
# for an event outside the run's time window.
Row = tuple[Any, ...]


class ReadAheadError(GcdedupError):
    """The reading process failed or vanished: the run cannot know what it missed."""


def can_read_ahead(paths: Sequence[str]) -> bool:
    """Local files only (standard input and object stores are read inline), and a
    second core to run on."""
    if any(path == STDIN or is_s3(path) for path in paths):
        return False
    return _cores() > 1


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class KeyedReader:
    """Iterate :class:`KeyedEvent` and :class:`BadRecord` objects, in input order,
    read and keyed by a child process. ``files``, ``total_bytes`` and ``bytes_read``
    are those of an :class:`EventReader` (a progress bar reads them)."""

    def __init__(
        self,
        paths: Sequence[str],
        keys: KeyMaker,
        fmt: str = "auto",
        *,
        max_record_bytes: int = MAX_RECORD_BYTES,
        chunk_records: int = CHUNK_RECORDS,
        method: str | None = None,
        window: Window | None = None,
    ) -> None:
        """``method``: the multiprocessing start method (default: see :meth:`start`);
        ``window``: the run's time window, applied in the child as every source does."""
        # Resolved here, so a typo fails before the child starts.
        self._reader = EventReader(paths, fmt, max_record_bytes=max_record_bytes)
        self.files = self._reader.files
        self.total_bytes = self._reader.total_bytes
        self.bytes_read = 0
        self._keys = keys
        self._chunk_records = chunk_records
        self._method = method
        self._window = window
        self._process: Any = None
        self._conn: Connection | None = None
        self._queue: queue.Queue[tuple[Any, ...]] = queue.Queue(QUEUE_CHUNKS)
        self._receiver: threading.Thread | None = None
        self._closing = threading.Event()

    def start(self) -> None:
        """Start the child now (idempotent). Fork on Linux while this process has one
        thread (cheap, nothing is re-imported); spawn otherwise (a fork beside running
        threads could copy a lock some thread holds, and macOS libraries are not
        fork-safe)."""
        if self._process is not None:
            return
        import multiprocessing  # here: not on the path of `gcdedup --help`

        method = self._method
        if method is None:
            single = threading.active_count() == 1
            method = "fork" if single and sys.platform.startswith("linux") else "spawn"
        context: Any = multiprocessing.get_context(method)
        receive, send = context.Pipe(duplex=False)
        reader = self._reader
        self._process = context.Process(
            target=_child,
            args=(
                send,
                reader.files,
                reader.fmt,
                reader.max_record_bytes,
                self._keys.strategy.name,
                self._keys.namespace,
                self._chunk_records,
                os.getpid(),
                self._window,
            ),
            name="gcdedup-read-ahead",
            daemon=True,
        )
        self._process.start()
        send.close()  # the child holds the only writing end: its exit is our EOF
        self._conn = receive

    def __iter__(self) -> Iterator[InputRecord]:
        self.start()
        if self._receiver is None:
            self._receiver = threading.Thread(
                target=self._receive, name="gcdedup-read-ahead", daemon=True
            )
            self._receiver.start()
        take = self._queue.get
        while True:
            message = take()
            kind = message[0]
            if kind == "rows":
                _, source, bytes_read, rows = message
                for row in rows:
                    if len(row) == 6:
                        line, offset, record, key, fingerprint, family = row
                        yield KeyedEvent(
                            Location(source, line, offset, record), key, fingerprint, family
                        )
                    elif len(row) == 3:
                        yield OutsideWindow(Location(source, row[0], row[1], row[2]))
                    else:
                        yield BadRecord(Location(source, row[0], row[1], row[2]), row[3])
                self.bytes_read = bytes_read
            elif kind == "end":
                self.bytes_read = message[1]
                return
            elif kind == "eof":
                raise ReadAheadError(self._vanished())
            else:
                raise ReadAheadError(f"the read-ahead process failed:\n{message[1]}")

    def _receive(self) -> None:
        """Take messages off the pipe as soon as they come, so the child is never
        held up by a full pipe while this process writes to the store; the queue
        bounds how far ahead it gets (memory)."""
        assert self._conn is not None
        recv, put = self._conn.recv, self._queue.put
        while not self._closing.is_set():
            try:
                message = recv()
            except (EOFError, OSError):
                message = ("eof",)
            while not self._closing.is_set():
                try:
                    put(message, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if message[0] != "rows":
                return

    def _vanished(self) -> str:
        process = self._process
        process.join(5)
        code = process.exitcode
        how = f"was killed by signal {-code}" if code and code < 0 else f"exited with {code}"
        return (
            f"the read-ahead process {how} before the end of the input; "
            "run again (with --no-read-ahead to read in one process)"
        )

    def close(self) -> None:
        """End the child (it holds no state: what it read and we did not take is
        read again by the next run), then the thread that received from it."""
        self._closing.set()
        process = self._process
        if process is not None and process.exitcode is None:
            process.terminate()  # SIGTERM is ignored there: kill
            process.join(0.2)
            if process.exitcode is None:
                process.kill()
            process.join()
        if self._receiver is not None:
            self._receiver.join()  # the child's end closed: its recv returned
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> KeyedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _child(
    conn: Connection,
    files: list[str],
    fmt: str,
    max_record_bytes: int,
    strategy: str,
    namespace: str,
    chunk_records: int,
    parent: int,
    window: Window | None = None,
) -> None:
    """The reading process: send every record's row, then ("end", bytes_read)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    try:
        reader = EventReader(files, fmt, max_record_bytes=max_record_bytes)
        keys = KeyMaker.create(strategy, namespace)
        for source, rows in _chunks(reader, keys, chunk_records, window):
            conn.send(("rows", source, reader.bytes_read, rows))
        conn.send(("end", reader.bytes_read))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the parent stopped reading: nothing to tell
    except BaseException:
        with contextlib.suppress(OSError):
            conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def _chunks(
    reader: EventReader, keys: KeyMaker, size: int, window: Window | None = None
) -> Iterator[tuple[str, list[Row]]]:
    """Rows of up to ``size`` records of one source each."""
    rows: list[Row] = []
    source: str | None = None
    families: dict[str, str] = {}  # one string object per family: pickled once per chunk
    for record in apply_window(reader, window):
        location = record.location
        if location.source != source:
            if rows:
                yield source or "", rows
                rows = []
            source = location.source
        if type(record) is Event:
            try:
                key = keys(record)
            except KeyStrategyError as exc:
                rows.append((location.line, location.offset, location.record, f"{NO_KEY}{exc}"))
            else:
                family = record.family
                rows.append(
                    (
                        location.line,
                        location.offset,
                        location.record,
                        key,
                        payload_fingerprint(record),
                        families.setdefault(family, family),
                    )
                )
        elif type(record) is OutsideWindow:
            rows.append((location.line, location.offset, location.record))
        else:
            assert isinstance(record, BadRecord)
            rows.append((location.line, location.offset, location.record, record.reason))
        if len(rows) >= size:
            yield source or "", rows
            rows = []
    if rows:
        yield source or "", rows


def _exit_with_parent(parent: int) -> None:
    """A reader blocked on a slow input would outlive a killed parent: end it."""
    event = threading.Event()
    while not event.wait(_PARENT_POLL_SECONDS):
        if os.getppid() != parent:
            os._exit(1)


__all__ = ["CHUNK_RECORDS", "KeyedReader", "ReadAheadError", "can_read_ahead"]
