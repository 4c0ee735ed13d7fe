"""The DedupStore contract every backend implements, and its value types.

One record per key. A claim is provisional (IN_PROGRESS with a lease and a
token) and becomes final (COMPLETED, kept until ``expires_at``) only when the
handler succeeded; a failed handler releases it so the next delivery runs.
A key is claimable when absent, expired (``expires_at < now``, whether or not
the backend has deleted it yet) or IN_PROGRESS with ``lease_until < now``.
"""

from __future__ import annotations

import enum
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

Clock = Callable[[], float]


class RecordStatus(str, enum.Enum):
    """A stored record's state (not an event's outcome in a run: see pipeline.EventOutcome)."""

    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"


#: The lease of a claim completed right after it is made (``mark_done``'s default).
MARK_DONE_LEASE = 60.0


class Outcome(str, enum.Enum):
    """What the store said about one key."""

    CLAIMED = "claimed"  # claim(): ours now, run the handler
    DUPLICATE = "duplicate"  # completed and not expired: skip
    IN_FLIGHT = "in_flight"  # another live claim holds it: retry later
    NEW = "new"  # check(): absent or claimable
    SEEDED = "seeded"  # seed(): marked as done
    #: completed and not expired, but its payload fingerprint differs from ours (both
    #: known): the same key for another payload. Never counted in ``dup_count``.
    CONFLICT = "conflict"


class KeyItem(NamedTuple):
    """A key with the attributes stored beside it on first sight (cheap: one per event).

    ``fingerprint`` is the digest of the event's payload (empty: unknown, never a
    conflict); ``origin`` says where the event was read, for conflict messages.
    """

    key: str
    namespace: str
    topic: str = ""
    fingerprint: str = ""
    origin: str = ""


@dataclass(frozen=True, slots=True)
class Record:
    """One stored record, as every backend returns it."""

    key: str
    status: RecordStatus
    expires_at: int
    lease_until: float | None
    claim_token: str | None
    namespace: str
    topic: str
    first_seen_at: float
    dup_count: int
    last_dup_at: float | None
    run_id: str | None
    #: The payload digest of the delivery that claimed it (None: older records).
    fingerprint: str | None = None
    #: Where that delivery was read (a file and line, an SQS message id).
    origin: str | None = None
    #: The handler's saved return value as JSON text (``--save-result``), if any.
    result: str | None = None
    #: False when claimed without duplicate counting (``count_duplicates=False``):
    #: its ``dup_count`` says nothing about the duplicates it met.
    counted: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "status": self.status.value,
            "expires_at": self.expires_at,
            "lease_until": self.lease_until,
            "namespace": self.namespace,
            "topic": self.topic,
            "first_seen_at": self.first_seen_at,
            "dup_count": self.dup_count,
            "last_dup_at": self.last_dup_at,
            "run_id": self.run_id,
            "fingerprint": self.fingerprint,
            "origin": self.origin,
        }


class Result(NamedTuple):
    """The outcome for one key; ``token`` is set when CLAIMED (needed to finish it).
    A NamedTuple: one is made per event, and a frozen dataclass costs twice as much.

    ``conflict`` marks a CLAIMED result that took over a completed record of another
    payload (``claim(take_conflicts=True)``); ``record`` is then the record it
    replaced. ``cached`` marks an answer given by a container cache, not the store.
    """

    key: str
    outcome: Outcome
    token: str | None = None
    record: Record | None = None
    conflict: bool = False
    cached: bool = False


