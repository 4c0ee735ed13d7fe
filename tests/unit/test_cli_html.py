"""``stats --html``: one self-contained page with the charts and every table."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from gcdedup.analysis.report import timeline
from gcdedup.cli.app import app
from gcdedup.cli.html_report import breakable

REPO = Path(__file__).resolve().parents[2]
REPLAYS = str(REPO / "sample_events" / "retries_and_replays.jsonl")
COMPARE = "genesys,envelope,content,tutorial"


def write(tmp_path: Path, *args: str) -> str:
    page = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["stats", REPLAYS, "--html", str(page), *args])
    assert result.exit_code == 0, result.output
    assert f"wrote the HTML report to {page}\n" in result.stderr
    return page.read_text()


def test_the_page_has_the_charts_and_the_tables(tmp_path: Path) -> None:
    html = write(tmp_path, "--compare", COMPARE)
    charts = re.findall(r'<svg class="chart" role="img" aria-label="([^"]+)"', html)
    assert charts == [
        "Timed duplicates per 1m, stacked by kind",
        "Arrival gaps (log scale) with the TTLs tried",
        "Duplicate rate per topic family (the longest bar: the highest rate)",
        "Duplicates each key strategy finds, as a share of its keyed events",
    ]
    for title in (
        "Duplicates by kind",
        "By topic family",
        "Key strategies compared",
        "TTL what-if",
    ):
        assert f"<h3>{title}" in html
    # full keys in the tables, not the terminal's shortened ones
    # (a line may break after a separator: <wbr>, which copying leaves out)
    assert "default#v2.audits#653578d4-f25a-5987-bf55-7c8fc23923b8" in html.replace("<wbr>", "")
    assert (
        "24 events, 15 unique, 8 duplicates, 1 conflict (37.50%) by &#x27;genesys&#x27; keys"
        in html
    )
    # the TTL marks: one dashed line per TTL tried, the recommended one marked
    assert html.count('<line class="ttl') == 4
    assert html.count('<line class="ttl recommended"') == 1


def test_the_page_loads_nothing_from_anywhere(tmp_path: Path) -> None:
    html = write(tmp_path, "--compare", COMPARE)
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    for needle in ("http://", "https://", "<script", "<link", "src=", "url(", "@import"):
        assert needle not in html, needle


def test_the_text_report_is_unchanged_by_html(tmp_path: Path) -> None:
    plain = CliRunner().invoke(app, ["stats", REPLAYS], env={"COLUMNS": "100"})
    page = tmp_path / "r.html"
    both = CliRunner().invoke(app, ["stats", REPLAYS, "--html", str(page)], env={"COLUMNS": "100"})
    assert both.stdout == plain.stdout


def test_timeline_buckets_every_timed_duplicate_by_kind() -> None:
    doc = json.loads(CliRunner().invoke(app, ["stats", REPLAYS, "--json"]).stdout)
    series = doc["timeline"]
    assert series["bucket_seconds"] == 60
    assert (
        sum(sum(b[k] for k in ("retry", "replay", "resend", "conflict")) for b in series["buckets"])
        == doc["gaps"]["timed"]
        == 9
    )
    assert timeline([]) == {"bucket_seconds": None, "buckets": []}
    # 0 s and 59 s share a minute, 3 days later is 73 hours away: hourly buckets
    packed = [0 << 3 | 0, 59 << 3 | 3, (3 * 86400) << 3 | 1]
    series = timeline(packed)
    assert series["bucket_seconds"] == 3600 and len(series["buckets"]) == 73
    assert series["buckets"][0] == {
        "start": "1970-01-01T00:00:00Z",
        "retry": 1,
        "replay": 0,
        "resend": 0,
        "conflict": 1,
    }
    assert series["buckets"][-1]["replay"] == 1


def test_html_errors_are_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["stats", REPLAYS, "--html", str(tmp_path / "no" / "r.html")])
    assert bad.exit_code == 2
    assert bad.stderr.startswith(f"Error: cannot write --html file {tmp_path / 'no' / 'r.html'}")
    store = runner.invoke(app, ["stats", "--store", "memory://", "--html", "r.html"])
    assert store.exit_code == 2
    assert "--html reports on event files, not on a store" in store.stderr


def test_table_text_may_wrap_after_separators_and_long_tokens_anywhere() -> None:
    assert breakable("v2.audits#653578d4-f25a") == "v2.<wbr>audits#<wbr>653578d4-<wbr>f25a"
    assert breakable("<b>&#x27;") == "&lt;b&gt;&amp;#<wbr>x27;"
    digest = "0123456789abcdef" * 4
    assert breakable(f"content#{digest}") == f'content#<wbr><span class="long">{digest}</span>'
    assert breakable("replay") == "replay"
    assert breakable("") == ""
