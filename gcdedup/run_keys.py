"""The keys a ``--mode check`` run has met, in fixed-size records instead of strings.

A check run answers a key met earlier in the same run as a process run would (a
duplicate, or a conflict naming where the first copy was), so it remembers every key
of the run with the payload fingerprint and origin of its record. Held as Python
strings that is about 450 bytes per key (566 MB at 1 M events); here each key is one
32-byte record in an open-addressing table:

* 16 bytes: BLAKE2b digest of the key (two different keys share one with odds of
  about n^2 / 2^129: nil at any real run size);
* 8 bytes: BLAKE2b digest of the fingerprint, zero for none;
* 8 bytes: the origin, as the index of its text before the last ``:`` (a file name,
  kept once) and the line number after it; zero for none.

The table is split into 256 shards by one digest byte, so growing doubles one shard at
a time (a small transient) instead of the whole table.
"""

from __future__ import annotations

from hashlib import blake2b
from typing import NamedTuple

RECORD = 32
_EMPTY = bytes(16)
_NO_FINGERPRINT = bytes(8)
_SHARDS = 256
_FIRST_SLOTS = 64
#: grow a shard past this share of used slots (linear probing stays short below it)
_LOAD = 0.7
_LINE_BITS = 40  # 12 decimal digits fit


def key_digest(key: str) -> bytes:
    """The 16-byte record key of ``key`` (never all zeros: that marks an empty slot)."""
    digest = blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    return digest if digest != _EMPTY else b"\x01" + digest[1:]


def fingerprint_digest(fingerprint: str) -> bytes:
    """8 bytes for a payload fingerprint; zeros for none (an empty fingerprint)."""
    if not fingerprint:
        return _NO_FINGERPRINT
    digest = blake2b(fingerprint.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return digest if digest != _NO_FINGERPRINT else b"\x01" + digest[1:]


class Earlier(NamedTuple):
    """What the run holds for a key met before: its record's fingerprint and origin."""

    fingerprint: bytes
    origin: str | None

    def other_payload(self, fingerprint: str) -> bool:
        """True when both sides have a fingerprint and they differ (a conflict)."""
        return (
            bool(fingerprint)
            and self.fingerprint != _NO_FINGERPRINT
            and fingerprint_digest(fingerprint) != self.fingerprint
        )


class _Shard:
    __slots__ = ("mask", "table", "used")

    def __init__(self, slots: int) -> None:
        self.mask = slots - 1
        self.table = bytearray(slots * RECORD)
        self.used = 0

    def find(self, digest: bytes | bytearray) -> tuple[int, bool]:
        """The offset of ``digest``'s record, or of the empty slot it would take."""
        table, mask = self.table, self.mask
        slot = int.from_bytes(digest[:8], "little") & mask
        while True:
            offset = slot * RECORD
            held = table[offset : offset + 16]
            if held == digest:
                return offset, True
            if held == _EMPTY:
                return offset, False
            slot = (slot + 1) & mask

    def grow(self) -> None:
        old = self.table
        slots = len(old) // RECORD * 2
        self.mask, self.table = slots - 1, bytearray(slots * RECORD)
        for offset in range(0, len(old), RECORD):
            record = old[offset : offset + RECORD]
            if record[:16] != _EMPTY:
                at, _ = self.find(record[:16])
                self.table[at : at + RECORD] = record


class RunKeys:
    """Keys met in one run -> :class:`Earlier`, in about 32-64 bytes a key."""

    def __init__(self) -> None:
        self._shards = [_Shard(_FIRST_SLOTS) for _ in range(_SHARDS)]
        self._origins: list[str] = []
        self._origin_ids: dict[str, int] = {}
        self._last_prefix: str | None = None
        self._last_index = 0
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def get(self, key: str) -> Earlier | None:
        digest = key_digest(key)
        shard = self._shards[digest[15]]
        offset, found = shard.find(digest)
        if not found:
            return None
        table = shard.table
        origin = int.from_bytes(table[offset + 24 : offset + 32], "little")
        return Earlier(bytes(table[offset + 16 : offset + 24]), self._origin(origin))

    def put(self, key: str, fingerprint: str, origin: str | None) -> None:
        """Remember ``key`` (again: the newer fingerprint and origin win, as in a dict)."""
        digest = key_digest(key)
        shard = self._shards[digest[15]]
        offset, found = shard.find(digest)
        if not found:
            if (shard.used + 1) > _LOAD * (shard.mask + 1):
                shard.grow()
                offset, _ = shard.find(digest)
            shard.used += 1
            self._count += 1
        shard.table[offset : offset + RECORD] = (
            digest
            + fingerprint_digest(fingerprint)
            + self._origin_ref(origin).to_bytes(8, "little")
        )

    def _origin_ref(self, origin: str | None) -> int:
        """0 for none; else (index of the text before ``:line`` + 1) << 40 | (line + 1),
        or line part 0 when the origin does not end in a line number (kept whole)."""
        if origin is None:
            return 0
        prefix, sep, digits = origin.rpartition(":")
        if (
            sep
            and 0 < len(digits) <= 12
            and digits.isdigit()
            and digits.isascii()
            and (digits[0] != "0" or digits == "0")
        ):
            line = int(digits) + 1
        else:
            prefix, line = origin, 0
        if prefix == self._last_prefix:
            index = self._last_index
        else:
            found = self._origin_ids.get(prefix)
            if found is None:
                found = self._origin_ids[prefix] = len(self._origins)
                self._origins.append(prefix)
            self._last_prefix, self._last_index = prefix, index = prefix, found
        return (index + 1) << _LINE_BITS | line

    def _origin(self, ref: int) -> str | None:
        if ref == 0:
            return None
        prefix = self._origins[(ref >> _LINE_BITS) - 1]
        line = ref & ((1 << _LINE_BITS) - 1)
        return f"{prefix}:{line - 1}" if line else prefix
