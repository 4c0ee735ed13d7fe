"""docs/powertools-comparison.md names a test for every gcdedup cell: each one exists."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
DOC = TESTS.parent / "docs" / "powertools-comparison.md"


def test_every_test_the_comparison_names_exists() -> None:
    text = DOC.read_text()
    named = re.findall(r"`((?:unit|integration)/[\w/]+\.py)(?:::(\w+))?(?:\[param\])?`", text)
    short = re.findall(r"`(test_\w+)`", text)  # the cost table's, all in one file
    assert len(named) >= 15 and len(short) >= 6
    for path, name in named:
        source = (TESTS / path).read_text()
        assert not name or f"def {name}(" in source, f"{path}::{name}"
    requests = (TESTS / "integration" / "test_dynamodb_requests.py").read_text()
    for name in short:
        assert f"def {name}(" in requests, name
