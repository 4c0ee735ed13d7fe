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
from typing import IO, TYPE_CHECKING, Annotated, Any

import orjson
import typer

from ..assembly import assemble
from ..errors import UsageError
from ..events import Event, KeyedEvent
from ..keys import NO_KEY, KeyMaker
from ..pipeline import EventOutcome, EventResult, Mode, Pipeline, RunReport
from ..settings import Settings, env_name
from ..sources.inputs import Source, open_source, parse_inputs
from ..sources.window import Window
from .common import (
    BatchOpt,
    FormatOpt,
    JobsOpt,
    JsonOpt,
    LeaseOpt,
    NamespaceOpt,
    PathsArg,
    RunIdOpt,
    StoreOpt,
    StrategyOpt,
    StrictOpt,
    TtlOpt,
    WindowSinceOpt,
    WindowUntilOpt,
    handle_errors,
    note,
    setting_option,
    settings_from,
    stdin_hint,
)
from .engine import EngineOpt, SparkMasterOpt, engine_name, exit_code, spark_process
from .handler_output import failures_told_once, whole_lines
from .output import Output, duration
from .params import mode_choice
from .process_report import render
from .queue_mode import queue_mode

if TYPE_CHECKING:
    from ..sources.sqs import SqsDrain

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
            parser=mode_choice,
            help=note(
                "process: claim, run the handler, complete. check: read only, report what "
                "would be skipped. seed: mark as seen without running the handler.",
                default="process",
            ),
            show_default=False,
            rich_help_panel="Handler",
        ),
    ] = Mode.PROCESS,
    store: StoreOpt = None,
    namespace: NamespaceOpt = None,
    key: StrategyOpt = None,
    handler: Annotated[str | None, setting_option("handler")] = None,
    genesys: Annotated[
        bool,
        setting_option(
            "genesys",
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
            rich_help_panel="Handler",
        ),
    ] = None,
    genesys_client_id: Annotated[
        str | None,
        typer.Option(
            "--genesys-client-id",
            metavar="ID",
            help=note("OAuth client id.", env="GENESYSCLOUD_OAUTHCLIENT_ID"),
            show_default=False,
            rich_help_panel="Handler",
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
            rich_help_panel="Output",
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
            rich_help_panel="Output",
        ),
    ] = False,
    create: Annotated[
        bool,
        typer.Option(
            "--create",
            help="Create the SQLite store's directory if it does not exist (without it, a "
            "missing directory is an error, so a mistyped path never starts an empty store).",
            rich_help_panel="Store",
        ),
    ] = False,
    since: WindowSinceOpt = None,
    until: WindowUntilOpt = None,
    max_messages: Annotated[
        int | None,
        typer.Option(
            "--max-messages",
            metavar="N",
            help=note(
                "With an sqs://queue input: stop after this many messages.",
                default="until the queue is empty",
            ),
            show_default=False,
            rich_help_panel="Input",
        ),
    ] = None,
    wait_in_flight: Annotated[
        bool,
        typer.Option(
            "--wait-in-flight",
            help="Events claimed by another worker: wait until its stored lease lapses and "
            "process what it left (a worker that died), instead of only reporting them.",
            rich_help_panel="Handler",
        ),
    ] = False,
    on_conflict: Annotated[str | None, setting_option("on_conflict")] = None,
    on_unkeyable: Annotated[str | None, setting_option("on_unkeyable")] = None,
    count_duplicates: Annotated[bool | None, setting_option("count_duplicates")] = None,
    read_ahead: Annotated[bool | None, setting_option("read_ahead")] = None,
    save_result: Annotated[bool | None, setting_option("save_result")] = None,
    cache_size: Annotated[int | None, setting_option("cache_size", min=0)] = None,
    engine: EngineOpt = "python",
    spark_master: SparkMasterOpt = None,
) -> None:
    """Run events through the dedup store once each.

    Each new event is claimed, handled and completed; duplicates are skipped; a
    failed handler releases its claim so the next run processes that event again.

    Ctrl-C or SIGTERM stops starting events: running handlers finish and are
    completed, unstarted claims are released, and the exit code is 130 or 143
    (a second signal stops at once; its claims lapse with their lease).

    An sqs://queue-name input drains the queue: a message is deleted only when a
    handler succeeded for its event or its key was completed (failed ones return after
    their visibility timeout); without a handler the run is a read-only --mode check,
    and --mode seed marks events done and deletes their messages.

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
        handler=handler,
        genesys=genesys or None,
    )
    if engine_name(engine) == "spark":
        # the window is refused too: Spark tasks read whole files, events unwindowed
        refused = {
            "--out": out,
            "--genesys": genesys,
            "--wait-in-flight": wait_in_flight,
            "--since": since,
            "--until": until,
        }
        report = spark_process(paths, settings, mode, handler, fmt, spark_master, refused)
        render(output, report, settings, [], paths, [], quiet, None)
        raise typer.Exit(exit_code(report, strict))
    window = Window.parse(since, until)
    sources = parse_inputs(paths)
    stdin_hint(paths, output)
    keyless: list[EventResult] = []
    with ExitStack() as stack:
        source = stack.enter_context(
            open_source(
                sources,
                fmt,
                window=window,
                max_messages=max_messages,
                read_ahead=_read_ahead_keys(settings, mode),
            )
        )
        drain = source.queue
        if drain is not None:  # what a run may do to the queue's messages
            handled = settings.handler is not None or bool(settings.genesys)
            mode = queue_mode(output, drain.source, mode, handled)
            drain.mode, drain.handler = mode, handled
        run = stack.enter_context(
            assemble(
                settings,
                mode=mode,
                create=create,
                store_options=_store_options(concurrency, settings),
                genesys={"region": genesys_region, "client_id": genesys_client_id},
            )
        )
        pipeline = run.pipeline
        sink = _open_out(stack, out)
        if json_output or str(out) == "-":
            # stdout carries the results: a handler's print() goes to stderr instead
            stack.enter_context(contextlib.redirect_stdout(sys.stderr))
        in_flight: list[Event | KeyedEvent] = []
        stack.enter_context(failures_told_once())  # render() lists them, with the reason
        with _stop_on_signals(pipeline, drain) as stopped_by:
            try:
                report = _run(pipeline, source, output, sink, in_flight, keyless)
            except KeyboardInterrupt:
                if not stopped_by:
                    raise
                # A second signal stopped at once: report what the whole batches did
                # (the rest lapse with their lease), in --json too.
                report, wait_in_flight = pipeline.report, False
                output.info(
                    "stopped at once: the handlers of the last batch were not completed; "
                    "their claims lapse with their lease"
                )
            if wait_in_flight and in_flight:
                with whole_lines():  # handlers may run again
                    left = pipeline.settle_in_flight(
                        report,
                        in_flight,
                        on_wait=lambda n, s: output.info(
                            f"waiting {duration(s)} for the lease on {n:,} in-flight event(s) "
                            "to lapse"
                        ),
                    )
                if left:
                    output.info(f"{len(left):,} event(s) are still claimed by a live worker")
    render(output, report, settings, stopped_by, paths, keyless, quiet, source.queue)
    if stopped_by:
        raise typer.Exit(128 + stopped_by[0])
    if report.failed or report.lease_lost or (strict and (report.bad_record or not report.events)):
        raise typer.Exit(1)
    if strict and report.in_flight and mode is Mode.PROCESS:
        raise typer.Exit(EXIT_IN_FLIGHT)


@contextlib.contextmanager
def _stop_on_signals(pipeline: Pipeline, drain: SqsDrain | None) -> Iterator[list[int]]:
    """SIGINT and SIGTERM ask the pipeline (and a queue: no more receives) to stop (the
    list gets the signal's number); a second one interrupts at once. Only the main
    thread can install handlers."""
    stopped: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield stopped
        return

    def on_signal(signum: int, _frame: object) -> None:
        if stopped:
            raise KeyboardInterrupt
        stopped.append(signum)
        pipeline.request_stop()
        if drain is not None:
            drain.request_stop()
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


def _read_ahead_keys(settings: Settings, mode: Mode) -> KeyMaker | None:
    """Read ahead when nothing needs an event's payload: no handler runs and an
    unkeyable event is a bad record (see gcdedup.sources.keyed)."""
    handled = mode is Mode.PROCESS and (settings.handler is not None or settings.genesys)
    if not settings.read_ahead or handled or settings.on_unkeyable != "fail":
        return None
    return KeyMaker.create(settings.key_strategy, settings.namespace)


def _store_options(flag: int | None, settings: Settings) -> dict[str, Any]:
    """Pass --concurrency (or its variable) to the store only when it was given,
    so a ``dynamodb://T?concurrency=N`` URL keeps its own value otherwise."""
    if flag is None and not os.environ.get(env_name("concurrency")):
        return {}
    return {"concurrency": settings.concurrency}


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
    source: Source,
    output: Output,
    sink: IO[bytes] | None,
    in_flight: list[Event | KeyedEvent],
    keyless: list[EventResult],
) -> RunReport:
    """Run the source through the pipeline; ``in_flight`` collects the events found
    claimed elsewhere (for --wait-in-flight: they are few, so kept in memory),
    ``keyless`` the first event the key strategy gave no key."""
    settle = source.settle if source.queue is not None else None

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
        if settle is not None:
            settle(result)

    # whole_lines inside the progress bar's own redirection: handlers print whole lines
    with output.progress(source.total_bytes) as progress, whole_lines():
        tick = None
        if progress is not None:
            task = progress.add_task("MB read", total=source.total_bytes)

            def tick() -> None:
                progress.update(task, completed=source.bytes_read)

        return pipeline.run(source.records(), on_result=on_result, on_batch=tick)
