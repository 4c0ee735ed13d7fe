"""An in-process store: the reference implementation of the contract, for tests and dry runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import replace

from .base import (
    Clock,
    DedupStore,
    KeyItem,
    Outcome,
    PurgeFilter,
    Record,
    RecordStatus,
    Result,
    StoreSummary,
    classify,
    fresh_record,
    new_token,
)

_NAMED: dict[str, tuple[dict[str, Record], threading.Lock]] = {}
_NAMED_LOCK = threading.Lock()


class MemoryStore(DedupStore):
    """Everything in a dict under one lock; gone when the process ends.

    ``memory://`` is private to the object; ``memory://name`` is shared by every
    store opened with that name in this process (as two handles on one table).
    """

    def __init__(
        self, url: str = "memory://", clock: Clock | None = None, run_id: str | None = None
    ) -> None:
        super().__init__(clock=clock or time.time, run_id=run_id)
        self.url = url
        name = url.split("://", 1)[-1]
        self._records: dict[str, Record]
        if name:
            with _NAMED_LOCK:
                self._records, self._lock = _NAMED.setdefault(name, ({}, threading.Lock()))
        else:
            self._records, self._lock = {}, threading.Lock()

    def init(self) -> str:
        return "memory store ready (nothing is kept after the process ends)"

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
        results = []
        with self._lock:
            for item in items:
                current = self._records.get(item.key)
                outcome = classify(current, now, item.fingerprint)
                taken = outcome is Outcome.CONFLICT and take_conflicts
                if outcome is Outcome.NEW or taken:
                    token = new_token()
                    fresh = self._fresh(
                        item, now, ttl_seconds, RecordStatus.IN_PROGRESS, now + lease_seconds, token
                    )
                    self._records[item.key] = replace(fresh, counted=count_duplicates)
                    results.append(
                        Result(
                            item.key, Outcome.CLAIMED, token=token, record=current, conflict=taken
                        )
                        if taken
                        else Result(item.key, Outcome.CLAIMED, token=token)
                    )
                elif outcome is Outcome.CONFLICT or not count_duplicates:
                    results.append(Result(item.key, outcome, record=current))
                else:
                    assert current is not None
                    bumped = replace(
                        current, dup_count=current.dup_count + 1, last_dup_at=now, counted=True
                    )
                    self._records[item.key] = bumped
                    results.append(Result(item.key, outcome, record=bumped))
        return results

    def _fresh(
        self,
        item: KeyItem,
        now: float,
        ttl_seconds: int,
        status: RecordStatus,
        lease_until: float | None = None,
        token: str | None = None,
    ) -> Record:
        """A record's first life: a claim (with lease and token) or a seeded completion."""
        return fresh_record(
            item, now, ttl_seconds, status, self.run_id, lease_until=lease_until, token=token
        )

    def _held(self, key: str, token: str) -> Record | None:
        """The record if ``token`` still holds its IN_PROGRESS claim (caller holds the lock)."""
        current = self._records.get(key)
        if current is None or current.claim_token != token:
            return None
        return current if current.status is RecordStatus.IN_PROGRESS else None

    def complete(self, key: str, token: str, ttl_seconds: int, result: str | None = None) -> bool:
        now = self.clock()
        with self._lock:
            current = self._held(key, token)
            if current is None:
                return False
            self._records[key] = replace(
                current,
                status=RecordStatus.COMPLETED,
                expires_at=int(now) + ttl_seconds,
                lease_until=None,
                claim_token=None,
                result=result,
            )
            return True

    def renew(self, pairs: Sequence[tuple[str, str]], lease_seconds: float) -> list[bool]:
        now = self.clock()
        lease_until = now + lease_seconds
        held = []
        with self._lock:
            for key, token in pairs:
                current = self._held(key, token)
                held.append(current is not None)
                if current is not None:
                    self._records[key] = replace(
                        current,
                        lease_until=lease_until,
                        expires_at=max(current.expires_at, int(lease_until) + 1),
                    )
        return held

    def release(self, key: str, token: str) -> bool:
        with self._lock:
            if self._held(key, token) is None:
                return False
            del self._records[key]
            return True

    def seed(self, items: Sequence[KeyItem], ttl_seconds: int) -> list[Result]:
        now = self.clock()
        results = []
        with self._lock:
            for item in items:
                current = self._records.get(item.key)
                outcome = classify(current, now)
                if outcome is Outcome.NEW:
                    self._records[item.key] = self._fresh(
                        item, now, ttl_seconds, RecordStatus.COMPLETED
                    )
                    results.append(Result(item.key, Outcome.SEEDED))
                else:
                    results.append(Result(item.key, outcome, record=current))
        return results

    def check(self, keys: Sequence[str]) -> list[Result]:
        now = self.clock()
        with self._lock:
            found = [(key, self._records.get(key)) for key in keys]
        return [Result(key, classify(record, now), record=record) for key, record in found]

    def get(self, key: str) -> Record | None:
        with self._lock:
            return self._records.get(key)

    def purge(self, where: PurgeFilter, dry_run: bool = False) -> int:
        now = self.clock()
        with self._lock:
            doomed = [k for k, r in self._records.items() if where.matches(r, now)]
            if not dry_run:
                for key in doomed:
                    del self._records[key]
        return len(doomed)

    def summary(self) -> StoreSummary:
        now = self.clock()
        out = StoreSummary()
        with self._lock:
            for record in self._records.values():
                out.add(record, now)
        return out
