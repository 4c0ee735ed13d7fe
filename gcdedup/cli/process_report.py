"""What a ``gcdedup process`` run shows: its warnings, its tables, its JSON report."""

from __future__ import annotations

import signal
import time
from typing import Any

from ..outcomes import EventOutcome, EventResult, Mode, RunReport
from ..settings import Settings
from ..sources.sqs import SqsDrain
from .common import inputs
from .output import Output, duration, percent

#: How many bad records and failures are listed on stderr (all are counted).
SHOWN = 10

#: Column headers of the by-topic table, in the words of the summary table.
STATUS_HEADERS = {
    EventOutcome.DUPLICATE: "duplicates",
    EventOutcome.CONFLICT: "conflicts",
    EventOutcome.IN_FLIGHT: "in flight elsewhere",
    EventOutcome.NOT_STARTED: "not started",
    EventOutcome.NEW: "new",
}


def warnings_for(
    report: RunReport,
    settings: Settings,
    stopped_by: list[int],
    now: float,
    paths: list[str] | None = None,
    keyless: list[EventResult] | None = None,
) -> list[str]:
    """What a user must act on, in words: printed on stderr, listed in --json."""
    found: list[str] = []
    if report.valid_events == 0 and keyless and not stopped_by:
        found.append(
            f"key strategy {settings.key_strategy!r} gave no key for any of the "
            f"{report.bad_record:,} records ({keyless[0].error})"
        )
    elif report.valid_events == 0 and not stopped_by:
        # whatever the cause: no input, only bad records, a window that excludes all
        bad = f" ({report.bad_record:,} bad records)" if report.bad_record else ""
        found.append(f"no events found in {inputs(paths)}{bad}")
    if report.failed:
        found.append(
            f"{report.failed:,} of {report.valid_events:,} event(s) failed in the handler; "
            "their claims were released, so the next run processes them again"
        )
    if stopped_by:
        name = signal.Signals(stopped_by[0]).name
        found.append(
            f"stopped by {name}: {report.not_started:,} claimed event(s) were released "
            "unstarted and later input was not read; run again to process them"
        )
    if report.lease_lost:
        found.append(
            f"{report.lease_lost:,} event(s) were handled after their claim was taken over "
            "(their lease lapsed): another worker may have handled them too; use a longer "
            "--lease"
        )
    if report.in_flight and report.mode is Mode.PROCESS:
        lapse = report.in_flight_lapse_at
        when = (
            f"the earliest of their claims lapses in {duration(max(lapse - now, 0))}"
            if lapse is not None
            else "when their claims lapse is not known"
        )
        found.append(
            f"{report.in_flight:,} event(s) are claimed by another worker and were not "
            f"processed here; {when}: if that worker died, run again then, or use "
            "--wait-in-flight"
        )
    return found


def render(
    output: Output,
    report: RunReport,
    settings: Settings,
    stopped_by: list[int],
    paths: list[str],
    keyless: list[EventResult],
    quiet: bool,
    reader: object,
) -> None:
    data = report.to_dict()
    data["store"] = settings.store_url
    if isinstance(reader, SqsDrain):
        data["queue"] = {"url": reader.queue_url, **reader.counts.to_dict()}
    data["warnings"] = warnings_for(report, settings, stopped_by, time.time(), paths, keyless)
    if output.json_mode:
        output.json(data)
        return
    for bad in report.bad_records[:SHOWN]:
        output.warn(f"bad record at {bad}")
    if report.bad_record > SHOWN:
        output.warn(f"... and {report.bad_record - SHOWN} more bad records (--out lists all)")
    for failure in report.failures[:SHOWN]:
        output.warn(f"handler failed at {failure.location}: {failure.error}")
    if report.failed > SHOWN:
        output.warn(f"... and {report.failed - SHOWN} more handler failures (--out lists all)")
    for warning in data["warnings"]:
        output.warn(warning)
    if quiet:
        return
    events = report.valid_events
    rows: list[tuple[str, Any]] = [("events", events)]
    if report.mode is Mode.PROCESS:
        rows += [("processed", report.processed), ("failed", report.failed)]
        if report.not_started:
            rows.append(("not started (stopped)", report.not_started))
    elif report.mode is Mode.SEED:
        rows += [("seeded", report.seeded)]
    else:
        rows += [("new (would be processed)", report.new)]
    rows += [
        ("duplicates", report.duplicate),
        ("conflicts", report.conflicts),
        ("in flight elsewhere", report.in_flight),
        ("bad records", report.bad_record),
        ("duplicate rate", percent(report.duplicate_rate)),
    ]
    if report.lease_lost:
        rows.append(("claims lost to lease expiry", report.lease_lost))
    if report.unkeyed:
        rows.append(("processed without a key", report.unkeyed))
    output.table(
        f"{report.mode.value}: {settings.key_strategy} keys, namespace {settings.namespace}, "
        f"run {settings.run_id}",
        ["", "count"],
        rows,
        numeric=["count"],
    )
    shown_statuses = [
        s
        for s in EventOutcome
        if s is not EventOutcome.BAD_RECORD and any(s.value in c for c in report.by_topic.values())
    ]
    if report.by_topic:
        # the same words as the summary table ("duplicates", "in flight elsewhere")
        headers = [STATUS_HEADERS.get(s, s.value) for s in shown_statuses]
        output.table(
            "by topic",
            ["topic", "events", *headers],
            (
                [topic, counts["events"], *[counts.get(s.value, 0) for s in shown_statuses]]
                for topic, counts in sorted(report.by_topic.items())
            ),
            numeric=["events", *headers],
            shorten=["topic"],
        )
    output.line(f"store: {settings.store_url}")
    if isinstance(reader, SqsDrain):
        c = reader.counts
        remaining = "unknown" if c.remaining is None else f"{c.remaining:,}"
        output.line(
            f"queue: {reader.source}: {c.received:,} received, {c.deleted:,} deleted, "
            f"{c.released:,} released, {c.left:,} left to return after the visibility "
            f"timeout; {remaining} message(s) remain in the queue"
        )
