"""Concurrent work with the outcomes of one-at-a-time work: shared by the pipeline and stores.

``waves`` orders a batch so a key repeated in it is answered after its earlier
occurrences (the n-th occurrence of a key is in wave n); the positions inside one
wave hold distinct keys, so they can run in parallel. ``map_in_order`` runs one
wave (or any list of tasks) on a thread pool and gives the results in input order.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Executor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def waves(keys: Sequence[Hashable]) -> list[list[int]]:
    """Positions of ``keys`` in rounds with no key twice: wave n holds the (n+1)-th
    occurrence of each key, in input order. No wave is empty."""
    seen: dict[Hashable, int] = {}
    rounds: list[list[int]] = []
    for index, key in enumerate(keys):
        nth = seen.get(key, 0)
        seen[key] = nth + 1
        if nth == len(rounds):
            rounds.append([])
        rounds[nth].append(index)
    return rounds


def map_in_order(
    fn: Callable[[T], R], args: Sequence[T], executor: Executor | None = None
) -> list[R]:
    """``fn`` over ``args``, results in input order: on ``executor`` when there is one
    and more than one task, inline otherwise.

    When a task fails, the tasks not started yet are cancelled and the running ones are
    waited for before the first failure (in input order) is raised: nothing of this call
    still runs once it has returned or raised, so a caller can undo what did succeed.
    Tasks must not submit to the same executor themselves (a small pool would deadlock).
    """
    if executor is None or len(args) <= 1:
        return [fn(a) for a in args]
    futures = [executor.submit(fn, a) for a in args]
    pending = wait(futures, return_when=FIRST_EXCEPTION).not_done
    if pending:  # a task failed
        for future in pending:
            future.cancel()
        wait(pending)
    for future in futures:
        error = None if future.cancelled() else future.exception()
        if error is not None:
            raise error
    return [future.result() for future in futures]
