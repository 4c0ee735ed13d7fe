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
class _Wants:
    """What the second pass needs from one file's lines, by offset."""

    lengths: dict[int, int] = field(default_factory=dict)  # 0: a batch line (to its end)
    digests: set[int] = field(default_factory=set)  # lines whose content digests compare
    names: dict[int, list[KeyDigest]] = field(default_factory=dict)  # keys to name


#: One line of the second pass: (file index, offset, line, digests wanted, keys to name).
Item = tuple[int, int, bytes, bool, tuple[KeyDigest, ...]]


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
        self.wants: dict[int, _Wants] = {}  # by file index
        self.digests: dict[int, dict[int, bytes]] = {}  # file index -> offset -> digests
        self.names: dict[KeyDigest, str] = {}
        #: Lines with the bytes of a line before them: (file, offset) -> (file, offset).
        self.same: dict[tuple[int, int], tuple[int, int]] = {}

    def _want(self, rec: Rec) -> tuple[_Wants, int, int] | None:
        pos, _, offset, length, _ = REC.unpack_from(rec)
        file_index = self.file_of.get(pos >> SEQ_BITS)
        if file_index is None:
            return None
        wants = self.wants.get(file_index)
        if wants is None:
            wants = self.wants[file_index] = _Wants()
        wants.lengths[offset] = length
        return wants, offset, length

    def add(self, groups: Iterable[Group], named: Callable[[KeyDigest], bool] | None) -> None:
        """Note what ``groups`` need: digests of the records classification compares
        (as :meth:`~gcdedup.analysis.classify.KindResolver.kinds` walks them), and,
        with ``named`` (the main strategy), a name for each key not named yet."""
        for kd, group in groups:
            compared = [rec for rec in group[1:] if not rec[FLAGS_LOW] & REPLAY_FLAG]
            if compared:
                compared.append(group[0])
            for rec in compared:
                if len(rec) == REC.size:  # (others carry their digests)
                    found = self._want(rec)
                    if found is not None and found[2]:
                        found[0].digests.add(found[1])
            if named is not None and not named(kd):
                for rec in group:
                    found = self._want(rec)
                    if found is not None:
                        found[0].names.setdefault(found[1], []).append(kd)
                        break

    @property
    def needed(self) -> bool:
        return bool(self.wants)

    def items(self, fmt: str) -> Iterator[list[Item]]:
        """The wanted lines of every file, in batches, by a second inflation of each."""
        seen: dict[int, tuple[int, int]] = {}
        for file_index in sorted(self.wants):
            yield from _file_items(
                self.sources[file_index], fmt, file_index, self.wants[file_index], seen, self.same
            )
            self.wants[file_index] = _Wants()  # done with: memory back

    def files(self, fmt: str, ctx: Context) -> Iterator[FileTask]:
        """One task per file (each inflated and computed by one worker), largest first."""
        order = sorted(self.wants, key=lambda n: -len(self.wants[n].lengths))
        for file_index in order:
            yield ctx, fmt, file_index, self.wants.pop(file_index)

    def take(self, found: Iterable[Found]) -> None:
        for file_index, offset, digests, names in found:
            if digests is not None:
                self.digests.setdefault(file_index, {})[offset] = digests
            self.names.update(names)

    def finish(self) -> None:
        """The lines that were the same as one before get its digests."""
        for (file_index, offset), (first_file, first_offset) in self.same.items():
            self.digests.setdefault(file_index, {})[offset] = self.digests[first_file][first_offset]

    def augment(self, groups: list[Group]) -> list[Group]:
        """``groups``, their records that got digests with the digests appended (in place)."""
        file_of, digests = self.file_of, self.digests
        none: dict[int, bytes] = {}
        size = REC.size
        unpack = REC.unpack_from
        for _, group in groups:
            for i, rec in enumerate(group):
                if len(rec) == size:
                    pos, _, offset, _, _ = unpack(rec)
                    file_index = file_of.get(pos >> SEQ_BITS)
                    if file_index is not None:
                        found = digests.get(file_index, none).get(offset)
                        if found is not None:
                            group[i] = rec + found
        return groups


