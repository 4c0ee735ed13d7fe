"""Capture an EventBridge archive's events into a file, by replaying them to a private queue.

Archives cannot be downloaded: their events can only be replayed to their bus,
where rules send them on. :func:`capture` builds that plumbing for one replay
and takes it down again:

1. a temporary SQS queue whose policy lets EventBridge send to it only from the
   temporary rule (``aws:SourceArn``);
2. a temporary rule on the archive's bus matching ``replay-name`` of this replay
   only, targeting the queue;
3. the replay, started with ``FilterArns`` naming only that rule, so no other
   rule on the bus (no production target) sees the replayed events;
4. the queue drained into the output file (JSON Lines, gzip when the name ends in
   ``.gz``) while the replay runs, until the replay is COMPLETED and the queue has
   stayed empty for ``settle_seconds`` (delivery trails the replay's state);
5. the rule and the queue deleted, also on Ctrl-C and on errors (and the replay
   cancelled if it still runs), unless ``keep``.

Resuming: events already in the output file are not appended again. An event is
identified by its envelope without ``id`` and ``replay-name`` (a replay may give
events new ids), counted with multiplicity, so a file holding an event twice (two
deliveries of it in the archive) takes a third copy only if the replay brings three.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

import orjson

from .errors import GcdedupError, UsageError
from .sources import aws

log = logging.getLogger(__name__)

#: The IAM actions capture calls (docs/guides/capture.md lists them too).
PERMISSIONS = (
    "events:DescribeArchive",
    "events:DescribeEventBus",
    "events:PutRule",
    "events:PutTargets",
    "events:StartReplay",
    "events:DescribeReplay",
    "events:CancelReplay",
    "events:RemoveTargets",
    "events:DeleteRule",
    "sqs:CreateQueue",
    "sqs:GetQueueAttributes",
    "sqs:SetQueueAttributes",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:DeleteQueue",
)

PREFIX = "gcdedup-capture"
#: Fields a replay adds or may change: not part of an event's identity for resuming.
_VOLATILE = ("id", "replay-name")
_TARGET_ID = "gcdedup-capture"
#: Finished replay states other than COMPLETED.
_FAILED_STATES = ("FAILED", "CANCELLED", "CANCELLING")


class CaptureError(GcdedupError):
    """The capture could not run or finish (an AWS call failed, the replay failed)."""


@dataclass(frozen=True)
class CaptureOptions:
    archive: str
    start: datetime
    end: datetime
    out: Path
    bus: str | None = None
    keep: bool = False
    #: Long-poll wait per receive (1-20 s).
    wait_seconds: int = 2
    #: After COMPLETED, how long the queue must stay empty before the capture ends.
    settle_seconds: float = 10.0
    #: How often the replay's state is read.
    poll_seconds: float = 2.0


@dataclass
class CaptureProgress:
    """What the capture has done so far (given to the progress callback)."""

    written: int = 0
    already_in_file: int = 0
    received: int = 0
    state: str = "CREATING"


@dataclass
class CaptureResult:
    archive: str
    replay_name: str
    bus: str
    start: datetime
    end: datetime
    out: Path
    progress: CaptureProgress
    in_file_before: int
    duration_seconds: float
    kept: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": self.progress.written,
            "already_in_file": self.progress.already_in_file,
            "received": self.progress.received,
            "in_file": self.in_file_before + self.progress.written,
            "replay_name": self.replay_name,
            "archive": self.archive,
            "bus": self.bus,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "out": str(self.out),
            "duration_seconds": round(self.duration_seconds, 3),
            "kept": self.kept or None,
        }


def parse_time(text: str, what: str, now: datetime | None = None) -> datetime:
    """``now``, an ISO date or date-time (UTC unless it says), or ``-2h`` / ``-3d`` (ago)."""
    now = now or datetime.now(timezone.utc)
    text = text.strip()
    if text == "now":
        return now
    units = {"m": 60, "h": 3600, "d": 86400}
    if text.startswith("-") and text[-1:] in units and text[1:-1].isdigit():
        return now - timedelta(seconds=int(text[1:-1]) * units[text[-1]])
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"invalid {what} time {text!r}: use an ISO time (2024-05-01T13:00Z), a date, "
            "'now', or -2h / -3d"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def identity(envelope: dict[str, Any]) -> bytes:
    """An event's identity for resuming: its canonical envelope without id and replay-name."""
    kept = {k: v for k, v in envelope.items() if k not in _VOLATILE}
    return hashlib.blake2b(orjson.dumps(kept, option=orjson.OPT_SORT_KEYS), digest_size=16).digest()


