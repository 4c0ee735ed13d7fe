"""``s3://bucket/prefix`` inputs: list objects, then stream them to the reader.

An ``s3://`` name is resolved like a local path (:func:`gcdedup.sources.local.expand_paths`
hands it here): the key of an existing object names that object alone (as a
file does); anything else is a prefix, read as a directory: every object under
``prefix/``, recursively, sorted by key, with the same rules as a directory walk
(data-file extensions only, nothing hidden). Objects are then opened one at a
time by the reader, which sniffs each stream (gzip by content, every input
shape), so positions read ``s3://bucket/key:LINE``.

Reading is concurrent and bounded: opening an object starts the downloads of the
next few of its listing (:data:`WINDOW`), each into a queue of at most
:data:`DEPTH` blocks of :data:`BLOCK` bytes, so memory stays flat in object size
(about WINDOW x DEPTH x BLOCK) while the network keeps busy.

``?since=`` / ``?until=`` (ISO dates or times, UTC unless they say otherwise) keep
the objects whose time is in ``[since, until)``: the hour of a Firehose date path
(``.../YYYY/MM/DD/HH/...``) when the key has one, else the object's LastModified.
That is ``stats --since/--until``. ``process --since/--until`` windows events by
their own time, as on every source (:mod:`.window`), and skips only the objects
that cannot hold one (delivered before the window starts).
"""

from __future__ import annotations

import io
import queue
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, BinaryIO
from urllib.parse import parse_qsl, urlencode, urlsplit

from ..errors import InputError, UsageError
from . import aws
from .window import Window, parse_time

SCHEME = "s3://"
#: Objects downloaded ahead of the one being read (the one being read included).
WINDOW = 4
#: Blocks buffered per object download.
DEPTH = 4
#: Bytes per block.
BLOCK = 256 * 1024
#: A download whose reader has not taken a block for this long gives up (reader gone).
IDLE_SECONDS = 120.0

HOUR = timedelta(hours=1)

#: ``YYYY/MM/DD/HH/`` as Firehose writes it under its prefix.
_FIREHOSE_PATH = re.compile(r"(?:^|/)(\d{4})/(\d{2})/(\d{2})/(\d{2})/")


def is_s3(name: str) -> bool:
    return name.startswith(SCHEME)


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    size: int
    last_modified: datetime

    @property
    def name(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}"

    @property
    def hour(self) -> datetime | None:
        """The hour of its Firehose date path, if the key has one."""
        matches = list(_FIREHOSE_PATH.finditer(self.key))
        if matches:  # the last date path in the key
            match = matches[-1]
            try:
                y, m, d, h = (int(g) for g in match.groups())
                return datetime(y, m, d, h, tzinfo=timezone.utc)
            except ValueError:
                pass
        return None

    def may_hold(self, window: Window) -> bool:
        """Whether the object may hold events whose time is in ``window``: an event is
        delivered after its time, so an object whose deliveries all ended before the
        window's start holds none. Later objects are all read (a delivery may come
        hours late), and their events kept by their own time."""
        latest = self.hour + HOUR if self.hour is not None else self.last_modified
        return window.since is None or latest.timestamp() >= window.since

    @property
    def time(self) -> datetime:
        """The hour of its Firehose date path, else LastModified (for --since/--until)."""
        return self.hour or self.last_modified


class Listing:
    """One listing's objects in order, and the downloads started ahead of the reader.

    It belongs to the run that listed it (its names carry it): nothing about S3 is
    kept at module level, so two runs in one process never share a download.
    """

    def __init__(self, objects: Sequence[S3Object]) -> None:
        self.names = tuple(ObjectName(o, self, i) for i, o in enumerate(objects))
        self.downloads: dict[str, _Download] = {}
        self.lock = threading.Lock()

    def close(self) -> None:
        """Cancel the downloads nobody opened."""
        with self.lock:
            for download in self.downloads.values():
                download.close()
            self.downloads.clear()


