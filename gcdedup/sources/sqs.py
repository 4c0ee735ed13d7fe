"""``sqs://queue-name`` for ``process``: drain a queue through the dedup store.

:class:`SqsDrain` long-polls the queue and yields one record per message: the
body unwrapped to its EventBridge event (a raw event, or an SNS notification
carrying one) or a :class:`~gcdedup.events.BadRecord`, located as
``sqs://queue [MessageId]``. The pipeline's outcome for each record comes back
through :meth:`SqsDrain.settle`, and :mod:`gcdedup.sources.disposition` says what
happens to its message: deleted (in batches of ten) only when a handler succeeded
for its event or its key was completed; released (visible again when the drain
ends) after a read-only look or when nothing was done with it; left to return
after its visibility timeout (toward a dead-letter queue) when it failed.

While a message waits for its outcome, a heartbeat extends its visibility (to
the queue's visibility timeout, every third of it), so a slow handler never
lets it reappear mid-run. The drain ends after ``max_messages``, when a receive
brings nothing and the queue's own counts (GetQueueAttributes) say no message is
left but the ones this run holds, or after :data:`IDLE_RECEIVES` receives in a row
that brought nothing new (an empty queue whose counts lag, messages another
consumer holds, or only messages this run left, coming back: they are not read
twice). On closing, it reads how many messages remain in the queue.

URL options: ``?wait=SECONDS`` (long-poll wait per receive, 1-20, default 5).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..errors import InputError, UsageError
from ..events import BadRecord, Event, Location, unwrap
from ..outcomes import EventOutcome, Mode
from . import aws
from .disposition import Disposition, disposition

log = logging.getLogger(__name__)

SCHEME = "sqs://"
#: SQS's own limits: messages per receive and per batch call.
BATCH = 10
DEFAULT_WAIT = 5
#: Receives in a row that brought no new message before the drain ends anyway.
IDLE_RECEIVES = 3
#: The queue's counts of the messages it still holds (GetQueueAttributes).
COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def is_sqs(name: str) -> bool:
    return name.startswith(SCHEME)


def sqs_input(paths: Sequence[str]) -> str | None:
    """The one ``sqs://`` input of ``paths`` (None when there is none); a queue mixed
    with other inputs is a usage error."""
    queues = [p for p in paths if is_sqs(p)]
    if not queues:
        return None
    if len(paths) > 1:
        raise UsageError("an sqs:// input must be the only input of a run")
    return queues[0]


@dataclass
class DrainCounts:
    received: int = 0
    deleted: int = 0
    left: int = 0
    #: Made visible again when the drain ended (nothing was done with their events).
    released: int = 0
    #: Messages this run had left that came back before it ended (not read again).
    returned: int = 0
    extended: int = 0
    #: Messages in the queue when the drain ended (visible, in flight, delayed);
    #: None when the queue could not say.
    remaining: int | None = None
    delete_failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "deleted": self.deleted,
            "left_in_queue": self.left,
            "released": self.released,
            "returned_unread": self.returned,
            "remaining": self.remaining,
        }


class SqsDrain:
    """Records from a queue for :meth:`gcdedup.pipeline.Pipeline.run`, settled by outcome."""

    #: What process's progress bar asks of a reader: no size is known for a queue.
    total_bytes: int | None = None

    def __init__(
        self,
        url: str,
        max_messages: int | None = None,
        *,
        mode: Mode = Mode.CHECK,
        handler: bool = False,
    ) -> None:
        split = urlsplit(url)
        name = split.netloc + split.path.rstrip("/")
        if not name or "/" in name:
            raise UsageError(f"invalid SQS URL {url!r}: use sqs://queue-name")
        options = dict(parse_qsl(split.query))
        unknown = set(options) - {"wait"}
        if unknown:
            raise UsageError(f"unknown option {sorted(unknown)[0]!r} in {url!r}: use wait=")
        try:
            self.wait = int(options.get("wait", DEFAULT_WAIT))
        except ValueError:
            raise UsageError(f"wait= in {url!r} must be a whole number of seconds") from None
        if not 1 <= self.wait <= 20:
            raise UsageError(f"wait= in {url!r} must be 1 to 20 seconds (a long poll)")
        if max_messages is not None and max_messages < 1:
            raise UsageError(f"--max-messages must be at least 1, got {max_messages}")
        self.name = name
        self.source = f"{SCHEME}{name}"
        self.max_messages = max_messages
        #: The run's mode and whether it has a handler: with an outcome, they decide
        #: each message's disposition (read only unless told otherwise).
        self.mode = mode
        self.handler = handler
        self.counts = DrainCounts()
        self.bytes_read = 0
        self._sqs = aws.client("sqs", self.source)
        self.queue_url = self._queue_url()
        self.visibility = self._visibility_timeout()
        self._seen: set[str] = set()
        self._pending: dict[str, str] = {}  # MessageId -> receipt handle, awaiting outcome
        self._deletes: list[tuple[str, str]] = []
        self._releases: dict[str, str] = {}  # MessageId -> receipt, visible again at the end
        #: Messages this run left or saw come back: hidden until about this (monotonic) time.
        self._hidden: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._halt = threading.Event()  # receive no more (a stopped run)
        self._heartbeat = threading.Thread(
            target=self._beat, name="gcdedup-sqs-visibility", daemon=True
        )
        self._heartbeat.start()

    # -- setup ----------------------------------------------------------------

    def _queue_url(self) -> str:
        try:
            return str(self._sqs.get_queue_url(QueueName=self.name)["QueueUrl"])
        except Exception as exc:
            code = aws.error_code(exc)
            if "NonExistentQueue" in code or code == "QueueDoesNotExist":
                raise UsageError(f"no such queue: {self.source}") from exc
            raise self._error(exc, "sqs:GetQueueUrl") from exc

    def _visibility_timeout(self) -> int:
        try:
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout"]
            )["Attributes"]
        except Exception as exc:
            raise self._error(exc, "sqs:GetQueueAttributes") from exc
        return int(attributes.get("VisibilityTimeout", 30))

    def _error(self, exc: BaseException, action: str) -> InputError:
        if aws.is_access_denied(exc):
            return InputError(
                f"access denied on {self.source} ({aws.error_message(exc)}): draining a queue "
                "needs sqs:GetQueueUrl, sqs:GetQueueAttributes, sqs:ReceiveMessage, "
                "sqs:DeleteMessage and sqs:ChangeMessageVisibility"
            )
        return InputError(f"{action} on {self.source} failed: {aws.error_message(exc)}")

    # -- reading ----------------------------------------------------------------

    def __iter__(self) -> Iterator[Event | BadRecord]:
        idle = 0  # receives in a row that brought no new message
        while self.max_messages is None or self.counts.received < self.max_messages:
            if self._halt.is_set():
                return
            wanted = BATCH
            if self.max_messages is not None:
                wanted = min(BATCH, self.max_messages - self.counts.received)
            try:
                messages = self._sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=wanted,
                    WaitTimeSeconds=self.wait,
                ).get("Messages", [])
            except Exception as exc:
                raise self._error(exc, "sqs:ReceiveMessage") from exc
            fresh = [m for m in messages if not self._came_back(m)]
            if not fresh:
                # Nothing new: the queue may be empty, its counts may lag, another
                # consumer may hold messages, or only messages left earlier came back
                # (receiving them hid them again). Not forever.
                idle += 1
                if idle >= IDLE_RECEIVES or (not messages and self._nothing_left()):
                    return
                continue
            idle = 0
            for message in fresh:
                message_id = message["MessageId"]
                self._seen.add(message_id)
                self.counts.received += 1
                body = message.get("Body", "")
                self.bytes_read += len(body)
                with self._lock:
                    self._pending[message_id] = message["ReceiptHandle"]
                yield unwrap({"Body": body}, Location(self.source, record=message_id))

    def request_stop(self) -> None:
        """Receive no more messages (thread-safe: a signal handler calls it); a long
        poll under way ends first."""
        self._halt.set()

    def _came_back(self, message: dict[str, Any]) -> bool:
        """A message this run received before (it returned): not read twice. Receiving
        it hid it again; one to release at the end gets its new receipt handle."""
        message_id = message["MessageId"]
        if message_id not in self._seen:
            return False
        self.counts.returned += 1
        with self._lock:
            if message_id in self._releases:
                self._releases[message_id] = message["ReceiptHandle"]
            else:
                self._hidden[message_id] = time.monotonic() + self.visibility
        return True

    def _nothing_left(self) -> bool:
        """The queue's own counts: no message visible or delayed, and none in flight
        but the ones this run holds (pending, to release, left and still hidden)."""
        self._flush_deletes()  # a message deleted is not one in flight
        counts = self._queue_counts()
        if counts is None:
            return False
        visible, in_flight, delayed = counts
        now = time.monotonic()
        with self._lock:
            ours = len(self._pending) + len(self._releases)
            ours += sum(1 for until in self._hidden.values() if until > now)
        return visible == 0 and delayed == 0 and in_flight <= ours

    def _queue_counts(self) -> tuple[int, int, int] | None:
        """(visible, in flight, delayed) messages by the queue's approximate counts."""
        try:
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=self.queue_url, AttributeNames=list(COUNTS)
            )["Attributes"]
        except Exception as exc:  # a drain does not fail on a count
            log.warning("could not read the message counts of %s: %s", self.source, exc)
            return None
        visible, in_flight, delayed = (int(attributes.get(name, 0)) for name in COUNTS)
        return visible, in_flight, delayed

    # -- outcomes ---------------------------------------------------------------

    def settle(self, status: str, message_id: str | None) -> None:
        """Delete, release or leave the message of an event with outcome ``status``
        (see :mod:`gcdedup.sources.disposition`)."""
        if message_id is None:
            return
        action = disposition(EventOutcome(status), self.mode, self.handler)
        with self._lock:
            receipt = self._pending.pop(message_id, None)
            if receipt is None:
                return
            if action is Disposition.RELEASE:
                self._releases[message_id] = receipt
                return
            if action is Disposition.LEAVE:
                self.counts.left += 1
                self._hidden[message_id] = time.monotonic() + self.visibility
                return
            self._deletes.append((message_id, receipt))
            if len(self._deletes) < BATCH:
                return
            batch, self._deletes = self._deletes, []
        self._delete(batch)

    def _flush_deletes(self) -> None:
        with self._lock:
            batch, self._deletes = self._deletes, []
        if batch:
            self._delete(batch)

    def _delete(self, batch: list[tuple[str, str]]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": r} for i, (_, r) in enumerate(batch)]
        try:
            response = self._sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        except Exception as exc:
            raise self._error(exc, "sqs:DeleteMessageBatch") from exc
        failed = response.get("Failed", [])
        self.counts.deleted += len(batch) - len(failed)
        for failure in failed:
            message_id = batch[int(failure["Id"])][0]
            self.counts.delete_failures.append(f"{message_id}: {failure.get('Message', '')}")
            log.warning("could not delete message %s: %s", message_id, failure.get("Message"))

    def close(self) -> None:
        """Send the last deletes, release what this run did nothing with (messages
        never settled: a stopped run), stop extending visibility and count what is left."""
        self._stop.set()
        self._heartbeat.join(timeout=5)
        self._flush_deletes()
        with self._lock:
            releases = {**self._releases, **self._pending}
            self._releases.clear()
            self._pending.clear()
        self._release(list(releases.items()))
        counts = self._queue_counts()
        if counts is not None:
            self.counts.remaining = sum(counts)

    def _release(self, messages: list[tuple[str, str]]) -> None:
        """Make messages visible again now (visibility 0): best effort, as a message
        not released returns after its visibility timeout anyway."""
        for start in range(0, len(messages), BATCH):
            chunk = messages[start : start + BATCH]
            entries = [
                {"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": 0}
                for i, (_, r) in enumerate(chunk)
            ]
            try:
                response = self._sqs.change_message_visibility_batch(
                    QueueUrl=self.queue_url, Entries=entries
                )
            except Exception as exc:
                log.warning(
                    "could not release %d message(s) on %s: %s", len(chunk), self.source, exc
                )
                self.counts.left += len(chunk)
                continue
            failed = len(response.get("Failed", []))
            self.counts.released += len(chunk) - failed
            self.counts.left += failed

    # -- visibility -------------------------------------------------------------

    def _beat(self) -> None:
        interval = max(self.visibility / 3, 1.0)
        while not self._stop.wait(interval):
            with self._lock:
                pending = list(self._pending.items())
            for start in range(0, len(pending), BATCH):
                entries = [
                    {"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": self.visibility}
                    for i, (_, r) in enumerate(pending[start : start + BATCH])
                ]
                try:
                    self._sqs.change_message_visibility_batch(
                        QueueUrl=self.queue_url, Entries=entries
                    )
                    self.counts.extended += len(entries)
                except Exception as exc:  # the message returns early: a duplicate at worst
                    log.warning("could not extend visibility on %s: %s", self.source, exc)

    def __enter__(self) -> SqsDrain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
