"""Offline duplicate analysis of event files: what ``gcdedup stats PATH...`` reports.

:func:`analyze` reads the inputs once (in several processes for large plain JSON
Lines inputs, see :mod:`gcdedup.analysis_scan`), then classifies every duplicate
against the *first* delivery of its key, in input order:

1. ``replay``   the duplicate carries ``replay-name`` (an EventBridge archive replay);
2. ``retry``    same envelope ``id`` and identical canonical ``detail`` as the first
                (an EventBridge or Lambda redelivery);
3. ``resend``   identical canonical ``eventBody`` (``detail`` itself when there is no
                eventBody object) under a new envelope: re-sent upstream;
4. ``conflict`` anything else: same key, different eventBody (a key too coarse, or a
                superseding update).

Arrival time of a delivery is the newest envelope ``time`` seen so far in input
order (a watermark): redeliveries keep their original ``time``, so their own
``time`` would always say "no delay". Where no time is known, gaps fall back to
input order (events in between) and are left out of the TTL what-if.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .analysis_report import CostModel, StatsReport, build_report
from .analysis_scan import Chunk, Partial, empty_partial, is_plain_jsonl, merge, scan_chunk
from .errors import UsageError
from .keys import DEFAULT_NAMESPACE, DEFAULT_STRATEGY, KeyMaker
from .sources import FORMATS, expand_paths

__all__ = [
    "DEFAULT_TTLS",
    "KINDS",
    "AnalysisOptions",
    "CostModel",
    "StatsReport",
    "analyze",
    "plan_chunks",
]

KINDS = ("retry", "replay", "resend", "conflict")
#: The TTL what-if always tries these (seconds): 1h, 6h, 24h, 4d.
DEFAULT_TTLS = (3600, 6 * 3600, 86400, 4 * 86400)
#: Below this many bytes of plain JSONL, stay in one process (start-up costs more).
PARALLEL_THRESHOLD = 64 * 1024 * 1024
#: Byte ranges per worker, so a slow range does not leave a core idle.
RANGES_PER_JOB = 4


@dataclass(frozen=True)
class AnalysisOptions:
    """What to analyse and how; every field has a CLI flag."""

    strategy: str = DEFAULT_STRATEGY
    namespace: str = DEFAULT_NAMESPACE
    fmt: str = "auto"
    compare: tuple[str, ...] = ()
    ttls: tuple[int, ...] = DEFAULT_TTLS
    top: int = 10
    cost: CostModel = field(default_factory=CostModel)
    jobs: int | None = None  # None: every core
    parallel_threshold: int = PARALLEL_THRESHOLD

    def strategies(self) -> list[str]:
        """The primary strategy first, then the compared ones (no repeats)."""
        names = [self.strategy]
        for name in self.compare:
            if name not in names:
                names.append(name)
        return names


def plan_chunks(files: Sequence[str], fmt: str, jobs: int, threshold: int) -> list[Chunk]:
    """Byte ranges of plain JSONL files when the input is large enough; whole files otherwise."""
    plain = {name: is_plain_jsonl(name, fmt) for name in files}
    sizes = {name: os.path.getsize(name) for name in files if plain[name]}
    total = sum(sizes.values())
    parallel = jobs > 1 and total >= threshold
    target = max(1, math.ceil(total / (jobs * RANGES_PER_JOB))) if parallel else 0
    chunks: list[Chunk] = []
    for file_index, name in enumerate(files):
        if not plain[name]:
            chunks.append(Chunk(len(chunks), file_index, name))
            continue
        pieces = max(1, math.ceil(sizes[name] / target)) if parallel else 1
        from .analysis_scan import split_ranges

        for start, end in split_ranges(name, sizes[name], pieces):
            chunks.append(Chunk(len(chunks), file_index, name, start, end))
    return chunks


def _worker(args: tuple[Chunk, list[str], str, str]) -> Partial:
    chunk, strategies, namespace, fmt = args
    makers = [KeyMaker.create(s, namespace) for s in strategies]
    return scan_chunk(chunk, makers, fmt)


def analyze(
    paths: Sequence[str],
    options: AnalysisOptions | None = None,
    *,
    on_bytes: Callable[[int], None] | None = None,
    stdin: Any = None,
) -> StatsReport:
    """Read ``paths`` once and report duplicates (see the module docstring for the rules)."""
    options = options or AnalysisOptions()
    if options.fmt not in FORMATS:
        raise UsageError(f"unknown format {options.fmt!r}; choose one of: {', '.join(FORMATS)}")
    strategies = options.strategies()
    makers = [KeyMaker.create(s, options.namespace) for s in strategies]  # validates
    for ttl in options.ttls:
        if ttl <= 0:
            raise UsageError(f"TTL must be positive, got {ttl}")
    files = expand_paths(paths)
    jobs = options.jobs or os.cpu_count() or 1
    chunks = plan_chunks(files, options.fmt, jobs, options.parallel_threshold)
    ranged = [c for c in chunks if c.start is not None]
    partial = empty_partial(len(strategies))
    if jobs > 1 and len(ranged) > 1:
        partial = _run_pool(ranged, strategies, options, jobs, on_bytes, partial)
        rest = [c for c in chunks if c.start is None]
    else:
        rest = chunks
    for chunk in rest:
        merge(partial, scan_chunk(chunk, makers, options.fmt, on_bytes, stdin))
    return build_report(partial, chunks, files, strategies, makers, options)


def _run_pool(
    chunks: list[Chunk],
    strategies: list[str],
    options: AnalysisOptions,
    jobs: int,
    on_bytes: Callable[[int], None] | None,
    partial: Partial,
) -> Partial:
    """Scan byte ranges in worker processes; merge results as they arrive."""
    import multiprocessing as mp

    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    context = mp.get_context(method)
    work = [(c, strategies, options.namespace, options.fmt) for c in chunks]
    with context.Pool(min(jobs, len(chunks))) as pool:
        for index, result in enumerate(pool.imap_unordered(_worker, work)):
            merge(partial, result)
            if on_bytes is not None:
                done = chunks[index]
                on_bytes((done.end or 0) - (done.start or 0))
    return partial
