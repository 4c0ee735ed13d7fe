"""``stats --html`` in a real browser: headless Chromium renders the page, every chart is
in its DOM, and the console stays silent (the page's Content-Security-Policy turns any
attempt to load something into a console error)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gcdedup.cli.app import app

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)"
)


def chromium(page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--enable-logging=stderr",
            "--v=0",
            *args,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=page.parent,
    )


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("html") / "report.html"
    result = CliRunner().invoke(
        app,
        [
            "stats",
            str(REPO / "sample_events" / "retries_and_replays.jsonl"),
            "--compare",
            "genesys,envelope,content,tutorial",
            "--html",
            str(path),
        ],
    )
    assert result.exit_code == 0, result.output
    return path


def test_chromium_renders_every_chart_without_a_console_message(page: Path) -> None:
    result = chromium(page, "--dump-dom")
    assert result.returncode == 0, result.stderr
    dom = result.stdout
    assert dom.count('<svg class="chart"') == 4
    assert dom.count("<rect") > 20 and dom.count("<table>") >= 9
    assert console_lines(result.stderr) == []


def test_a_page_loading_anything_would_be_caught(page: Path, tmp_path: Path) -> None:
    """The check above can fail: the same page with one outside image logs a CSP error."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        page.read_text().replace("<h1>", '<img src="https://example.invalid/x.png"><h1>', 1)
    )
    [line] = console_lines(chromium(bad, "--dump-dom").stderr)
    assert "violates the following Content Security Policy directive" in line


def test_chromium_takes_a_screenshot(page: Path) -> None:
    shot = page.parent / "shot.png"
    result = chromium(page, "--hide-scrollbars", "--window-size=920,1400", f"--screenshot={shot}")
    assert result.returncode == 0, result.stderr
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert console_lines(result.stderr) == []
