"""Cutting a long key, topic or file name to a table column's width so that what tells
rows apart survives: a key keeps its topic's last words and its identifying tail, a file
name its tail and extension, a topic both ends. ``…`` marks what was left out; --json
and --csv keep every value whole.

    default#v2.detail.events.conversation.{id}.customer.start#61b858e1…#…#1764201600000
    -> default#…customer.start#…#1764201600000 -> …customer.start#…#1764201600000
    sample_events/retries_and_replays.jsonl -> …replays.jsonl
"""

from __future__ import annotations

import re
from collections.abc import Iterator

ELLIPSIS = "…"
#: A file name (with a line or byte offset, as a location has).
_FILE = re.compile(r"\.(jsonl|json|ndjson|gz|txt|csv|log|out)(:\d+)?$", re.IGNORECASE)


def cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters (see the module's examples)."""
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    parts = text.split("#")
    if len(parts) >= 3:
        for shown in _key_forms(parts):
            if len(shown) <= width:
                return shown
    if "/" in text or "\\" in text or _FILE.search(text):
        return _keep_tail(text, width)
    return _keep_ends(text, width)


def _key_forms(parts: list[str]) -> Iterator[str]:
    """``namespace#topic#id…#tail``, shorter and shorter, giving up in turn: the ids but
    the last, the topic's first words (down to two), the last id, the namespace, the
    topic's second last word."""
    namespace, topic, *ids, tail = parts
    words = topic.split(".")
    state = {"namespace": True, "words": len(words), "ids": len(ids)}

    def shown() -> str:
        kept = words[len(words) - state["words"] :]
        while len(kept) > 1 and kept[0] == "{id}" and len(kept) < len(words):
            kept = kept[1:]  # a cut topic starting with a placeholder says nothing
        head = (ELLIPSIS if state["words"] < len(words) else "") + ".".join(kept)
        segments = [namespace] if state["namespace"] else []
        if not state["namespace"] and not head.startswith(ELLIPSIS):
            segments.append(ELLIPSIS)  # the namespace left out, the topic whole
        segments.append(head)
        if state["ids"] < len(ids):
            segments.append(ELLIPSIS)
        segments += ids[len(ids) - state["ids"] :]
        segments.append(tail)
        return "#".join(segments)

    steps = [("ids", 1), ("words", 2), ("ids", 0), ("namespace", 0), ("words", 1)]
    for name, floor in steps:
        while int(state[name]) > floor:
            state[name] = int(state[name]) - 1
            yield shown()


def _pieces(text: str) -> list[str]:
    """``text`` split after each break: the places it may be cut without splitting a word."""
    return [p for p in re.split(r"(?<=[/\\_\-. :])", text) if p]


def _tail(pieces: list[str], budget: int) -> list[str]:
    """The most whole pieces from the end within ``budget`` characters."""
    kept: list[str] = []
    used = 0
    for piece in reversed(pieces):
        if used + len(piece) > budget:
            break
        kept.insert(0, piece)
        used += len(piece)
    return kept


def _keep_tail(text: str, width: int) -> str:
    """A path: ``…`` and as many whole words of its end as fit (the extension and the
    last words of the name stay); characters when not even a name and extension fit."""
    tail = _tail(_pieces(text), width - 1)
    if len(tail) < 2:
        return ELLIPSIS + text[len(text) - (width - 1) :]
    return ELLIPSIS + "".join(tail)


def _keep_ends(text: str, width: int) -> str:
    """A topic or a word: its first word and as many whole words of its end as fit, then
    more of its beginning; characters when no whole word fits."""
    budget = width - 1
    pieces = _pieces(text)
    head = [pieces[0]] if len(pieces) > 2 and len(pieces[0]) <= budget // 3 else []
    tail = _tail(pieces[len(head) :], budget - len("".join(head)))
    if not tail:
        keep = budget // 3
        return text[:keep] + ELLIPSIS + text[len(text) - (budget - keep) :]
    for piece in pieces[len(head) : len(pieces) - len(tail)]:
        if len("".join(head + tail)) + len(piece) > budget:
            break
        head.append(piece)
    return "".join(head) + ELLIPSIS + "".join(tail)


def min_width(text: str, floor: int = 16) -> int:
    """The narrowest column a value should get: its shortest meaningful cut for a key
    (the topic's last word and the tail), else ``floor``."""
    parts = text.split("#")
    if len(parts) >= 3:
        shortest = min((len(form) for form in _key_forms(parts)), default=len(text))
        return min(len(text), max(floor, shortest))
    return min(len(text), floor)
