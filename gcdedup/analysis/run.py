"""Running an analysis: :func:`analyze` plans, scans, tallies and reports.

Gzip JSON Lines files are inflated into a bounded window of chunk files, each
deleted once scanned (:mod:`gcdedup.analysis.gz`), while the workers scan what is
already inflated; what the report needs from their lines afterwards comes from a
second inflation (:mod:`gcdedup.analysis.refetch`). Small inputs are read in this
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
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.pool import Pool
from typing import Any

from ..errors import UsageError
from ..keys import KeyMaker
from ..sources import FORMATS, expand_paths
from . import gz as gzip_input
from .gz import Inflation, Spill, Window, chunk_step, spillable
from .options import AnalysisOptions
from .plan import chunk_bytes, input_work, plan_chunks, poolable, reserved
from .records import (
    SEQ_BITS,
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
    merge_partition,
    split_partial,
)
from .refetch import Context, Refetch, run_second_pass
from .report import StatsReport, build_report
from .scan import scan_chunk
from .tally import Group, Tallier, Tally, TallyContext, merge_and_tally, repeated_groups, tally

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
            # Gzip JSON Lines is inflated into chunk files (a bounded window of them,
            # each deleted once scanned), then read like plain JSON Lines.
            gz = [n for n, name in enumerate(files) if spillable(name, options.fmt)]
            pooling = jobs > 1 and work >= options.parallel_threshold
            limit = gzip_input.WINDOW_BYTES if options.temp_limit is None else options.temp_limit
            live = jobs + 1 if pooling else 1
            step = chunk_step(limit, live) if gz else None
            if step is None:
                for n in gz:
                    log.warning(
                        "%s: read without a temporary copy (--temp-limit %d bytes leaves no "
                        "room for inflated chunks): slower, one process for the file",
                        files[n],
                        limit,
                    )
                gz = []
            window: Window | None = None
            if gz and step is not None:
                into = stack.enter_context(tempfile.TemporaryDirectory(prefix="gcdedup-"))
                window = Window(into, live)
            step = step or 1
            rooms = {n: reservation(files[n], step, len(gz)) for n in gz}
            planned = plan_chunks(files, options.fmt, jobs, options.parallel_threshold, work, rooms)
            inflating = Inflating(planned, options.fmt, window, step, rooms)
            pooled = [c for c in planned if poolable(c)]
            if pooling and (len(pooled) > 1 or window is not None):
                processes = jobs if window is not None else min(jobs, len(pooled))
                pool = stack.enter_context(workers.pool(processes))
                if window is not None:
                    # Before the pool joins its task thread, which may wait for room.
                    stack.callback(window.close)
                partial, parts = _scan_in_pool(
                    pool, workers, inflating, makers, options, jobs, on_bytes, stdin
                )
                chunks = inflating.chunks()
                inflating.add_read_errors(partial, chunks)
                tallier = _pooled_tallier(pool, parts)
                if any(c.gone for c in chunks):
                    groups = _pooled_groups(pool, parts)
                    tallier = _second_pass(
                        groups,
                        partial,
                        chunks,
                        options,
                        strategies,
                        workers,
                        pool.imap_unordered,
                        True,
                    )
                inflating.log_window(limit)
                return build_report(partial, chunks, files, strategies, makers, options, tallier)
            partial = empty_partial(len(strategies))
            inflated = on_bytes or (lambda n: None)  # compressed bytes of inflated files
            for chunk in inflating.all():
                progress = on_bytes if chunk.source is None else None
                merge(
                    partial,
                    scan_chunk(chunk, makers, options.fmt, progress, stdin, digest=digest),
                )
                if chunk.gone:
                    inflating.release(chunk)
                for n in inflating.take_progress():
                    inflated(n)
            for n in inflating.take_progress():
                inflated(n)
            chunks = inflating.chunks()
            inflating.add_read_errors(partial, chunks)
            local: Tallier | None = None
            if any(c.gone for c in chunks):
                local_groups = [repeated_groups(m) for m in partial.maps]
                local = _second_pass(
                    [[g] for g in local_groups],
                    partial,
                    chunks,
                    options,
                    strategies,
                    workers,
                    map,
                    False,
                )
            inflating.log_window(limit)
            return build_report(partial, chunks, files, strategies, makers, options, local)
    finally:
        if enabled:
            gc.enable()


#: The most a deflate stream inflates to, per compressed byte (1032:1), rounded up.
MAX_RATIO = 1100


def reservation(name: str, step: int, files: int) -> int:
    """Chunk indexes to keep free for a gzip file's ranges: as many as it could need
    (at the most a deflate stream inflates to), within the index space of a run."""
    try:
        size = os.path.getsize(name)
    except OSError:
        size = 0
    room = (1 << (64 - SEQ_BITS - 1)) // (files + 1)
    return max(2, min(room, -(-size * MAX_RATIO // step) + 2))


class Inflating:
    """The planned chunks, with the chunk reserved for each gzip file replaced by its
    byte ranges as the file is inflated (:class:`~gcdedup.analysis.gz.Inflation`)
    into chunk files of ``window``, ``step`` bytes or so each.

    A gzip file that turns out not to be JSON Lines takes its reserved chunk as a
    whole file, for the general reader. Used from the pool's task thread.
    """

    def __init__(
        self,
        planned: list[Chunk],
        fmt: str,
        window: Window | None,
        step: int,
        rooms: dict[int, int],
    ) -> None:
        self.planned = planned
        self.fmt = fmt
        self.window = window
        self.step = step
        #: reserved chunk index -> the chunks that took it.
        self.filled: dict[int, list[Chunk]] = {}
        self.spills: dict[int, Spill] = {}  # by file index
        #: Compressed sizes of the files inflated, for progress (filled by the pool's
        #: task thread, drained by the main thread).
        self._progress: collections.deque[int] = collections.deque()
        #: Chunk indexes each gzip file may take (by file index).
        self.rooms = rooms

    def runs(self) -> list[Chunk]:
        return [chunk for chunk in self.planned if reserved(chunk)]

    def inflate(self, first: Chunk) -> Iterator[Chunk]:
        """The chunks of one gzip file, each as soon as its bytes are inflated."""
        source = first.source
        assert source is not None and self.window is not None
        room = self.rooms[first.file_index]
        inflation = Inflation(source, self.fmt, self.window, self.step, room)
        made: list[Chunk] = []
        self.filled[first.index] = made
        for k, (path, start, end) in enumerate(inflation.ranges()):
            index = first.index + k
            made.append(Chunk(index, first.file_index, path, start, end, source, base=start))
            yield made[-1]
        if inflation.spill is None:
            made.append(Chunk(first.index, first.file_index, source))
            yield made[-1]
        else:
            self.spills[first.file_index] = inflation.spill
            self._progress.append(inflation.spill.size)

    def release(self, chunk: Chunk) -> None:
        """A chunk of inflated input was scanned: its file goes."""
        assert self.window is not None
        self.window.release(chunk.path)

    def log_window(self, limit: int) -> None:
        if self.window is not None:
            log.debug(
                "temporary disk for inflated gzip input: high-water mark %d bytes "
                "(bound %d, chunks of %d bytes, %d out at once)",
                self.window.high_water,
                limit,
                self.step,
                self.window.live,
            )

    def all(self) -> Iterator[Chunk]:
        """Every chunk in input order, inflating gzip files on the way."""
        for chunk in self.planned:
            if reserved(chunk):
                yield from self.inflate(chunk)
            else:
                yield chunk

    def take_progress(self) -> list[int]:
        """Compressed bytes of the files inflated since the last call."""
        taken = []
        while self._progress:
            taken.append(self._progress.popleft())
        return taken

    def chunks(self) -> list[Chunk]:
        """The chunks in input order, once every gzip file is inflated."""
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


def _worker(args: tuple[Chunk, list[str], str, str, int, str]) -> SplitPartial:
    """Scan a chunk; a chunk of inflated gzip input is deleted once scanned."""
    chunk, strategies, namespace, fmt, partitions, start_method = args
    makers = [KeyMaker.create(s, namespace) for s in strategies]
    digest = key_digest_for(start_method)
    try:
        return split_partial(scan_chunk(chunk, makers, fmt, digest=digest), partitions)
    finally:
        if chunk.gone:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(chunk.path)


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
        whole = [c for c in planned if c.start is None and not reserved(c) and poolable(c)]
        gzipped = [inflating.inflate(first) for first in inflating.runs()]
        ranges = [c for c in planned if c.start is not None]
        for chunk in itertools.chain(whole, *gzipped, ranges):
            scanned[chunk.index] = chunk
            yield chunk, strategies, options.namespace, options.fmt, partitions, method

    for result in pool.imap_unordered(_worker, tasks()):
        split.append(result)
        merge(partial, result.partial)
        for index in result.partial.chunks:
            if scanned[index].gone:
                inflating.release(scanned[index])
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


def _merge_groups(packed: list[PackedMap]) -> list[Group]:
    """One key partition of every chunk, merged: its repeated keys (a worker task)."""
    return repeated_groups(merge_partition(packed))


def _pooled_groups(pool: Pool, parts: list[list[list[PackedMap]]]) -> list[list[list[Group]]]:
    """Each strategy's repeated keys, by key partition, merged in the workers."""
    out = []
    for strategy, packed in enumerate(parts):
        out.append(list(pool.imap_unordered(_merge_groups, packed)))
        parts[strategy] = []
    return out


