"""The check run's key table answers as a dict of key -> (fingerprint, origin) would."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gcdedup.run_keys import RunKeys, fingerprint_digest, key_digest

KEYS = st.sampled_from(["a", "b", "default#genesys#x", "ü", "", "k" * 300, "\ud800"])
FINGERPRINTS = st.sampled_from(["", "f1", "f2", "sha:0123456789abcdef"])
ORIGINS = st.sampled_from(
    [
        None,
        "a.jsonl:0",
        "a.jsonl:12",
        "s3://bucket/key.gz:999999",
        "no line",
        "x:007",
        "x:",
        "weird:1:2",
        ":5",
        "big:99999999999999",
        "multi\nline:3",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(KEYS, FINGERPRINTS, ORIGINS), max_size=40))
def test_the_table_answers_as_the_dict_did(ops: list[tuple[str, str, str | None]]) -> None:
    model: dict[str, tuple[str, str | None]] = {}
    table = RunKeys()
    for key, fingerprint, origin in ops:
        table.put(key, fingerprint, origin)
        model[key] = (fingerprint, origin)
    assert len(table) == len(model)
    for key in ("a", "b", "default#genesys#x", "ü", "", "k" * 300, "\ud800", "never"):
        earlier = table.get(key)
        if key not in model:
            assert earlier is None
            continue
        assert earlier is not None
        fingerprint, origin = model[key]
        assert earlier.origin == origin
        assert earlier.fingerprint == fingerprint_digest(fingerprint)
        for probe in ("", "f1", "f2", "sha:0123456789abcdef"):
            # the pipeline's rule: a conflict when both have a fingerprint and they differ
            expected = bool(probe and fingerprint and probe != fingerprint)
            assert earlier.other_payload(probe) is expected


def test_it_grows_and_keeps_every_key() -> None:
    table = RunKeys()
    for n in range(50_000):
        table.put(f"k{n}", f"fp{n % 7}", f"file.jsonl:{n}")
    table.put("k7", "other", None)  # again: the newer values win, the count does not move
    assert len(table) == 50_000
    for n in range(0, 50_000, 997):
        earlier = table.get(f"k{n}")
        assert earlier is not None and earlier.origin == f"file.jsonl:{n}"
        assert earlier.other_payload(f"fp{n % 7}") is False
        assert earlier.other_payload("fp-else") is True
    assert table.get("k7") == (fingerprint_digest("other"), None)
    assert table.get("k50000") is None


def test_digests_are_fixed_size_and_never_empty() -> None:
    assert len(key_digest("x")) == 16 and key_digest("x") != bytes(16)
    assert fingerprint_digest("") == bytes(8)
    assert len(fingerprint_digest("f")) == 8 and fingerprint_digest("f") != bytes(8)
