"""Every ``console`` example in the README runs and prints what the README shows."""

from __future__ import annotations

import re

from readme_examples import README, examples, matches, run, scratch


def test_readme_starts_with_the_two_commands() -> None:
    text = README.read_text()
    first_block = re.search(r"```(?:bash|sh)\n(.*?)```", text, re.S)
    assert first_block is not None
    commands = first_block.group(1)
    assert "gcdedup process sample_events/" in commands
    assert "pytest" in commands


def test_readme_examples_print_what_the_readme_shows() -> None:
    found = list(examples(README.read_text()))
    assert len(found) >= 6
    with scratch():
        for example in found:
            code, output = run(example.command)
            assert code == 0, f"{example.command}\n{output}"
            assert matches(example.expected, output), (
                f"$ {example.command}\n--- README\n{example.expected}\n--- actual\n{output}"
            )


def test_ellipsis_matches_any_run_of_lines_and_nothing_else() -> None:
    assert matches("a\n...\nd", "a\nb\nc\nd")
    assert matches("a\n...\nd", "a\nd")
    assert not matches("a\nd", "a\nb\nd")
    assert not matches("a\n...\nd", "a\nb\nc")
