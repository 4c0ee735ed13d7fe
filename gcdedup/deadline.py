"""How much time an invocation has, and how much of it to keep free.

The Lambda entry point and the decorator's ``lambda_handler`` share one policy: no
event starts with less than the margin left, a claim's lease lasts as long as the
invocation can still run, and the heartbeat never renews a lease past that.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

#: The margin never takes more than this share of the time an invocation starts with,
#: so a function with Lambda's default 3 s timeout still processes its batch.
MARGIN_SHARE = 0.2

#: Added to the invocation's remaining time to make a claim's lease: the claim
#: outlives its holder by at most this much if the invocation times out or dies.
LEASE_MARGIN_SECONDS = 2.0

#: The DynamoDB client bound to a deadline: short timeouts (DynamoDB answers in
#: milliseconds), few attempts; one attempt's worst case is connect + read.
DYNAMODB_CONNECT_TIMEOUT = 1.0
DYNAMODB_READ_TIMEOUT = 2.0
DYNAMODB_MAX_ATTEMPTS = 3


class LambdaContext(Protocol):
    """The part of Lambda's context object we use."""

    aws_request_id: str

    def get_remaining_time_in_millis(self) -> int: ...


def fit_margin(configured: float, available: float) -> float:
    """The margin an invocation that starts with ``available`` seconds keeps: the
    configured one, but never more than :data:`MARGIN_SHARE` of what it has."""
    return min(configured, max(available, 0.0) * MARGIN_SHARE)


class Deadline:
    """When the current invocation must be over, read once at its start.

    ``remaining()`` is infinite outside an invocation or without a Lambda context (a
    local call). The clients of an assembly read it: the Genesys client bounds its
    waits by :meth:`wait_budget`, the DynamoDB client refuses to start an attempt (a
    retry, or anything past the deadline) that could not end in time.
    """

    def __init__(self, margin: float, clock: Callable[[], float] = time.monotonic) -> None:
        #: The configured margin (the deadline_margin setting); :attr:`margin` is the one in force.
        self.configured = margin
        self.margin = margin
        self._clock = clock
        self._at: float | None = None
        self._warned = False
        self._lock = threading.Lock()

    def start(self, context: LambdaContext | Any | None) -> None:
        """An invocation starts: read its remaining time and fit the margin to it."""
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if remaining is None:
            self._at = None
            self.margin = self.configured
            return
        available = remaining() / 1000.0
        self._at = self._clock() + available
        self.margin = fit_margin(self.configured, available)
        if self.margin < self.configured:
            with self._lock:
                first, self._warned = not self._warned, True
            if first:
                from .settings import env_name

                log.warning(
                    "%s=%gs cannot work with %.2f s per invocation: keeping %.2f s instead "
                    "(%d%% of the time an invocation starts with)",
                    env_name("deadline_margin"),
                    self.configured,
                    available,
                    self.margin,
                    MARGIN_SHARE * 100,
                )

    def clear(self) -> None:
        self._at = None
        self.margin = self.configured

    def remaining(self) -> float:
        return math.inf if self._at is None else self._at - self._clock()

    def bound(self) -> bool:
        """Inside an invocation that has a deadline."""
        return self._at is not None

    def wait_budget(self) -> float:
        """Seconds a started event may still wait (on Genesys): until half the margin
        before the deadline, leaving the rest to record outcomes and return."""
        return self.remaining() - self.margin / 2

    def lease_cap(self) -> float:
        """The longest lease a renewal may set now: never past the deadline plus
        :data:`LEASE_MARGIN_SECONDS` (infinite outside an invocation)."""
        return self.remaining() + LEASE_MARGIN_SECONDS


def deadline_dynamodb_client(table: str, deadline: Deadline, options: Any) -> Any:
    """A DynamoDB client whose every attempt fits in the invocation.

    Timeouts of :data:`DYNAMODB_CONNECT_TIMEOUT` + :data:`DYNAMODB_READ_TIMEOUT` per
    attempt; and, through botocore's event hooks, no attempt is started past the
    deadline, nor a retry that could not end before it (the store reports that as a
    StoreError: the event is retried later). Outside an invocation nothing is refused.
    """
    from botocore.exceptions import BotoCoreError

    from .store.dynamodb.client import make_client

    client = make_client(
        table,
        options,
        connect_timeout=DYNAMODB_CONNECT_TIMEOUT,
        read_timeout=DYNAMODB_READ_TIMEOUT,
    )

    class OutOfTime(BotoCoreError):
        fmt = "not sent: {left:.2f} s left before the invocation's deadline, {why}"

    attempt_seconds = DYNAMODB_CONNECT_TIMEOUT + DYNAMODB_READ_TIMEOUT
    attempts = threading.local()

    def before_call(**_: Any) -> None:
        attempts.count = 0

    def before_send(**_: Any) -> None:
        attempts.count = getattr(attempts, "count", 0) + 1
        left = deadline.remaining()
        if left <= 0:
            raise OutOfTime(left=left, why="the deadline has passed")
        if attempts.count > 1 and left < attempt_seconds:
            raise OutOfTime(left=left, why=f"a retry may take {attempt_seconds:g} s")

    client.meta.events.register("before-call.dynamodb", before_call)
    client.meta.events.register("before-send.dynamodb", before_send)
    return client
