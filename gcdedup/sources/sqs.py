"""``sqs://queue-name`` for ``process``: drain a queue through the dedup store.

:class:`SqsDrain` long-polls the queue and yields one record per message: the
body unwrapped to its EventBridge event (a raw event, or an SNS notification
carrying one) or a :class:`~gcdedup.events.BadRecord`, located as
``sqs://queue [MessageId]``. The pipeline's outcome for each record comes back
through :meth:`SqsDrain.settle`:

* processed, duplicate or conflict (a same-key payload that ``--on-conflict skip``
  reported and left): the message is deleted (in batches of ten);
* anything else (bad record, failed handler, in flight elsewhere, not started):
  the message is left alone, so it returns after its visibility timeout and a
  redrive policy moves it to a dead-letter queue in the end.

While a message waits for its outcome, a heartbeat extends its visibility (to
the queue's visibility timeout, every third of it), so a slow handler never
lets it reappear mid-run. The drain ends when a receive brings nothing (the queue
is empty, or holds only messages this run left there, still invisible), when
three receives in a row bring only messages this run left (they came back: they
are not read twice), or after ``max_messages``.

URL options: ``?wait=SECONDS`` (long-poll wait per receive, 1-20, default 5).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..errors import InputError, UsageError
from ..events import BadRecord, Event, Location, unwrap
from . import aws

log = logging.getLogger(__name__)

SCHEME = "sqs://"
#: SQS's own limits: messages per receive and per batch call.
BATCH = 10
DEFAULT_WAIT = 5
#: Receives in a row bringing only messages this run left before the drain ends.
STALE_RECEIVES = 3
#: Statuses whose message is deleted: the event needs no further delivery.
DONE = frozenset({"processed", "duplicate", "conflict"})


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
    #: Messages this run had left that came back before it ended (not read again).
    returned: int = 0
    extended: int = 0
    delete_failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "deleted": self.deleted,
            "left_in_queue": self.left,
            "returned_unread": self.returned,
        }


class SqsDrain:
    """Records from a queue for :meth:`gcdedup.pipeline.Pipeline.run`, settled by outcome."""

    #: What process's progress bar asks of a reader: no size is known for a queue.
    total_bytes: int | None = None

    def __init__(self, url: str, max_messages: int | None = None) -> None:
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
        self.counts = DrainCounts()
        self.bytes_read = 0
        self._sqs = aws.client("sqs", self.source)
        self.queue_url = self._queue_url()
        self.visibility = self._visibility_timeout()
        self._seen: set[str] = set()
        self._pending: dict[str, str] = {}  # MessageId -> receipt handle, awaiting outcome
        self._deletes: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
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
        stale = 0  # receives in a row that brought only messages this run had left
        while self.max_messages is None or self.counts.received < self.max_messages:
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
            fresh = []
            for message in messages:
                if message["MessageId"] in self._seen:
                    self.counts.returned += 1  # left earlier in this run; not read twice
                else:
                    fresh.append(message)
            if not messages:
                return
            if not fresh:
                # Only messages left earlier came back (receiving them hid them again):
                # keep reading what is behind them, but not forever.
                stale += 1
                if stale >= STALE_RECEIVES:
                    return
                continue
            stale = 0
            for message in fresh:
                message_id = message["MessageId"]
                self._seen.add(message_id)
                self.counts.received += 1
                body = message.get("Body", "")
                self.bytes_read += len(body)
                with self._lock:
                    self._pending[message_id] = message["ReceiptHandle"]
                yield unwrap({"Body": body}, Location(self.source, record=message_id))

    # -- outcomes ---------------------------------------------------------------

    def settle(self, status: str, message_id: str | None) -> None:
        """Delete the message of a processed, duplicate or conflict event; leave any other."""
        if message_id is None:
            return
        with self._lock:
            receipt = self._pending.pop(message_id, None)
            if receipt is None:
                return
            if status not in DONE:
                self.counts.left += 1
                return
            self._deletes.append((message_id, receipt))
            if len(self._deletes) < BATCH:
                return
            batch, self._deletes = self._deletes, []
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
        """Send the last deletes and stop extending visibility (left messages return)."""
        self._stop.set()
        with self._lock:
            batch, self._deletes = self._deletes, []
            self.counts.left += len(self._pending)  # never settled (a stopped run)
            self._pending.clear()
        if batch:
            self._delete(batch)
        self._heartbeat.join(timeout=5)

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
