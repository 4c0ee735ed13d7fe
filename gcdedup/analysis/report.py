"""The cold half of ``gcdedup stats``: the report, from merged partial results.

Only keys seen more than once are visited, so this costs time in the number of
duplicates, not events: each strategy's duplicates are classified and counted by
a tallier (in this process, or in the workers, see :mod:`gcdedup.analysis.run`),
the few keys the report shows are named, and everything becomes one JSON-ready
document, :class:`StatsReport` (what ``stats --json`` prints; the CLI renders its
tables from it).
"""

from __future__ import annotations

import bisect
import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..display import display_path
from ..errors import GcdedupError
from ..events import Event, Location
from ..keys import KeyMaker
from .classify import KINDS
from .cost import estimate
from .options import AnalysisOptions
from .records import REC, SEQ_BITS, SEQ_MASK, Chunk, ChunkInfo, Partial
from .scan import iter_records
from .tally import Tallier, Tally, TallyContext, repeated_groups, tally

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
#: Bucket sizes of the duplicates-over-time series (seconds): the smallest giving at
#: most :data:`TIMELINE_MAX_BUCKETS` buckets is used.
TIMELINE_SIZES = (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400, 365 * 86400)
TIMELINE_MAX_BUCKETS = 96


def timeline(arrivals: Sequence[int]) -> dict[str, Any]:
    """Timed duplicates per kind per time bucket (``arrivals``: ``epoch << 3 | kind``),
    every bucket from the first to the last, empty ones included."""
    if not arrivals:
        return {"bucket_seconds": None, "buckets": []}
    low = min(arrivals) >> 3
    high = max(arrivals) >> 3
    size = next(
        (s for s in TIMELINE_SIZES if (high - low) // s < TIMELINE_MAX_BUCKETS),
        TIMELINE_SIZES[-1],
    )
    start = low - low % size
    counts = [[0] * len(KINDS) for _ in range((high - start) // size + 1)]
    for packed in arrivals:
        counts[((packed >> 3) - start) // size][packed & 7] += 1
    return {
        "bucket_seconds": size,
        "buckets": [
            {
                "start": datetime.fromtimestamp(start + i * size, timezone.utc).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                ),
                **dict(zip(KINDS, row, strict=True)),
            }
            for i, row in enumerate(counts)
        ],
    }


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of sorted ``values`` (an observed value, never interpolated)."""
    if not values:
        return None
    rank = max(1, math.ceil(p / 100 * len(values)))
    return values[rank - 1]


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
    arrivals: list[int] = field(default_factory=list)
    ttl_slipped: dict[int, dict[str, int]] = field(default_factory=dict)
    top: list[tuple[int, int, int, dict[str, int], str]] = field(default_factory=list)


def _count_strategy(
    name: str,
    strategy: int,
    layout: _Layout,
    ttls: Sequence[int],
    top: int,
    detailed: bool,
    tallier: Tallier,
) -> _StrategyResult:
    """Count one strategy's duplicates by kind; for the main strategy also by topic,
    file, arrival gap and TTL (see :mod:`gcdedup.analysis.tally`)."""
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
    result.arrivals = total.arrivals
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
        if chunk.path == "-" or chunk.gone:
            continue  # a gone chunk's keys were named by the second pass
        # Occurrences are numbered in the order their chunk yields events.
        remaining: dict[int, int] = dict(seqs)
        for seq, (_, envelope) in enumerate(iter_records(chunk, fmt)):
            found = remaining.pop(seq, None)
            if found is not None:
                with contextlib.suppress(GcdedupError):
                    out[found] = maker(Event(envelope, Location(chunk.name)))
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
    """Turn merged partials into the report (one JSON-ready document, exact counts).

    ``tallier`` classifies and counts duplicates (default: in this process, from the
    partial's maps); the input files must still be readable
    (duplicates read from JSON Lines are compared by re-reading their lines).
    """
    layout = _Layout.build(chunks, partial.chunks)
    ttls = sorted(set(options.ttls))
    events = sum(info.events for info in partial.chunks.values())
    results = []
    for i, name in enumerate(strategies):
        r = _count_strategy(name, i, layout, ttls, options.top, i == 0, tallier or _local(partial))
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
            where = chunk.name
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
        display_path(files[i]): {
            **counts(file_events[i], main.dup_by_file.get(i, 0)),
            "bad_records": file_bad[i],
        }
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
    cost = estimate(options.cost, events, unique, main.duplicates, span)

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
        # the names and meanings of process's report (gcdedup.outcomes.COUNT_NAMES):
        # a conflict (same key, another payload) is not counted as a duplicate
        "duplicates": main.duplicates - main.by_kind["conflict"],
        "conflicts": main.by_kind["conflict"],
        "duplicate_rate": _rate(main.duplicates, keyed_events),
        "bad_records": bad_total,
        "unkeyable": main.unkeyable,
        "unkeyable_reason": main.unkeyable_example,
        "by_kind": by_kind,
        "by_topic": by_topic,
        "by_file": by_file,
        "gaps": gap_doc,
        "timeline": timeline(main.arrivals),
        "ttl": ttl_doc,
        "cost": cost,
        "top_keys": top_keys,
        "bad": bad_examples,
    }
    if len(strategies) > 1 or options.compare:
        doc["compare"] = compare
    return StatsReport(doc)


@dataclass
class StatsReport:
    """The whole analysis as one JSON-ready document (the keys are the ``--json`` output)."""

    doc: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.doc

    def __getitem__(self, name: str) -> Any:
        return self.doc[name]
