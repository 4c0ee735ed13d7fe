"""The wave and ordered-map helpers the pipeline and the DynamoDB store share."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from gcdedup.concurrency import map_in_order, waves


def test_waves_put_each_repeat_of_a_key_in_the_next_wave() -> None:
    assert waves(["a", "b", "a", "c", "a", "b"]) == [[0, 1, 3], [2, 5], [4]]
    assert waves([]) == []


def test_map_in_order_keeps_input_order_on_a_pool() -> None:
    with ThreadPoolExecutor(4) as pool:
        assert map_in_order(lambda n: n * n, list(range(20)), pool) == [n * n for n in range(20)]
    assert map_in_order(str, [1, 2]) == ["1", "2"]  # no executor: inline


class WatchedPool(ThreadPoolExecutor):
    """A pool that sets ``last_done`` when the last task submitted is done or cancelled."""

    def __init__(self, workers: int, tasks: int) -> None:
        super().__init__(workers)
        self.tasks, self.submitted = tasks, 0
        self.last_done = threading.Event()

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        future = super().submit(fn, *args, **kwargs)
        self.submitted += 1
        if self.submitted == self.tasks:
            future.add_done_callback(lambda _: self.last_done.set())
        return future


def test_a_failure_cancels_what_has_not_started_and_waits_for_what_runs() -> None:
    pool = WatchedPool(workers=2, tasks=4)
    both_running = threading.Barrier(2)
    started: list[int] = []
    finished: list[int] = []

    def task(n: int) -> int:
        started.append(n)
        if n < 2:
            both_running.wait(timeout=10)
        if n == 0:
            raise ValueError("task 0")
        # Task 1 (and task 2, if a worker took it) run until task 3 was cancelled.
        assert pool.last_done.wait(timeout=10)
        finished.append(n)
        return n

    with pool:
        with pytest.raises(ValueError, match="task 0"):
            map_in_order(task, [0, 1, 2, 3], pool)
        finished_when_raised = list(finished)
    assert 1 in finished_when_raised  # the running task was waited for before the raise
    assert 3 not in started  # the task not started was cancelled
