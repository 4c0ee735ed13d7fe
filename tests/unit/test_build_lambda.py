"""scripts/build-lambda and its requirements list, without building (no index needed).

The build itself, and running what it builds, is tests/integration/test_lambda_artifact.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "build-lambda"


def requirement_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def name_of(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()


def test_lambda_requirements_are_core_dependencies_with_the_same_bounds() -> None:
    lam = requirement_lines((REPO / "scripts" / "lambda-requirements.txt").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert sorted(lam) == ["msgspec>=0.18", "orjson>=3.9", "requests>=2.31"]
    assert set(lam) <= set(project)
    cli_stack = {"typer", "rich", "click", "pydantic"}
    assert not {name_of(r) for r in lam} & cli_stack


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False
    )


def test_it_never_empties_a_directory_it_did_not_build(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    done = run(str(tmp_path))
    assert done.returncode == 1
    assert "is not empty and is not a previous build" in done.stderr
    assert (tmp_path / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--python-version", "312"], "expected e.g. 3.12"),
        (["--arch", "sparc"], "invalid choice: 'sparc'"),
        (["--include", "no/such/handler.py"], "no/such/handler.py does not exist"),
    ],
)
def test_bad_arguments_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    done = run(str(tmp_path / "out"), *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert not (tmp_path / "out").exists()


def test_the_makefile_builds_what_the_template_deploys() -> None:
    """sam build runs build-<logical id>: the target must exist and call the script with
    both architectures (the template's Architecture parameter picks one at deploy)."""
    makefile = (REPO / "Makefile").read_text()
    [recipe] = re.findall(r"^build-DedupFunction:\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert 'scripts/build-lambda "$(ARTIFACTS_DIR)" --python-version 3.12 --arch all' in recipe
