"""Run the README's ``console`` examples; ``python tests/readme_examples.py`` rewrites their output.

A block is a run of ``$ gcdedup ...`` lines, each followed by its expected output.
A line ``...`` in the expected output stands for any number of lines. The examples
run in order, in one scratch directory holding a copy of ``sample_events/``, with a
private state directory and a fixed terminal width, through Typer's test runner.
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
BLOCK = re.compile(r"```console\n(.*?)```", re.S)
WIDTH = "100"


@dataclass
class Example:
    command: str
    expected: str


def examples(text: str) -> Iterator[Example]:
    for block in BLOCK.findall(text):
        command: str | None = None
        lines: list[str] = []
        for line in block.splitlines():
            if line.startswith("$ gcdedup "):
                if command is not None:
                    yield Example(command, "\n".join(lines))
                command, lines = line[2:], []
            else:
                lines.append(line)
        if command is not None:
            yield Example(command, "\n".join(lines))


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
    return re.fullmatch(pattern, actual + "\n") is not None


def update() -> None:
    """Rewrite each example's output with what the command prints now."""
    text = README.read_text()
    with scratch():

        def fill(match: re.Match[str]) -> str:
            parts = []
            for example in examples(match.group(0)):
                code, output = run(example.command)
                if code != 0:
                    raise SystemExit(f"{example.command} exited {code}:\n{output}")
                parts.append(f"$ {example.command}\n{output}\n")
            return "```console\n" + "".join(parts) + "```"

        README.write_text(BLOCK.sub(fill, text))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    update()
