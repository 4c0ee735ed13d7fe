"""``gcdedup process``: run event files through the dedup store (and a handler)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Annotated, Any

import orjson
import typer

from ..errors import UsageError
from ..events import Event
from ..handlers import Handler, build_handler
from ..pipeline import EventOutcome, EventResult, Mode, Pipeline, RunReport
from ..settings import ENV_VARS, Settings
from ..sources import EventReader
from ..sources.s3 import with_window
from ..sources.sqs import SqsDrain, sqs_input
from ..store import open_store
from ..store.cache import CachedStore
from .common import (
    BatchOpt,
    FormatOpt,
    JobsOpt,
    JsonOpt,
    LeaseOpt,
    NamespaceOpt,
    PathsArg,
    RunIdOpt,
    SinceOpt,
    StoreOpt,
    StrategyOpt,
    StrictOpt,
    TtlOpt,
    UntilOpt,
    handle_errors,
    inputs,
    note,
    settings_from,
    stdin_hint,
)
from .output import Output, duration, percent, rate

#: How many bad records and failures are listed on stderr (all are counted).
SHOWN = 10

#: --strict and events left claimed by another worker (documented in --help).
EXIT_IN_FLIGHT = 3

#: The error of a record whose event the key strategy gave no key (see the pipeline).
NO_KEY = "no key: "

#: Column headers of the by-topic table, in the words of the summary table.
STATUS_HEADERS = {
    EventOutcome.DUPLICATE: "duplicates",
    EventOutcome.CONFLICT: "conflicts",
    EventOutcome.IN_FLIGHT: "in flight elsewhere",
    EventOutcome.NOT_STARTED: "not started",
    EventOutcome.NEW: "new",
}


@handle_errors
def process(
    paths: PathsArg,
    mode: Annotated[
        Mode,
        typer.Option(
            "--mode",
            "-m",
            metavar="MODE",
            help=note(
                "process: claim, run the handler, complete. check: read only, report what "
                "would be skipped. seed: mark as seen without running the handler.",
                default="process",
            ),
            case_sensitive=False,
            show_default=False,
        ),
    ] = Mode.PROCESS,
    store: StoreOpt = None,
    namespace: NamespaceOpt = None,
    key: StrategyOpt = None,
    handler: Annotated[
        str | None,
        typer.Option(
            "--handler",
            metavar="MODULE:FUNCTION",
            help=note(
                "Run MODULE:FUNCTION on each new event (it gets the EventBridge event as a "
                "dict; raising fails the event).",
                default="count only",
                env="GCDEDUP_HANDLER",
            ),
            envvar="GCDEDUP_HANDLER",
            show_envvar=False,
            show_default=False,
        ),
    ] = None,
    genesys: Annotated[
        bool,
        typer.Option(
            "--genesys",
            help="Fetch each new conversation event's conversation from the Genesys Cloud "
            "API. Credentials: GENESYSCLOUD_OAUTHCLIENT_ID, GENESYSCLOUD_OAUTHCLIENT_SECRET "
            "(environment only, never a flag), GENESYSCLOUD_REGION.",
        ),
    ] = False,
    genesys_region: Annotated[
        str | None,
        typer.Option(
            "--genesys-region",
            metavar="REGION",
            help=note(
                "Genesys Cloud region: a domain (mypurecloud.ie) or an AWS-style name (eu-west-1).",
                env="GENESYSCLOUD_REGION",
            ),
            show_default=False,
        ),
    ] = None,
    genesys_client_id: Annotated[
        str | None,
        typer.Option(
            "--genesys-client-id",
            metavar="ID",
            help=note("OAuth client id.", env="GENESYSCLOUD_OAUTHCLIENT_ID"),
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE",
            help="Write one JSON line per record (location, key, topic, outcome, error, "
            "handler result) to FILE; '-' for stdout, with --quiet (no tables).",
            show_default=False,
        ),
    ] = None,
    fmt: FormatOpt = "auto",
    strict: StrictOpt = False,
    ttl: TtlOpt = None,
    lease: LeaseOpt = None,
    concurrency: JobsOpt = None,
    batch_size: BatchOpt = None,
    run_id: RunIdOpt = None,
    json_output: JsonOpt = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="No tables on stdout (warnings and errors still go to stderr); needed by --out -.",
        ),
    ] = False,
    create: Annotated[
        bool,
        typer.Option(
            "--create",
            help="Create the SQLite store's directory if it does not exist (without it, a "
            "missing directory is an error, so a mistyped path never starts an empty store).",
        ),
    ] = False,
    since: SinceOpt = None,
    until: UntilOpt = None,
    max_messages: Annotated[
        int | None,
        typer.Option(
            "--max-messages",
            help=note(
                "With an sqs://queue input: stop after this many messages.",
                default="until the queue is empty",
            ),
            show_default=False,
        ),
    ] = None,
    wait_in_flight: Annotated[
        bool,
        typer.Option(
            "--wait-in-flight",
            help="Events claimed by another worker: wait until its stored lease lapses and "
            "process what it left (a worker that died), instead of only reporting them.",
        ),
    ] = False,
    on_conflict: Annotated[
        str | None,
        typer.Option(
            "--on-conflict",
            help=note(
                "A completed key delivered again with another payload (a conflict): skip it "
                "(reported), process it again (its claim takes the record over) or fail it "
                "(the record is left as it was).",
                default="skip",
                env="GCDEDUP_ON_CONFLICT",
            ),
            metavar="skip|process|fail",
            show_default=False,
        ),
    ] = None,
    on_unkeyable: Annotated[
        str | None,
        typer.Option(
            "--on-unkeyable",
            help=note(
                "An event the key strategy cannot key: fail (a bad record) or process it "
                "without deduplication.",
                default="fail",
                env="GCDEDUP_ON_UNKEYABLE",
            ),
            metavar="fail|process",
            show_default=False,
        ),
    ] = None,
    count_duplicates: Annotated[
        bool | None,
        typer.Option(
            "--count-duplicates/--no-count-duplicates",
            help=note(
                "Keep a per-key duplicate counter (dup_count) in the store: one more write "
                "per duplicate on DynamoDB.",
                default="on",
                env="GCDEDUP_COUNT_DUPLICATES",
            ),
            show_default=False,
        ),
    ] = None,
    save_result: Annotated[
        bool | None,
        typer.Option(
            "--save-result/--no-save-result",
            help=note(
                "Keep each handler's JSON return value (up to 64 KiB) with its record; "
                "duplicates then carry it in --out.",
                default="off",
                env="GCDEDUP_SAVE_RESULT",
            ),
            show_default=False,
        ),
    ] = None,
    cache_size: Annotated[
        int | None,
        typer.Option(
            "--cache-size",
            min=0,
            help=note(
                "Remember this many completed keys in memory, so a repeat delivery of one "
                "is answered without a store request (0: no cache).",
                default="0",
                env="GCDEDUP_CACHE_SIZE",
            ),
            metavar="KEYS",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run events through the dedup store once each.

    Each new event is claimed, handled and completed; duplicates are skipped; a
    failed handler releases its claim so the next run processes that event again.

    Ctrl-C or SIGTERM stops starting events: running handlers finish and are
    completed, unstarted claims are released, and the exit code is 130 or 143
    (a second signal stops at once; its claims lapse with their lease).

    An sqs://queue-name input drains the queue: messages whose event was processed
    or a duplicate are deleted, the others return after their visibility timeout.

    Example: gcdedup process sample_events/ --store sqlite:///dedup.sqlite3
    """
    output = Output(json_output)
    if genesys and handler:
        raise UsageError("--genesys and --handler are exclusive: choose one handler")
    if str(out) == "-" and json_output:
        raise UsageError("--out - and --json both write to stdout: choose one")
    if str(out) == "-" and not quiet:
        raise UsageError(
            "--out - writes JSON lines to stdout, where the tables go too: add --quiet "
            "(warnings still go to stderr), or give --out a file"
        )
    settings = settings_from(
        store_url=store,
        namespace=namespace,
        key_strategy=key,
        ttl_seconds=ttl,
        lease_seconds=lease,
        concurrency=concurrency,
        batch_size=batch_size,
        run_id=run_id,
        on_conflict=on_conflict,
        on_unkeyable=on_unkeyable,
        count_duplicates=count_duplicates,
        cache_size=cache_size,
        save_result=save_result,
    )
    queue = sqs_input(paths)
    if max_messages is not None and queue is None:
        raise UsageError("--max-messages needs an sqs://queue input")
    stdin_hint(paths, output)
    keyless: list[EventResult] = []
    with ExitStack() as stack:
        reader: EventReader | SqsDrain
        if queue is not None:
            reader = stack.enter_context(SqsDrain(queue, max_messages))
        else:
            reader = EventReader(with_window(paths, since, until), fmt)
        event_handler = _build_handler(
            stack, mode, handler, genesys, genesys_region, genesys_client_id, settings
        )
        dedup = stack.enter_context(
            open_store(
                settings.store_url,
                run_id=settings.run_id,
                create=create,
                **_store_options(concurrency, settings),
            )
        )
        if settings.cache_size:  # GCDEDUP_CACHE_SIZE: repeats of keys completed in this run
            dedup = CachedStore(dedup, settings.cache_size)
        pipeline = stack.enter_context(Pipeline(dedup, settings, event_handler, mode))
        sink = _open_out(stack, out)
        if json_output or str(out) == "-":
            # stdout carries the results: a handler's print() goes to stderr instead
            stack.enter_context(contextlib.redirect_stdout(sys.stderr))
        in_flight: list[Event] = []
        with _stop_on_signals(pipeline) as stopped_by:
            report = _run(pipeline, reader, output, sink, in_flight, keyless)
            if wait_in_flight and in_flight:
                left = pipeline.settle_in_flight(
                    report,
                    in_flight,
                    on_wait=lambda n, s: output.info(
                        f"waiting {duration(s)} for the lease on {n:,} in-flight event(s) to lapse"
                    ),
                )
                if left:
                    output.info(f"{len(left):,} event(s) are still claimed by a live worker")
    _render(output, report, settings, stopped_by, paths, keyless, quiet, reader)
    if stopped_by:
        raise typer.Exit(128 + stopped_by[0])
    if report.failed or report.lease_lost or (strict and (report.bad_record or not report.events)):
        raise typer.Exit(1)
    if strict and report.in_flight and mode is Mode.PROCESS:
        raise typer.Exit(EXIT_IN_FLIGHT)