def events_in_file(path: Path) -> Counter[bytes]:
    """Identities of the events already in ``path`` (empty when it does not exist)."""
    found: Counter[bytes] = Counter()
    if not path.exists():
        return found
    try:
        fh: Any = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")  # noqa: SIM115
        with fh:
            for line in fh:
                try:
                    envelope = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # a line cut short by an interrupted run: not counted
                if isinstance(envelope, dict):
                    found[identity(envelope)] += 1
    except (OSError, EOFError) as exc:
        raise UsageError(f"cannot read the existing --out file {path}: {exc}") from exc
    return found


def denied(exc: BaseException, action: str) -> CaptureError:
    """A permission error naming the call and every action capture needs."""
    return CaptureError(
        f"access denied: {action} ({aws.error_message(exc)}). gcdedup capture needs "
        + ", ".join(PERMISSIONS)
    )


def bus_name(arn: str) -> str:
    """A bus's name from its ARN; partner buses' names hold slashes
    (``aws.partner/genesys.com/cloud/<org>/<name>``)."""
    return arn.split(":event-bus/", 1)[1] if ":event-bus/" in arn else arn


def _fail(exc: BaseException, action: str) -> CaptureError:
    if aws.is_access_denied(exc):
        return denied(exc, action)
    return CaptureError(f"{action} failed: {aws.error_message(exc)}")


