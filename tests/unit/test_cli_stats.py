"""``gcdedup stats`` through the real Typer app: JSON, CSV, tables, --store, errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from gcdedup.cli.app import app
from gcdedup.cli.output import short_key
from gcdedup.store import KeyItem, open_store

REPO = Path(__file__).resolve().parents[2]
SAMPLES = [str(p) for p in sorted((REPO / "tests" / "fixtures" / "genesys").glob("0*.json"))]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_json_is_one_document_with_the_contract_fields(runner: CliRunner) -> None:
    result = runner.invoke(app, ["stats", *SAMPLES, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    # the sample audit repeated with another payload is a conflict, not a duplicate
    assert (doc["events"], doc["unique"], doc["duplicates"], doc["conflicts"]) == (5, 4, 0, 1)
    assert doc["duplicate_rate"] == 0.2
    assert doc["by_topic"]["v2.detail.events.conversation.{id}.customer.end"]["duplicates"] == 1
    assert doc["by_kind"]["conflict"]["count"] == 1
    assert "compare" not in doc


def test_tables_on_stdout(runner: CliRunner) -> None:
    result = runner.invoke(app, ["stats", *SAMPLES, "--compare", "genesys,envelope,content"])
    assert result.exit_code == 0, result.output
    for title in (
        "Duplicates by kind",
        "By topic family",
        "By file",
        "Key strategies compared",
        "TTL what-if",
        "DynamoDB on-demand estimate",
        "Most duplicated keys",
    ):
        assert title in result.stdout


def test_key_and_namespace_options(runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["stats", *SAMPLES, "-k", "envelope", "--namespace", "test", "--json"]
    )
    doc = json.loads(result.stdout)
    assert doc["strategy"] == "envelope" and doc["duplicates"] + doc["conflicts"] == 1
    assert doc["top_keys"][0]["key"] == "test#id#58fb5dac-f077-4eec-a25f-c638dbdd4368"


def test_csv_writes_one_file_per_table(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "csv"
    result = runner.invoke(
        app, ["stats", *SAMPLES, "--csv", str(out), "--compare", "genesys,content", "--json"]
    )
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)  # still exactly one document on stdout
    names = {p.name for p in out.iterdir()}
    assert {
        "summary.csv",
        "by_kind.csv",
        "by_topic.csv",
        "by_file.csv",
        "compare.csv",
        "gaps.csv",
        "ttl.csv",
        "cost.csv",
        "top_keys.csv",
    } <= names
    with (out / "summary.csv").open() as fh:
        rows = list(csv.reader(fh))
    assert rows == [
        [
            "events",
            "unique",
            "duplicates",
            "conflicts",
            "duplicate rate",
            "bad records",
            "unkeyable",
        ],
        ["5", "4", "0", "1", "0.2", "0", "0"],
    ]
    with (out / "compare.csv").open() as fh:
        compare = {row["strategy"]: row for row in csv.DictReader(fh)}
    assert compare["content"]["duplicates"] == "0" and compare["genesys"]["conflict"] == "1"


def test_extra_ttl_and_prices(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "stats",
            *SAMPLES,
            "--ttl",
            "90m",
            "--per-day",
            "1000000",
            "--price-write",
            "2",
            "--price-read",
            "1",
            "--json",
        ],
    )
    doc = json.loads(result.stdout)
    assert [r["ttl"] for r in doc["ttl"]["candidates"]] == ["1h", "90m", "6h", "1d", "4d"]
    assert doc["cost"]["process_cost_per_day"] == 4.0
    assert doc["cost"]["check_cost_per_day"] == 1.0


def test_store_summary(runner: CliRunner, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dedup.sqlite3'}"
    with open_store(url) as store:
        store.init()
        items = [KeyItem(f"default#k{i}", "default", "v2.users.{id}.presence") for i in range(3)]
        for result in store.claim(items, 60, 3600):
            assert result.token is not None
            store.complete(result.key, result.token, 3600)
        store.claim(items[:1], 60, 3600)  # a duplicate
        store.seed([KeyItem("test#x", "test", "")], 3600)
    result = runner.invoke(app, ["stats", "--store", url, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["mode"] == "store" and doc["records"] == 4 and doc["duplicates"] == 1
    assert doc["by_namespace"] == {
        "default": {"records": 3, "duplicates": 1},
        "test": {"records": 1, "duplicates": 0},
    }
    assert doc["by_topic"]["v2.users.{id}.presence"] == {"records": 3, "duplicates": 1}
    table = runner.invoke(app, ["stats", "--store", url])
    assert table.exit_code == 0 and "By namespace" in table.stdout


def test_bad_records_warn_and_strict_fails(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(orjson.dumps(json.loads(Path(SAMPLES[0]).read_text())) + b"\n{oops\n")
    result = runner.invoke(app, ["stats", str(path), "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["bad_records"] == 1
    assert "1 bad record" in result.stderr
    assert runner.invoke(app, ["stats", str(path), "--strict"]).exit_code == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["stats", "missing.jsonl"], "Error: no such file or directory: missing.jsonl"),
        (["stats", SAMPLES[0], "-k", "nope"], "Error: unknown key strategy 'nope'"),
        (["stats", SAMPLES[0], "--compare", "genesys,nope"], "Error: unknown key strategy 'nope'"),
        (["stats", SAMPLES[0], "--store", "memory://"], "Error: give event files or --store"),
        (["stats", SAMPLES[0], "--ttl", "soon"], "Error: invalid --ttl 'soon'"),
    ],
)
def test_usage_errors_exit_2(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_tables_cut_ids_in_keys_while_csv_and_json_keep_them_whole(
    runner: CliRunner, tmp_path: Path
) -> None:
    stream = str(REPO / "sample_events" / "retries_and_replays.jsonl")
    full = "default#v2.audits#653578d4-f25a-5987-bf55-7c8fc23923b8"
    result = runner.invoke(
        app, ["stats", stream, "--top", "3", "--csv", str(tmp_path)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "default#v2.audits#653578d4…" in result.stdout
    assert full not in result.stdout
    assert "1 retry, 1 replay" in result.stdout  # the top keys' kinds share one column
    header = next(line for line in result.stdout.splitlines() if "duplicates by kind" in line)
    assert "topic" not in header  # genesys keys begin with their topic
    content = runner.invoke(
        app, ["stats", stream, "--key", "content", "--top", "1"], env={"COLUMNS": "200"}
    )
    header = next(line for line in content.stdout.splitlines() if "duplicates by kind" in line)
    assert "topic" in header  # content keys are digests: the topic stays
    with (tmp_path / "top_keys.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["key", "deliveries", "retry", "replay", "resend", "conflict", "topic"]
    assert rows[1] == [full, "3", "1", "1", "0", "0", "v2.audits.entitytype.{id}.entityid.{id}"]
    with (tmp_path / "by_kind.csv").open(newline="") as fh:
        by_kind = {row[0]: row for row in csv.reader(fh)}
    assert by_kind["retry"][4] == full
    doc = json.loads(runner.invoke(app, ["stats", stream, "--json"]).stdout)
    assert doc["by_kind"]["retry"]["example_key"] == full


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("ns#v2.audits#653578d4-f25a-5987-bf55-7c8fc23923b8", "ns#v2.audits#653578d4…"),
        ("t#61B858E1-D104-574E-9036-C693F8A508B5#1764201600000", "t#61B858E1…#1764201600000"),
        ("v2.users.x.presence#97d3f04055958a170052f3bbe8afad39", "v2.users.x.presence#97d3f040…"),
        ("plain#deadbeef#1764201600000", "plain#deadbeef#1764201600000"),
        ("not-a-uuid-653578d4-f25a-5987-bf55", "not-a-uuid-653578d4-f25a-5987-bf55"),
    ],
)
def test_short_key(key: str, shown: str) -> None:
    assert short_key(key) == shown
