"""The cold half of ``gcdedup stats``: classify merged occurrences and build the report.

Only keys seen more than once are visited here, so this costs time in the number
of duplicates, not events. Every table the CLI prints (and writes as CSV) comes
from :meth:`StatsReport.tables`; ``--json`` prints :meth:`StatsReport.to_dict`.
"""

from __future__ import annotations

import bisect
import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .analysis_scan import KINDS, REC, SEQ_BITS, SEQ_MASK, Chunk, ChunkInfo, Partial, iter_records
from .analysis_tally import Tallier, Tally, TallyContext, repeated_groups, tally
from .errors import GcdedupError
from .events import Event, Location
from .keys import KeyMaker

if TYPE_CHECKING:
    from .analysis import AnalysisOptions

#: Histogram buckets of arrival gaps: (label, upper bound in seconds, exclusive).
GAP_BUCKETS: tuple[tuple[str, float], ...] = (
    ("< 1 min", 60),
    ("1-10 min", 600),
    ("10-60 min", 3600),
    ("1-6 h", 6 * 3600),
    ("6-24 h", 86400),
    ("1-4 d", 4 * 86400),
    (">= 4 d", math.inf),
)
PERCENTILES = (50, 90, 95, 99)


@dataclass(frozen=True)
class CostModel:
    """DynamoDB on-demand prices in USD per million request units (examples, not truths).

    Defaults are the us-east-1 on-demand list prices at the time of writing; pass
    your region's prices with ``--price-write`` / ``--price-read``.
    """

    price_write: float = 0.625
    price_read: float = 0.125
    events_per_day: float | None = None  # None: from the span of envelope times
    ttl_seconds: int = 5 * 86400


class Rate(float):
    """A fraction shown as a percentage in tables and written raw to CSV."""


class DedupKey(str):
    """A dedup key: shortened in tables (its ids cut to a prefix), in full in CSV and JSON."""

    __slots__ = ()


#: The header of a column of shortened keys on screen.
SHORT_KEY_HEADER = "key (ids cut; full in --json, --csv)"


@dataclass
class Table:
    """One rendered table: a title, column names, rows; numeric columns right-aligned.

    ``rows`` are what CSV files get. The screen may show other headers
    (``screen_columns``) and, for a table too wide for a terminal, a narrower view
    of each row (``screen_row``: a row of ``rows`` -> a row of the view).
    """

    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    numeric: list[str] = field(default_factory=list)
    screen_columns: list[str] | None = None
    screen_row: Callable[[list[Any]], list[Any]] | None = None

    def screen(self) -> tuple[list[str], list[list[Any]]]:
        """Columns and rows to show on screen."""
        columns = self.columns if self.screen_columns is None else self.screen_columns
        if self.screen_row is None:
            return columns, self.rows
        return columns, [self.screen_row(row) for row in self.rows]


def _top_key_screen_row(row: list[Any]) -> list[Any]:
    """``[key, deliveries, *kind counts, topic]`` -> ``[key, deliveries, "2 retry, 1 resend"]``."""
    counts = row[2 : 2 + len(KINDS)]
    kinds = ", ".join(f"{n} {kind}" for kind, n in zip(KINDS, counts, strict=True) if n)
    return [row[0], row[1], kinds]