@dataclass(frozen=True)
class PurgeFilter:
    """Which records ``purge`` deletes; fields combine with AND. Empty matches nothing.

    ``all_records`` must be set explicitly to match everything, so a filter that
    was built from no options deletes nothing.
    """

    namespace: str | None = None
    run_id: str | None = None
    older_than: float | None = None  # seconds: first_seen_at < now - older_than
    prefix: str | None = None  # key prefix (the namespace prefix included)
    all_records: bool = False

    def is_empty(self) -> bool:
        return not self.all_records and all(
            v is None for v in (self.namespace, self.run_id, self.older_than, self.prefix)
        )

    def matches(self, record: Record, now: float) -> bool:
        """The reference semantics; backends push the same filter into their queries."""
        if self.is_empty():
            return False
        if self.namespace is not None and record.namespace != self.namespace:
            return False
        if self.run_id is not None and record.run_id != self.run_id:
            return False
        if self.older_than is not None and not record.first_seen_at < now - self.older_than:
            return False
        return not (self.prefix is not None and not record.key.startswith(self.prefix))


#: Age buckets for summaries: (label, upper bound in seconds).
AGE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("<1h", 3600.0),
    ("1h-24h", 86400.0),
    ("1d-7d", 7 * 86400.0),
    (">7d", float("inf")),
)


def age_bucket(age_seconds: float) -> str:
    for label, bound in AGE_BUCKETS:
        if age_seconds < bound:
            return label
    return AGE_BUCKETS[-1][0]


@dataclass
class StoreSummary:
    """What the table holds: counts by namespace, status, topic and age; duplicates seen.

    Expired records that the backend has not deleted yet are counted in ``expired``
    and nowhere else.
    """

    records: int = 0
    expired: int = 0
    duplicates: int = 0
    #: Live records claimed without duplicate counting (their dup_count stays 0).
    uncounted: int = 0
    by_namespace: dict[str, dict[str, int]] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)
    by_topic: dict[str, dict[str, int]] = field(default_factory=dict)
    by_age: dict[str, int] = field(default_factory=dict)

    def add(self, record: Record, now: float) -> None:
        """Fold one record in; every backend builds its summary through this."""
        if record.expires_at < now:
            self.expired += 1
            return
        self.records += 1
        self.duplicates += record.dup_count
        self.uncounted += not record.counted
        ns = self.by_namespace.setdefault(record.namespace, {"records": 0, "duplicates": 0})
        ns["records"] += 1
        ns["duplicates"] += record.dup_count
        self.by_status[record.status.value] = self.by_status.get(record.status.value, 0) + 1
        topic = self.by_topic.setdefault(record.topic or "-", {"records": 0, "duplicates": 0})
        topic["records"] += 1
        topic["duplicates"] += record.dup_count
        bucket = age_bucket(now - record.first_seen_at)
        self.by_age[bucket] = self.by_age.get(bucket, 0) + 1

    def merge(self, other: StoreSummary) -> None:
        """Combine partial summaries (parallel scan segments)."""
        self.records += other.records
        self.expired += other.expired
        self.duplicates += other.duplicates
        self.uncounted += other.uncounted
        for mine, theirs in (
            (self.by_namespace, other.by_namespace),
            (self.by_topic, other.by_topic),
        ):
            for name, counts in theirs.items():
                target = mine.setdefault(name, {"records": 0, "duplicates": 0})
                for k, v in counts.items():
                    target[k] = target.get(k, 0) + v
        for mine_flat, theirs_flat in (
            (self.by_status, other.by_status),
            (self.by_age, other.by_age),
        ):
            for name, count in theirs_flat.items():
                mine_flat[name] = mine_flat.get(name, 0) + count

    @property
    def duplicate_rate(self) -> float:
        """Duplicates per delivery: dup / (records + dup)."""
        total = self.records + self.duplicates
        return self.duplicates / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "expired": self.expired,
            "duplicates": self.duplicates,
            "duplicate_rate": self.duplicate_rate,
            "uncounted": self.uncounted,
            "by_namespace": self.by_namespace,
            "by_status": self.by_status,
            "by_topic": self.by_topic,
            "by_age": self.by_age,
        }


def new_token() -> str:
    """A claim token: who holds an IN_PROGRESS record."""
    return uuid.uuid4().hex


