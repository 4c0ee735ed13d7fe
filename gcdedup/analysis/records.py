"""What the ``stats`` scan produces and merges: packed records, chunks, partial results.

Every delivery becomes one small packed record (:data:`REC`) filed under the
64-bit digest of its key. A chunk (a byte range of a plain JSON Lines file, or a
whole file of any other format) scans into a :class:`Partial`; partials merge in
any order (:func:`merge`) because every record carries its global position. For
worker processes, a partial's maps are cut by key partition into flat byte
strings (:func:`split_partial`) and each partition of every chunk is merged by
one task (:func:`merge_partition`).

Keys are told apart by a 64-bit digest: Python's own string hash, SipHash-1-3
under a secret chosen at start-up, which worker processes forked from the parent
share. It costs a tenth of a cryptographic digest per event. Two of n distinct
keys collide with a chance of about n^2 / 2^65 (3 in 100 million for a million
keys, 3 in a million for ten million); a collision would count one key's first
delivery as a duplicate of another's (a "conflict"). Where workers cannot be
forked, the digest is the first 8 bytes of blake2b instead
(:func:`stable_digest`), the same in every process (:func:`key_digest_for`).

Memory: per strategy, one dict entry per distinct key, ``64-bit key digest ->
30-byte packed record`` (130-160 bytes with Python's object and dict overhead,
measured; 62 bytes more when the digests are carried), and a list of records for
keys seen more than once.
"""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing
import struct
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from ..display import display_path

#: position (big-endian first, so sorting records sorts them in arrival order),
#: arrival watermark (epoch s, -1 unknown), byte offset of the line (or record
#: number), length of the line (0: not re-readable, the digests follow), flags.
REC = struct.Struct(">QqQIH")
#: Size of the body digest and of the detail+id digest carried by unreadable records.
DIGEST = 16
#: Bits of a position that number occurrences inside one chunk.
SEQ_BITS = 40
SEQ_MASK = (1 << SEQ_BITS) - 1
#: Flags: the low bit marks a replay; the rest is the index of the topic family.
REPLAY_FLAG = 1
#: Index of the low byte of the big-endian flags in a record.
FLAGS_LOW = REC.size - 1
#: How many bad records a chunk keeps as examples.
BAD_EXAMPLES = 20

Rec = bytes
Slot = bytes | list[bytes]
#: A key's 64-bit digest, the key of the hot maps.
KeyDigest = int

#: How worker processes start: forked wherever the platform can (they then share
#: the parent's string hash secret, and need no re-import nor pickled arguments).
START_METHOD = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


def stable_digest(key: str) -> KeyDigest:
    """A 64-bit key digest that is the same in every process (for spawned workers)."""
    return int.from_bytes(
        hashlib.blake2b(key.encode(), digest_size=8).digest(), "little", signed=True
    )


def key_digest_for(start_method: str) -> Callable[[str], KeyDigest]:
    """The key digest every process of a run must use, given how its workers start."""
    return hash if start_method == "fork" else stable_digest


@dataclass(frozen=True)
class Chunk:
    """One unit of work. ``start``/``end`` set: a JSONL byte range; else a whole file.

    ``source``: the input the user named when ``path`` is a piece of its inflated
    stream (a gzip file, see :mod:`gcdedup.analysis.gz`): ``path`` then holds the
    stream's bytes from ``base`` on, and is deleted once scanned. Reports name ``name``.
    """

    index: int
    file_index: int
    path: str
    start: int | None = None
    end: int | None = None
    source: str | None = None
    base: int = 0

    @property
    def name(self) -> str:
        """The input as the user named it, as text (:func:`~gcdedup.display.display_path`)."""
        return display_path(self.source or self.path)

    @property
    def gone(self) -> bool:
        """A range of inflated gzip input: its file is deleted once scanned."""
        return self.source is not None and self.start is not None


@dataclass
class ChunkInfo:
    """What a chunk saw besides keys: counts, bad records, topic families, times."""

    events: int = 0
    lines: int = 0
    bad: int = 0
    #: (line within the chunk or None, byte offset or None, reason); the first few only.
    bad_examples: list[tuple[int | None, int | None, str]] = field(default_factory=list)
    families: list[str] = field(default_factory=list)
    family_events: list[int] = field(default_factory=list)
    watermark: int = -1  # newest envelope time seen in the chunk (epoch seconds)
    time_min: int = -1
    time_max: int = -1

    def add_bad(self, line: int | None, offset: int | None, reason: str) -> None:
        """Count a bad record; keep the first few as examples."""
        self.bad += 1
        if len(self.bad_examples) < BAD_EXAMPLES:
            self.bad_examples.append((line, offset, reason))


@dataclass
class Partial:
    """Mergeable result of scanning chunks, one map per key strategy."""

    maps: list[dict[KeyDigest, Slot]]
    names: list[dict[KeyDigest, str]]
    unkeyable: list[int]
    unkeyable_example: list[str | None]
    chunks: dict[int, ChunkInfo] = field(default_factory=dict)


