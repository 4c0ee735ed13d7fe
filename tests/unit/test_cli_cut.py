"""Cutting keys, topics and file names to a column: what tells rows apart survives."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gcdedup.cli.cut import cut, min_width

KEY = (
    "default#v2.detail.events.conversation.{id}.customer.start#61b858e1…#889f1ee6…"
    "#b66f8608…#1764201600000"
)


@pytest.mark.parametrize(
    ("width", "shown"),
    [
        (200, KEY),
        (80, "default#…events.conversation.{id}.customer.start#…#b66f8608…#1764201600000"),
        (50, "default#…customer.start#…#b66f8608…#1764201600000"),
        (41, "default#…customer.start#…#1764201600000"),
        (31, "…customer.start#…#1764201600000"),
        (25, "…start#…#1764201600000"),
    ],
)
def test_a_key_keeps_its_topic_end_and_its_tail(width: int, shown: str) -> None:
    assert cut(KEY, width) == shown


def test_a_left_out_namespace_is_marked() -> None:
    assert cut("default#v2.audits#653578d4…", 21) == "…#v2.audits#653578d4…"
    assert cut("0##", 2) == "…#"


def test_a_placeholder_is_not_what_a_cut_topic_shows() -> None:
    key = "default#v2.detail.events.conversation.{id}.acw#15df18d4…#1764201850000"
    assert cut(key, 40) == "default#…acw#15df18d4…#1764201850000"


@pytest.mark.parametrize(
    ("text", "width", "shown"),
    [
        ("retries_and_replays.jsonl", 14, "…replays.jsonl"),
        ("retries_and_replays.jsonl", 20, "…and_replays.jsonl"),
        ("sample_events/retries_and_replays.jsonl", 30, "…retries_and_replays.jsonl"),
        ("/data/2026/11/27/events.jsonl:1234", 20, "…events.jsonl:1234"),
        ("v2.detail.events.conversation.{id}.customer.start", 20, "v2.…customer.start"),
        ("v2.detail.events.conversation.{id}.customer.start", 30, "v2.detail.…{id}.customer.start"),
        ("abcdefghijklmnopqrstuvwxyz", 10, "abc…uvwxyz"),
    ],
)
def test_file_names_keep_tail_and_extension_and_topics_both_ends(
    text: str, width: int, shown: str
) -> None:
    assert cut(text, width) == shown


def test_the_narrowest_column_a_key_asks_for_holds_its_topic_word_and_tail() -> None:
    assert min_width(KEY) == len("…start#…#1764201600000")
    assert cut(KEY, min_width(KEY)) == "…start#…#1764201600000"
    short_topic = "default#0#0#00000000000"  # the shortest cut keeps its topic whole
    assert cut(short_topic, min_width(short_topic)) == "…#0#…#00000000000"
    assert min_width("short") == 5
    assert min_width("a" * 40) == 16


PIECE = st.text(alphabet="abcdefghij0123456789{}", min_size=1, max_size=12)


@given(
    text=st.one_of(
        st.text(min_size=0, max_size=120),
        st.builds(
            lambda ns, words, ids, tail: "#".join([ns, ".".join(words), *ids, tail]),
            PIECE,
            st.lists(PIECE, min_size=1, max_size=8),
            st.lists(PIECE, max_size=4),
            PIECE,
        ),
        st.builds(lambda parts: "/".join(parts) + ".jsonl", st.lists(PIECE, min_size=1)),
    ),
    width=st.integers(min_value=0, max_value=130),
)
def test_a_cut_fits_and_leaves_short_values_alone(text: str, width: int) -> None:
    shown = cut(text, width)
    assert len(shown) <= width
    if len(text) <= width:
        assert shown == text
    elif width >= 1:
        assert "…" in shown


@given(
    words=st.lists(PIECE, min_size=1, max_size=8),
    ids=st.lists(PIECE, max_size=4),
    tail=PIECE,
    extra=st.integers(min_value=0, max_value=60),
)
def test_a_cut_key_always_ends_with_its_tail(
    words: list[str], ids: list[str], tail: str, extra: int
) -> None:
    key = "#".join(["default", ".".join(words), *ids, tail])
    width = min_width(key) + extra
    shown = cut(key, width)
    assert shown.endswith("#" + tail) or shown == key
