"""Differential property test: ``stats`` and ``process`` agree on hostile inputs.

The cases are those of ``bench/fuzz.py`` (real events with hostile mutations: big
integers, 1e400, NaN, surrogates, NUL, invalid UTF-8, duplicate keys, deep nesting,
2 MB strings, truncation, flipped bytes; as JSON Lines, arrays or containers),
drawn here by hypothesis at a size that takes a few seconds; ``bench/fuzz.py``
runs the same comparison at 100,000 cases.
"""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("gcdedup_bench_fuzz", ROOT / "bench" / "fuzz.py")
assert _spec is not None and _spec.loader is not None
fuzz = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fuzz)

EVENTS = fuzz.base_events()


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(rng=st.randoms(use_true_random=False))
def test_stats_and_process_agree_on_every_count(
    rng: random.Random, tmp_path_factory: pytest.TempPathFactory
) -> None:
    data = fuzz.make_case(EVENTS, rng)
    path = tmp_path_factory.getbasetemp() / "differential-case.jsonl"
    path.write_bytes(data)
    outcome, detail = fuzz.compare(str(path))
    assert outcome == "ok", f"{outcome}: {detail}\n{data[:3000]!r}"
