"""What a new user meets first: a run that finds no event, ``stats`` with no input,
sections that do not apply, durations without a unit, a mistyped mode, purge's exit
codes, the cost table and the histogram CSV."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from gcdedup.cli.app import app
from gcdedup.cli.output import usd
from gcdedup.cli.params import duration_flag
from gcdedup.errors import UsageError

REPO = Path(__file__).resolve().parents[2]
CLEAN = str(REPO / "sample_events" / "clean.jsonl")
REPLAYS = str(REPO / "sample_events" / "retries_and_replays.jsonl")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state directory of our own: the default store lives there."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("GCDEDUP_STORE", raising=False)
    return tmp_path / "state" / "gcdedup" / "dedup.sqlite3"


# -- a run that finds no event warns, whatever the cause --------------------------------


def test_process_on_a_file_of_only_bad_records_warns(runner: CliRunner, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n\nSome *prose*, not events.\n")
    args = ["process", str(readme), "--store", "memory://"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0
    warning = f"no events found in {readme} (2 bad records)"
    assert result.stderr.splitlines()[-1] == f"Warning: {warning}"
    doc = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert (doc["records"], doc["events"], doc["warnings"]) == (2, 0, [warning])
    assert runner.invoke(app, [*args, "--strict"]).exit_code == 1


# -- stats with no input: the default store ---------------------------------------------


def test_stats_without_input_and_without_a_store_says_where_it_looked(
    runner: CliRunner, state: Path
) -> None:
    result = runner.invoke(app, ["stats"])
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: no SQLite store at {state} (the default store, which process creates): "
        "give event files to analyse, or --store URL\n"
    )


def test_stats_without_input_reports_the_default_store(runner: CliRunner, state: Path) -> None:
    assert runner.invoke(app, ["process", CLEAN, "--create", "-q"]).exit_code == 0
    bare = runner.invoke(app, ["stats", "--json"])
    assert bare.exit_code == 0, bare.output
    doc = json.loads(bare.stdout)
    assert (doc["store"], doc["records"]) == (f"sqlite:///{state}", 15)
    explicit = runner.invoke(app, ["stats", "--store", f"sqlite:///{state}"])
    assert runner.invoke(app, ["stats"]).stdout == explicit.stdout
    assert "Dedup store" in explicit.stdout


def test_stats_without_input_reports_gcdedup_store(
    runner: CliRunner, tmp_path: Path, state: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    assert runner.invoke(app, ["process", CLEAN, "--store", url, "-q"]).exit_code == 0
    result = runner.invoke(app, ["stats", "--json"], env={"GCDEDUP_STORE": url})
    assert json.loads(result.stdout)["store"] == url


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--store", "memory://", "--section", "summary"],
            "Error: --section summary: not a table of a store (only of event files); "
            "choose from store, namespace, status, topic, age\n",
        ),
        (
            [CLEAN, "--section", "store,age,topic"],
            "Error: --section age, store: not a table of event files (only of a store); "
            "choose from summary, kind, topic, file, compare, gaps, gap_histogram, ttl, "
            "cost, top_keys, bad\n",
        ),
    ],
)
def test_a_section_of_the_other_report_is_a_usage_error(
    runner: CliRunner, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["stats", *args])
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", message)


@pytest.mark.parametrize("args", [["--store", "memory://"], [CLEAN]])
def test_a_section_both_reports_have_prints_a_table(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(app, ["stats", *args, "--section", "topic"])
    assert result.exit_code == 0
    assert result.stdout.startswith("By topic")


# -- durations need a unit --------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "flag", "value"),
    [
        (["process", CLEAN, "--store", "memory://"], "--ttl", "5"),
        (["process", CLEAN, "--store", "memory://"], "--lease", "300"),
        (["stats", CLEAN], "--ttl", "7"),
        (["purge", "--store", "memory://", "--all"], "--older-than", "3.5"),
    ],
)
def test_a_duration_flag_without_a_unit_is_a_usage_error(
    runner: CliRunner, args: list[str], flag: str, value: str
) -> None:
    result = runner.invoke(app, [*args, flag, value])
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"Error: invalid {flag} '{value}': add a unit: s, m, h or d (e.g. 36h, 5d)\n"
    )


def test_durations_with_a_unit_and_bare_seconds_in_variables_are_accepted(
    runner: CliRunner,
) -> None:
    args = ["process", CLEAN, "--store", "memory://", "-q"]
    assert runner.invoke(app, [*args, "--ttl", "36h", "--lease", "90s"]).exit_code == 0
    # GCDEDUP_TTL and GCDEDUP_LEASE keep taking seconds: deployed stacks set them so
    legacy = runner.invoke(app, args, env={"GCDEDUP_TTL": "432000", "GCDEDUP_LEASE": "300"})
    assert legacy.exit_code == 0, legacy.stderr


def test_a_bad_or_zero_duration_says_why(runner: CliRunner) -> None:
    args = ["process", CLEAN, "--store", "memory://"]
    bad = runner.invoke(app, [*args, "--ttl", "5days"])
    assert (
        bad.stderr == "Error: invalid --ttl '5days': use a number and s, m, h or d (e.g. 36h, 5d)\n"
    )
    zero = runner.invoke(app, [*args, "--lease", "0s"])
    assert zero.stderr == "Error: invalid --lease '0s': must be greater than zero\n"


@given(
    number=st.from_regex(r"[0-9]{1,6}(\.[0-9]{1,3})?", fullmatch=True),
    unit=st.sampled_from(["s", "m", "h", "d", "ms", "w", ""]),
    space=st.sampled_from(["", " "]),
)
def test_duration_flag_accepts_exactly_a_number_with_a_unit(
    number: str, unit: str, space: str
) -> None:
    text = f"{number}{space}{unit}"
    parse = duration_flag("--ttl")
    if unit and float(number) > 0:
        assert parse(text) == text
    else:
        with pytest.raises(UsageError, match=r"^invalid --ttl "):
            parse(text)


# -- --mode, purge's exit codes ---------------------------------------------------------


def test_an_unknown_mode_is_one_line_naming_the_modes(runner: CliRunner) -> None:
    result = runner.invoke(app, ["process", CLEAN, "--store", "memory://", "--mode", "dry"])
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == "Error: invalid --mode 'dry': choose process, check or seed\n"
    upper = runner.invoke(app, ["process", CLEAN, "--store", "memory://", "-m", "CHECK", "--json"])
    assert json.loads(upper.stdout)["mode"] == "check"


def test_purge_help_lists_only_its_own_exit_codes(runner: CliRunner) -> None:
    text = " ".join(runner.invoke(app, ["purge", "--help"], env={"COLUMNS": "200"}).stdout.split())
    assert (
        "Exit codes: 0 success (also when nothing matched); 1 the store failed or is damaged, "
        "or the confirmation was declined; 2 a usage error" in text
    )
    for foreign in ("handler", "--strict", "bad records", "130"):
        assert foreign not in text


@pytest.mark.parametrize("command", ["init", "keys", "capture"])
def test_commands_without_handlers_list_no_handler_exit_codes(
    runner: CliRunner, command: str
) -> None:
    help_text = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).stdout
    text = " ".join(help_text.split())
    assert "Exit codes: 0 success; 1 a runtime failure (the store or an AWS call failed" in text
    for foreign in ("handler", "--strict", "bad records"):
        assert foreign not in text


def test_a_declined_purge_exits_1_as_its_help_says(runner: CliRunner, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.sqlite3'}"
    assert runner.invoke(app, ["process", CLEAN, "--store", url, "-q"]).exit_code == 0
    declined = runner.invoke(app, ["purge", "--store", url, "--all"], input="n\n")
    assert declined.exit_code == 1
    assert runner.invoke(app, ["purge", "--store", url, "--all", "--dry-run"]).stdout == (
        f"would delete 15 key(s) from {url}\n"
    )


# -- the cost table and the histogram CSV -----------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0, "0.00"),
        (0.00126, "0.0013"),
        (0.000123, "0.00012"),
        (0.0099, "0.0099"),
        (0.01, "0.01"),
        (1234.5, "1,234.50"),
        (0.00001, "< 0.0001"),
    ],
)
def test_usd(value: float, shown: str) -> None:
    assert usd(value) == shown


def test_the_cost_table_shows_small_costs_and_the_ttl_as_a_duration(
    runner: CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(
        app, ["stats", REPLAYS, "--section", "cost", "--csv", str(tmp_path)], env={"COLUMNS": "100"}
    )
    assert result.exit_code == 0
    rows = {
        line.split("│")[1].strip(): line.split("│")[2:4]
        for line in result.stdout.splitlines()
        if line.count("│") == 4
    }
    assert [v.strip() for v in rows["process: USD per day"]] == [
        "0.0013",
        "at 0.625 per million writes",
    ]
    assert [v.strip() for v in rows["check: USD per day"]] == [
        "0.00013",
        "at 0.125 per million reads",
    ]
    assert rows["items held"][1].strip() == "new per day x TTL 5d"
    with (tmp_path / "cost.csv").open() as fh:
        written = {row[0]: row[1:] for row in csv.reader(fh)}
    assert float(written["process: USD per day"][0]) == pytest.approx(0.00126439, rel=1e-4)
    assert written["items held"][1] == "new per day x TTL 5d"


def test_gap_histogram_csv_holds_counts_and_the_screen_the_bars(
    runner: CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(
        app, ["stats", REPLAYS, "--section", "gap_histogram", "--csv", str(tmp_path)]
    )
    assert result.exit_code == 0
    with (tmp_path / "gap_histogram.csv").open() as fh:
        header, *rows = list(csv.reader(fh))
    assert header == ["gap", "count"]
    assert [int(count) for _, count in rows] == [6, 0, 3, 0, 0, 0, 0]
    assert "█" not in (tmp_path / "gap_histogram.csv").read_text()
    bars = [len(re.findall("█", line)) for line in result.stdout.splitlines() if "min" in line]
    assert bars == [30, 0, 15]