def empty_partial(strategies: int) -> Partial:
    return Partial(
        [{} for _ in range(strategies)],
        [{} for _ in range(strategies)],
        [0] * strategies,
        [None] * strategies,
    )


def merge(into: Partial, other: Partial) -> Partial:
    """Fold ``other`` into ``into``; commutative up to list order (sorted when read)."""
    for i, theirs in enumerate(other.maps):
        into.maps[i] = merge_maps(into.maps[i], theirs)
        into.names[i].update(other.names[i])
        into.unkeyable[i] += other.unkeyable[i]
        if into.unkeyable_example[i] is None:
            into.unkeyable_example[i] = other.unkeyable_example[i]
    into.chunks.update(other.chunks)
    return into


def merge_maps(mine: dict[KeyDigest, Slot], theirs: dict[KeyDigest, Slot]) -> dict[KeyDigest, Slot]:
    """The union of two maps (either may be reused); keys in both get every record.

    The smaller map is walked, so merging n maps costs time in their total size,
    not n times the size of the growing result.
    """
    if len(theirs) > len(mine):
        mine, theirs = theirs, mine
    joined = {k: _as_list(mine[k]) + _as_list(v) for k, v in theirs.items() if k in mine}
    mine.update(theirs)
    mine.update(joined)
    return mine


def _as_list(slot: Slot) -> list[bytes]:
    return [slot] if isinstance(slot, bytes) else list(slot)


# -- moving partials between processes -------------------------------------------------

#: A key partition of one map, compact for pickling: the keys seen once with a plain
#: record as two flat byte strings (8-byte keys, REC.size records), the rest as a dict.
PackedMap = tuple[bytes, bytes, dict[KeyDigest, Slot]]


@dataclass
class SplitPartial:
    """A worker's partial on its way to the parent, its maps cut by key.

    A map of a hundred thousand small objects pickles (and unpickles) item by item,
    about as slowly as it was scanned, and the parent would then merge them all
    alone. Instead, each map travels as key partitions of flat byte strings, and
    partition j of every chunk is merged by one worker (:func:`merge_partition`),
    which then classifies and counts its duplicates
    (:func:`gcdedup.analysis.tally.merge_and_tally`): the parent gets tallies back,
    never the keys.
    """

    partial: Partial  # maps emptied; names, counts and chunk infos as scanned
    parts: list[list[PackedMap]]  # [strategy][partition]


def split_partial(partial: Partial, partitions: int) -> SplitPartial:
    parts = [_split_map(slots, partitions) for slots in partial.maps]
    partial.maps = [{} for _ in partial.maps]
    return SplitPartial(partial, parts)


def _split_map(slots: dict[KeyDigest, Slot], partitions: int) -> list[PackedMap]:
    size = REC.size
    keys: list[list[KeyDigest]] = [[] for _ in range(partitions)]
    records: list[list[bytes]] = [[] for _ in range(partitions)]
    rest: list[dict[KeyDigest, Slot]] = [{} for _ in range(partitions)]
    for kd, slot in slots.items():
        j = kd % partitions
        if type(slot) is bytes and len(slot) == size:
            keys[j].append(kd)
            records[j].append(slot)
        else:
            rest[j][kd] = slot
    return [
        (array("q", keys[j]).tobytes(), b"".join(records[j]), rest[j]) for j in range(partitions)
    ]


def merge_partition(packed: list[PackedMap]) -> dict[KeyDigest, Slot]:
    """Merge one key partition of every chunk; keep only the keys seen more than once.

    Most keys are seen once. Their digests are only counted (at C speed); records
    are sliced out for the keys seen more than once alone. (``rest`` holds the keys
    repeated inside their chunk, and records that carry their digests.)
    """
    size = REC.size
    parts: list[tuple[array[int], bytes, dict[KeyDigest, Slot]]] = []
    for keys, records, rest in packed:
        digests = array("q")
        digests.frombytes(keys)
        parts.append((digests, records, rest))
    counts = Counter(itertools.chain.from_iterable(p[0] for p in parts))
    counts.update(itertools.chain.from_iterable(p[2] for p in parts))
    repeated = {kd for kd, n in counts.items() if n > 1}
    del counts
    repeated.update(kd for p in parts for kd, slot in p[2].items() if type(slot) is list)
    slots: dict[KeyDigest, list[bytes]] = {}
    for digests, records, rest in parts:
        hits = itertools.compress(range(len(digests)), map(repeated.__contains__, digests))
        for i in hits:
            slots.setdefault(digests[i], []).append(records[i * size : (i + 1) * size])
        for kd, slot in rest.items():
            if kd in repeated:
                slots.setdefault(kd, []).extend(_as_list(slot))
    return slots  # type: ignore[return-value]