def _top_key_screen_row_topic(row: list[Any]) -> list[Any]:
    """As :func:`_top_key_screen_row`, keeping the topic (keys that do not show it)."""
    return [*_top_key_screen_row(row), row[-1]]


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of sorted ``values`` (an observed value, never interpolated)."""
    if not values:
        return None
    rank = max(1, math.ceil(p / 100 * len(values)))
    return values[rank - 1]


def duration(seconds: float | None) -> str:
    """``90`` -> ``1m30s``; ``86400`` -> ``1d``: short, for tables."""
    if seconds is None:
        return "-"
    s = round(seconds)
    if s == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if s >= size:
            parts.append(f"{s // size}{unit}")
            s %= size
    return "".join(parts[:2])


@dataclass
class _Layout:
    """Where each chunk sits in the whole input: bases for positions, lines and time."""

    seq_base: dict[int, int]
    line_base: dict[int, int]
    wm_before: dict[int, int]
    chunks: dict[int, Chunk]
    infos: dict[int, ChunkInfo]

    @classmethod
    def build(cls, chunks: Sequence[Chunk], infos: dict[int, ChunkInfo]) -> _Layout:
        seq_base: dict[int, int] = {}
        line_base: dict[int, int] = {}
        wm_before: dict[int, int] = {}
        seq = 0
        wm = -1
        lines_in_file: dict[int, int] = {}
        for chunk in chunks:
            info = infos.get(chunk.index) or ChunkInfo()
            seq_base[chunk.index] = seq
            wm_before[chunk.index] = wm
            line_base[chunk.index] = lines_in_file.get(chunk.file_index, 0)
            lines_in_file[chunk.file_index] = line_base[chunk.index] + info.lines
            seq += info.events
            wm = max(wm, info.watermark)
        return cls(seq_base, line_base, wm_before, {c.index: c for c in chunks}, infos)

    def family(self, rec: bytes) -> str:
        """Topic family of a record (its flags hold the family's index)."""
        pos, _, _, _, flags = REC.unpack_from(rec)
        return self.infos[pos >> SEQ_BITS].families[flags >> 1]


@dataclass
class _StrategyResult:
    """Classification of one strategy's duplicates."""

    name: str
    events: int = 0
    unkeyable: int = 0
    unkeyable_example: str | None = None
    duplicates: int = 0
    by_kind: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    example: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind -> (pos, key)
    dup_by_family: dict[str, int] = field(default_factory=dict)
    dup_by_file: dict[int, int] = field(default_factory=dict)
    gaps: list[int] = field(default_factory=list)
    order_gaps: list[int] = field(default_factory=list)
    ttl_slipped: dict[int, dict[str, int]] = field(default_factory=dict)
    top: list[tuple[int, int, int, dict[str, int], str]] = field(default_factory=list)


def _classify(
    name: str,
    strategy: int,
    layout: _Layout,
    ttls: Sequence[int],
    top: int,
    detailed: bool,
    tallier: Tallier,
) -> _StrategyResult:
    """Count one strategy's duplicates by kind; for the main strategy also by topic,
    file, arrival gap and TTL (see :mod:`gcdedup.analysis_tally`)."""
    ctx = TallyContext(
        paths={index: chunk.path for index, chunk in layout.chunks.items()},
        wm_before=layout.wm_before,
        families={index: info.families for index, info in layout.infos.items()},
        file_of={index: chunk.file_index for index, chunk in layout.chunks.items()},
        seq_base=layout.seq_base,
        ttls=tuple(ttls),
        detailed=detailed,
        top=top,
    )
    total = Tally(slipped={ttl: [0] * len(KINDS) for ttl in ttls})
    for part in tallier(ctx, strategy):
        total.add(part, top)
    result = _StrategyResult(name)
    result.duplicates = total.duplicates
    result.by_kind = dict(zip(KINDS, total.by_kind, strict=True))
    result.example = {
        KINDS[code]: known for code, known in enumerate(total.examples) if known is not None
    }
    result.dup_by_family = total.dup_by_family
    result.dup_by_file = total.dup_by_file
    result.gaps = total.gaps
    result.order_gaps = total.order_gaps
    result.ttl_slipped = {
        ttl: dict(zip(KINDS, n, strict=True)) for ttl, n in sorted(total.slipped.items())
    }
    result.top = [
        (
            copies,
            pos,
            kd,
            dict(zip(KINDS, counts, strict=True)),
            layout.family(rec),
        )
        for copies, pos, kd, counts, rec in total.top
    ]
    return result


def _local(partial: Partial) -> Tallier:
    """Count in this process, from the maps of a partial scanned (or merged) here."""

    def tallier(ctx: TallyContext, strategy: int) -> list[Tally]:
        return [tally(ctx, repeated_groups(partial.maps[strategy]))]

    return tallier


def _resolve_names(
    wanted: dict[int, int],
    names: dict[int, str],
    layout: _Layout,
    maker: KeyMaker,
    fmt: str,
) -> dict[int, str]:
    """Key strings for the few digests a report shows; re-read the first occurrence if needed."""
    out = {kd: names[kd] for kd in wanted if kd in names}
    missing = {kd: pos for kd, pos in wanted.items() if kd not in out}
    by_chunk: dict[int, dict[int, int]] = {}
    for kd, pos in missing.items():
        by_chunk.setdefault(pos >> SEQ_BITS, {})[pos & SEQ_MASK] = kd
    for chunk_index, seqs in by_chunk.items():
        chunk = layout.chunks[chunk_index]
        if chunk.path == "-":
            continue
        # Occurrences are numbered in the order their chunk yields events.
        remaining: dict[int, int] = dict(seqs)
        for seq, (_, envelope) in enumerate(iter_records(chunk, fmt)):
            found = remaining.pop(seq, None)
            if found is not None:
                with contextlib.suppress(GcdedupError):
                    out[found] = maker(Event(envelope, Location(chunk.path)))
            if not remaining:
                break
    return out


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _ttl_label(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def build_report(
    partial: Partial,
    chunks: Sequence[Chunk],
    files: Sequence[str],
    strategies: Sequence[str],
    makers: Sequence[KeyMaker],
    options: AnalysisOptions,
    tallier: Tallier | None = None,
) -> StatsReport:
    """Turn merged partials into the report (all tables, exact counts).

    ``tallier`` classifies and counts duplicates (default: in this process, from the
    partial's maps); the input files must still be readable
    (duplicates read from JSON Lines are compared by re-reading their lines).
    """
    layout = _Layout.build(chunks, partial.chunks)
    ttls = sorted(set(options.ttls))
    events = sum(info.events for info in partial.chunks.values())
    results = []
    for i, name in enumerate(strategies):
        r = _classify(name, i, layout, ttls, options.top, i == 0, tallier or _local(partial))
        r.events = events
        r.unkeyable = partial.unkeyable[i]
        r.unkeyable_example = partial.unkeyable_example[i]
        results.append(r)
    main = results[0]

    wanted = {kd: pos for pos, kd in main.example.values()}
    for _, pos, kd, _, _ in main.top:
        wanted.setdefault(kd, pos)
    names = _resolve_names(wanted, partial.names[0], layout, makers[0], options.fmt)

    # Per topic family and per file.
    family_events: dict[str, int] = {}
    file_events = dict.fromkeys(range(len(files)), 0)
    file_bad = dict.fromkeys(range(len(files)), 0)
    bad_examples: list[dict[str, Any]] = []
    bad_total = 0
    times = [(i.time_min, i.time_max) for i in partial.chunks.values() if i.time_min >= 0]
    for chunk in chunks:
        info = partial.chunks.get(chunk.index)
        if info is None:
            continue
        for family, count in zip(info.families, info.family_events, strict=True):
            family_events[family] = family_events.get(family, 0) + count
        file_events[chunk.file_index] += info.events
        file_bad[chunk.file_index] += info.bad
        bad_total += info.bad
        for line, offset, reason in info.bad_examples:
            if len(bad_examples) >= 20:
                break
            where = chunk.path
            if line is not None:
                where += f":{layout.line_base[chunk.index] + line}"
            elif offset is not None:
                where += f"@{offset}"
            bad_examples.append({"location": where, "reason": reason})

    def counts(total: int, dups: int) -> dict[str, Any]:
        return {
            "events": total,
            "unique": total - dups,
            "duplicates": dups,
            "duplicate_rate": _rate(dups, total),
        }

    by_topic = {
        family: counts(family_events[family], main.dup_by_family.get(family, 0))
        for family in sorted(family_events)
    }
    by_file = {
        files[i]: {**counts(file_events[i], main.dup_by_file.get(i, 0)), "bad_records": file_bad[i]}
        for i in range(len(files))
    }
    by_kind = {
        kind: {
            "count": main.by_kind[kind],
            "rate": _rate(main.by_kind[kind], events),
            "share_of_duplicates": _rate(main.by_kind[kind], main.duplicates),
            "example_key": names.get(main.example[kind][1]) if kind in main.example else None,
        }
        for kind in KINDS
    }

    gaps = sorted(main.gaps)
    histogram = []
    low = 0.0
    for label, bound in GAP_BUCKETS:
        count = bisect.bisect_left(gaps, bound) - bisect.bisect_left(gaps, low)
        histogram.append({"bucket": label, "count": count})
        low = bound
    order_gaps = sorted(main.order_gaps)
    gap_doc = {
        "timed": len(gaps),
        "untimed": len(order_gaps),
        "percentiles_seconds": {f"p{p}": percentile(gaps, p) for p in PERCENTILES},
        "max_seconds": gaps[-1] if gaps else None,
        "histogram": histogram,
        "untimed_percentiles_events": {f"p{p}": percentile(order_gaps, p) for p in PERCENTILES},
    }
    ttl_rows = []
    recommended = None
    for ttl in ttls:
        slipped = sum(main.ttl_slipped[ttl].values())
        ttl_rows.append(
            {
                "ttl": _ttl_label(ttl),
                "seconds": ttl,
                "slipped": slipped,
                "slipped_rate": _rate(slipped, len(gaps)),
                "slipped_by_kind": main.ttl_slipped[ttl],
            }
        )
        if recommended is None and slipped == 0 and gaps:
            recommended = _ttl_label(ttl)
    ttl_doc = {
        "candidates": ttl_rows,
        "recommended": recommended,
        "max_gap_seconds": gaps[-1] if gaps else None,
        "untimed_duplicates": len(order_gaps),
    }

    # Unkeyable events are neither unique nor duplicates (process reports them as bad
    # records), so rates are over the keyed events.
    keyed_events = events - main.unkeyable
    unique = keyed_events - main.duplicates
    span = (max(t for _, t in times) - min(t for t, _ in times)) if times else 0
    cost = _cost(options.cost, events, unique, main.duplicates, span)

    compare = []
    for r in results:
        keyed = r.events - r.unkeyable
        compare.append(
            {
                "strategy": r.name,
                "events": r.events,
                "unkeyable": r.unkeyable,
                "unique": keyed - r.duplicates,
                "duplicates": r.duplicates,
                "duplicate_rate": _rate(r.duplicates, keyed),
                **{kind: r.by_kind[kind] for kind in KINDS},
                "conflicts_hidden": r.by_kind["conflict"],
                "keyed": keyed,
                "unkeyable_reason": r.unkeyable_example,
            }
        )
    top_keys = [
        {
            "key": names.get(kd, f"h:{kd & 0xFFFF_FFFF_FFFF_FFFF:016x}"),
            "deliveries": copies + 1,
            "duplicates": copies,
            "topic": family,
            **{kind: kinds[kind] for kind in KINDS},
        }
        for copies, _, kd, kinds, family in main.top
    ]
    doc: dict[str, Any] = {
        "mode": "files",
        "strategy": strategies[0],
        "namespace": options.namespace,
        "files": len(files),
        "events": events,
        "unique": unique,
        "duplicates": main.duplicates,
        "duplicate_rate": _rate(main.duplicates, keyed_events),
        "bad_records": bad_total,
        "unkeyable": main.unkeyable,
        "unkeyable_reason": main.unkeyable_example,
        "by_kind": by_kind,
        "by_topic": by_topic,
        "by_file": by_file,
        "gaps": gap_doc,
        "ttl": ttl_doc,
        "cost": cost,
        "top_keys": top_keys,
        "bad": bad_examples,
    }
    if len(strategies) > 1 or options.compare:
        doc["compare"] = compare
    return StatsReport(doc)


def _cost(model: CostModel, events: int, unique: int, dups: int, span: int) -> dict[str, Any]:
    """DynamoDB request units per day for ``process`` and ``check`` (README: Duplicate analysis).

    process: a new key costs 2 writes (claim put + complete update), a duplicate 2
    writes (the failed conditional put + the dup_count update): W = 2*new + 2*dup.
    check: one strongly consistent read per key: R = events.
    """
    if model.events_per_day is not None:
        per_day = float(model.events_per_day)
        basis = "given"
    elif span > 0:
        per_day = events * 86400.0 / span
        basis = "observed"
    else:
        per_day = None
        basis = "unknown (no time span; pass --per-day)"
    share_new = _rate(unique, events)
    doc: dict[str, Any] = {
        "basis": basis,
        "span_seconds": span,
        "events_per_day": per_day,
        "price_write_per_million": model.price_write,
        "price_read_per_million": model.price_read,
        "formula": "process writes/day = 2*new + 2*duplicates; check reads/day = events",
    }
    if per_day is not None:
        new_day = per_day * share_new
        dup_day = per_day - new_day
        writes = 2 * new_day + 2 * dup_day
        reads = per_day
        doc.update(
            {
                "new_per_day": new_day,
                "duplicates_per_day": dup_day,
                "process_writes_per_day": writes,
                "process_cost_per_day": writes * model.price_write / 1e6,
                "check_reads_per_day": reads,
                "check_cost_per_day": reads * model.price_read / 1e6,
                "items_held": new_day * model.ttl_seconds / 86400.0,
                "items_held_ttl_seconds": model.ttl_seconds,
            }
        )
    return doc


@dataclass
class StatsReport:
    """The whole analysis as one JSON-ready document, and the tables that render it."""

    doc: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.doc

    def __getitem__(self, name: str) -> Any:
        return self.doc[name]

    def tables(self) -> list[Table]:
        d = self.doc
        tables = [
            Table(
                "summary",
                f"Duplicates by key strategy {d['strategy']!r} (namespace {d['namespace']})",
                ["events", "unique", "duplicates", "duplicate rate", "bad records", "unkeyable"],
                [
                    [
                        d["events"],
                        d["unique"],
                        d["duplicates"],
                        Rate(d["duplicate_rate"]),
                        d["bad_records"],
                        d["unkeyable"],
                    ]
                ],
                ["events", "unique", "duplicates", "duplicate rate", "bad records", "unkeyable"],
            ),
            Table(
                "by_kind",
                "Duplicates by kind (replay > retry > resend > conflict)",
                ["kind", "count", "of events", "of duplicates", "example key"],
                [
                    [
                        kind,
                        v["count"],
                        Rate(v["rate"]),
                        Rate(v["share_of_duplicates"]),
                        None if v["example_key"] is None else DedupKey(v["example_key"]),
                    ]
                    for kind, v in d["by_kind"].items()
                ],
                ["count", "of events", "of duplicates"],
                # Keys are shortened on screen (see DedupKey); the header says so.
                screen_columns=["kind", "count", "of events", "of duplicates", SHORT_KEY_HEADER],
            ),
            _counts_table("by_topic", "By topic family", "topic", d["by_topic"]),
            _counts_table("by_file", "By file", "file", d["by_file"], extra="bad_records"),
        ]
        if "compare" in d:
            tables.append(
                Table(
                    "compare",
                    "Key strategies compared "
                    "(conflicts hidden: merged events whose eventBody differs)",
                    [
                        "strategy",
                        "unique",
                        "duplicates",
                        "rate",
                        *KINDS,
                        "conflicts hidden",
                        "unkeyable",
                    ],
                    [
                        [
                            c["strategy"],
                            c["unique"],
                            c["duplicates"],
                            Rate(c["duplicate_rate"]),
                            *(c[k] for k in KINDS),
                            c["conflicts_hidden"],
                            c["unkeyable"],
                        ]
                        for c in d["compare"]
                    ],
                    ["unique", "duplicates", "rate", *KINDS, "conflicts hidden", "unkeyable"],
                )
            )
        g = d["gaps"]
        tables.append(
            Table(
                "gaps",
                f"Arrival gap to the first delivery ({g['timed']} timed, {g['untimed']} untimed)",
                ["percentile", "gap", "seconds"],
                [[p, duration(v), v] for p, v in g["percentiles_seconds"].items()]
                + [["max", duration(g["max_seconds"]), g["max_seconds"]]],
                ["seconds"],
            )
        )
        peak = max((h["count"] for h in g["histogram"]), default=0)
        tables.append(
            Table(
                "gap_histogram",
                "Arrival gaps",
                ["gap", "count", "histogram"],
                [
                    [h["bucket"], h["count"], "█" * (round(30 * h["count"] / peak) if peak else 0)]
                    for h in g["histogram"]
                ],
                ["count"],
            )
        )
        t = d["ttl"]
        tables.append(
            Table(
                "ttl",
                f"TTL what-if (recommended: {t['recommended'] or 'none of these'}; "
                f"longest gap {duration(t['max_gap_seconds'])})",
                ["ttl", "slipped past", "of timed duplicates", *KINDS],
                [
                    [
                        r["ttl"],
                        r["slipped"],
                        Rate(r["slipped_rate"]),
                        *(r["slipped_by_kind"][k] for k in KINDS),
                    ]
                    for r in t["candidates"]
                ],
                ["slipped past", "of timed duplicates", *KINDS],
            )
        )
        c = d["cost"]
        rows: list[list[Any]] = [["events per day", c["events_per_day"], c["basis"]]]
        if c["events_per_day"] is not None:
            rows += [
                ["process: writes per day", c["process_writes_per_day"], "2*new + 2*duplicates"],
                [
                    "process: USD per day",
                    c["process_cost_per_day"],
                    f"at {c['price_write_per_million']} per million writes",
                ],
                ["check: reads per day", c["check_reads_per_day"], "1 per event"],
                [
                    "check: USD per day",
                    c["check_cost_per_day"],
                    f"at {c['price_read_per_million']} per million reads",
                ],
                [
                    "items held",
                    c["items_held"],
                    f"new per day x TTL {c['items_held_ttl_seconds']}s",
                ],
            ]
        tables.append(
            Table(
                "cost",
                "DynamoDB on-demand estimate",
                ["measure", "value", "basis"],
                rows,
                ["value"],
            )
        )
        if d["top_keys"]:
            topic_in_key = d["strategy"] == "genesys"
            tables.append(
                Table(
                    "top_keys",
                    "Most duplicated keys",
                    ["key", "deliveries", *KINDS, "topic"],
                    [
                        [DedupKey(k["key"]), k["deliveries"], *(k[x] for x in KINDS), k["topic"]]
                        for k in d["top_keys"]
                    ],
                    ["deliveries", *KINDS],
                    # On screen the kinds share one column and, for genesys keys (which
                    # begin with their topic), the topic is left out: the key keeps the width.
                    screen_columns=[SHORT_KEY_HEADER, "deliveries", "duplicates by kind"]
                    + ([] if topic_in_key else ["topic"]),
                    screen_row=_top_key_screen_row if topic_in_key else _top_key_screen_row_topic,
                )
            )
        if d["bad"]:
            tables.append(
                Table(
                    "bad",
                    f"Bad records ({d['bad_records']})",
                    ["location", "reason"],
                    [[b["location"], b["reason"]] for b in d["bad"]],
                )
            )
        return tables


def _counts_table(
    name: str, title: str, label: str, data: dict[str, dict[str, Any]], extra: str | None = None
) -> Table:
    columns = [label, "events", "unique", "duplicates", "duplicate rate"]
    if extra:
        columns.append(extra.replace("_", " "))
    rows = []
    for key, v in data.items():
        row = [key, v["events"], v["unique"], v["duplicates"], Rate(v["duplicate_rate"])]
        if extra:
            row.append(v[extra])
        rows.append(row)
    return Table(name, title, columns, rows, columns[1:])


def store_tables(summary: dict[str, Any]) -> list[Table]:
    """Tables for ``stats --store``: what the dedup table holds."""
    return [
        Table(
            "store",
            "Dedup store",
            ["records", "expired", "duplicates recorded", "duplicate rate"],
            [
                [
                    summary["records"],
                    summary["expired"],
                    summary["duplicates"],
                    Rate(summary["duplicate_rate"]),
                ]
            ],
            ["records", "expired", "duplicates recorded", "duplicate rate"],
        ),
        Table(
            "by_namespace",
            "By namespace",
            ["namespace", "records", "duplicates"],
            [
                [k, v["records"], v["duplicates"]]
                for k, v in sorted(summary["by_namespace"].items())
            ],
            ["records", "duplicates"],
        ),
        Table(
            "by_status",
            "By status",
            ["status", "records"],
            [[k, v] for k, v in sorted(summary["by_status"].items())],
            ["records"],
        ),
        Table(
            "by_topic",
            "By topic",
            ["topic", "records", "duplicates"],
            [[k, v["records"], v["duplicates"]] for k, v in sorted(summary["by_topic"].items())],
            ["records", "duplicates"],
        ),
        Table(
            "by_age",
            "By age (since first seen)",
            ["age", "records"],
            [[k, v] for k, v in summary["by_age"].items()],
            ["records"],
        ),
    ]