class ObjectName(str):
    """An ``s3://bucket/key`` name that knows its object and its listing (as
    :class:`~gcdedup.sources.local.BadInput` carries its reason): the reader opens it
    by name, sized and located without another request."""

    obj: S3Object
    listing: Listing
    position: int

    def __new__(cls, obj: S3Object, listing: Listing, index: int) -> ObjectName:
        name = super().__new__(cls, obj.name)
        name.obj, name.listing, name.position = obj, listing, index
        return name

    def __reduce__(self) -> tuple[Any, ...]:
        return (str, (str(self),))  # another process opens it by name


def parse_url(url: str) -> tuple[str, str, dict[str, str]]:
    """(bucket, key or prefix, query options) of an ``s3://`` name."""
    split = urlsplit(url)
    bucket = split.netloc
    if not bucket:
        raise UsageError(f"invalid S3 URL {url!r}: use s3://bucket/prefix")
    options = dict(parse_qsl(split.query, keep_blank_values=True))
    unknown = set(options) - {"since", "until"}
    if unknown:
        raise UsageError(
            f"unknown option {sorted(unknown)[0]!r} in {url!r}: S3 URLs take since= and until="
        )
    return bucket, split.path.lstrip("/"), options


def with_window(paths: Sequence[str], since: str | None, until: str | None) -> list[str]:
    """``paths`` with ``--since`` / ``--until`` added to each ``s3://`` name's options,
    so a listing keeps the objects of that time (see the module's docstring)."""
    if since is None and until is None:
        return list(paths)
    window = {k: v for k, v in (("since", since), ("until", until)) if v is not None}
    for key, value in window.items():
        parse_time(value, key)  # checked before anything is listed
    out = []
    for path in paths:
        if is_s3(path):
            base, _, query = path.partition("?")
            options = {**dict(parse_qsl(query, keep_blank_values=True)), **window}
            path = f"{base}?{urlencode(options)}"
        out.append(path)
    return out


def expand(
    url: str,
    extensions: Sequence[str],
    since: datetime | None = None,
    until: datetime | None = None,
    window: Window | None = None,
) -> list[str]:
    """The object names an ``s3://`` name stands for (see the module's docstring).

    ``window`` (``process --since/--until``, on event times) skips only the objects
    that cannot hold an event of it (:meth:`S3Object.may_hold`).
    """
    if isinstance(url, ObjectName):
        return [url]
    bucket, prefix, options = parse_url(url)
    if "since" in options:
        since = parse_time(options["since"], "since")
    if "until" in options:
        until = parse_time(options["until"], "until")
    s3 = aws.client("s3", url)
    objects: list[S3Object] = []
    if prefix and not prefix.endswith("/"):
        single = _head(s3, bucket, prefix)
        if single is not None:
            objects = [single]
        else:
            prefix += "/"
    if not objects:
        objects = [
            o for o in _list(s3, bucket, prefix) if _is_data_file(o.key[len(prefix) :], extensions)
        ]
    if since is not None or until is not None:
        objects = [
            o
            for o in objects
            if (since is None or o.time >= since) and (until is None or o.time < until)
        ]
    if window is not None:
        objects = [o for o in objects if o.may_hold(window)]
    if not objects:
        windowed = " in the --since/--until window" if since or until or window else ""
        raise UsageError(f"no objects to read under {url}{windowed}")
    return list(Listing(objects).names)


def _is_data_file(relative: str, extensions: Sequence[str]) -> bool:
    parts = relative.split("/")
    if any(part.startswith(".") for part in parts):
        return False
    return bool(parts[-1]) and parts[-1].endswith(tuple(extensions))


def _head(s3: Any, bucket: str, key: str) -> S3Object | None:
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        code = aws.error_code(exc)
        if code in ("404", "NoSuchKey", "NotFound"):
            return None
        if code in ("403", "AccessDenied"):
            return None  # no s3:GetObject on this key: list the prefix (that error says more)
        raise _error(exc, f"s3://{bucket}/{key}") from exc
    return S3Object(bucket, key, int(head["ContentLength"]), head["LastModified"])


def _list(s3: Any, bucket: str, prefix: str) -> list[S3Object]:
    objects: list[S3Object] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                if not item["Key"].endswith("/"):  # "folder" placeholder objects
                    objects.append(
                        S3Object(bucket, item["Key"], int(item["Size"]), item["LastModified"])
                    )
    except Exception as exc:
        raise _error(exc, f"s3://{bucket}/{prefix}") from exc
    objects.sort(key=lambda o: o.key.split("/"))
    return objects


