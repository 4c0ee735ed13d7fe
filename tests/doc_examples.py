"""Run the ``console`` examples of the README and the docs pages.

``python tests/doc_examples.py`` rewrites their output with what the commands print now.

A block is a run of ``$ gcdedup ...`` lines, each followed by its expected output.
A line ``...`` in the expected output stands for any number of lines. The examples
run in reading order (the README, then the pages in the order of ``mkdocs.yml``'s nav,
then any other page by name), all in one scratch directory holding a copy of
``sample_events/``, with a private state directory and a fixed terminal width, through
Typer's test runner: a page may use the store an earlier page's example filled.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
MKDOCS = REPO / "mkdocs.yml"
#: A console block, maybe after a marker line naming the server it needs
#: (``<!-- example: genesys server -->``): such blocks run in that server's test only.
BLOCK = re.compile(r"(?:<!-- example: ([\w ]+) -->\n)?```console\n(.*?)```", re.S)
NAV_PAGE = re.compile(r"^\s*- (?:[^:\n]+: )?(\S+\.md)\s*$", re.M)
WIDTH = "100"
#: Generated from the Typer app (scripts/gen-cli-docs): its usage lines are not examples.
GENERATED = {DOCS / "reference" / "cli.md"}


@dataclass
class Example:
    page: Path
    command: str
    expected: str


def pages() -> list[Path]:
    """The README, the nav's pages in order, then every other page under docs/."""
    nav = [DOCS / name for name in NAV_PAGE.findall(MKDOCS.read_text())]
    rest = sorted(set(DOCS.rglob("*.md")) - set(nav))
    return [page for page in (README, *nav, *rest) if page not in GENERATED]


def examples(text: str, page: Path = README, needs: str | None = None) -> Iterator[Example]:
    """The examples of the console blocks that need ``needs`` (None: no server)."""
    for marker, block in BLOCK.findall(text):
        if (marker or None) != needs:
            continue
        command: str | None = None
        lines: list[str] = []
        for line in block.splitlines():
            if line.startswith("$ gcdedup "):
                if command is not None:
                    yield Example(page, command, "\n".join(lines))
                command, lines = line[2:], []
            else:
                lines.append(line)
        if command is not None:
            yield Example(page, command, "\n".join(lines))


def all_examples(needs: str | None = None) -> list[Example]:
    return [
        ex for page in pages() if page.exists() for ex in examples(page.read_text(), page, needs)
    ]


@contextmanager
def scratch() -> Iterator[Path]:
    """A directory like a fresh checkout's: sample_events/ and nothing else."""
    old_cwd = os.getcwd()
    saved = {k: os.environ.get(k) for k in ("XDG_STATE_HOME", "COLUMNS", "GCDEDUP_STORE")}
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(REPO / "sample_events", Path(tmp) / "sample_events")
        os.environ["XDG_STATE_HOME"] = str(Path(tmp) / "state")
        os.environ["COLUMNS"] = WIDTH
        os.environ.pop("GCDEDUP_STORE", None)
        os.chdir(tmp)
        try:
            yield Path(tmp)
        finally:
            os.chdir(old_cwd)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def run(command: str) -> tuple[int, str]:
    from gcdedup.cli.app import app

    args = shlex.split(command)[1:]
    result = CliRunner().invoke(app, args, env={"COLUMNS": WIDTH})
    output = "\n".join(line.rstrip() for line in result.output.splitlines())
    return result.exit_code, output


def matches(expected: str, actual: str) -> bool:
    """Exact, except that a line ``...`` stands for any run of lines."""
    pattern = "".join(
        r"(?:.*\n)*?" if line == "..." else re.escape(line) + r"\n"
        for line in expected.splitlines()
    )
    return re.fullmatch(pattern, actual + "\n" if actual else "") is not None


def update() -> None:
    """Rewrite each example's output with what the command prints now.

    An example whose expected output holds a ``...`` line is left as written (it shows
    only part of the output on purpose); it is still run, so the state it leaves is real.
    """
    with scratch():
        for page in pages():
            if not page.exists():
                continue

            def fill(match: re.Match[str], page: Path = page) -> str:
                if match.group(1):  # needs a server: its test checks it
                    return match.group(0)
                parts = []
                for example in examples(match.group(0), page):
                    code, output = run(example.command)
                    if code != 0:
                        raise SystemExit(f"{page}: {example.command} exited {code}:\n{output}")
                    shown = example.expected if "..." in example.expected.splitlines() else output
                    parts.append(f"$ {example.command}\n" + (f"{shown}\n" if shown else ""))
                return "```console\n" + "".join(parts) + "```"

            text = page.read_text()
            new = BLOCK.sub(fill, text)
            if new != text:
                page.write_text(new)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    update()
