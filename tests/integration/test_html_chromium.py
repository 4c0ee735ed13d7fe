"""``stats --html`` in a real browser: headless Chromium renders the page, every chart is
in its DOM, and the console stays silent (the page's Content-Security-Policy turns any
attempt to load something into a console error)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html import unescape
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


#: Run in the page: every word (a run of letters and digits) of every table cell must
#: sit on one line; long tokens marked to wrap anywhere (digests) are not words.
MEASURE = """
<script>
const split = [];
let words = 0;
for (const cell of document.querySelectorAll("td, th")) {
  const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement.closest(".long")) continue;
    for (const m of node.data.matchAll(/\\w+/g)) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
      words += 1;
      if (tops.size > 1) split.push(m[0]);
    }
  }
}
const wide = [...document.querySelectorAll("table")].filter(
  (t) => t.getBoundingClientRect().right > document.documentElement.clientWidth + 1
).map((t) => t.previousElementSibling.textContent);
document.body.setAttribute("data-measured", JSON.stringify({ split, words, wide }));
</script>
"""


def measured(page: Path, tmp_path: Path, width: int) -> dict[str, object]:
    """The page as it is, plus the script above (its policy then allows inline script)."""
    copy = tmp_path / f"measured-{width}.html"
    html = page.read_text().replace(
        "default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';"
    )
    copy.write_text(html.replace("</body>", MEASURE + "</body>"))
    result = chromium(copy, "--hide-scrollbars", f"--window-size={width},1400", "--dump-dom")
    assert result.returncode == 0, result.stderr
    match = re.search(r'data-measured="([^"]*)"', result.stdout)
    assert match is not None, result.stdout[-2000:]
    return json.loads(unescape(match.group(1)))


@pytest.mark.parametrize("width", [920, 640, 420])  # narrower: more lines to split
def test_no_word_in_a_table_is_split_across_lines(page: Path, tmp_path: Path, width: int) -> None:
    found = measured(page, tmp_path, width)
    assert found["words"] > 500  # every table was measured
    assert found["split"] == []
    # long keys wrap at their separators instead of widening their table (at the
    # page's width nothing is wider than the window; narrower, only number tables are)
    assert not [title for title in found["wide"] if title.startswith("Duplicates by kind")]
    if width == 920:
        assert found["wide"] == []


def test_the_page_has_no_break_all(page: Path) -> None:
    assert "break-all" not in page.read_text()
