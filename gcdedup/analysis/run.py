"""Running an analysis: :func:`analyze` plans, scans, tallies and reports.

Gzip JSON Lines files are inflated to plain files (:mod:`gcdedup.analysis.gz`)
while the workers scan what is already inflated. Small inputs are read in this
process. Large ones are cut into chunks (:mod:`gcdedup.analysis.plan`) scanned by
worker processes; each worker then merges one key partition of every chunk and
classifies and counts its duplicates, so the parent only adds tallies up. Standard
input and pipes are always read by the parent. :class:`Workers` says how worker
processes start; it is the one place to change that (tests count or swap the
pools through it).
"""

from __future__ import annotations

import collections
import contextlib
import gc
import itertools
import logging
import multiprocessing as mp
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.pool import Pool
from typing import Any

from ..errors import UsageError
from ..keys import KeyMaker
from ..sources import FORMATS, expand_paths
from .gz import Inflation, Spill, inflated_size, spillable, within_limit
from .options import AnalysisOptions
from .plan import GZIP_RATIO, chunk_bytes, input_work, plan_chunks, poolable, reserved
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

log = logging.getLogger(__name__)

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


def checked(options: AnalysisOptions) -> tuple[list[str], list[KeyMaker]]:
    """The strategies and their key makers, once the options are known to be valid
    (every engine checks them the same way, before reading anything)."""
    if options.fmt not in FORMATS:
        raise UsageError(f"unknown format {options.fmt!r}; choose one of: {', '.join(FORMATS)}")
    strategies = list(options.strategies())
    makers = [KeyMaker.create(s, options.namespace) for s in strategies]  # validates
    for ttl in options.ttls:
        if ttl <= 0:
            raise UsageError(f"TTL must be positive, got {ttl}")
    return strategies, makers


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
    strategies, makers = checked(options)
    files = expand_paths(paths)
    jobs = options.jobs or os.cpu_count() or 1
    work = input_work(files)
    digest = workers.key_digest
    # The parent holds only bytes and containers of bytes: nothing for the cyclic
    # collector to find, and walking millions of them would cost seconds.
    enabled = gc.isenabled()
    gc.disable()
    try:
        with contextlib.ExitStack() as stack:
            # Gzip JSON Lines is inflated to plain files (while the workers scan what
            # is already inflated), then read like plain JSON Lines.
            gz = [n for n, name in enumerate(files) if spillable(name, options.fmt)]
            gz, streamed = within_limit(files, gz, options.temp_limit, GZIP_RATIO)
            for n in streamed:
                log.warning(
                    "%s: read without a temporary copy (about %d MB inflated would pass "
                    "--temp-limit): slower, one process for the file",
                    files[n],
                    inflated_size(files[n], GZIP_RATIO) // 1_000_000,
                )
            into = ""
            if gz:
                into = stack.enter_context(tempfile.TemporaryDirectory(prefix="gcdedup-"))
            targets = {n: os.path.join(into, f"{n}.jsonl") for n in gz}
            planned = plan_chunks(
                files, options.fmt, jobs, options.parallel_threshold, work, targets
            )
            inflating = Inflating(planned, options.fmt)
            pooled = [c for c in planned if poolable(c)]
            if jobs > 1 and len(pooled) > 1 and work >= options.parallel_threshold:
                pool = stack.enter_context(workers.pool(min(jobs, len(pooled))))
                partial, parts = _scan_in_pool(
                    pool, workers, inflating, makers, options, jobs, on_bytes, stdin
                )
                chunks = inflating.chunks()
                inflating.add_read_errors(partial, chunks)
                tallier = _pooled_tallier(pool, parts)
                return build_report(partial, chunks, files, strategies, makers, options, tallier)
            partial = empty_partial(len(strategies))
            inflated = on_bytes or (lambda n: None)  # compressed bytes of inflated files
            for chunk in inflating.all():
                progress = on_bytes if chunk.source is None else None
                merge(
                    partial,
                    scan_chunk(chunk, makers, options.fmt, progress, stdin, digest=digest),
                )
                for n in inflating.take_progress():
                    inflated(n)
            for n in inflating.take_progress():
                inflated(n)
            chunks = inflating.chunks()
            inflating.add_read_errors(partial, chunks)
            return build_report(partial, chunks, files, strategies, makers, options)
    finally:
        if enabled:
            gc.enable()