class Capture:
    """One capture run; see :func:`capture`."""

    def __init__(
        self,
        options: CaptureOptions,
        on_progress: Callable[[CaptureProgress], None] | None = None,
        *,
        events: Any = None,
        sqs: Any = None,
    ) -> None:
        self.options = options
        self.on_progress = on_progress
        self.events = events or aws.client("events")
        self.sqs = sqs or aws.client("sqs")
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        self.name = f"{PREFIX}-{stamp}-{secrets.token_hex(3)}"
        self.progress = CaptureProgress()
        self.queue_url: str | None = None
        self.rule_arn: str | None = None
        self.replay_started = False
        self.bus = ""

    # -- the whole run ---------------------------------------------------------

    def run(self) -> CaptureResult:
        opts = self.options
        began = time.monotonic()
        archive = self._archive()
        self.bus = self._bus(archive)
        start, end = self._window(archive)
        existing = events_in_file(opts.out)
        before = sum(existing.values())
        kept: dict[str, str] = {}
        try:
            queue_arn = self._create_queue()
            self._create_rule(queue_arn)
            self._start_replay(archive["ArchiveArn"], start, end)
            self._drain(existing)
        except BaseException:
            self._cancel_replay()
            raise
        finally:
            if opts.keep:
                kept = {"rule": self.name, "queue": self.queue_url or ""}
            else:
                self._clean_up()
        return CaptureResult(
            opts.archive,
            self.name,
            self.bus,
            start,
            end,
            opts.out,
            self.progress,
            before,
            time.monotonic() - began,
            kept,
        )

    # -- checks ----------------------------------------------------------------

    def _archive(self) -> dict[str, Any]:
        try:
            archive: dict[str, Any] = self.events.describe_archive(ArchiveName=self.options.archive)
        except Exception as exc:
            if aws.error_code(exc) == "ResourceNotFoundException":
                raise UsageError(
                    f"no archive named {self.options.archive!r} in this account and region "
                    "(aws events list-archives lists them)"
                ) from exc
            raise _fail(exc, "events:DescribeArchive") from exc
        if archive.get("State") not in (None, "ENABLED", "DISABLED"):
            raise CaptureError(
                f"archive {self.options.archive} is {archive['State']}: it cannot be replayed now"
            )
        return archive

    def _bus(self, archive: dict[str, Any]) -> str:
        """The archive's bus ARN; --bus must name that bus (replays go to their own bus)."""
        bus_arn = str(archive["EventSourceArn"])
        given = self.options.bus
        if given and given not in (bus_arn, bus_name(bus_arn)):
            raise UsageError(
                f"archive {self.options.archive} holds events of bus "
                f"{bus_name(bus_arn)}, not {given}: a replay can only go to the "
                "archive's own bus"
            )
        return bus_arn

    def _window(self, archive: dict[str, Any]) -> tuple[datetime, datetime]:
        """The replay window, checked against the archive's life and retention."""
        start, end = self.options.start, self.options.end
        now = datetime.now(timezone.utc)
        if start >= end:
            raise UsageError(
                f"--from ({start.isoformat()}) must be before --to ({end.isoformat()})"
            )
        if start > now:
            raise UsageError(f"--from ({start.isoformat()}) is in the future")
        created = archive.get("CreationTime")
        if isinstance(created, datetime):
            created = created.astimezone(timezone.utc)
            if end <= created:
                raise UsageError(
                    f"the window ends ({end.isoformat()}) before archive "
                    f"{self.options.archive} was created ({created.isoformat()}): it holds "
                    "no events from then"
                )
        retention = int(archive.get("RetentionDays") or 0)
        if retention:
            oldest = now - timedelta(days=retention)
            if end <= oldest:
                raise UsageError(
                    f"the window ends ({end.isoformat()}) before the oldest event archive "
                    f"{self.options.archive} keeps ({retention} days: {oldest.isoformat()})"
                )
        return start, min(end, now)

    # -- plumbing --------------------------------------------------------------

    def _create_queue(self) -> str:
        try:
            self.queue_url = str(
                self.sqs.create_queue(
                    QueueName=self.name,
                    Attributes={"VisibilityTimeout": "60", "MessageRetentionPeriod": "86400"},
                )["QueueUrl"]
            )
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
            )["Attributes"]
        except Exception as exc:
            raise _fail(exc, "sqs:CreateQueue") from exc
        return str(attributes["QueueArn"])

    def _create_rule(self, queue_arn: str) -> None:
        bus = bus_name(self.bus)
        try:
            self.rule_arn = str(
                self.events.put_rule(
                    Name=self.name,
                    EventBusName=bus,
                    EventPattern=orjson.dumps({"replay-name": [self.name]}).decode(),
                    State="ENABLED",
                    Description="gcdedup capture: this replay's events to a temporary queue",
                )["RuleArn"]
            )
        except Exception as exc:
            raise _fail(exc, "events:PutRule") from exc
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "gcdedup-capture-rule",
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": self.rule_arn}},
                }
            ],
        }
        try:
            self.sqs.set_queue_attributes(
                QueueUrl=self.queue_url, Attributes={"Policy": orjson.dumps(policy).decode()}
            )
        except Exception as exc:
            raise _fail(exc, "sqs:SetQueueAttributes") from exc
        try:
            response = self.events.put_targets(
                Rule=self.name,
                EventBusName=bus,
                Targets=[{"Id": _TARGET_ID, "Arn": queue_arn}],
            )
        except Exception as exc:
            raise _fail(exc, "events:PutTargets") from exc
        if response.get("FailedEntryCount"):
            entry = response["FailedEntries"][0]
            raise CaptureError(f"events:PutTargets failed: {entry.get('ErrorMessage')}")

    def _start_replay(self, archive_arn: str, start: datetime, end: datetime) -> None:
        try:
            self.events.start_replay(
                ReplayName=self.name,
                Description=f"gcdedup capture of {self.options.archive}",
                EventSourceArn=archive_arn,
                EventStartTime=start,
                EventEndTime=end,
                Destination={"Arn": self.bus, "FilterArns": [self.rule_arn]},
            )
        except Exception as exc:
            if aws.error_code(exc) == "ValidationException":
                raise UsageError(f"the replay was refused: {aws.error_message(exc)}") from exc
            raise _fail(exc, "events:StartReplay") from exc
        self.replay_started = True

    # -- draining ----------------------------------------------------------------

    def _drain(self, existing: Counter[bytes]) -> None:
        opts = self.options
        seen_ids: set[str] = set()
        met: Counter[bytes] = Counter()
        last_state_check = 0.0
        empty_since: float | None = None
        with _open_out(opts.out) as sink:
            while True:
                now = time.monotonic()
                if now - last_state_check >= opts.poll_seconds or empty_since is not None:
                    last_state_check = now
                    self._replay_state()
                messages = self._receive()
                if messages:
                    empty_since = None
                    self._write(messages, sink, seen_ids, met, existing)
                elif self.progress.state == "COMPLETED":
                    if empty_since is None:
                        empty_since = time.monotonic()
                    if time.monotonic() - empty_since >= opts.settle_seconds and self._empty():
                        return
                if self.on_progress is not None:
                    self.on_progress(self.progress)

    def _replay_state(self) -> None:
        try:
            replay = self.events.describe_replay(ReplayName=self.name)
        except Exception as exc:
            raise _fail(exc, "events:DescribeReplay") from exc
        state = str(replay.get("State", "UNKNOWN"))
        if state in _FAILED_STATES:
            reason = replay.get("StateReason") or "no reason given"
            raise CaptureError(f"replay {self.name} ended {state}: {reason}")
        self.progress.state = state

    def _receive(self) -> list[dict[str, Any]]:
        try:
            messages: list[dict[str, Any]] = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=self.options.wait_seconds,
            ).get("Messages", [])
        except Exception as exc:
            raise _fail(exc, "sqs:ReceiveMessage") from exc
        return messages

    def _empty(self) -> bool:
        try:
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=self.queue_url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
        except Exception as exc:
            raise _fail(exc, "sqs:GetQueueAttributes") from exc
        return all(int(v) == 0 for v in attributes.values())

    def _write(
        self,
        messages: list[dict[str, Any]],
        sink: IO[bytes],
        seen_ids: set[str],
        met: Counter[bytes],
        existing: Counter[bytes],
    ) -> None:
        """Append the new events, flush, then delete their messages (a crash between
        the two re-delivers, and resuming skips what the file already holds)."""
        for message in messages:
            if message["MessageId"] in seen_ids:
                continue  # SQS delivered this message twice
            seen_ids.add(message["MessageId"])
            self.progress.received += 1
            body = message.get("Body", "")
            try:
                envelope = orjson.loads(body)
            except orjson.JSONDecodeError:
                log.warning("message %s is not JSON; written as received", message["MessageId"])
                envelope = None
            if isinstance(envelope, dict):
                ident = identity(envelope)
                met[ident] += 1
                if met[ident] <= existing[ident]:
                    self.progress.already_in_file += 1
                    continue
            sink.write(body.encode() + b"\n")
            self.progress.written += 1
        sink.flush()
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
        ]
        try:
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        except Exception as exc:
            raise _fail(exc, "sqs:DeleteMessage") from exc

    # -- teardown ----------------------------------------------------------------

    def _cancel_replay(self) -> None:
        if not self.replay_started:
            return
        try:
            state = self.events.describe_replay(ReplayName=self.name).get("State")
            if state in ("STARTING", "RUNNING"):
                self.events.cancel_replay(ReplayName=self.name)
        except Exception as exc:
            log.warning("could not cancel replay %s: %s", self.name, aws.error_message(exc))

    def _clean_up(self) -> None:
        """Delete the rule (its target first) and the queue; report what is left."""
        left: list[str] = []
        if self.rule_arn is not None:
            bus = bus_name(self.bus)
            try:
                self.events.remove_targets(Rule=self.name, EventBusName=bus, Ids=[_TARGET_ID])
                self.events.delete_rule(Name=self.name, EventBusName=bus)
            except Exception as exc:
                left.append(f"rule {self.name} on bus {bus} ({aws.error_message(exc)})")
        if self.queue_url is not None:
            try:
                self.sqs.delete_queue(QueueUrl=self.queue_url)
            except Exception as exc:
                left.append(f"queue {self.queue_url} ({aws.error_message(exc)})")
        for what in left:
            log.error("could not delete %s: delete it by hand", what)


def _open_out(path: Path) -> IO[bytes]:
    """Append to ``path``: plain JSON Lines, or a new gzip member for ``.gz``."""
    try:
        if path.suffix == ".gz":
            return gzip.open(path, "ab")  # type: ignore[return-value]
        handle = open(path, "ab")  # noqa: SIM115 - the caller closes it
    except OSError as exc:
        raise UsageError(f"cannot write --out file {path}: {exc.strerror or exc}") from exc
    if handle.tell() > 0:
        with open(path, "rb") as fh:
            fh.seek(-1, 2)
            if fh.read(1) != b"\n":
                handle.write(b"\n")  # a line cut short by an interrupted run ends here
    return handle


def capture(
    options: CaptureOptions, on_progress: Callable[[CaptureProgress], None] | None = None
) -> CaptureResult:
    """Replay ``options.archive`` between ``start`` and ``end`` into ``options.out``."""
    return Capture(options, on_progress).run()


__all__ = [
    "PERMISSIONS",
    "Capture",
    "CaptureError",
    "CaptureOptions",
    "CaptureProgress",
    "CaptureResult",
    "capture",
    "parse_time",
]
