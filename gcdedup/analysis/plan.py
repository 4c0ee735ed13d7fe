"""Planning a run: how much work the input is, and how to cut it into chunks.

Large plain JSON Lines files, and gzip JSON Lines files while they are inflated
(:mod:`gcdedup.analysis.gz`), are cut into byte ranges (several per worker, so a
slow range does not leave a core idle); every other input is one chunk, read
whole. Standard input and pipes are never opened here: they are read once, by
the parent process.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

from ..sources.compression import has_gzip_magic
from ..sources.local import is_regular
from ..sources.sniff import is_plain_jsonl
from .gz import inflated_size
from .jsonl import split_ranges
from .records import Chunk

#: Below this much input (see input_work), stay in one process (start-up costs more).
PARALLEL_THRESHOLD = 64 * 1024 * 1024
#: How much larger than its file a gzip stream of JSON events is, roughly (for planning).
GZIP_RATIO = 8
#: Byte ranges per worker, so a slow range does not leave a core idle.
RANGES_PER_JOB = 8


def plan_chunks(
    files: Sequence[str],
    fmt: str,
    jobs: int,
    threshold: int,
    work: int | None = None,
    spills: Mapping[int, int] | None = None,
) -> list[Chunk]:
    """Byte ranges of plain JSONL files when the input is large enough; whole files otherwise.

    ``work``: :func:`input_work` of ``files`` when the caller has it already;
    ``spills``: gzip inputs to inflate (index in ``files`` -> how many chunks it may
    be cut into). Their ranges are only known while they are inflated: each gets one
    reserved chunk (``start`` None, ``source`` set; :func:`reserved`), and the chunk
    indexes after it stay free for its ranges to take (chunk indexes order the input).
    """
    spills = spills or {}
    plain = {name: is_plain_jsonl(name, fmt) for n, name in enumerate(files) if n not in spills}
    sizes = {name: os.path.getsize(name) for name in plain if plain[name]}
    inflated = {n: inflated_size(files[n], GZIP_RATIO) for n in spills}
    total = sum(sizes.values()) + sum(inflated.values())
    if work is None:
        work = input_work(files)
    parallel = jobs > 1 and work >= threshold
    target = max(1, math.ceil(total / (jobs * RANGES_PER_JOB))) if parallel else 0
    chunks: list[Chunk] = []
    index = 0
    for file_index, name in enumerate(files):
        if file_index in spills:
            chunks.append(Chunk(index, file_index, name, source=name))
            index += max(1, spills[file_index])
            continue
        if not plain[name]:
            chunks.append(Chunk(index, file_index, name))
            index += 1
            continue
        pieces = max(1, math.ceil(sizes[name] / target)) if parallel else 1
        for start, end in split_ranges(name, sizes[name], pieces):
            chunks.append(Chunk(index, file_index, name, start, end))
            index += 1
    return chunks


def reserved(chunk: Chunk) -> bool:
    """A chunk reserved for a range of a gzip file not inflated yet."""
    return chunk.source is not None and chunk.start is None


def input_work(files: Sequence[str]) -> int:
    """Bytes of JSON the input holds, roughly: gzip files count eight times their size.

    Decides whether starting worker processes pays off. Only regular files count:
    standard input and pipes are read by the parent alone (and never opened here,
    which would take bytes from a pipe).
    """
    work = 0
    for name in files:
        if not is_regular(name):
            continue  # standard input, pipes, devices, bad inputs: read once, by the parent
        try:
            size = os.path.getsize(name)
        except OSError:
            continue  # the reader reports it
        work += size * (GZIP_RATIO if has_gzip_magic(name) else 1)
    return work


def poolable(chunk: Chunk) -> bool:
    """Byte ranges and regular files go to the workers; stdin and pipes stay in the parent."""
    return chunk.source is not None or is_regular(chunk.path)


def chunk_bytes(chunk: Chunk) -> int:
    """On-disk bytes of a chunk, for the progress bar (whole files: their size; ranges
    of an inflated gzip file: none, the file counted when it was inflated)."""
    if chunk.source is not None:
        return 0
    if chunk.start is not None:
        return (chunk.end or 0) - chunk.start
    try:
        return os.path.getsize(chunk.path)
    except OSError:
        return 0
