"""The configuration reference names every GCDEDUP_* variable the package reads."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "reference" / "configuration.md"
NAME = re.compile(r"\bGCDEDUP_[A-Z][A-Z0-9_]*[A-Z0-9]\b")


def test_every_variable_the_package_spells_is_in_the_configuration_reference() -> None:
    spelled = {
        name for path in (REPO / "gcdedup").rglob("*.py") for name in NAME.findall(path.read_text())
    }
    assert len(spelled) >= 20
    documented = set(NAME.findall(PAGE.read_text()))
    assert sorted(spelled - documented) == []
