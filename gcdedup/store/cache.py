"""A container cache in front of any store: repeat deliveries of keys completed here
are answered from memory, without a store call.

A Lambda container lives for many invocations, and a duplicate often reaches the
container that completed the first delivery (SQS redelivers, EventBridge retries).
The cache remembers the records this process completed, or found completed, up to
``size`` keys (least recently used out first) and each until its own ``expires_at``.
It answers DUPLICATE only: a new key, a claim held elsewhere or a delivery of
another payload (a possible conflict) still goes to the store, which stays the only
authority for anything that changes state.

What it cannot see: a record another process purged or that expired early is still
a duplicate here until its cached ``expires_at``; use no cache (size 0) where purges
of live keys must take effect at once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from .base import (
    DedupStore,
    KeyItem,
    Outcome,
    PurgeFilter,
    Record,
    RecordStatus,
    Result,
    StoreSummary,
    fresh_record,
    is_conflict,
)


class CachedStore(DedupStore):
    """``inner`` with an LRU of completed records in front of its claims."""

    def __init__(self, inner: DedupStore, size: int) -> None:
        super().__init__(clock=inner.clock, run_id=inner.run_id)
        self.inner = inner
        self.url = inner.url
        self.mark_done_batch_size = inner.mark_done_batch_size
        self.size = size
        #: Claims answered from memory since the store was opened.
        self.hits = 0
        self._records: OrderedDict[str, Record] = OrderedDict()
        self._claims: dict[str, KeyItem] = {}  # token -> what it claimed
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        """What the backend has beyond the contract (a DynamoDB store's ``client``)."""
        if name == "inner":  # not set yet: no recursion while unpickling or building
            raise AttributeError(name)
        return getattr(self.inner, name)

    def _remember(self, record: Record) -> None:
        """Under the lock."""
        self._records[record.key] = record
        self._records.move_to_end(record.key)
        while len(self._records) > self.size:
            self._records.popitem(last=False)

    def init(self) -> str:
        return self.inner.init()

    def claim(
        self,
        items: Sequence[KeyItem],
        lease_seconds: float,
        ttl_seconds: int,
        *,
        take_conflicts: bool = False,
        count_duplicates: bool = True,
    ) -> list[Result]:
        now = self.clock()
        answers: dict[int, Result] = {}
        forward: list[int] = []
        with self._lock:
            for index, item in enumerate(items):
                record = self._records.get(item.key)
                if record is None:
                    forward.append(index)
                elif record.expires_at < now:
                    del self._records[item.key]
                    forward.append(index)
                elif is_conflict(record, item.fingerprint):
                    forward.append(index)  # the store decides (and may take it over)
                else:
                    self._records.move_to_end(item.key)
                    answers[index] = Result(item.key, Outcome.DUPLICATE, record=record, cached=True)
            self.hits += len(answers)
        if forward:
            results = self.inner.claim(
                [items[i] for i in forward],
                lease_seconds,
                ttl_seconds,
                take_conflicts=take_conflicts,
                count_duplicates=count_duplicates,
            )
            with self._lock:
                for index, result in zip(forward, results, strict=True):
                    answers[index] = result
                    if result.outcome is Outcome.CLAIMED:
                        self._claims[result.token or ""] = items[index]
                        self._records.pop(result.key, None)
                    elif (
                        result.outcome is Outcome.DUPLICATE
                        and result.record is not None
                        and result.record.status is RecordStatus.COMPLETED
                    ):
                        self._remember(result.record)
        return [answers[i] for i in range(len(items))]

    def _completed(self, token: str, ttl_seconds: int, result: str | None, now: float) -> None:
        """Under the lock: the claim of ``token`` is now a completed record."""
        item = self._claims.pop(token, None)
        if item is None:
            return
        self._remember(
            fresh_record(item, now, ttl_seconds, RecordStatus.COMPLETED, self.run_id, result=result)
        )

    def complete(self, key: str, token: str, ttl_seconds: int, result: str | None = None) -> bool:
        return self.complete_many([(key, token)], ttl_seconds, [result])[0]

    def complete_many(
        self,
        pairs: Sequence[tuple[str, str]],
        ttl_seconds: int,
        results: Sequence[str | None] | None = None,
    ) -> list[bool]:
        now = self.clock()
        done = self.inner.complete_many(pairs, ttl_seconds, results)
        saved = results if results is not None else [None] * len(pairs)
        with self._lock:
            for (_, token), ok, result in zip(pairs, done, saved, strict=True):
                if ok:
                    self._completed(token, ttl_seconds, result, now)
                else:
                    self._claims.pop(token, None)
        return done

    def renew(self, pairs: Sequence[tuple[str, str]], lease_seconds: float) -> list[bool]:
        return self.inner.renew(pairs, lease_seconds)

    def release(self, key: str, token: str) -> bool:
        return self.release_many([(key, token)])[0]

    def release_many(self, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        with self._lock:
            for _, token in pairs:
                self._claims.pop(token, None)
        return self.inner.release_many(pairs)

    def seed(self, items: Sequence[KeyItem], ttl_seconds: int) -> list[Result]:
        return self.inner.seed(items, ttl_seconds)

    def check(self, keys: Sequence[str]) -> list[Result]:
        return self.inner.check(keys)

    def get(self, key: str) -> Record | None:
        return self.inner.get(key)

    def purge(self, where: PurgeFilter, dry_run: bool = False) -> int:
        if not dry_run:
            with self._lock:
                self._records.clear()
        return self.inner.purge(where, dry_run)

    def summary(self) -> StoreSummary:
        return self.inner.summary()

    def verify(self) -> None:
        self.inner.verify()

    def close(self) -> None:
        self.inner.close()
