"""The README: the two commands first, short, and every link it has leads somewhere."""

from __future__ import annotations

import re

from doc_examples import README, REPO

#: The README is the short tour; the manual is the docs site (docs/, mkdocs.yml).
MAX_LINES = 300
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_readme_starts_with_the_two_commands() -> None:
    text = README.read_text()
    first_block = re.search(r"```(?:bash|sh)\n(.*?)```", text, re.S)
    assert first_block is not None
    commands = first_block.group(1).splitlines()
    assert commands[0] == (
        "pip install . && gcdedup process sample_events/ && gcdedup stats sample_events/"
    )
    assert "pytest" in commands[1]


def test_readme_is_under_300_lines() -> None:
    lines = README.read_text().count("\n")
    assert lines < MAX_LINES, f"README.md has {lines} lines: move the detail to docs/"


def test_every_relative_link_in_the_readme_exists() -> None:
    targets = [t for t in LINK.findall(README.read_text()) if "://" not in t]
    assert len(targets) >= 20
    missing = [t for t in targets if not (REPO / t).exists()]
    assert missing == []
