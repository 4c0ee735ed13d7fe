"""``gcdedup stats``: duplicate analysis of event files, or what the dedup store holds."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from ..errors import UsageError
from ..settings import parse_duration
from .common import (
    FormatOpt,
    JsonOpt,
    NamespaceOpt,
    SinceOpt,
    StoreOpt,
    StrategyOpt,
    StrictOpt,
    UntilOpt,
    handle_errors,
    inputs,
    note,
    require_existing_store,
    settings_from,
    stdin_hint,
)
from .engine import EngineOpt, SparkMasterOpt, engine_name, spark_stats
from .output import Output, View, percent, short_key, usd
from .params import duration_flag

if TYPE_CHECKING:
    from .stats_tables import Table

#: The DynamoDB on-demand example prices (USD per million units) --price-* default to
#: (CostModel's defaults; a test keeps them equal: this module imports no analysis code,
#: so that ``gcdedup --help`` starts fast).
PRICE_WRITE = 0.625
PRICE_READ = 0.125


@handle_errors
def stats(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="PATH",
            help="Event files, directories or globs; '-' reads stdin; s3://bucket/prefix "
            "(any input format). Leave out with --store.",
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
            metavar="DIR",
            help="Also write every table as DIR/<table>.csv (created if missing).",
            show_default=False,
            rich_help_panel="Output",
        ),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            metavar="FILE",
            help="Also write the report as one self-contained HTML page with charts "
            "(duplicates over time, arrival gaps and TTLs, topics, strategies).",
            show_default=False,
            rich_help_panel="Output",
        ),
    ] = None,
    section: Annotated[
        list[str] | None,
        typer.Option(
            "--section",
            "-s",
            metavar="NAME",
            help="Print only these tables (comma-separated or repeated): "
            + ", ".join(SECTIONS)
            + ". --csv writes the same ones.",
            show_default=False,
            rich_help_panel="Output",
        ),
    ] = None,
    compare: Annotated[
        str | None,
        typer.Option(
            "--compare",
            metavar="STRATEGIES",
            help="Comma-separated key strategies to compare, "
            "e.g. genesys,envelope,content,tutorial.",
            show_default=False,
            rich_help_panel="Keys",
        ),
    ] = None,
    ttl: Annotated[
        list[str] | None,
        typer.Option(
            "--ttl",
            metavar="DURATION",
            parser=duration_flag("--ttl"),
            help="A TTL to add to the what-if (1h, 6h, 24h and 4d are always tried); repeatable.",
            show_default=False,
            rich_help_panel="Store",
        ),
    ] = None,
    top: Annotated[
        int,
        typer.Option(
            "--top",
            min=0,
            metavar="N",
            help=note("Show the N most duplicated keys.", default=10),
            show_default=False,
            rich_help_panel="Output",
        ),
    ] = 10,
    price_write: Annotated[
        float | None,
        typer.Option(
            "--price-write",
            min=0.0,
            metavar="USD",
            help=note(
                "USD per million DynamoDB on-demand write units.",
                default=f"{PRICE_WRITE} (us-east-1 list price)",
            ),
            show_default=False,
            rich_help_panel="Cost",
        ),
    ] = None,
    price_read: Annotated[
        float | None,
        typer.Option(
            "--price-read",
            min=0.0,
            metavar="USD",
            help=note(
                "USD per million DynamoDB on-demand read units.",
                default=f"{PRICE_READ} (us-east-1 list price)",
            ),
            show_default=False,
            rich_help_panel="Cost",
        ),
    ] = None,
    per_day: Annotated[
        float | None,
        typer.Option(
            "--per-day",
            min=0.0,
            metavar="N",
            help=note(
                "Events per day for the cost estimate.", default="observed from envelope times"
            ),
            show_default=False,
            rich_help_panel="Cost",
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            "--concurrency",
            min=1,
            metavar="N",
            help=note(
                "Processes for large inputs (byte ranges of plain JSON Lines, other files "
                "whole); --concurrency is the same option.",
                default="every core",
            ),
            show_default=False,
            rich_help_panel="Performance",
        ),
    ] = None,
    parallel_threshold: Annotated[
        int | None,
        typer.Option(
            "--parallel-threshold", min=0, hidden=True, help="Bytes before going parallel."
        ),
    ] = None,
    temp_limit: Annotated[
        str | None,
        typer.Option(
            "--temp-limit",
            metavar="SIZE",
            help=note(
                "Most temporary disk (in TMPDIR) for inflated gzip JSON Lines input, e.g. "
                "64M, 500M, 2G: it is inflated in chunks deleted once scanned; 0 (or under "
                "about 4 MB): no temporary file, read more slowly (one process per file)",
                default="128M",
            ),
        ),
    ] = None,
    strict: StrictOpt = False,
    since: SinceOpt = None,
    until: UntilOpt = None,
    engine: EngineOpt = "python",
    spark_master: SparkMasterOpt = None,
) -> None:
    """Measure duplicates: per kind, topic and file; compare key strategies; gaps, TTL, cost.

    With files: reads them once and reports. With --store URL and no files: what
    the dedup table holds; with nothing at all, the default store (as process uses
    it). Example: gcdedup stats events.jsonl --compare genesys,envelope
    """
    output = Output(json_output)
    if store is not None and paths:
        raise UsageError("give event files or --store URL, not both")
    if store is None and not paths:
        # no input: the store process uses by default (its variable, else the SQLite file)
        store = settings_from(store_url=None).store_url
        try:
            require_existing_store(store)
        except UsageError as exc:
            raise UsageError(
                f"{exc.message.partition(':')[0]} (the default store, which process "
                "creates): give event files to analyse, or --store URL"
            ) from None
    sections = _sections(section, json_output, store is not None)
    if store is not None:
        if namespace is not None:
            raise UsageError(
                "--namespace selects keys of event files; with --store, every namespace is "
                "summarised (see the by-namespace table)"
            )
        if html is not None:
            raise UsageError("--html reports on event files, not on a store")
        _store_stats(output, store, csv_dir, sections)
        return

    from ..analysis import DEFAULT_TTLS, AnalysisOptions, CostModel, analyze
    from ..sources import EventReader
    from ..sources.s3 import is_s3, with_window
    from .stats_tables import headline, report_tables

    if (since is not None or until is not None) and not any(is_s3(p) for p in paths or []):
        # the analysis keeps whole objects; process also windows each event by its time
        raise UsageError("--since/--until filter s3:// inputs only (by object time)")
    paths = with_window(paths or [], since, until)
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
            price_write=PRICE_WRITE if price_write is None else price_write,
            price_read=PRICE_READ if price_read is None else price_read,
            events_per_day=per_day,
            ttl_seconds=settings.ttl_seconds,
        ),
        jobs=jobs,
        temp_limit=_size("--temp-limit", temp_limit),
        **({} if parallel_threshold is None else {"parallel_threshold": parallel_threshold}),
    )
    assert paths is not None
    stdin_hint(paths, output)
    total = EventReader(paths, fmt).total_bytes
    with output.progress(total) as bar:
        on_bytes = None
        if bar is not None:
            task = bar.add_task("MB read", total=total)

            def on_bytes(n: int) -> None:
                bar.advance(task, n)

        if engine_name(engine) == "spark":
            report = spark_stats(paths, options, spark_master)
        else:
            report = analyze(paths, options, on_bytes=on_bytes)
    doc = report.to_dict()
    warnings = report_warnings(doc, paths)
    tables = report_tables(doc)
    if sections is None and not doc["events"]:
        sections = {"summary"}  # the rest would be all zeros: the warning says why
    shown = [t for t in tables if sections is None or _section_name(t) in sections]
    if csv_dir is not None:
        _write_csv(csv_dir, shown)
    if html is not None:
        from .html_report import write_html

        write_html(html, doc, tables, warnings)
    if json_output:
        output.json({**doc, "warnings": warnings})
    else:
        _render(output, shown, headline(doc))
    if csv_dir is not None:
        output.info(f"wrote {len(shown)} CSV files to {csv_dir}")
    if html is not None:
        output.info(f"wrote the HTML report to {html}")
    for warning in warnings:
        output.warn(warning)
    if strict and warnings:
        raise typer.Exit(1)


#: What --section accepts: the tables of a file report, then those of --store.
SECTIONS = (
    "summary",
    "kind",
    "topic",
    "file",
    "compare",
    "gaps",
    "gap_histogram",
    "ttl",
    "cost",
    "top_keys",
    "bad",
)
STORE_SECTIONS = ("store", "namespace", "status", "topic", "age")


def _section_name(table: Table) -> str:
    return table.name.removeprefix("by_")


def _sections(given: list[str] | None, json_output: bool, of_store: bool) -> set[str] | None:
    if not given:
        return None
    if json_output:
        raise UsageError(
            "--section picks tables; --json prints the whole document (pick parts with jq)"
        )
    names = {name.strip() for item in given for name in item.split(",") if name.strip()}
    known = {*SECTIONS, *STORE_SECTIONS}
    unknown = sorted(names - known)
    if unknown:
        raise UsageError(
            f"unknown --section {', '.join(unknown)}: choose from {', '.join(SECTIONS)} "
            f"(with --store: {', '.join(STORE_SECTIONS)})"
        )
    # a table only the other kind of report has would print nothing at all
    own, other = (STORE_SECTIONS, "event files") if of_store else (SECTIONS, "a store")
    foreign = sorted(names - set(own))
    if foreign:
        report = "a store" if of_store else "event files"
        raise UsageError(
            f"--section {', '.join(foreign)}: not a table of {report} (only of {other}); "
            f"choose from {', '.join(own)}"
        )
    return names


def _size(flag: str, text: str | None) -> int | None:
    from ..analysis.gz import parse_size

    if text is None:
        return None
    try:
        return parse_size(text)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from exc


def report_warnings(doc: dict[str, Any], paths: list[str]) -> list[str]:
    """What the user must know about the input, in words: on stderr, and in --json."""
    found = []
    if doc["events"] == 0:
        found.append(
            f"no events found in {inputs(paths)}"
            + (f" ({doc['bad_records']:,} bad records)" if doc["bad_records"] else "")
        )
    elif doc["bad_records"]:
        found.append(f"{doc['bad_records']:,} bad record(s) skipped")
    if doc["events"]:
        rows = doc.get("compare") or [
            {
                "strategy": doc["strategy"],
                "unkeyable": doc["unkeyable"],
                "unkeyable_reason": doc["unkeyable_reason"],
            }
        ]
        for row in rows:
            if row["unkeyable"] == doc["events"]:
                found.append(
                    f"key strategy {row['strategy']!r} gave no key for any of the "
                    f"{doc['events']:,} events (e.g. {row['unkeyable_reason']})"
                )
    return found


def _store_stats(output: Output, url: str, csv_dir: Path | None, sections: set[str] | None) -> None:
    from ..store import open_store
    from .stats_tables import store_tables

    require_existing_store(url)
    with open_store(url) as dedup:
        dedup.verify()
        summary = dedup.summary().to_dict()
    doc: dict[str, Any] = {"mode": "store", "store": url, **summary}
    tables = [t for t in store_tables(doc) if sections is None or _section_name(t) in sections]
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
    from .stats_tables import DedupKey, Rate, Usd

    if isinstance(value, Rate):
        return percent(value)
    if isinstance(value, Usd):
        return usd(value)
    return short_key(value) if isinstance(value, DedupKey) else value


def _render(output: Output, tables: list[Table], summary: str | None = None) -> None:
    """The tables on stdout; ``summary`` again as the last line if they scrolled it away."""
    for table in tables:
        columns, rows = table.screen()
        cells = [[_cell(c) for c in row] for row in rows]
        narrow = []
        if table.transpose:
            from .stats_tables import transposed

            header, body = transposed(columns, cells, labelled=columns[0] not in table.numeric)
            narrow.append(View(header, body, numeric=header[1:]))
        output.table(
            table.title,
            columns,
            cells,
            numeric=table.numeric,
            shorten=table.shorten,
            narrow=narrow,
        )
    if summary is not None and output.lines > output.console.height:
        output.print(Text(summary))


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