def _error(exc: BaseException, where: str) -> Exception:
    code = aws.error_code(exc)
    if code == "NoSuchBucket":
        return UsageError(f"no such bucket: {where}")
    if aws.is_access_denied(exc):
        return InputError(
            f"access denied listing {where} ({aws.error_message(exc)}): reading S3 needs "
            "s3:ListBucket on the bucket and s3:GetObject on its objects"
        )
    if isinstance(exc, UsageError | InputError):
        return exc
    return InputError(f"cannot list {where}: {aws.error_message(exc)}")


def size(name: str) -> int | None:
    return name.obj.size if isinstance(name, ObjectName) else None


def open_object(name: str) -> BinaryIO:
    """A raw stream of one listed object; starts the read-ahead of the next ones.

    Raises OSError when the object cannot be read (the reader reports it as a bad record).
    """
    if not isinstance(name, ObjectName):  # named, not listed: one request, no read-ahead
        download = _Download(name, _locate(name))
        download.wait_started()
        return download  # type: ignore[return-value]
    listing = name.listing
    with listing.lock:
        for ahead in listing.names[name.position : name.position + WINDOW]:
            found = listing.downloads.get(ahead)
            if found is None or found.expired:
                listing.downloads[ahead] = _Download(ahead, _locate(ahead))
        download = listing.downloads.pop(name)
    download.wait_started()
    return download  # type: ignore[return-value]


def _locate(name: str) -> tuple[str, str]:
    """(bucket, key) of an object name; listed ones by their listing (a key may hold
    ``?`` or ``#``, which a URL parser would cut)."""
    if isinstance(name, ObjectName):
        return name.obj.bucket, name.obj.key
    bucket, _, key = name[len(SCHEME) :].partition("/")
    return bucket, key


class _Download(io.RawIOBase):
    """One object's GET, read by a thread into a bounded queue of blocks."""

    def __init__(self, name: str, where: tuple[str, str]) -> None:
        super().__init__()
        self.name = name
        self._bucket, self._key = where
        self._blocks: queue.Queue[bytes | BaseException | None] = queue.Queue(DEPTH)
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._cancelled = threading.Event()
        self._pending = memoryview(b"")
        self._done = False
        #: Nobody read it for IDLE_SECONDS: the download stopped (open it afresh).
        self.expired = False
        self._thread = threading.Thread(target=self._run, name="gcdedup-s3-read", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            response = aws.client("s3").get_object(Bucket=self._bucket, Key=self._key)
        except Exception as exc:
            self._error = exc
            self._started.set()
            return
        self._started.set()
        body = response["Body"]
        try:
            while not self._cancelled.is_set():
                block = body.read(BLOCK)
                if not self._put(block or None):
                    break
                if not block:
                    return
        except Exception as exc:
            self._put(exc)
        finally:
            body.close()

    def _put(self, item: bytes | BaseException | None) -> bool:
        waited = 0.0
        while not self._cancelled.is_set():
            try:
                self._blocks.put(item, timeout=1.0)
                return True
            except queue.Full:
                waited += 1.0
                if waited >= IDLE_SECONDS:
                    self.expired = True
                    return False
        return False

    def wait_started(self) -> None:
        self._started.wait()
        if self._error is not None:
            exc = self._error
            raise OSError(f"{aws.error_code(exc) or type(exc).__name__}: {aws.error_message(exc)}")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            if self._done:
                return 0
            try:
                item = self._blocks.get(timeout=1.0)
            except queue.Empty:
                if self._thread.is_alive() or not self._blocks.empty():
                    continue
                self._done = True
                raise OSError(f"reading {self.name} stopped: the download was abandoned") from None
            if item is None:
                self._done = True
                return 0
            if isinstance(item, BaseException):
                self._done = True
                raise OSError(f"reading {self.name} failed: {item}") from item
            self._pending = memoryview(item)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        self._cancelled.set()
        super().close()
