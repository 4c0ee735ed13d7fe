"""The kind of every duplicate: replay, retry, resend or conflict.

A duplicate is compared with the *first* delivery of its key, in input order,
and the first rule that holds names it (see :mod:`gcdedup.analysis`):

1. ``replay``   the duplicate carries ``replay-name`` (an EventBridge archive replay);
2. ``retry``    same envelope ``id`` and identical canonical ``detail``;
3. ``resend``   identical canonical ``eventBody`` (``detail`` when it has none);
4. ``conflict`` anything else.

The scan keeps the content of an event only where it cannot re-read it: a JSON
Lines event stores where its line is, anything else carries its two digests
(:func:`event_digests`). :class:`KindResolver` re-reads the few lines it has to
compare.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from typing import Any

from ..errors import GcdedupError
from ..events import BadJSON, parse
from ..keys import canonical_json
from ..sources.framing import BOM
from .records import DIGEST, FLAGS_LOW, REC, REPLAY_FLAG, SEQ_BITS, Rec

#: Kind codes, indexes into ``KINDS``.
RETRY, REPLAY, RESEND, CONFLICT = range(4)
KINDS = ("retry", "replay", "resend", "conflict")


def event_digests(env: dict[str, Any]) -> bytes:
    """Body digest then detail+id digest (16 bytes each): what classification compares.

    Body: the canonical ``eventBody`` (the whole ``detail`` when it has no eventBody
    object); a resend keeps it. Detail+id: the canonical ``detail`` and the envelope
    ``id``; a retry keeps both.
    """
    detail = env["detail"]
    body = detail.get("eventBody")
    if type(body) is dict:
        h = hashlib.blake2b(canonical_json(body), digest_size=DIGEST)
        hb = h.digest()
        h.update(canonical_json({k: v for k, v in detail.items() if k != "eventBody"}))
    else:
        h = hashlib.blake2b(canonical_json(detail), digest_size=DIGEST)
        hb = h.digest()
    eid = env.get("id")
    h.update(b"\x00id:" + (eid.encode() if type(eid) is str else b"\x00"))
    return hb + h.digest()


class KindResolver:
    """Tells the kind of every duplicate of a key, re-reading input lines only when needed.

    Cheapest test first:

    * replays are known from their record's flag;
    * two byte-identical lines are the same envelope: a retry, without parsing;
    * otherwise both lines are parsed. Values that differ as Python objects also
      differ as canonical JSON (equal canonical JSON parses to equal values), so a
      different ``id`` or ``detail`` rules out a retry and a different content rules
      out a resend without serialising anything. Only values that compare equal are
      confirmed on canonical JSON (``1``, ``1.0`` and ``true`` are equal in Python).

    Records that cannot be re-read carry their digests; a pair with one of those is
    compared by digests.
    """

    def __init__(self, paths: dict[int, str]) -> None:
        self.paths = paths  # chunk index -> file
        self._fds: dict[str, int] = {}

    def __enter__(self) -> KindResolver:
        return self

    def __exit__(self, *exc: object) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def line(self, rec: Rec) -> bytes:
        """The input line a re-readable record came from (without a leading BOM)."""
        pos, _, offset, length, _ = REC.unpack_from(rec)
        path = self.paths[pos >> SEQ_BITS]
        fd = self._fds.get(path)
        if fd is None:
            fd = self._fds[path] = os.open(path, os.O_RDONLY)
        data = os.pread(fd, length, offset)
        return data[len(BOM) :] if offset == 0 and data.startswith(BOM) else data

    def envelope(self, rec: Rec, line: bytes) -> dict[str, Any]:
        """The envelope parsed from a record's line, as the scan saw it."""
        try:
            env = parse(line)
        except BadJSON:
            env = None
        if type(env) is not dict or type(env.get("detail")) is not dict:
            path = self.paths[REC.unpack_from(rec)[0] >> SEQ_BITS]
            raise GcdedupError(f"{path} changed while it was being analysed; run stats again")
        return env

    def kinds(self, group: list[Rec]) -> bytes:
        """One kind code per duplicate of ``group`` (records sorted, first delivery first)."""
        first = group[0]
        first_line: bytes | None = None
        first_env: dict[str, Any] | None = None
        first_digests: bytes | None = None
        out = bytearray()
        for rec in itertools.islice(group, 1, None):
            if rec[FLAGS_LOW] & REPLAY_FLAG:
                out.append(REPLAY)
            elif len(first) == REC.size and len(rec) == REC.size:
                if first_line is None:
                    first_line = self.line(first)
                line = self.line(rec)
                if line == first_line:
                    out.append(RETRY)
                    continue
                if first_env is None:
                    first_env = self.envelope(first, first_line)
                out.append(_compare(self.envelope(rec, line), first_env))
            else:
                if first_digests is None:
                    first_digests = self.digests(first)
                out.append(_compare_digests(self.digests(rec), first_digests))
        return bytes(out)

    def digests(self, rec: Rec) -> bytes:
        """Body digest + detail-and-id digest of a record (carried, or from its line)."""
        if len(rec) > REC.size:
            return rec[REC.size :]
        return event_digests(self.envelope(rec, self.line(rec)))


def _compare(env: dict[str, Any], first: dict[str, Any]) -> int:
    """Kind of a non-replay duplicate ``env`` of ``first`` (the rules of event_digests)."""
    eid, first_id = env.get("id"), first.get("id")
    if (eid if type(eid) is str else None) == (first_id if type(first_id) is str else None):
        detail, first_detail = env["detail"], first["detail"]
        if detail == first_detail and canonical_json(detail) == canonical_json(first_detail):
            return RETRY
    content, first_content = _content(env), _content(first)
    if content == first_content and canonical_json(content) == canonical_json(first_content):
        return RESEND
    return CONFLICT


def _content(env: dict[str, Any]) -> Any:
    """What a resend keeps: the eventBody object, else the whole detail."""
    detail = env["detail"]
    body = detail.get("eventBody")
    return body if type(body) is dict else detail


def _compare_digests(mine: bytes, first: bytes) -> int:
    if mine[DIGEST:] == first[DIGEST:]:
        return RETRY
    if mine[:DIGEST] == first[:DIGEST]:
        return RESEND
    return CONFLICT


def group_kinds(paths: dict[int, str], groups: list[list[Rec]]) -> list[bytes]:
    """:meth:`KindResolver.kinds` of many groups (one task of a worker process)."""
    with KindResolver(paths) as resolver:
        return [resolver.kinds(group) for group in groups]
