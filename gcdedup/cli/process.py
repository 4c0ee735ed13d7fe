"""``gcdedup process``: run event files through the dedup store (and a handler)."""

from __future__ import annotations

import contextlib
import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Annotated, Any

import orjson
import typer

from ..errors import UsageError
from ..handlers import Handler, load_handler
from ..pipeline import EventOutcome, EventResult, Mode, Pipeline, RunReport
from ..settings import ENV_VARS, Settings
from ..sources import EventReader
from ..store import open_store
from .common import (
    BatchOpt,
    ConcurrencyOpt,
    FormatOpt,
    JsonOpt,
    LeaseOpt,
    NamespaceOpt,
    PathsArg,
    RunIdOpt,
    StoreOpt,
    StrategyOpt,
    StrictOpt,
    TtlOpt,
    handle_errors,
    settings_from,
)
from .output import Output, percent, rate

#: How many bad records and failures are listed on stderr (all are counted).
SHOWN = 10


@handle_errors
def process(
    paths: PathsArg,
    mode: Annotated[
        Mode,
        typer.Option(
            "--mode",
            "-m",
            help="process: claim, run the handler, complete. check: read only, report what "
            "would be skipped. seed: mark as seen without running the handler.",
            case_sensitive=False,
        ),
    ] = Mode.PROCESS,
    store: StoreOpt = None,
    namespace: NamespaceOpt = None,
    key: StrategyOpt = None,
    handler: Annotated[
        str | None,
        typer.Option(
            "--handler",
            help="Run module:function on each new event (it gets the EventBridge event as a "
            "dict; raising fails the event). Default: count only.",
            envvar="GCDEDUP_HANDLER",
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
            help="Genesys Cloud region: a domain (mypurecloud.ie) or an AWS-style name "
            "(eu-west-1). (env: GENESYSCLOUD_REGION)",
            show_default=False,
        ),
    ] = None,
    genesys_client_id: Annotated[
        str | None,
        typer.Option(
            "--genesys-client-id",
            help="OAuth client id. (env: GENESYSCLOUD_OAUTHCLIENT_ID)",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write one JSON line per record (location, key, topic, outcome, error, "
            "handler result) to this file; '-' for stdout.",
            show_default=False,
        ),
    ] = None,
    fmt: FormatOpt = "auto",
    strict: StrictOpt = False,
    ttl: TtlOpt = None,
    lease: LeaseOpt = None,
    concurrency: ConcurrencyOpt = None,
    batch_size: BatchOpt = None,
    run_id: RunIdOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Run events through the dedup store once each.

    Each new event is claimed, handled and completed; duplicates are skipped; a
    failed handler releases its claim so the next run processes that event again.

    Example: gcdedup process sample_events/ --store sqlite:///dedup.sqlite3
    """
    output = Output(json_output)
    if genesys and handler:
        raise UsageError("--genesys and --handler are exclusive: choose one handler")
    if str(out) == "-" and json_output:
        raise UsageError("--out - and --json both write to stdout: choose one")
    settings = settings_from(
        store_url=store,
        namespace=namespace,
        key_strategy=key,
        ttl_seconds=ttl,
        lease_seconds=lease,
        concurrency=concurrency,
        batch_size=batch_size,
        run_id=run_id,
    )
    reader = EventReader(paths, fmt)
    with ExitStack() as stack:
        event_handler = _build_handler(
            stack, mode, handler, genesys, genesys_region, genesys_client_id, settings
        )
        dedup = stack.enter_context(
            open_store(
                settings.store_url, run_id=settings.run_id, **_store_options(concurrency, settings)
            )
        )
        pipeline = stack.enter_context(Pipeline(dedup, settings, event_handler, mode))
        sink = _open_out(stack, out)
        if json_output or str(out) == "-":
            # stdout carries the results: a handler's print() goes to stderr instead
            stack.enter_context(contextlib.redirect_stdout(sys.stderr))
        report = _run(pipeline, reader, output, sink)
    _render(output, report, settings)
    if report.failed or (strict and report.bad_record):
        raise typer.Exit(1)


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
    if spec:
        return load_handler(spec)
    if genesys:
        from ..genesys.handlers import build_genesys_handler
        from ..genesys.settings import GenesysSettings

        genesys_settings = GenesysSettings.from_env(
            region=region, client_id=client_id, pool_size=settings.concurrency
        )
        conversation_handler = build_genesys_handler(genesys_settings)
        stack.callback(conversation_handler.close)
        return conversation_handler
    return None


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
    pipeline: Pipeline, reader: EventReader, output: Output, sink: IO[bytes] | None
) -> RunReport:
    def write(result: EventResult) -> None:
        assert sink is not None
        sink.write(orjson.dumps(result.to_dict(), option=orjson.OPT_NON_STR_KEYS) + b"\n")

    with output.progress(reader.total_bytes) as progress:
        tick = None
        if progress is not None:
            task = progress.add_task("events", total=reader.total_bytes)

            def tick() -> None:
                progress.update(task, completed=reader.bytes_read)

        return pipeline.run(reader, on_result=write if sink is not None else None, on_batch=tick)


def _render(output: Output, report: RunReport, settings: Settings) -> None:
    data = report.to_dict()
    data["store"] = settings.store_url
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
    if report.in_flight and report.mode is Mode.PROCESS:
        output.warn(
            f"{report.in_flight} event(s) are claimed by another worker and were not processed "
            f"here; if that worker died, run again after its lease ({settings.lease_seconds:g} s)"
        )
    events = report.valid_events
    rows: list[tuple[str, Any]] = [("events", events)]
    if report.mode is Mode.PROCESS:
        rows += [("processed", report.processed), ("failed", report.failed)]
    elif report.mode is Mode.SEED:
        rows += [("seeded", report.seeded)]
    else:
        rows += [("new (would be processed)", report.new)]
    rows += [
        ("duplicates", report.duplicate),
        ("in flight elsewhere", report.in_flight),
        ("bad records", report.bad_record),
        ("duplicate rate", percent(rate(report.duplicate, events))),
    ]
    if report.lease_lost:
        rows.append(("claims lost to lease expiry", report.lease_lost))
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
        output.table(
            "by topic",
            ["topic", "events", *[s.value for s in shown_statuses]],
            (
                [topic, counts["events"], *[counts.get(s.value, 0) for s in shown_statuses]]
                for topic, counts in sorted(report.by_topic.items())
            ),
            numeric=["events", *[s.value for s in shown_statuses]],
        )
    output.line(f"store: {settings.store_url}")
