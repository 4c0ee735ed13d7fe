"""The configuration reference names every GCDEDUP_* variable the package reads."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "reference" / "configuration.md"
NAME = re.compile(r"\bGCDEDUP_[A-Z][A-Z0-9_]*[A-Z0-9]\b")


def test_every_variable_the_package_reads_is_in_the_configuration_reference() -> None:
    from gcdedup.settings import SCHEMA

    spelled = {s.env for s in SCHEMA} | {
        name for path in (REPO / "gcdedup").rglob("*.py") for name in NAME.findall(path.read_text())
    }
    assert len(spelled) >= 20
    documented = set(NAME.findall(PAGE.read_text()))
    assert sorted(spelled - documented) == []


def test_the_settings_table_is_the_schemas() -> None:
    """The generated table is what scripts/gen-cli-docs makes of the schema now."""
    import importlib.machinery
    import importlib.util

    loader = importlib.machinery.SourceFileLoader(
        "gen_cli_docs", str(REPO / "scripts" / "gen-cli-docs")
    )
    spec = importlib.util.spec_from_loader("gen_cli_docs", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    text = PAGE.read_text()
    assert module.configuration_page(text) == text, "run scripts/gen-cli-docs"
    from gcdedup.settings import SCHEMA

    for setting in SCHEMA:
        assert f"| `{setting.env}` |" in text
