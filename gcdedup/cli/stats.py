"""``gcdedup stats``: duplicate analysis of event files, or what the dedup store holds."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Any

import typer

from ..analysis import DEFAULT_TTLS, AnalysisOptions, CostModel, analyze
from ..errors import UsageError
from ..settings import parse_duration
from ..sources import EventReader
from ..store import open_store
from .common import (
    FormatOpt,
    JsonOpt,
    NamespaceOpt,
    StoreOpt,
    StrategyOpt,
    StrictOpt,
    handle_errors,
    require_existing_store,
    settings_from,
)
from .output import Output, percent, short_key
from .stats_tables import DedupKey, Rate, Table, report_tables, store_tables


@handle_errors
def stats(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="Event files, directories or globs; '-' reads stdin (any input format). "
            "Leave out with --store.",
            show_default=False,
        ),
    ] = None,
    store: StoreOpt = None,
    key: StrategyOpt = None,
    namespace: NamespaceOpt = None,
    fmt: FormatOpt = "auto",
    json_output: JsonOpt = False,
    csv_dir: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            help="Also write every table as <DIR>/<table>.csv (created if missing).",
            show_default=False,
        ),
    ] = None,
    compare: Annotated[
        str | None,
        typer.Option(
            "--compare",
            help="Comma-separated key strategies to compare, "
            "e.g. genesys,envelope,content,tutorial.",
            show_default=False,
        ),
    ] = None,
    ttl: Annotated[
        list[str] | None,
        typer.Option(
            "--ttl",
            help="A TTL to add to the what-if (1h, 6h, 24h and 4d are always tried); repeatable.",
            show_default=False,
        ),
    ] = None,
    top: Annotated[int, typer.Option("--top", min=0, help="Show the N most duplicated keys.")] = 10,
    price_write: Annotated[
        float,
        typer.Option(
            "--price-write",
            min=0.0,
            help="USD per million DynamoDB on-demand write units (example: us-east-1 list price).",
        ),
    ] = CostModel.price_write,
    price_read: Annotated[
        float,
        typer.Option(
            "--price-read",
            min=0.0,
            help="USD per million DynamoDB on-demand read units (example: us-east-1 list price).",
        ),
    ] = CostModel.price_read,
    per_day: Annotated[
        float | None,
        typer.Option(
            "--per-day",
            min=0.0,
            help="Events per day for the cost estimate. [default: observed from envelope times]",
            show_default=False,
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help=(
                "Processes for large inputs (byte ranges of plain JSON Lines, other files "
                "whole). [default: every core]"
            ),
            show_default=False,
        ),
    ] = None,
    parallel_threshold: Annotated[
        int,
        typer.Option(
            "--parallel-threshold", min=0, hidden=True, help="Bytes before going parallel."
        ),
    ] = AnalysisOptions.parallel_threshold,
    strict: StrictOpt = False,
) -> None:
    """Measure duplicates: per kind, topic and file; compare key strategies; gaps, TTL, cost.

    With files: reads them once and reports. With --store URL and no files: what
    the dedup table holds. Example: gcdedup stats events.jsonl --compare genesys,envelope
    """
    output = Output(json_output)
    if store is not None and paths:
        raise UsageError("give event files or --store URL, not both")
    if store is None and not paths:
        raise UsageError("give event files to analyse, or --store URL to summarise a store")
    if store is not None:
        if namespace is not None:
            raise UsageError(
                "--namespace selects keys of event files; with --store, every namespace is "
                "summarised (see the by-namespace table)"
            )
        _store_stats(output, store, csv_dir)
        return

    settings = settings_from(namespace=namespace, key_strategy=key)
    ttls = list(DEFAULT_TTLS)
    for text in ttl or []:
        ttls.append(int(parse_duration(text, "--ttl")))
    options = AnalysisOptions(
        strategy=settings.key_strategy,
        namespace=settings.namespace,
        fmt=fmt,
        compare=tuple(s.strip() for s in compare.split(",") if s.strip()) if compare else (),
        ttls=tuple(ttls),
        top=top,
        cost=CostModel(
            price_write=price_write,
            price_read=price_read,
            events_per_day=per_day,
            ttl_seconds=settings.ttl_seconds,
        ),
        jobs=jobs,
        parallel_threshold=parallel_threshold,
    )
    total = EventReader(paths or [], fmt).total_bytes
    with output.progress(total) as bar:
        on_bytes = None
        if bar is not None:
            task = bar.add_task("reading", total=total)

            def on_bytes(n: int) -> None:
                bar.advance(task, n)

        report = analyze(paths or [], options, on_bytes=on_bytes)
    tables = report_tables(report.to_dict())
    if csv_dir is not None:
        _write_csv(csv_dir, tables)
    if json_output:
        output.json(report.to_dict())
    else:
        _render(output, tables)
    if csv_dir is not None:
        output.info(f"wrote {len(tables)} CSV files to {csv_dir}")
    if report["bad_records"]:
        output.warn(f"{report['bad_records']:,} bad record(s) skipped")
        if strict:
            raise typer.Exit(1)


def _store_stats(output: Output, url: str, csv_dir: Path | None) -> None:
    require_existing_store(url)
    with open_store(url) as dedup:
        dedup.verify()
        summary = dedup.summary().to_dict()
    doc: dict[str, Any] = {"mode": "store", "store": url, **summary}
    tables = store_tables(doc)
    if csv_dir is not None:
        _write_csv(csv_dir, tables)
    if output.json_mode:
        output.json(doc)
    else:
        _render(output, tables)
        if doc["uncounted"]:
            output.warn(
                f"duplicate counters are off for {doc['uncounted']:,} of {doc['records']:,} "
                "records (claimed without --count-duplicates, the Lambda's default: its "
                "metrics carry the counts); 'duplicates recorded' counts the others only"
            )


def _cell(value: Any) -> Any:
    if isinstance(value, Rate):
        return percent(value)
    return short_key(value) if isinstance(value, DedupKey) else value


def _render(output: Output, tables: list[Table]) -> None:
    for table in tables:
        columns, rows = table.screen()
        output.table(
            table.title,
            columns,
            ([_cell(c) for c in row] for row in rows),
            numeric=table.numeric,
        )


def _write_csv(directory: Path, tables: list[Table]) -> None:
    """One file per table, a header row, raw values (rates as fractions, empty for none)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for table in tables:
            with (directory / f"{table.name}.csv").open("w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow(table.columns)
                for row in table.rows:
                    writer.writerow(["" if c is None else c for c in row])
    except OSError as exc:
        raise UsageError(f"cannot write CSV files to {directory}: {exc.strerror or exc}") from None