def _second_pass(
    groups: list[list[list[Group]]],
    partial: Partial,
    chunks: Sequence[Chunk],
    options: AnalysisOptions,
    strategies: list[str],
    workers: Workers,
    mapper: Callable[..., Iterable[Any]],
    pooled: bool,
) -> Tallier:
    """Fetch what the report needs from gone chunks (:mod:`gcdedup.analysis.refetch`),
    then count the groups (``mapper``: ``map``, or a pool's ``imap_unordered``)."""
    refetch = Refetch(chunks)
    names = partial.names[0]
    for strategy, parts in enumerate(groups):
        for part in parts:
            refetch.add(part, names.__contains__ if strategy == 0 else None)
    if refetch.needed:
        ctx = Context(strategies[0], options.namespace, workers.start_method, dict(refetch.sources))
        began = time.perf_counter()
        lines = sum(len(wants.lengths) for wants in refetch.wants.values())
        by_file = pooled and len(refetch.wants) > 1  # several files: one worker each
        run_second_pass(refetch, options.fmt, ctx, mapper, by_file)
        log.debug(
            "second pass over gzip input: %d lines (%d the same as one before) in %.2f s",
            lines,
            len(refetch.same),
            time.perf_counter() - began,
        )
        names.update(refetch.names)
        groups = [[refetch.augment(part) for part in parts] for parts in groups]

    def tallier(ctx: TallyContext, strategy: int) -> Iterable[Tally]:
        tasks = [(ctx, part) for part in groups[strategy]]
        groups[strategy] = []
        return mapper(_tally_groups, tasks)

    return tallier


def _tally_groups(task: tuple[TallyContext, list[Group]]) -> Tally:
    ctx, part = task
    return tally(ctx, part)


def _pooled_tallier(pool: Pool, parts: list[list[list[PackedMap]]]) -> Tallier:
    """Merge each key partition and classify and count its duplicates in one worker task;
    the parent adds the tallies up as they arrive. Nothing per key comes back."""

    def tallier(ctx: TallyContext, strategy: int) -> Iterable[Tally]:
        tasks = [(ctx, packed) for packed in parts[strategy]]
        parts[strategy] = []  # each partition travels once
        return pool.imap_unordered(merge_and_tally, tasks)

    return tallier
