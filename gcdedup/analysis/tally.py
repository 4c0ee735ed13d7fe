"""Classify and count the duplicates of a slice of repeated keys; tallies merge in any order.

The report's pass over every duplicate (kind, topic, file, arrival gap, TTL what-if,
top keys) runs where the duplicates are classified: in the worker processes for
large inputs, one slice of repeated keys per task, so that pass uses every core and
the parent only adds tallies up. Everything here is picklable and order-free: the
example of a kind is its earliest duplicate, the top keys sort by (copies, first
position), gaps are sorted when read.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .classify import KINDS, group_kinds
from .records import REC, SEQ_BITS, SEQ_MASK, PackedMap, Slot, merge_partition

#: (copies, first position, key digest, duplicates per kind, first record).
Candidate = tuple[int, int, int, list[int], bytes]
#: A repeated key and its records, sorted: first delivery first.
Group = tuple[int, list[bytes]]


@dataclass(frozen=True)
class TallyContext:
    """What counting needs to know about the input's layout (per chunk), picklable."""

    paths: dict[int, str]
    wm_before: dict[int, int]
    families: dict[int, list[str]]
    file_of: dict[int, int]
    seq_base: dict[int, int]
    ttls: tuple[int, ...]  # ascending
    detailed: bool  # the main strategy: topics, files, gaps, TTLs and top keys too
    top: int


@dataclass
class Tally:
    """Counts over some repeated keys of one strategy."""

    duplicates: int = 0
    by_kind: list[int] = field(default_factory=lambda: [0] * len(KINDS))
    #: Per kind, the earliest duplicate: (position, key digest).
    examples: list[tuple[int, int] | None] = field(default_factory=lambda: [None] * len(KINDS))
    dup_by_family: dict[str, int] = field(default_factory=dict)
    dup_by_file: dict[int, int] = field(default_factory=dict)
    gaps: list[int] = field(default_factory=list)  # seconds after the first delivery
    order_gaps: list[int] = field(default_factory=list)  # events after it (untimed)
    #: Each timed duplicate's arrival (epoch seconds) and kind: ``arrival << 3 | kind``.
    arrivals: list[int] = field(default_factory=list)
    slipped: dict[int, list[int]] = field(default_factory=dict)  # ttl -> per kind
    top: list[Candidate] = field(default_factory=list)  # the best ``ctx.top``, sorted

    def add(self, other: Tally, top: int) -> None:
        """Fold ``other`` in (commutative: tallies may arrive in any order)."""
        self.duplicates += other.duplicates
        for code in range(len(KINDS)):
            self.by_kind[code] += other.by_kind[code]
            mine, theirs = self.examples[code], other.examples[code]
            if theirs is not None and (mine is None or theirs[0] < mine[0]):
                self.examples[code] = theirs
        for family, n in other.dup_by_family.items():
            self.dup_by_family[family] = self.dup_by_family.get(family, 0) + n
        for file_index, n in other.dup_by_file.items():
            self.dup_by_file[file_index] = self.dup_by_file.get(file_index, 0) + n
        self.gaps += other.gaps
        self.order_gaps += other.order_gaps
        self.arrivals += other.arrivals
        for ttl, counts in other.slipped.items():
            mine_counts = self.slipped.setdefault(ttl, [0] * len(KINDS))
            for code, n in enumerate(counts):
                mine_counts[code] += n
        self.top = _best(self.top + other.top, top)


def _best(candidates: list[Candidate], top: int) -> list[Candidate]:
    return sorted(candidates, key=lambda c: (-c[0], c[1]))[:top]


#: The tallies of one strategy's repeated keys (by index), in as many pieces as suits
#: the caller: one in-process, one per key partition in the workers.
Tallier = Callable[[TallyContext, int], Iterable[Tally]]


def repeated_groups(slots: dict[int, Slot]) -> list[Group]:
    """The keys seen more than once, each with its records sorted (first delivery first)."""
    return [(kd, sorted(slot)) for kd, slot in slots.items() if type(slot) is list]


def merge_and_tally(task: tuple[TallyContext, list[PackedMap]]) -> Tally:
    """One key partition of every chunk: merge it, then classify and count (a worker task)."""
    ctx, packed = task
    return tally(ctx, repeated_groups(merge_partition(packed)))


def tally(ctx: TallyContext, groups: list[Group]) -> Tally:
    """Classify the duplicates of ``groups`` and count them (one worker task).

    Runs once per duplicate: lookups are kept in local names.
    """
    out = Tally(slipped={ttl: [0] * len(KINDS) for ttl in ctx.ttls})
    by_kind, examples, slipped = out.by_kind, out.examples, out.slipped
    dup_by_family, dup_by_file = out.dup_by_family, out.dup_by_file
    gaps, order_gaps, arrivals = out.gaps, out.order_gaps, out.arrivals
    wm_before, families, file_of = ctx.wm_before, ctx.families, ctx.file_of
    ttls, detailed = ctx.ttls, ctx.detailed
    unpack = REC.unpack_from
    candidates: list[Candidate] = []
    codes = group_kinds(ctx.paths, [group for _, group in groups])
    for (kd, group), group_codes in zip(groups, codes, strict=True):
        first = unpack(group[0])
        first_arrival = max(wm_before[first[0] >> SEQ_BITS], first[1])
        counts = [0] * len(KINDS)
        timed: list[tuple[int, int]] = []
        for rec, code in zip(itertools.islice(group, 1, None), group_codes, strict=True):
            pos, wm, _, _, flags = unpack(rec)
            counts[code] += 1
            by_kind[code] += 1
            known = examples[code]
            if known is None or pos < known[0]:
                examples[code] = (pos, kd)
            if not detailed:
                continue
            chunk = pos >> SEQ_BITS
            family = families[chunk][flags >> 1]
            dup_by_family[family] = dup_by_family.get(family, 0) + 1
            file_index = file_of[chunk]
            dup_by_file[file_index] = dup_by_file.get(file_index, 0) + 1
            arrival = max(wm_before[chunk], wm)
            if arrival >= 0 and first_arrival >= 0:
                gaps.append(arrival - first_arrival)
                timed.append((arrival, code))
                arrivals.append(arrival << 3 | code)
            else:
                order_gaps.append(_seq(ctx, pos) - _seq(ctx, first[0]))
        # A store with this TTL forgets a key ttl seconds after it last processed it;
        # a copy arriving later is processed again and starts a new window. Arrivals
        # only grow, so no copy slips past a TTL longer than the whole span.
        if timed:
            span = timed[-1][0] - first_arrival
            for ttl in ttls:
                if span <= ttl:
                    break
                last = first_arrival
                for arrival, code in timed:
                    if arrival - last > ttl:
                        slipped[ttl][code] += 1
                        last = arrival
        out.duplicates += len(group) - 1
        if detailed and ctx.top > 0:
            candidates.append((len(group) - 1, first[0], kd, counts, group[0]))
    out.top = _best(candidates, ctx.top)
    return out


def _seq(ctx: TallyContext, pos: int) -> int:
    """Index of the event in the whole input, from its position in its chunk."""
    return ctx.seq_base[pos >> SEQ_BITS] + (pos & SEQ_MASK)