def _file_items(
    source: str,
    fmt: str,
    file_index: int,
    wants: _Wants,
    seen: dict[int, tuple[int, int]],
    same: dict[tuple[int, int], tuple[int, int]],
) -> Iterator[list[Item]]:
    """The wanted lines of one file, in batches. A line that only wants digests and has
    the bytes of a line before it (a retry) is not sent: it is noted in ``same``, to get
    that line's digests (``seen``: content, as hash and length, -> its first line)."""
    lengths, digests, names = wants.lengths, wants.digests, wants.names
    # A batch line's events share its offset and have no length: to its end.
    wanted = [(offset, lengths[offset] or -1) for offset in sorted(lengths)]
    batch: list[Item] = []
    add = batch.append
    try:
        for offset, line in pick_lines(source, fmt, wanted):
            digested = offset in digests
            wanted_names = names.get(offset)
            named = tuple(wanted_names) if wanted_names else ()
            if digested:
                here = (file_index, offset)
                first = seen.setdefault(hash(line) ^ len(line) << 40, here)
                if first is not here and not named:
                    same[here] = first
                    continue
            add((file_index, offset, line, digested, named))
            if len(batch) >= BATCH:
                yield batch
                batch = []
                add = batch.append
    except OSError as exc:
        raise _changed(source) from exc
    if batch:
        yield batch


#: One file of the second pass, for a worker: (context, format, file index, its wants).
FileTask = tuple["Context", str, int, _Wants]


def fetch_file(task: FileTask) -> tuple[list[Found], dict[tuple[int, int], tuple[int, int]]]:
    """Inflate one file again and compute from its wanted lines (a worker task)."""
    ctx, fmt, file_index, wants = task
    same: dict[tuple[int, int], tuple[int, int]] = {}
    found: list[Found] = []
    for batch in _file_items(ctx.sources[file_index], fmt, file_index, wants, {}, same):
        found += compute((ctx, batch))
    return found, same


def _changed(source: str) -> GcdedupError:
    return GcdedupError(f"{source} changed while it was being analysed; run stats again")


def compute(task: tuple[Context, list[Item]]) -> list[Found]:
    """Digests and key names of a batch of lines (a worker task, or run in-process)."""
    ctx, items = task
    maker = KeyMaker.create(ctx.strategy, ctx.namespace)
    digest = key_digest_for(ctx.start_method)
    out: list[Found] = []
    for file_index, offset, line, wanted, wanted_names in items:
        source = ctx.sources[file_index]
        try:
            doc: Any = parse(line)
        except BadJSON as exc:
            raise _changed(source) from exc
        names: dict[KeyDigest, str] = {}
        digests: bytes | None = None
        single = type(doc) is dict and type(doc.get("detail")) is dict
        if wanted:
            if not single:
                raise _changed(source)
            digests = event_digests(doc)
        if wanted_names:
            if single:  # the line of one record: its key is the one wanted
                with contextlib.suppress(GcdedupError):
                    key = maker(Event(doc, Location(source)))
                    names.update(dict.fromkeys(wanted_names, key))
            else:  # a batch: the events whose keys are wanted
                for env in _envelopes(doc, source):
                    with contextlib.suppress(GcdedupError):
                        key = maker(Event(env, Location(source)))
                        if digest(key) in wanted_names:
                            names[digest(key)] = key
        out.append((file_index, offset, digests, names))
    return out


def _envelopes(doc: Any, source: str) -> list[dict[str, Any]]:
    return [r.envelope for r in expand(doc, Location(source)) if isinstance(r, Event)]


def run_second_pass(
    refetch: Refetch,
    fmt: str,
    ctx: Context,
    mapper: Callable[[Callable[[Any], Any], Iterator[Any]], Iterable[Any]],
    by_file: bool = False,
) -> None:
    """Inflate the files again and compute what the report needs (``mapper``: ``map``,
    or a pool's ``imap_unordered``). By default this process inflates, the mapper
    computes from the lines; ``by_file``: each file is one task, inflated and computed
    where the mapper runs it (several files inflate on several cores)."""
    if by_file:
        for found, same in mapper(fetch_file, refetch.files(fmt, ctx)):
            refetch.take(found)
            refetch.same.update(same)
    else:
        tasks = ((ctx, batch) for batch in refetch.items(fmt))
        refetch.take(itertools.chain.from_iterable(mapper(compute, tasks)))
    refetch.finish()