@contextlib.contextmanager
def _stop_on_signals(pipeline: Pipeline) -> Iterator[list[int]]:
    """SIGINT and SIGTERM ask the pipeline to stop (the list gets the signal's number);
    a second one interrupts at once. Only the main thread can install handlers."""
    stopped: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield stopped
        return

    def on_signal(signum: int, _frame: object) -> None:
        if stopped:
            raise KeyboardInterrupt
        stopped.append(signum)
        pipeline.request_stop()
        name = signal.Signals(signum).name
        Output.error_console().print(
            f"{name}: finishing running handlers, starting no more (again: stop without "
            "completing them)",
            highlight=False,
            markup=False,
        )

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stopped
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _store_options(flag: int | None, settings: Settings) -> dict[str, Any]:
    """Pass --concurrency (or GCDEDUP_CONCURRENCY) to the store only when it was given,
    so a ``dynamodb://T?concurrency=N`` URL keeps its own value otherwise."""
    if flag is None and not os.environ.get(ENV_VARS["concurrency"]):
        return {}
    return {"concurrency": settings.concurrency}


def _build_handler(
    stack: ExitStack,
    mode: Mode,
    spec: str | None,
    genesys: bool,
    region: str | None,
    client_id: str | None,
    settings: Settings,
) -> Handler | None:
    if mode is not Mode.PROCESS:
        return None
    genesys_settings = None
    if genesys:
        from ..genesys.settings import GenesysSettings

        genesys_settings = GenesysSettings.from_env(
            region=region, client_id=client_id, pool_size=settings.concurrency
        )
    return stack.enter_context(build_handler(spec, genesys_settings)).handler


