"""What the user names as inputs, parsed once into typed sources, and how they are read.

Each input is one :class:`Input` (a local path or glob, stdin, an ``s3://`` prefix,
an ``sqs://`` queue). :func:`open_source` turns a run's inputs into one
:class:`Source`: the records to run (events, bad records, events outside the time
window), progress in bytes, and how a message is settled after its outcome. Reading
ahead (a second process reads and keys local files) is a way of reading a source,
chosen here, with the same window and the same records as reading inline.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from .local import STDIN
from .s3 import is_s3
from .sqs import is_sqs
from .window import Window, apply_window

if TYPE_CHECKING:
    from ..events import InputRecord
    from ..keys import KeyMaker
    from ..outcomes import EventResult


class Kind(str, enum.Enum):
    LOCAL = "local"
    STDIN = "stdin"
    S3 = "s3"
    SQS = "sqs"


@dataclass(frozen=True)
class Input:
    """One input as the user named it."""

    kind: Kind
    name: str

    @classmethod
    def parse(cls, text: str) -> Input:
        if text == STDIN:
            return cls(Kind.STDIN, text)
        if is_s3(text):
            return cls(Kind.S3, text)
        if is_sqs(text):
            return cls(Kind.SQS, text)
        return cls(Kind.LOCAL, text)


def parse_inputs(paths: Sequence[str]) -> list[Input]:
    """The run's inputs; a queue must be the only one (it is drained, not listed)."""
    parsed = [Input.parse(p) for p in paths]
    if any(i.kind is Kind.SQS for i in parsed) and len(parsed) > 1:
        raise UsageError("an sqs:// input must be the only input of a run")
    return parsed


class Source:
    """A run's records, with what progress and settling need; a context manager."""

    #: Bytes of input, when known (a progress bar's total).
    total_bytes: int | None = None

    def __init__(self, reader: Any, window: Window | None) -> None:
        self.reader = reader
        self.window = window

    @property
    def bytes_read(self) -> int:
        return int(self.reader.bytes_read)

    def records(self) -> Iterator[InputRecord]:
        """Every record, with events outside the window marked (the read-ahead
        process marks its own)."""
        from .keyed import KeyedReader

        if isinstance(self.reader, KeyedReader):
            return iter(self.reader)
        return apply_window(self.reader, self.window)

    def settle(self, result: EventResult) -> None:
        """After an event's outcome: a queue deletes or leaves its message."""
        settle = getattr(self.reader, "settle", None)
        if settle is not None:
            settle(result.status.value, result.location.record)

    @property
    def queue(self) -> Any:
        """The SQS drain, for its counts (None for files)."""
        from .sqs import SqsDrain

        return self.reader if isinstance(self.reader, SqsDrain) else None

    def close(self) -> None:
        close = getattr(self.reader, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_source(
    inputs: Sequence[Input],
    fmt: str = "auto",
    *,
    window: Window | None = None,
    max_messages: int | None = None,
    read_ahead: KeyMaker | None = None,
) -> Source:
    """Open the run's inputs as one :class:`Source`.

    ``read_ahead``: read and key local files in a second process with this key maker
    (ignored where it cannot: stdin, ``s3://``, one core). ``s3://`` listings skip
    the objects that cannot hold an event of ``window``.
    """
    names = [i.name for i in inputs]
    queues = [i for i in inputs if i.kind is Kind.SQS]
    if max_messages is not None and not queues:
        raise UsageError("--max-messages needs an sqs://queue input")
    if queues:
        from .sqs import SqsDrain

        return _sized(Source(SqsDrain(queues[0].name, max_messages), window))
    if read_ahead is not None:
        from .keyed import KeyedReader, can_read_ahead

        if can_read_ahead(names):
            keyed = KeyedReader(names, read_ahead, fmt, window=window)
            keyed.start()  # reads while the store opens, before any thread is started
            return _sized(Source(keyed, window))
    from .reader import EventReader

    return _sized(Source(EventReader(names, fmt, window=window), window))


def _sized(source: Source) -> Source:
    source.total_bytes = getattr(source.reader, "total_bytes", None)
    return source


def reads_ahead(source: Source) -> bool:
    from .keyed import KeyedReader

    return isinstance(source.reader, KeyedReader)
