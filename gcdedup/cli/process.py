"""``gcdedup process``: run event files through the dedup store (and a handler)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Annotated, Any

import orjson
import typer

from ..errors import UsageError
from ..events import Event, KeyedEvent
from ..handlers import Handler, build_handler
from ..keys import NO_KEY, KeyMaker
from ..pipeline import EventOutcome, EventResult, Mode, Pipeline, RunReport
from ..settings import ENV_VARS, Settings
from ..sources import EventReader
from ..sources.keyed import KeyedReader, can_read_ahead
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
    note,
    settings_from,
    stdin_hint,
)
from .engine import EngineOpt, SparkMasterOpt, engine_name, exit_code, spark_process
from .output import Output, duration
from .process_report import render

#: What the events come from: files (read here or ahead) or a queue.
Reader = EventReader | KeyedReader | SqsDrain

#: --strict and events left claimed by another worker (documented in --help).
EXIT_IN_FLIGHT = 3


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
    read_ahead: Annotated[
        bool | None,
        typer.Option(
            "--read-ahead/--no-read-ahead",
            help=note(
                "When no handler runs (count only, --mode check, --mode seed) and the "
                "inputs are local files, read and key events in a second process while "
                "this one writes to the store: two cores instead of one.",
                default="on",
                env="GCDEDUP_READ_AHEAD",
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
    engine: EngineOpt = "python",
    spark_master: SparkMasterOpt = None,
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
        read_ahead=read_ahead,
    )
    if engine_name(engine) == "spark":
        refused = {"--out": out, "--genesys": genesys, "--wait-in-flight": wait_in_flight}
        paths = with_window(paths, since, until)
        report = spark_process(paths, settings, mode, handler, fmt, spark_master, refused)
        render(output, report, settings, [], paths, [], quiet, None)
        raise typer.Exit(exit_code(report, strict))
    queue = sqs_input(paths)
    if max_messages is not None and queue is None:
        raise UsageError("--max-messages needs an sqs://queue input")
    stdin_hint(paths, output)
    keyless: list[EventResult] = []
    with ExitStack() as stack:
        reader: Reader
        if queue is not None:
            reader = stack.enter_context(SqsDrain(queue, max_messages))
        elif _reads_ahead(settings, mode, handler, genesys, paths):
            keys = KeyMaker.create(settings.key_strategy, settings.namespace)
            reader = stack.enter_context(KeyedReader(paths, keys, fmt))
            reader.start()  # reads while the store opens, before any thread is started
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
        in_flight: list[Event | KeyedEvent] = []
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
    render(output, report, settings, stopped_by, paths, keyless, quiet, reader)
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


def _reads_ahead(
    settings: Settings, mode: Mode, handler: str | None, genesys: bool, paths: list[str]
) -> bool:
    """Read ahead when nothing needs an event's payload: no handler runs and an
    unkeyable event is a bad record (see gcdedup.sources.keyed)."""
    handled = mode is Mode.PROCESS and (handler is not None or genesys)
    return (
        settings.read_ahead
        and not handled
        and settings.on_unkeyable == "fail"
        and can_read_ahead(paths)
    )


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
    reader: Reader,
    output: Output,
    sink: IO[bytes] | None,
    in_flight: list[Event | KeyedEvent],
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