class Inflating:
    """The planned chunks, with the runs reserved for gzip files filled in with byte
    ranges as the files are inflated (:class:`~gcdedup.analysis.gz.Inflation`).

    A gzip file that turns out not to be JSON Lines takes the first chunk of its run
    as a whole file, for the general reader. Used from the pool's task thread.
    """

    def __init__(self, planned: list[Chunk], fmt: str) -> None:
        self.planned = planned
        self.fmt = fmt
        #: first chunk index of a run -> the chunks that took it.
        self.filled: dict[int, list[Chunk]] = {}
        self.spills: dict[int, Spill] = {}  # by file index
        #: Compressed sizes of the files inflated, for progress (filled by the pool's
        #: task thread, drained by the main thread).
        self._progress: collections.deque[int] = collections.deque()

    def runs(self) -> list[list[Chunk]]:
        out: list[list[Chunk]] = []
        for chunk in self.planned:
            if not reserved(chunk):
                continue
            if out and out[-1][-1].file_index == chunk.file_index:
                out[-1].append(chunk)
            else:
                out.append([chunk])
        return out

    def inflate(self, run: list[Chunk]) -> Iterator[Chunk]:
        """The chunks of one reserved run, each as soon as its bytes are inflated."""
        first = run[0]
        source = first.source
        assert source is not None
        pieces = max(1, len(run) // 2)
        step = -(-inflated_size(source, GZIP_RATIO) // pieces)
        inflation = Inflation(source, self.fmt, first.path, step, len(run))
        made: list[Chunk] = []
        self.filled[first.index] = made
        for k, (start, end) in enumerate(inflation.ranges()):
            made.append(Chunk(run[k].index, first.file_index, first.path, start, end, source))
            yield made[-1]
        if inflation.spill is None:
            made.append(Chunk(first.index, first.file_index, source))
            yield made[-1]
        else:
            self.spills[first.file_index] = inflation.spill
            self._progress.append(inflation.spill.size)

    def fill(self, chunk: Chunk, inflated: Spill | None) -> None:
        """A worker inflated a whole file: ``chunk`` takes its one reserved chunk."""
        self.filled[chunk.index] = [chunk]
        if inflated is not None:
            self.spills[chunk.file_index] = inflated
            self._progress.append(inflated.size)

    def all(self) -> Iterator[Chunk]:
        """Every chunk in input order, inflating gzip files on the way."""
        runs = {run[0].index: run for run in self.runs()}
        for chunk in self.planned:
            if chunk.index in runs:
                yield from self.inflate(runs[chunk.index])
            elif not reserved(chunk):
                yield chunk

    def take_progress(self) -> list[int]:
        """Compressed bytes of the files inflated since the last call."""
        taken = []
        while self._progress:
            taken.append(self._progress.popleft())
        return taken

    def chunks(self) -> list[Chunk]:
        """The chunks in input order, once every run is filled."""
        out: list[Chunk] = []
        for chunk in self.planned:
            if not reserved(chunk):
                out.append(chunk)
            else:
                out.extend(self.filled.pop(chunk.index, []))
        return out

    def add_read_errors(self, partial: Partial, chunks: Sequence[Chunk]) -> None:
        """A gzip stream that ended early: its error comes after its file's last line,
        as the reader reports it."""
        last: dict[int, Chunk] = {}
        for chunk in chunks:
            last[chunk.file_index] = chunk
        for file_index, inflated in self.spills.items():
            if inflated.error is not None:
                chunk = last[file_index]
                info = partial.chunks.setdefault(chunk.index, ChunkInfo())
                info.add_bad(info.lines + 1, None, inflated.error)


def _worker(
    args: tuple[Chunk, list[str], str, str, int, str],
) -> tuple[SplitPartial, Chunk | None, Spill | None]:
    """Scan a chunk; a chunk reserved for a whole gzip file is inflated first. Returns
    what that chunk became, and its inflation, too."""
    chunk, strategies, namespace, fmt, partitions, start_method = args
    makers = [KeyMaker.create(s, namespace) for s in strategies]
    digest = key_digest_for(start_method)
    filled: Chunk | None = None
    inflated: Spill | None = None
    if reserved(chunk):
        filled, inflated = inflate_whole(chunk, fmt)
        chunk = filled
    scanned = split_partial(scan_chunk(chunk, makers, fmt, digest=digest), partitions)
    return scanned, filled, inflated


def inflate_whole(chunk: Chunk, fmt: str) -> tuple[Chunk, Spill | None]:
    """Inflate the gzip file of a reserved chunk. Returns the chunk that takes its
    place (one range of the whole inflated file, or the file itself for the general
    reader), and the inflation when there is one."""
    assert chunk.source is not None
    inflation = Inflation(chunk.source, fmt, chunk.path, 1, 1)
    size = max((end for _, end in inflation.ranges()), default=0)
    if inflation.spill is None:
        return Chunk(chunk.index, chunk.file_index, chunk.source), None
    filled = Chunk(chunk.index, chunk.file_index, chunk.path, 0, size, chunk.source)
    return filled, inflation.spill


def _scan_in_pool(
    pool: Pool,
    workers: Workers,
    inflating: Inflating,
    makers: list[KeyMaker],
    options: AnalysisOptions,
    jobs: int,
    on_bytes: Callable[[int], None] | None,
    stdin: Any,
) -> tuple[Partial, list[list[list[PackedMap]]]]:
    """Scan byte ranges and whole files in the workers (standard input here).

    Gzip files are inflated by the pool's task thread while the workers scan: their
    ranges are handed out as they are inflated. Returns the merged partial without
    its maps (names, counts, chunk infos), and the maps cut by key partition:
    ``[strategy][partition]`` -> that partition of every chunk, for
    :func:`_pooled_tallier` to merge and count in the workers.
    """
    partitions = jobs * MERGE_TASKS_PER_JOB
    strategies = [m.strategy.name for m in makers]
    partial = empty_partial(len(makers))
    split: list[SplitPartial] = []
    planned = inflating.planned
    method = workers.start_method
    scanned: dict[int, Chunk] = {}

    def tasks() -> Iterator[tuple[Chunk, list[str], str, str, int, str]]:
        # Whole files first: they are the largest units of work; gzip files next,
        # their ranges as they are inflated; plain ranges fill in after.
        # Small gzip files go whole: the worker inflates and scans each.
        whole = [c for c in planned if c.start is None and not reserved(c) and poolable(c)]
        runs = inflating.runs()
        small = [run[0] for run in runs if len(run) == 1]
        large = [inflating.inflate(run) for run in runs if len(run) > 1]
        ranges = [c for c in planned if c.start is not None]
        for chunk in itertools.chain(whole, small, *large, ranges):
            scanned[chunk.index] = chunk
            yield chunk, strategies, options.namespace, options.fmt, partitions, method

    for result, filled, inflated in pool.imap_unordered(_worker, tasks()):
        split.append(result)
        merge(partial, result.partial)
        if filled is not None:
            inflating.fill(filled, inflated)
            scanned[filled.index] = filled
        if on_bytes is not None:
            for index in result.partial.chunks:
                on_bytes(chunk_bytes(scanned[index]))
            for n in inflating.take_progress():
                on_bytes(n)
    for chunk in planned:
        if not poolable(chunk):
            scanned_chunk = scan_chunk(
                chunk, makers, options.fmt, on_bytes, stdin, digest=workers.key_digest
            )
            split.append(split_partial(scanned_chunk, partitions))
            merge(partial, scanned_chunk)
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
