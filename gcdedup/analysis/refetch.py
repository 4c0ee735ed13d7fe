"""The second pass over gzip input: what the report needs from lines no longer on disk.

A gzip file is inflated into chunk files that are deleted once scanned
(:mod:`gcdedup.analysis.gz`), so the lines classification would re-read by offset
(:class:`~gcdedup.analysis.classify.KindResolver`) are gone. Once the duplicate
groups are known, the records that classification touches (the first delivery and
every duplicate that is not a replay) and one record of each key the report may
name are looked up by a second sequential inflation of the file, which cuts out
just those lines (:func:`~gcdedup.analysis.gz.pick_lines`). Each line gives its
content digests (appended to its record, as records read any other way carry them:
classification then compares digests) and, where wanted, its key. Nothing is kept
but these: 32 bytes per record, one string per named key. Files with no such
record are not inflated again.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import GcdedupError
from ..events import BadJSON, Event, Location, expand, parse
from ..keys import KeyMaker
from .classify import event_digests
from .gz import pick_lines
from .records import FLAGS_LOW, REC, REPLAY_FLAG, SEQ_BITS, Chunk, KeyDigest, Rec, key_digest_for
from .tally import Group

#: Lines per task of the second pass.
BATCH = 2000


@dataclass
class _Want:
    """What the second pass needs from one line."""

    length: int
    digests: bool = False  # the line is one record's: its content digests
    names: set[KeyDigest] = field(default_factory=set)  # keys to name from its events


@dataclass(frozen=True)
class Item:
    """One line of the second pass, sent to whoever computes from it."""

    file_index: int
    offset: int
    line: bytes
    digests: bool
    names: frozenset[KeyDigest]


@dataclass(frozen=True)
class Context:
    """What computing from lines needs (picklable)."""

    strategy: str
    namespace: str
    start_method: str
    sources: dict[int, str]  # file index -> the gzip file as the user named it


#: (file index, offset, digests or None, names found)
Found = tuple[int, int, bytes | None, dict[KeyDigest, str]]


class Refetch:
    """The records of gone chunks that the report needs, and what it got for them."""

    def __init__(self, chunks: Sequence[Chunk]) -> None:
        self.file_of = {c.index: c.file_index for c in chunks if c.gone}
        self.sources = {c.file_index: c.source for c in chunks if c.gone and c.source}
        self.wants: dict[int, dict[int, _Want]] = {}  # file index -> offset -> want
        self.digests: dict[tuple[int, int], bytes] = {}
        self.names: dict[KeyDigest, str] = {}

    def _want(self, rec: Rec) -> tuple[_Want, int] | None:
        pos, _, offset, length, _ = REC.unpack_from(rec)
        file_index = self.file_of.get(pos >> SEQ_BITS)
        if file_index is None:
            return None
        lines = self.wants.setdefault(file_index, {})
        want = lines.get(offset)
        if want is None:
            want = lines[offset] = _Want(length)
        return want, length

    def add(self, groups: Iterable[Group], named: Callable[[KeyDigest], bool] | None) -> None:
        """Note what ``groups`` need: digests of the records classification compares
        (as :meth:`~gcdedup.analysis.classify.KindResolver.kinds` walks them), and,
        with ``named`` (the main strategy), a name for each key not named yet."""
        for kd, group in groups:
            compared = [rec for rec in group[1:] if not rec[FLAGS_LOW] & REPLAY_FLAG]
            if compared:
                compared.append(group[0])
            for rec in compared:
                found = self._want(rec)
                if found is not None and found[1] and len(rec) == REC.size:
                    found[0].digests = True
            if named is not None and not named(kd):
                for rec in group:
                    found = self._want(rec)
                    if found is not None:
                        found[0].names.add(kd)
                        break

    @property
    def needed(self) -> bool:
        return bool(self.wants)

    def items(self, fmt: str) -> Iterator[list[Item]]:
        """The wanted lines, in batches, by a second inflation of each file."""
        batch: list[Item] = []
        for file_index in sorted(self.wants):
            lines = self.wants[file_index]
            order = sorted(lines)
            # A batch line's events share its offset and have no length: take the line.
            wanted = [(offset, lines[offset].length or -1) for offset in order]
            try:
                for offset, line in pick_lines(self.sources[file_index], fmt, wanted):
                    want = lines[offset]
                    batch.append(
                        Item(file_index, offset, line, want.digests, frozenset(want.names))
                    )
                    if len(batch) >= BATCH:
                        yield batch
                        batch = []
            except OSError as exc:
                raise _changed(self.sources[file_index]) from exc
        if batch:
            yield batch

    def take(self, found: Iterable[Found]) -> None:
        for file_index, offset, digests, names in found:
            if digests is not None:
                self.digests[(file_index, offset)] = digests
            self.names.update(names)

    def augment(self, groups: list[Group]) -> list[Group]:
        """``groups`` with the digests appended to the records that got them."""
        file_of, digests = self.file_of, self.digests
        out: list[Group] = []
        for kd, group in groups:
            recs = []
            for rec in group:
                if len(rec) == REC.size:
                    pos, _, offset, _, _ = REC.unpack_from(rec)
                    file_index = file_of.get(pos >> SEQ_BITS)
                    if file_index is not None:
                        rec += digests.get((file_index, offset), b"")
                recs.append(rec)
            out.append((kd, recs))
        return out


def _changed(source: str) -> GcdedupError:
    return GcdedupError(f"{source} changed while it was being analysed; run stats again")


def compute(task: tuple[Context, list[Item]]) -> list[Found]:
    """Digests and key names of a batch of lines (a worker task, or run in-process)."""
    ctx, items = task
    maker = KeyMaker.create(ctx.strategy, ctx.namespace)
    digest = key_digest_for(ctx.start_method)
    out: list[Found] = []
    for item in items:
        source = ctx.sources[item.file_index]
        try:
            doc: Any = parse(item.line)
        except BadJSON as exc:
            raise _changed(source) from exc
        names: dict[KeyDigest, str] = {}
        digests: bytes | None = None
        single = type(doc) is dict and type(doc.get("detail")) is dict
        if item.digests:
            if not single:
                raise _changed(source)
            digests = event_digests(doc)
        if item.names:
            if single:  # the line of one record: its key is the one wanted
                with contextlib.suppress(GcdedupError):
                    key = maker(Event(doc, Location(source)))
                    names.update(dict.fromkeys(item.names, key))
            else:  # a batch: the events whose keys are wanted
                for env in _envelopes(doc, source):
                    with contextlib.suppress(GcdedupError):
                        key = maker(Event(env, Location(source)))
                        if digest(key) in item.names:
                            names[digest(key)] = key
        out.append((item.file_index, item.offset, digests, names))
    return out


def _envelopes(doc: Any, source: str) -> list[dict[str, Any]]:
    return [r.envelope for r in expand(doc, Location(source)) if isinstance(r, Event)]


def run_second_pass(
    refetch: Refetch,
    fmt: str,
    ctx: Context,
    mapper: Callable[[Callable[[Any], list[Found]], Iterator[Any]], Iterable[list[Found]]],
) -> None:
    """Inflate the files again and compute what the report needs (``mapper``: ``map``,
    or a pool's ``imap_unordered``)."""
    tasks = ((ctx, batch) for batch in refetch.items(fmt))
    refetch.take(itertools.chain.from_iterable(mapper(compute, tasks)))
