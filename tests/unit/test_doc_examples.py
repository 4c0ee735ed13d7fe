"""Every ``console`` example of the README and the docs runs and prints what the page shows."""

from __future__ import annotations

import re

from doc_examples import (
    DOCS,
    GENERATED,
    README,
    all_examples,
    examples,
    matches,
    pages,
    run,
    scratch,
)

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def test_examples_print_what_the_pages_show() -> None:
    found = all_examples()
    assert len(found) >= 18
    assert {ex.page for ex in found} >= {README, DOCS / "guides" / "process.md"}
    with scratch():
        for example in found:
            code, output = run(example.command)
            where = example.page.relative_to(DOCS.parent)
            assert code == 0, f"{where}: {example.command}\n{output}"
            assert matches(example.expected, output), (
                f"{where}: $ {example.command}\n--- page\n{example.expected}\n--- actual\n{output}"
            )


def test_every_page_is_read_the_readme_first_and_in_nav_order() -> None:
    order = pages()
    assert order[0] == README
    assert order.index(DOCS / "guides" / "process.md") < order.index(DOCS / "guides" / "stats.md")
    assert set(order) == {README, *DOCS.rglob("*.md")} - GENERATED


def test_a_gcdedup_prompt_outside_a_console_block_is_not_an_example() -> None:
    """A ``$ gcdedup`` line in a ``text`` block would look like an example and run nowhere;
    examples live in ``console`` blocks, or in ``sh`` blocks the cloud tests run."""
    stray = [
        (page.name, line)
        for page in pages()
        for lang, body in FENCE.findall(page.read_text())
        if lang != "console"
        for line in body.splitlines()
        if line.startswith("$ gcdedup ")
    ]
    assert stray == []


def test_ellipsis_matches_any_run_of_lines_and_nothing_else() -> None:
    assert matches("a\n...\nd", "a\nb\nc\nd")
    assert matches("a\n...\nd", "a\nd")
    assert not matches("a\nd", "a\nb\nd")
    assert not matches("a\n...\nd", "a\nb\nc")
    assert matches("", "")
    assert not matches("", "something")


def test_examples_split_a_block_at_each_prompt() -> None:
    text = "```console\n$ gcdedup a\n1\n$ gcdedup b\n```\n"
    found = [(e.command, e.expected) for e in examples(text)]
    assert found == [("gcdedup a", "1"), ("gcdedup b", "")]
