"""Tables that fit the terminal: widths, words never broken, shortened values, the summary."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from gcdedup.cli.app import app
from gcdedup.cli.output import Middle, Output

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_events"
REPLAYS = str(SAMPLES / "retries_and_replays.jsonl")
COMPARE = "genesys,envelope,content,tutorial"


def run(*args: str, columns: int = 80) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.stdout


def section(text: str, title: str) -> list[str]:
    """The lines of the table under ``title`` (up to its bottom border)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("└"))
    return lines[start : end + 1]


@pytest.mark.parametrize("columns", [80, 100])
def test_no_line_wider_than_the_terminal(columns: int) -> None:
    out = run("stats", str(SAMPLES), "--compare", COMPARE, columns=columns)
    widest = max(len(line) for line in out.splitlines())
    assert widest <= columns


def test_compare_at_80_columns_is_transposed_with_every_word_whole() -> None:
    out = run("stats", REPLAYS, "--compare", COMPARE)
    table = section(out, "Key strategies compared")
    header = next(line for line in table if "genesys" in line)
    assert re.split(r"[┃\s]+", header.strip("┃ ")) == [
        "strategy",
        "genesys",
        "envelope",
        "content",
        "tutorial",
    ]
    rows = {cells[0]: cells[1:] for cells in _rows(table)}
    assert rows["rate"] == ["37.50%", "16.67%", "25.00%", "0.00%"]
    assert rows["unique"] == ["15", "20", "18", "0"]
    assert rows["conflicts hidden"] == ["1", "1", "0", "0"]
    assert rows["unkeyable"] == ["0", "0", "0", "24"]
    assert not any("…" in line for line in table)


def test_compare_keeps_strategies_as_rows_when_it_fits() -> None:
    out = run("stats", REPLAYS, "--compare", COMPARE, columns=120)
    table = section(out, "Key strategies compared")
    assert [cells[0] for cells in _rows(table)] == ["genesys", "envelope", "content", "tutorial"]


def _rows(table: list[str]) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip("│").split("│")]
        for line in table
        if line.startswith("│")
    ]


def test_topics_keys_and_paths_are_cut_on_one_line_keeping_what_tells_them_apart() -> None:
    out = run("stats", str(SAMPLES))
    topics = _rows(section(out, "By topic family"))
    assert [row[0] for row in topics] == [
        "v2.…{id}.entityid.{id}",
        "v2.…conversation.{id}.acw",
        "v2.detail.…{id}.customer.end",
        "v2.…{id}.customer.start",
    ]
    files = section(out, "By file")
    assert files[0] == "By file (in sample_events/)" or files[0].startswith("By file (in /")
    assert [row[0] for row in _rows(files)] == ["clean.jsonl", "…replays.jsonl", "sqs_batch.json"]
    kinds = _rows(section(out, "Duplicates by kind"))
    assert [row[-1] for row in kinds] == [
        "…start#…#1764201600000",
        "…start#…#1764201600000",
        "default#…acw#…#1764201850000",
        "…start#…#1764202200000",
    ]
    top = _rows(section(out, "Most duplicated keys"))
    assert [row[0] for row in top[:3]] == [
        "default#v2.audits#653578d4…",
        "default#…customer.start#…#1764201600000",
        "default#…customer.end#…#1764201840000",
    ]


def test_middle_cells_use_the_cut() -> None:
    console = Console(width=14, record=True)
    console.print(Middle("sample_events/retries_and_replays.jsonl"))
    assert console.export_text() == "…replays.jsonl\n"


def test_a_long_report_ends_with_its_summary_line_and_a_short_one_does_not() -> None:
    long = run("stats", REPLAYS).splitlines()
    assert long[0].startswith("Duplicates by key strategy 'genesys'")  # the summary table
    # the last line again, wrapped at a space at 80 columns
    assert " ".join(line.strip() for line in long[-2:]) == (
        "Summary: 24 events, 15 unique, 8 duplicates, 1 conflict (37.50%) by 'genesys' keys, "
        "0 bad records; recommended TTL 1h"
    )
    short = run("stats", REPLAYS, "--section", "summary").splitlines()
    assert not any(line.startswith("Summary:") for line in short)


