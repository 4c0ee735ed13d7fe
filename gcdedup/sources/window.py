"""``--since`` / ``--until``: the run's time window, on the envelope ``time`` of every event.

One :class:`Window` is parsed once from the flags and applied by every source the
same way (:func:`apply_window`, in this process or the read-ahead one): an event whose
``time`` is before ``since`` or not before ``until`` (or that has no time to place
it) becomes an :class:`~gcdedup.events.OutsideWindow` record, which the pipeline
counts as ``outside_window`` and never claims, handles or marks done. ``s3://``
inputs may also skip whole objects by their time (see :mod:`.s3`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TypeVar

from ..errors import UsageError
from ..events import Event, OutsideWindow

R = TypeVar("R")


def parse_time(text: str, what: str) -> datetime:
    """An ISO date or date-time; naive ones are UTC."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"invalid {what} time {text!r}: use an ISO date or time, e.g. 2024-05-01 or "
            "2024-05-01T13:00"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Window:
    """``[since, until)`` in epoch seconds; either end may be open (None)."""

    since: float | None = None
    until: float | None = None

    @classmethod
    def parse(cls, since: str | None, until: str | None) -> Window | None:
        """The window of ``--since``/``--until`` (None when neither is given)."""
        if since is None and until is None:
            return None
        start = parse_time(since, "since").timestamp() if since is not None else None
        end = parse_time(until, "until").timestamp() if until is not None else None
        if start is not None and end is not None and end <= start:
            raise UsageError(f"--until ({until}) must be later than --since ({since})")
        return cls(start, end)

    def contains(self, seconds: float) -> bool:
        return (self.since is None or seconds >= self.since) and (
            self.until is None or seconds < self.until
        )

    def holds(self, event: Event) -> bool:
        """Whether the event's envelope ``time`` is in the window (no time: it is not)."""
        text = event.time
        if text is None:
            return False
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return False
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return self.contains(when.timestamp())


def apply_window(records: Iterable[R], window: Window | None) -> Iterator[R | OutsideWindow]:
    """``records`` with each event outside ``window`` replaced by an OutsideWindow."""
    if window is None:
        yield from records
        return
    holds = window.holds
    for record in records:
        if isinstance(record, Event) and type(record) is Event and not holds(record):
            yield OutsideWindow(record.location)
        else:
            yield record
