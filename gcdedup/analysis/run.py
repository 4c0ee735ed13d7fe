"""Running an analysis: :func:`analyze` plans, scans, tallies and reports.

Gzip JSON Lines files are first inflated to plain files (:mod:`gcdedup.analysis.gz`).
Small inputs are read in this process. Large ones are cut into chunks
(:mod:`gcdedup.analysis.plan`) scanned by worker processes; each worker then
merges one key partition of every chunk and classifies and counts its duplicates,
so the parent only adds tallies up. Standard input and pipes are always read by
the parent. :class:`Workers` says how worker processes start; it is the one place
to change that (tests count or swap the pools through it).
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing as mp
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from multiprocessing.pool import Pool
from typing import Any

from ..errors import UsageError
from ..keys import KeyMaker
from ..sources import FORMATS, expand_paths
from .gz import Spill, spill, spillable
from .options import AnalysisOptions
from .plan import chunk_bytes, input_work, plan_chunks, poolable
from .records import (
    START_METHOD,
    Chunk,
    ChunkInfo,
    KeyDigest,
    PackedMap,
    Partial,
    SplitPartial,
    empty_partial,
    key_digest_for,
    merge,
    split_partial,
)
from .report import StatsReport, build_report
from .scan import scan_chunk
from .tally import Tallier, Tally, TallyContext, merge_and_tally

#: Key partitions per worker: each is merged, classified and counted by one task.
MERGE_TASKS_PER_JOB = 4


@dataclass(frozen=True)
class Workers:
    """How worker processes start: ``fork`` wherever the platform can, else ``spawn``.

    The key digest of a run depends on it: forked workers share the parent's string
    hash secret, spawned ones do not and use a stable digest (see
    :mod:`gcdedup.analysis.records`).
    """

    start_method: str = START_METHOD

    def pool(self, processes: int) -> Pool:
        """A pool of ``processes`` workers, started this way."""
        return mp.get_context(self.start_method).Pool(processes)

    @property
    def key_digest(self) -> Callable[[str], KeyDigest]:
        return key_digest_for(self.start_method)


def analyze(
    paths: Sequence[str],
    options: AnalysisOptions | None = None,
    *,
    on_bytes: Callable[[int], None] | None = None,
    stdin: Any = None,
    workers: Workers | None = None,
) -> StatsReport:
    """Read ``paths`` once and report duplicates (see :mod:`gcdedup.analysis` for the rules).

    ``on_bytes`` is told of input bytes as they are read (a progress bar);
    ``stdin`` stands for ``-`` (default: the process's standard input).
    """
    options = options or AnalysisOptions()
    workers = workers or Workers()
    if options.fmt not in FORMATS:
        raise UsageError(f"unknown format {options.fmt!r}; choose one of: {', '.join(FORMATS)}")
    strategies = options.strategies()
    makers = [KeyMaker.create(s, options.namespace) for s in strategies]  # validates
    for ttl in options.ttls:
        if ttl <= 0:
            raise UsageError(f"TTL must be positive, got {ttl}")
    files = expand_paths(paths)
    jobs = options.jobs or os.cpu_count() or 1
    pooling = jobs > 1 and input_work(files) >= options.parallel_threshold
    digest = workers.key_digest
    # The parent holds only bytes and containers of bytes: nothing for the cyclic
    # collector to find, and walking millions of them would cost seconds.
    enabled = gc.isenabled()
    gc.disable()
    try:
        with contextlib.ExitStack() as stack:
            pool: Pool | None = None
            gz = [name for name in files if spillable(name, options.fmt)]
            spills: dict[str, Spill] = {}
            if gz:
                # Gzip JSON Lines is inflated to plain files first, in the workers
                # when there are several; then it is read like plain JSON Lines.
                tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="gcdedup-"))
                tasks = [
                    (name, options.fmt, os.path.join(tmp, f"{n}.jsonl"))
                    for n, name in enumerate(gz)
                ]
                if pooling and len(gz) > 1:
                    pool = stack.enter_context(workers.pool(jobs))
                    inflated: Iterable[Spill | None] = pool.imap(spill, tasks)
                else:
                    inflated = map(spill, tasks)
                for name, result in zip(gz, inflated, strict=True):
                    if result is not None:
                        spills[name] = result
                        if on_bytes is not None:
                            on_bytes(result.size)
            plain = {name: s.path for name, s in spills.items()}
            work = input_work(files, plain)
            chunks = plan_chunks(files, options.fmt, jobs, options.parallel_threshold, work, plain)
            pooled = [c for c in chunks if poolable(c)]
            if jobs > 1 and len(pooled) > 1 and work >= options.parallel_threshold:
                if pool is None:
                    pool = stack.enter_context(workers.pool(min(jobs, len(pooled))))
                partial, parts = _scan_in_pool(
                    pool, workers, chunks, makers, options, jobs, on_bytes, stdin
                )
                _add_read_errors(partial, chunks, spills)
                tallier = _pooled_tallier(pool, parts)
                return build_report(partial, chunks, files, strategies, makers, options, tallier)
            partial = empty_partial(len(strategies))
            for chunk in chunks:
                progress = on_bytes if chunk.source is None else None
                merge(
                    partial,
                    scan_chunk(chunk, makers, options.fmt, progress, stdin, digest=digest),
                )
            _add_read_errors(partial, chunks, spills)
            return build_report(partial, chunks, files, strategies, makers, options)
    finally:
        if enabled:
            gc.enable()


def _add_read_errors(partial: Partial, chunks: Sequence[Chunk], spills: dict[str, Spill]) -> None:
    """A gzip stream that ended early: its error comes after its file's last line, as
    the reader reports it."""
    last: dict[int, Chunk] = {}
    for chunk in chunks:
        last[chunk.file_index] = chunk
    for chunk in last.values():
        inflated = spills.get(chunk.source) if chunk.source is not None else None
        if inflated is not None and inflated.error is not None:
            info = partial.chunks.setdefault(chunk.index, ChunkInfo())
            info.add_bad(info.lines + 1, None, inflated.error)


def _worker(args: tuple[Chunk, list[str], str, str, int, str]) -> SplitPartial:
    chunk, strategies, namespace, fmt, partitions, start_method = args
    makers = [KeyMaker.create(s, namespace) for s in strategies]
    digest = key_digest_for(start_method)
    return split_partial(scan_chunk(chunk, makers, fmt, digest=digest), partitions)


def _scan_in_pool(
    pool: Pool,
    workers: Workers,
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
    pooled = {c.index: c for c in chunks if poolable(c)}
    # Whole files first: they are the largest units of work, and ranges fill in after.
    order = sorted(pooled.values(), key=lambda c: c.start is not None)
    method = workers.start_method
    work = [(c, strategies, options.namespace, options.fmt, partitions, method) for c in order]
    for result in pool.imap_unordered(_worker, work):
        split.append(result)
        merge(partial, result.partial)
        if on_bytes is not None:
            for index in result.partial.chunks:
                on_bytes(chunk_bytes(pooled[index]))
    for chunk in chunks:
        if chunk.index not in pooled:
            scanned = scan_chunk(
                chunk, makers, options.fmt, on_bytes, stdin, digest=workers.key_digest
            )
            split.append(split_partial(scanned, partitions))
            merge(partial, scanned)
    parts = [
        [[s.parts[i][j] for s in split] for j in range(partitions)] for i in range(len(makers))
    ]
    split.clear()  # the packed maps now live in ``parts`` only
    return partial, parts


def _pooled_tallier(pool: Pool, parts: list[list[list[PackedMap]]]) -> Tallier:
    """Merge each key partition and classify and count its duplicates in one worker task;
    the parent adds the tallies up as they arrive. Nothing per key comes back."""

    def tallier(ctx: TallyContext, strategy: int) -> Iterable[Tally]:
        tasks = [(ctx, packed) for packed in parts[strategy]]
        parts[strategy] = []  # each partition travels once
        return pool.imap_unordered(merge_and_tally, tasks)

    return tallier
