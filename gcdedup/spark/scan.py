"""What a Spark task runs for ``stats``: gcdedup's own readers and key rules over one chunk.

A chunk (:class:`~gcdedup.analysis.records.Chunk`, planned on the driver as the
Python engine plans them) is read with the same functions the Python engine uses:
byte ranges of plain JSON Lines with :func:`~gcdedup.analysis.jsonl.range_items`,
anything else (gzip, arrays, concatenated objects, ``s3://`` objects) with
:func:`~gcdedup.analysis.scan.reader_items`. Keys and topic families come from a
:class:`~gcdedup.analysis.scan.ChunkScanner` (the same fallbacks and unkeyable
counting), the content digests from :func:`~gcdedup.analysis.classify.event_digests`.

Each event becomes one narrow row (:data:`EVENT_FIELDS`); after its events, each
chunk adds one info row: its :class:`~gcdedup.analysis.records.ChunkInfo` (counts,
the first bad records with their lines, families, times) and its unkeyable counts,
as JSON. Only info rows reach the driver.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from typing import Any

import orjson

from ..analysis.classify import event_digests
from ..analysis.jsonl import range_items
from ..analysis.records import SEQ_BITS, Chunk, ChunkInfo, empty_partial, stable_digest
from ..analysis.scan import ChunkScanner, parse_time, reader_items
from ..keys import KeyMaker

#: Columns of an event row, then one key column per strategy (``k0``, ``k1``, ...).
#: ``pos``: chunk << SEQ_BITS | number of the event in its chunk (input order);
#: ``wm``: newest envelope time of the chunk so far (epoch s, -1 none); ``fi``: index of
#: the family in the chunk's info; ``body``/``did``: the digests a kind is told by.
EVENT_FIELDS = ("chunk", "pos", "wm", "fi", "family", "replay", "body", "did")
#: The last column: the chunk's info as JSON on its info row, null on event rows.
INFO_FIELD = "info"

Row = tuple[Any, ...]


def scan_rows(
    chunks: Iterable[Chunk], strategies: Sequence[str], namespace: str, fmt: str
) -> Iterator[Row]:
    """Event rows then one info row, for each chunk (a Spark task's partition)."""
    makers = [KeyMaker.create(s, namespace) for s in strategies]
    for chunk in chunks:
        yield from chunk_rows(chunk, makers, fmt)


def chunk_rows(chunk: Chunk, makers: Sequence[KeyMaker], fmt: str) -> Iterator[Row]:
    """The rows of one chunk; the watermark and times follow the Python engine's scan."""
    partial = empty_partial(len(makers))
    scanner = ChunkScanner(chunk, makers, partial, stable_digest, decode_fast=False)
    info = scanner.info
    strategies = range(len(makers))
    base = chunk.index << SEQ_BITS
    nothing = (None,) * (len(EVENT_FIELDS) + len(makers))
    if chunk.start is not None:
        items = range_items(chunk, info, None)
    else:
        items = reader_items(chunk, info, fmt, None)
    seq = 0
    wm, wm_text = -1, ""
    t_min, t_max, min_text = -1, -1, "\uffff"
    for env, _, _, _ in items:
        assert type(env) is dict  # no typed decoder: every line is parsed whole
        detail = env["detail"]
        t = env.get("time")
        if type(t) is str:
            if t > wm_text:
                seconds = parse_time(t)
                if seconds is not None:
                    wm_text, wm = t, seconds
                    t_max = max(t_max, seconds)
            if t < min_text:
                seconds = parse_time(t)
                if seconds is not None:
                    min_text, t_min = t, seconds
        fi = scanner.family(env.get("detail-type"), detail.get("topicName"))
        info.family_events[fi] += 1
        digests = event_digests(env)
        keys = tuple(scanner.key(i, env) for i in strategies)
        yield (
            chunk.index,
            base | seq,
            wm,
            fi,
            info.families[fi],
            "replay-name" in env,
            digests[:16],
            digests[16:],
            *keys,
            None,
        )
        seq += 1
    info.events = seq
    info.watermark = wm
    info.time_min = t_min
    info.time_max = t_max
    doc = {
        "chunk": chunk.index,
        "info": asdict(info),
        "unkeyable": partial.unkeyable,
        "unkeyable_example": partial.unkeyable_example,
    }
    yield (*nothing, orjson.dumps(doc).decode())


def read_info(text: str) -> tuple[int, ChunkInfo, list[int], list[str | None]]:
    """An info row back on the driver: chunk index, info, unkeyable counts and examples."""
    doc = orjson.loads(text)
    raw = doc["info"]
    raw["bad_examples"] = [tuple(example) for example in raw["bad_examples"]]
    return doc["chunk"], ChunkInfo(**raw), doc["unkeyable"], doc["unkeyable_example"]
