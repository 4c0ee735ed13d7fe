"""The docs site builds with ``mkdocs build --strict``, and strict means what it says: a page
left out of the nav, or a link to a missing page or anchor, fails the build."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mkdocs")
pytest.importorskip("material")

REPO = Path(__file__).resolve().parents[2]


def build(root: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """mkdocs.yml and docs/ in a scratch directory, to break on purpose."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    shutil.copytree(REPO / "docs", root / "docs")
    return root


def test_the_site_builds_strict(copy: Path, tmp_path: Path) -> None:
    done = build(copy, tmp_path / "site")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "concepts" / "index.html").is_file()
    assert (tmp_path / "site" / "reference" / "cli" / "index.html").is_file()


@pytest.mark.parametrize(
    ("page", "text", "complaint"),
    [
        ("orphan.md", "# Not in the nav\n", "orphan.md"),
        ("index.md", "[gone](missing.md)\n", "missing.md"),
        ("index.md", "[gone](concepts.md#no-such-heading)\n", "no-such-heading"),
    ],
)
def test_a_page_outside_the_nav_or_a_broken_link_fails_it(
    copy: Path, tmp_path: Path, page: str, text: str, complaint: str
) -> None:
    with (copy / "docs" / page).open("a") as f:
        f.write(text)
    done = build(copy, tmp_path / "site")
    assert done.returncode == 1
    said = done.stdout + done.stderr
    assert complaint in said and "Aborted with 1 warnings in strict mode" in said