def _open_out(stack: ExitStack, out: Path | None) -> IO[bytes] | None:
    if out is None:
        return None
    if str(out) == "-":
        return sys.stdout.buffer
    try:
        return stack.enter_context(out.open("wb"))
    except OSError as exc:
        raise UsageError(f"cannot write --out file {out}: {exc.strerror or exc}") from exc


def _run(
    pipeline: Pipeline,
    reader: EventReader | SqsDrain,
    output: Output,
    sink: IO[bytes] | None,
    in_flight: list[Event],
    keyless: list[EventResult],
) -> RunReport:
    """Run the reader through the pipeline; ``in_flight`` collects the events found
    claimed elsewhere (for --wait-in-flight: they are few, so kept in memory),
    ``keyless`` the first event the key strategy gave no key."""

    def on_result(result: EventResult) -> None:
        if sink is not None:
            sink.write(orjson.dumps(result.to_dict(), option=orjson.OPT_NON_STR_KEYS) + b"\n")
        if result.status is EventOutcome.IN_FLIGHT and result.event is not None:
            in_flight.append(result.event)
        elif (
            not keyless
            and result.status is EventOutcome.BAD_RECORD
            and (result.error or "").startswith(NO_KEY)
        ):
            keyless.append(result)
        if isinstance(reader, SqsDrain):
            reader.settle(result.status.value, result.location.record)

    with output.progress(reader.total_bytes) as progress:
        tick = None
        if progress is not None:
            task = progress.add_task("MB read", total=reader.total_bytes)

            def tick() -> None:
                progress.update(task, completed=reader.bytes_read)

        return pipeline.run(reader, on_result=on_result, on_batch=tick)


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
    if report.events == 0 and not stopped_by:
        found.append(f"no events found in {inputs(paths)}")
    elif report.valid_events == 0 and keyless:
        found.append(
            f"key strategy {settings.key_strategy!r} gave no key for any of the "
            f"{report.bad_record:,} records ({keyless[0].error})"
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


def _render(
    output: Output,
    report: RunReport,
    settings: Settings,
    stopped_by: list[int],
    paths: list[str],
    keyless: list[EventResult],
    quiet: bool,
    reader: EventReader | SqsDrain,
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
        output.warn(f"failed at {failure.location}: {failure.error}")
    if report.failed > SHOWN:
        output.warn(f"... and {report.failed - SHOWN} more failures (--out lists all)")
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
        ("duplicate rate", percent(rate(report.duplicate, events))),
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
        output.line(
            f"queue: {reader.source}: {c.received:,} received, {c.deleted:,} deleted, "
            f"{c.left:,} left to return after the visibility timeout"
        )
