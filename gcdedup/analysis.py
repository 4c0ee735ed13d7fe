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

import gc
import math
import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from multiprocessing.pool import Pool
from typing import Any

from .analysis_report import CostModel, StatsReport, build_report
from .analysis_scan import (
    KINDS,
    START_METHOD,
    Chunk,
    PackedMap,
    Partial,
    SplitPartial,
    empty_partial,
    is_plain_jsonl,
    merge,
    scan_chunk,
    split_partial,
    split_ranges,
)
from .analysis_tally import Tallier, Tally, TallyContext, merge_and_tally
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

#: The TTL what-if always tries these (seconds): 1h, 6h, 24h, 4d.
DEFAULT_TTLS = (3600, 6 * 3600, 86400, 4 * 86400)
#: Below this much input (see input_work), stay in one process (start-up costs more).
PARALLEL_THRESHOLD = 64 * 1024 * 1024
#: How much larger than its file a gzip stream of JSON events is, roughly (for planning).
GZIP_RATIO = 8
_GZIP_MAGIC = b"\x1f\x8b"
#: Byte ranges per worker, so a slow range does not leave a core idle.
RANGES_PER_JOB = 8
#: Key partitions per worker: each is merged, classified and counted by one task.
MERGE_TASKS_PER_JOB = 4


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


def plan_chunks(
    files: Sequence[str], fmt: str, jobs: int, threshold: int, work: int | None = None
) -> list[Chunk]:
    """Byte ranges of plain JSONL files when the input is large enough; whole files otherwise.

    ``work``: :func:`input_work` of ``files`` when the caller has it already.
    """
    plain = {name: is_plain_jsonl(name, fmt) for name in files}
    sizes = {name: os.path.getsize(name) for name in files if plain[name]}
    total = sum(sizes.values())
    if work is None:
        work = input_work(files)
    parallel = jobs > 1 and work >= threshold
    target = max(1, math.ceil(total / (jobs * RANGES_PER_JOB))) if parallel else 0
    chunks: list[Chunk] = []
    for file_index, name in enumerate(files):
        if not plain[name]:
            chunks.append(Chunk(len(chunks), file_index, name))
            continue
        pieces = max(1, math.ceil(sizes[name] / target)) if parallel else 1
        for start, end in split_ranges(name, sizes[name], pieces):
            chunks.append(Chunk(len(chunks), file_index, name, start, end))
    return chunks


def input_work(files: Sequence[str]) -> int:
    """Bytes of JSON the input holds, roughly: gzip files count eight times their size.

    Decides whether starting worker processes pays off. Only regular files count:
    standard input and pipes are read by the parent alone (and never opened here,
    which would take bytes from a pipe).
    """
    work = 0
    for name in files:
        if not os.path.isfile(name):
            continue  # standard input, pipes and devices: read once, by the parent
        try:
            with open(name, "rb") as fh:
                compressed = fh.read(2) == _GZIP_MAGIC
            work += os.path.getsize(name) * (GZIP_RATIO if compressed else 1)
        except OSError:
            continue  # the reader reports it
    return work


def _worker(args: tuple[Chunk, list[str], str, str, int]) -> SplitPartial:
    chunk, strategies, namespace, fmt, partitions = args
    makers = [KeyMaker.create(s, namespace) for s in strategies]
    return split_partial(scan_chunk(chunk, makers, fmt), partitions)


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
    work = input_work(files)
    chunks = plan_chunks(files, options.fmt, jobs, options.parallel_threshold, work)
    pooled = [c for c in chunks if _poolable(c)]
    parallel = jobs > 1 and len(pooled) > 1 and work >= options.parallel_threshold
    # The parent holds only bytes and containers of bytes: nothing for the cyclic
    # collector to find, and walking millions of them would cost seconds.
    enabled = gc.isenabled()
    gc.disable()
    try:
        if parallel:
            with _pool(min(jobs, len(pooled))) as pool:
                partial, parts = _scan_in_pool(pool, chunks, makers, options, jobs, on_bytes, stdin)
                tallier = _pooled_tallier(pool, parts)
                return build_report(partial, chunks, files, strategies, makers, options, tallier)
        partial = empty_partial(len(strategies))
        for chunk in chunks:
            merge(partial, scan_chunk(chunk, makers, options.fmt, on_bytes, stdin))
        return build_report(partial, chunks, files, strategies, makers, options)
    finally:
        if enabled:
            gc.enable()


def _pool(processes: int) -> Pool:
    """Worker processes, started as :data:`~gcdedup.analysis_scan.START_METHOD` says
    (the key digests depend on it)."""
    return mp.get_context(START_METHOD).Pool(processes)


def _scan_in_pool(
    pool: Pool,
    chunks: list[Chunk],
    makers: list[KeyMaker],
    options: AnalysisOptions,
    jobs: int,
    on_bytes: Callable[[int], None] | None,
    stdin: Any,
) -> tuple[Partial, list[list[list[PackedMap]]]]:
    """Scan byte ranges and whole files in the workers (standard input here).

    Returns the merged partial without its maps (names, counts, chunk infos), and the
    maps cut by key partition: ``[strategy][partition]`` -> that partition of every
    chunk, for :func:`_pooled_tallier` to merge and count in the workers.
    """
    partitions = jobs * MERGE_TASKS_PER_JOB
    strategies = [m.strategy.name for m in makers]
    partial = empty_partial(len(makers))
    split: list[SplitPartial] = []
    pooled = {c.index: c for c in chunks if _poolable(c)}
    # Whole files first: they are the largest units of work, and ranges fill in after.
    order = sorted(pooled.values(), key=lambda c: c.start is not None)
    work = [(c, strategies, options.namespace, options.fmt, partitions) for c in order]
    for result in pool.imap_unordered(_worker, work):
        split.append(result)
        merge(partial, result.partial)
        if on_bytes is not None:
            for index in result.partial.chunks:
                on_bytes(_chunk_bytes(pooled[index]))
    for chunk in chunks:
        if chunk.index not in pooled:
            scanned = scan_chunk(chunk, makers, options.fmt, on_bytes, stdin)
            split.append(split_partial(scanned, partitions))
            merge(partial, scanned)
    parts = [
        [[s.parts[i][j] for s in split] for j in range(partitions)] for i in range(len(makers))
    ]
    split.clear()  # the packed maps now live in ``parts`` only
    return partial, parts


def _poolable(chunk: Chunk) -> bool:
    """Byte ranges and regular files go to the workers; stdin and pipes stay in the parent."""
    return chunk.path != "-" and os.path.isfile(chunk.path)


def _chunk_bytes(chunk: Chunk) -> int:
    """On-disk bytes of a chunk, for the progress bar (whole files: their size)."""
    if chunk.start is not None:
        return (chunk.end or 0) - chunk.start
    try:
        return os.path.getsize(chunk.path)
    except OSError:
        return 0


def _pooled_tallier(pool: Pool, parts: list[list[list[PackedMap]]]) -> Tallier:
    """Merge each key partition and classify and count its duplicates in one worker task;
    the parent adds the tallies up as they arrive. Nothing per key comes back."""

    def tallier(ctx: TallyContext, strategy: int) -> Iterable[Tally]:
        tasks = [(ctx, packed) for packed in parts[strategy]]
        parts[strategy] = []  # each partition travels once
        return pool.imap_unordered(merge_and_tally, tasks)

    return tallier