def test_fits_measures_the_minimum_width_without_clamping() -> None:
    output = Output()
    output.console = Console(width=40)
    wide = output.rich_table(["a" * 30, "b" * 30], [["1", "2"]])
    narrow = output.rich_table(["a" * 10, "b" * 10], [["1", "2"]])
    assert not output.fits(wide)
    assert output.fits(narrow)


def test_the_stats_guide_shows_the_80_column_report_as_it_is() -> None:
    text = (REPO / "docs" / "guides" / "stats.md").read_text()
    start = text.index("--section summary,kind,compare` prints")
    block = text[text.index("```\n", start) + 4 : text.index("```", text.index("```\n", start) + 4)]
    out = run("stats", REPLAYS, "--compare", COMPARE, "--section", "summary,kind,compare")
    assert "\n".join(line.rstrip() for line in out.splitlines()) + "\n" == block


def test_unknown_sections_are_a_usage_error_naming_the_choices() -> None:
    result = CliRunner().invoke(app, ["stats", REPLAYS, "--section", "summary,nope"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: unknown --section nope: choose from summary, kind,")
    result = CliRunner().invoke(app, ["stats", REPLAYS, "--section", "ttl", "--json"])
    assert result.exit_code == 2


def test_sections_pick_tables_and_csv_files(tmp_path: Path) -> None:
    out = run("stats", REPLAYS, "--section", "ttl", "--section", "file", "--csv", str(tmp_path))
    titles = [line for line in out.splitlines() if line[:1].isalpha()]
    assert titles == [
        "By file (in " + str(SAMPLES) + "/)",
        "TTL what-if (recommended: 1h; longest gap 34m10s)",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["by_file.csv", "ttl.csv"]


def test_counts_are_whole_and_separated_and_tables_share_their_words() -> None:
    import json

    from gcdedup.cli.stats_tables import report_tables

    result = CliRunner().invoke(app, ["stats", REPLAYS, "--json"])
    doc = json.loads(result.stdout)
    doc["gaps"]["timed"], doc["gaps"]["untimed"] = 17169, 1234
    doc["cost"]["items_held"] = 757194.82
    tables = {t.name: t for t in report_tables(doc)}
    assert tables["gaps"].title == "Arrival gap to the first delivery (17,169 timed, 1,234 untimed)"
    [held] = [row for row in tables["cost"].rows if row[0] == "items held"]
    assert held[1] == 757195

    out = run("process", str(SAMPLES), "--store", "memory://")
    header = next(line for line in out.splitlines() if line.startswith("┃ topic"))
    assert [h.strip() for h in header.strip("┃").split("┃")] == [
        "topic",
        "events",
        "processed",
        "duplicates",
        "conflicts",  # 05 repeats 03's business key with another payload
    ]


def test_at_60_columns_the_summary_and_ttl_tables_stand_on_their_side() -> None:
    out = run("stats", REPLAYS, "--section", "summary,ttl", columns=60)
    assert max(len(line) for line in out.splitlines()) <= 60
    summary = {row[0]: row[1:] for row in _rows(section(out, "Duplicates by key strategy"))}
    assert summary["duplicate rate"] == ["37.50%"] and summary["unique"] == ["15"]
    ttl = section(out, "TTL what-if")
    assert "┃ ttl                 ┃    1h ┃    6h ┃    1d ┃    4d ┃" in ttl
    assert not any("…" in line for line in out.splitlines())


@pytest.mark.parametrize("columns", [80, 100, 120])
def test_no_header_word_is_cut_at_any_width(columns: int) -> None:
    """A table Rich would lay out with a column narrower than its longest word
    ("duplicat…") is shown another way (turned on its side) instead."""
    out = run("stats", str(SAMPLES), "--compare", COMPARE, columns=columns)
    headers = [line for line in out.splitlines() if line.startswith("┃")]
    assert headers and not [line for line in headers if "…" in line]
    assert all(len(line) <= columns for line in out.splitlines())
