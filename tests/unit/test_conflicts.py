"""Conflicts (same key, another payload), the no-key policy and saved results, through
``gcdedup process`` on the real samples 03 and 05 (one business key, two payloads)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from gcdedup.cli.app import app
from gcdedup.store import RecordStatus, open_store

GENESYS = Path(__file__).parents[1] / "fixtures" / "genesys"
S03 = str(GENESYS / "03_detail_customer_end.json")
S05 = str(GENESYS / "05_detail_customer_end_no_external_contact.json")

HANDLERS = """
import json, os

def record(event):
    with open(os.environ["CALLS"], "a") as f:
        f.write(event["detail"]["eventBody"].get("externalContactId", "-") + "\\n")
    return {"handled": event["id"]}
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("GCDEDUP_STORE", "GCDEDUP_ON_CONFLICT", "GCDEDUP_HANDLER"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "conflict_handlers.py").write_text(HANDLERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    calls = tmp_path / "calls.txt"
    monkeypatch.setenv("CALLS", str(calls))
    return tmp_path


def process(tmp_path: Path, *args: str, code: int = 0) -> dict[str, Any]:
    db = f"sqlite:///{tmp_path / 'dedup.sqlite3'}"
    argv = ["process", S03, S05, "--store", db, "--json", "--handler"]
    result = CliRunner().invoke(app, [*argv, "conflict_handlers:record", *args])
    assert result.exit_code == code, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def calls(tmp_path: Path) -> list[str]:
    return (tmp_path / "calls.txt").read_text().split()


def test_the_second_payload_of_a_key_is_a_conflict_skipped_by_default(env: Path) -> None:
    out = env / "out.jsonl"
    report = process(env, "--out", str(out))
    assert (report["processed"], report["conflicts"], report["duplicates"]) == (1, 1, 0)
    assert len(calls(env)) == 1
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [line["outcome"] for line in lines] == ["processed", "conflict"]
    assert lines[1]["conflict_with"] == f"{S03}@0"
    # A second run: 03 is a plain duplicate, 05 still a conflict.
    again = process(env)
    assert (again["processed"], again["duplicates"], again["conflicts"]) == (0, 1, 1)


def test_on_conflict_process_runs_the_handler_for_both(env: Path) -> None:
    report = process(env, "--on-conflict", "process")
    assert (report["processed"], report["conflicts"], report["failed"]) == (2, 1, 0)
    assert len(calls(env)) == 2
    assert len(set(calls(env))) == 2  # 03 has an external contact, 05 has none


def test_on_conflict_fail_fails_the_second_and_leaves_the_record_as_it_was(env: Path) -> None:
    first = process(env, "--on-conflict", "skip")  # the record of 03
    db = f"sqlite:///{env / 'dedup.sqlite3'}"
    report = process(env, "--on-conflict", "fail", code=1)
    counts = [report[name] for name in ("processed", "duplicates", "conflicts", "failed")]
    assert counts == [0, 1, 1, 1]
    sample = report["failure_samples"][0]
    assert sample["location"] == f"{S05}@0"
    assert sample["error"].startswith(f"conflict: key {sample['key']} was completed for another")
    assert f"(first delivery: {S03}@0)" in sample["error"]
    with open_store(db) as store:
        record = store.get(sample["key"])
    assert record is not None
    assert record.status is RecordStatus.COMPLETED
    assert record.origin == f"{S03}@0"
    assert record.run_id == first["run_id"]
    assert len(calls(env)) == 1


def test_a_record_without_a_fingerprint_is_a_duplicate_not_a_conflict(env: Path) -> None:
    db = f"sqlite:///{env / 'dedup.sqlite3'}"
    process(env)
    with open_store(db) as store:
        conn = store._conn  # type: ignore[attr-defined]
        conn.execute("UPDATE dedup SET fingerprint = NULL")  # as an older record reads
    report = process(env)
    assert (report["duplicates"], report["conflicts"]) == (2, 0)


def test_stats_store_says_when_duplicate_counters_are_off(env: Path) -> None:
    db = f"sqlite:///{env / 'dedup.sqlite3'}"
    process(env, "--no-count-duplicates")
    result = CliRunner().invoke(app, ["stats", "--store", db])
    assert result.exit_code == 0, result.output
    assert (
        "duplicate counters are off for 1 of 1 records (claimed without --count-duplicates"
        in " ".join(result.output.split())
    )
    document = json.loads(CliRunner().invoke(app, ["stats", "--store", db, "--json"]).stdout)
    assert (document["records"], document["uncounted"], document["duplicates"]) == (1, 1, 0)


def test_save_result_keeps_the_handlers_result_for_duplicates(env: Path) -> None:
    out = env / "out.jsonl"
    process(env, "--save-result")
    process(env, "--out", str(out))
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [line["outcome"] for line in lines] == ["duplicate", "conflict"]
    assert lines[0]["result"]["handled"]  # what the first run's handler returned


def test_policies_are_checked_with_one_line(env: Path) -> None:
    result = CliRunner().invoke(app, ["process", S03, "--on-conflict", "maybe"])
    assert result.exit_code == 2
    assert "invalid on-conflict 'maybe': use skip, process, fail" in result.output
