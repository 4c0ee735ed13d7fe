"""``process --engine spark``: every Spark task runs the same pipeline over its files.

A task builds its run with the one assembly every door uses (:func:`gcdedup.assembly.assemble`:
store, cache, handler, pipeline) and runs
claim -> handler -> complete/release over the events of its input files. Claims
are what make Spark's task retries and speculative copies safe: a key completed
by a failed attempt is a duplicate for the next one, a key an attempt died
holding is in flight until its lease lapses. Only a store every task can reach
is accepted (``dynamodb://``): a SQLite file or memory belongs to one machine.
Each task returns its :class:`~gcdedup.outcomes.RunReport`; the driver adds them up.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from ..errors import UsageError
from ..handlers import build_handler
from ..outcomes import REPORT_SAMPLES, Mode, RunReport
from ..settings import Settings
from ..sources import EventReader, expand_paths
from .stats import s3_path

#: Store schemes every Spark task can reach.
SHARED_SCHEMES = ("dynamodb://",)


def require_shared_store(url: str) -> None:
    """Refuse a store only this machine can see (each task would dedup alone)."""
    if not url.startswith(SHARED_SCHEMES):
        scheme = url.split("://", 1)[0] if "://" in url else url
        raise UsageError(
            f"--engine spark needs a store every Spark task can reach (dynamodb://TABLE); "
            f"{scheme}:// is one machine's store: use --engine python with it"
        )


def run_files(
    paths: Iterable[str], settings: Settings, mode: Mode, handler: str | None, fmt: str
) -> Iterator[RunReport]:
    """One task: its files through one pipeline; yields the task's report."""
    files = list(paths)
    if not files:
        return
    from ..assembly import assemble

    with assemble(replace(settings, handler=handler, genesys=False), mode=mode) as run:
        yield run.pipeline.run(EventReader(files, fmt))


def merge_reports(into: RunReport, other: RunReport) -> RunReport:
    """Add one task's counts and samples to the run's report."""
    into.counts.update(other.counts)
    for topic, counts in other.by_topic.items():
        into.by_topic.setdefault(topic, type(counts)()).update(counts)
    into.bad_records.extend(other.bad_records[: REPORT_SAMPLES - len(into.bad_records)])
    into.failures.extend(other.failures[: REPORT_SAMPLES - len(into.failures)])
    lapse = other.in_flight_lapse_at
    if lapse is not None and (into.in_flight_lapse_at is None or lapse < into.in_flight_lapse_at):
        into.in_flight_lapse_at = lapse
    return into


def process_spark(
    spark: Any,
    paths: Sequence[str],
    settings: Settings,
    mode: Mode = Mode.PROCESS,
    handler: str | None = None,
    fmt: str = "auto",
) -> RunReport:
    """Run ``paths`` through the pipeline in Spark tasks (one file per task at most)."""
    require_shared_store(settings.store_url)
    if any(p == "-" or p.startswith("sqs://") for p in paths):
        raise UsageError("the Spark engine reads files and object stores, not stdin or queues")
    if handler and mode is Mode.PROCESS:
        build_handler(handler).close()  # a wrong spec fails here, not in every task
    files = expand_paths([s3_path(p) for p in paths])
    report = RunReport(mode, settings.run_id, settings.key_strategy, settings.namespace)
    if not files:
        return report
    task = functools.partial(run_files, settings=settings, mode=mode, handler=handler, fmt=fmt)
    rdd = spark.sparkContext.parallelize(files, len(files)).mapPartitions(task)
    for part in rdd.toLocalIterator():
        merge_reports(report, part)
    return report