class DedupStore(ABC):
    """The store contract. Batch methods return one Result per input key, in order.

    Implementations must make ``claim`` atomic per key across threads and
    processes: two callers never both get CLAIMED for a live key. Keys repeated
    inside one call are the caller's business (the pipeline never repeats them);
    a backend may treat the second as IN_FLIGHT.
    """

    url: str
    #: Events per batch when no handler holds claims (count only, seed): one
    #: ``mark_done`` call each. Nothing is held meanwhile, so a backend sets it by what
    #: a batch costs it (SQLite: per transaction; DynamoDB: requests of 25 either way).
    mark_done_batch_size: int = 5000

    def __init__(self, clock: Clock = time.time, run_id: str | None = None) -> None:
        self.clock = clock
        self.run_id = run_id

    @abstractmethod
    def init(self) -> str:
        """Create the table or file if needed; return a one-line description of what was done."""

    @abstractmethod
    def claim(
        self,
        items: Sequence[KeyItem],
        lease_seconds: float,
        ttl_seconds: int,
        *,
        take_conflicts: bool = False,
        count_duplicates: bool = True,
    ) -> list[Result]:
        """Claim each key: CLAIMED (with a token), DUPLICATE, CONFLICT or IN_FLIGHT.

        CONFLICT: the record is COMPLETED and live, and both its fingerprint and the
        item's are known and differ. With ``take_conflicts`` such a record is
        claimable too, inside the same atomic write (CLAIMED with ``conflict`` set
        and the replaced record). With ``count_duplicates`` a DUPLICATE or IN_FLIGHT
        answer adds one to the record's ``dup_count`` and sets ``last_dup_at``
        (a second write on DynamoDB); without, a duplicate changes nothing. A
        CLAIMED record gets ``expires_at = now + ttl`` too, so abandoned claims are
        cleaned up by TTL.
        """

    @abstractmethod
    def complete(self, key: str, token: str, ttl_seconds: int, result: str | None = None) -> bool:
        """IN_PROGRESS -> COMPLETED with ``expires_at = now + ttl`` (and ``result``,
        JSON text, saved with it when given).

        False if the token no longer holds the claim (its lease was taken over).
        """

    def complete_many(
        self,
        pairs: Sequence[tuple[str, str]],
        ttl_seconds: int,
        results: Sequence[str | None] | None = None,
    ) -> list[bool]:
        """Complete several claims (``results``: one saved result or None per pair);
        backends override to batch."""
        saved = results if results is not None else [None] * len(pairs)
        return [
            self.complete(key, token, ttl_seconds, result)
            for (key, token), result in zip(pairs, saved, strict=True)
        ]

    @abstractmethod
    def release(self, key: str, token: str) -> bool:
        """Delete our IN_PROGRESS claim so a retry can run; False if it is not ours any more."""

    @abstractmethod
    def renew(self, pairs: Sequence[tuple[str, str]], lease_seconds: float) -> list[bool]:
        """Extend live claims (a heartbeat): ``lease_until = now + lease`` and the record
        kept at least that long; False for a claim the token no longer holds.

        A handler that runs longer than the lease would otherwise let a second
        worker take its key while it is still running.
        """

    def release_many(self, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        """Release several claims, typically on the way out of a failed run.

        Backends override this to release in one round trip with a short wait:
        when the store itself is failing, releasing claim by claim would wait out
        the store's full timeout once per claim. A claim that cannot be released
        lapses when its lease runs out.
        """
        return [self.release(key, token) for key, token in pairs]

    @abstractmethod
    def seed(self, items: Sequence[KeyItem], ttl_seconds: int) -> list[Result]:
        """Mark keys as done without processing: SEEDED, DUPLICATE (already done, not
        counted in dup_count) or IN_FLIGHT (a live claim is never overwritten)."""

    def mark_done(
        self,
        items: Sequence[KeyItem],
        ttl_seconds: int,
        *,
        count_duplicates: bool,
        uncounted: bool = False,
    ) -> list[Result]:
        """Claim and complete in one step, for work that cannot fail (count only, seed):
        SEEDED where the key was claimable (it is COMPLETED now), else DUPLICATE,
        CONFLICT or IN_FLIGHT as a claim would answer, with the record where known.
        Keys may repeat: a later copy of a key is answered after the earlier ones.

        ``count_duplicates`` adds each DUPLICATE and IN_FLIGHT answer to the record's
        ``dup_count`` as a claim does (``seed`` does not); ``uncounted`` marks written
        records as claimed without that counting. The default claims, then completes
        (two writes per new key); backends override it with one write.
        """
        if not count_duplicates and not uncounted:
            return self.seed(items, ttl_seconds)
        from ..concurrency import waves

        results: list[Result | None] = [None] * len(items)
        for wave in waves([item.key for item in items]):
            answers = self.claim(
                [items[i] for i in wave],
                MARK_DONE_LEASE,
                ttl_seconds,
                count_duplicates=count_duplicates,
            )
            done = [(a.key, a.token or "") for a in answers if a.outcome is Outcome.CLAIMED]
            self.complete_many(done, ttl_seconds)
            for index, answer in zip(wave, answers, strict=True):
                claimed = answer.outcome is Outcome.CLAIMED
                results[index] = Result(answer.key, Outcome.SEEDED) if claimed else answer
        return [result for result in results if result is not None]

    @abstractmethod
    def check(self, keys: Sequence[str]) -> list[Result]:
        """Read only: NEW, DUPLICATE or IN_FLIGHT for each key, with the record if any."""

    @abstractmethod
    def get(self, key: str) -> Record | None:
        """The stored record, expired or not (None when absent)."""

    @abstractmethod
    def purge(self, where: PurgeFilter, dry_run: bool = False) -> int:
        """Delete matching records (none when the filter is empty); return how many."""

    @abstractmethod
    def summary(self) -> StoreSummary:
        """Counts over the whole store (see StoreSummary)."""

    def verify(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Raise StoreError if the store is damaged; the default trusts the backend.

        Maintenance commands (counts, purges) call it first so that they never
        report numbers read from a damaged store.
        """

    def close(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release connections; the default has none."""

    def __enter__(self) -> DedupStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def classify(record: Record | None, now: float, fingerprint: str = "") -> Outcome:
    """What a claim for a payload of ``fingerprint`` would find for this record at
    ``now`` (NEW if claimable)."""
    if record is None or record.expires_at < now:
        return Outcome.NEW
    if record.status is RecordStatus.COMPLETED:
        if is_conflict(record, fingerprint):
            return Outcome.CONFLICT
        return Outcome.DUPLICATE
    if record.lease_until is not None and record.lease_until < now:
        return Outcome.NEW
    return Outcome.IN_FLIGHT


def fresh_record(
    item: KeyItem,
    now: float,
    ttl_seconds: int,
    status: RecordStatus,
    run_id: str | None,
    *,
    lease_until: float | None = None,
    token: str | None = None,
    result: str | None = None,
) -> Record:
    """A record's first life, as the stores that keep records in memory build it: a
    claim (with lease and token) or a completion (a seed, or a claim just completed)."""
    return Record(
        key=item.key,
        status=status,
        expires_at=int(now) + ttl_seconds,
        lease_until=lease_until,
        claim_token=token,
        namespace=item.namespace,
        topic=item.topic,
        first_seen_at=now,
        dup_count=0,
        last_dup_at=None,
        run_id=run_id,
        fingerprint=item.fingerprint or None,
        origin=item.origin or None,
        result=result,
    )


def is_conflict(record: Record, fingerprint: str) -> bool:
    """Both fingerprints known and different (a record without one is not a conflict)."""
    return bool(fingerprint) and bool(record.fingerprint) and record.fingerprint != fingerprint
