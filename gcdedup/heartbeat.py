"""Renewing the leases of claims whose handlers are still running (a heartbeat)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from .store import DedupStore

log = logging.getLogger(__name__)

#: How long closing waits for a heartbeat still renewing.
HEARTBEAT_JOIN_SECONDS = 2.0


class Heartbeat:
    """The claims a pipeline holds while their handlers run, renewed in the background.

    Every third of the lease, each held claim's lease is extended, so a handler (or
    a queue of handlers) that runs longer than the lease never lets a second worker
    take a key that is still being processed. A claim the store no longer grants is
    simply not renewed; completing it then reports the lost lease. ``cap()`` bounds a
    renewal (an invocation's deadline plus a margin): no lease outlives its holder's
    time by more than that.
    """

    def __init__(self, store: DedupStore, cap: Callable[[], float] | None = None) -> None:
        self._store = store
        self._cap = cap
        self._held: dict[str, str] = {}
        self._lease = 0.0
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._closed = False
        self._thread: threading.Thread | None = None

    def hold(self, tokens: dict[str, str], lease: float) -> None:
        with self._lock:
            self._held.update(tokens)
            self._lease = lease
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._beat, name="gcdedup-heartbeat", daemon=True
                )
                self._thread.start()

    def drop(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                self._held.pop(key, None)

    def drop_all(self) -> dict[str, str]:
        with self._lock:
            held, self._held = self._held, {}
        return held

    def _beat(self) -> None:
        while True:
            with self._lock:
                if not self._closed:  # closed while renewing: no wait, no missed wake-up
                    self._wake.wait(max(self._lease / 3, 0.01))
                if self._closed:
                    return
                pairs, lease = list(self._held.items()), self._lease
            if self._cap is not None:
                lease = min(lease, self._cap())
            if not pairs or lease <= 0:
                continue
            try:
                held = self._store.renew(pairs, lease)
            except Exception as exc:  # the store is failing: the claims may lapse
                log.warning("could not renew %d claim(s): %s", len(pairs), exc)
                continue
            with self._lock:
                # A claim completed (or released) while the renewal ran is not held any
                # more: the store refused to renew it because it was finished, not taken.
                lost = [
                    key
                    for (key, token), ok in zip(pairs, held, strict=True)
                    if not ok and self._held.get(key) == token
                ]
            if lost:
                log.warning("%d claim(s) were taken over while their handlers ran", len(lost))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._wake.notify_all()
        if self._thread is not None:
            # A renewal blocked on a failing store must not hold up the exit: the
            # thread is a daemon and its claims lapse with their lease.
            self._thread.join(timeout=HEARTBEAT_JOIN_SECONDS)
