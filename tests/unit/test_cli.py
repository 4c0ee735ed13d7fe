"""The process, purge, init and keys commands: outcomes, messages and exit codes."""

from __future__ import annotations

import json
import re
import shutil
import textwrap
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from gcdedup.cli.app import app
from gcdedup.store import open_store

REPO = Path(__file__).resolve().parents[2]
SAMPLE_EVENTS = REPO / "sample_events"
GENESYS = Path(__file__).parents[1] / "fixtures" / "genesys"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'dedup.sqlite3'}"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("GCDEDUP_STORE", "GCDEDUP_NAMESPACE", "GCDEDUP_KEY_STRATEGY", "GCDEDUP_HANDLER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def run(runner: CliRunner, *args: str) -> Any:
    return runner.invoke(app, list(args))


def run_json(runner: CliRunner, *args: str, code: int = 0) -> dict[str, Any]:
    result = run(runner, *args, "--json")
    assert result.exit_code == code, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_process_twice_second_run_is_all_duplicates(runner: CliRunner, db: str) -> None:
    first = run_json(runner, "process", str(SAMPLE_EVENTS / "clean.jsonl"), "--store", db)
    assert (first["events"], first["processed"], first["duplicates"]) == (15, 15, 0)
    assert (first["in_flight"], first["failed"], first["bad_records"]) == (0, 0, 0)
    second = run_json(runner, "process", str(SAMPLE_EVENTS / "clean.jsonl"), "--store", db)
    assert (second["events"], second["processed"], second["duplicates"]) == (15, 0, 15)


def test_process_sample_directory_counts(runner: CliRunner, db: str) -> None:
    report = run_json(runner, "process", str(SAMPLE_EVENTS), "--store", db)
    assert (report["events"], report["processed"], report["duplicates"]) == (43, 15, 27)
    assert report["conflicts"] == 1  # the samples' 05: the key of 03, another payload


def test_default_store_lives_in_the_state_directory(runner: CliRunner, tmp_path: Path) -> None:
    report = run_json(runner, "process", str(GENESYS))
    assert report["store"] == f"sqlite:///{tmp_path / 'state' / 'gcdedup' / 'dedup.sqlite3'}"
    assert (tmp_path / "state" / "gcdedup" / "dedup.sqlite3").exists()


def test_table_output(runner: CliRunner, db: str) -> None:
    result = run(runner, "process", str(GENESYS), "--store", db, "--run-id", "r1")
    assert result.exit_code == 0
    assert "process: genesys keys, namespace default, run r1" in result.stdout
    lines = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in result.stdout.splitlines()
        if line.count("│") == 3
    }
    assert lines["events"] == "5"
    assert lines["processed"] == "4"
    assert lines["duplicates"] == "0"
    assert lines["conflicts"] == "1"
    assert lines["duplicate rate"] == "20.00%"  # (duplicates + conflicts) per event


handler_module = textwrap.dedent(
    """
    CALLS = []

    def fail_on_presence_audit(event):
        body = event["detail"]["eventBody"]
        CALLS.append(body.get("id") or body.get("conversationId"))
        if body.get("entityType") == "UserPresence":
            raise ValueError("downstream said no")
        return {"ok": True}

    def fine(event):
        return None
    """
)


@pytest.fixture
def user_handler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "my_handlers.py").write_text(handler_module)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "my_handlers"


def test_failed_handler_exits_1_and_the_next_run_processes_only_that_event(
    runner: CliRunner, db: str, user_handler: str, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    first = run_json(
        runner,
        "process", str(GENESYS), "--store", db,
        "--handler", f"{user_handler}:fail_on_presence_audit", "--out", str(out),
        code=1,
    )  # fmt: skip
    assert (first["processed"], first["failed"], first["conflicts"]) == (3, 1, 1)
    assert first["failure_samples"][0]["error"] == "ValueError: downstream said no"
    assert first["failure_samples"][0]["location"].endswith("01_user_presence_audit.json@0")
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [line["outcome"] for line in lines] == [
        "failed", "processed", "processed", "processed", "conflict"
    ]  # fmt: skip
    assert lines[1]["result"] == {"ok": True}
    second = run_json(
        runner, "process", str(GENESYS), "--store", db, "--handler", f"{user_handler}:fine"
    )
    assert (second["processed"], second["duplicates"], second["failed"]) == (1, 3, 0)
    assert second["conflicts"] == 1


def test_failure_is_listed_on_stderr_without_traceback(
    runner: CliRunner, db: str, user_handler: str
) -> None:
    result = run(
        runner, "process", str(GENESYS / "01_user_presence_audit.json"), "--store", db,
        "--handler", f"{user_handler}:fail_on_presence_audit",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "failed at " in result.stderr
    assert "ValueError: downstream said no" in result.stderr
    assert "Traceback" not in result.output


def test_check_mode_is_read_only_and_seed_mode_marks_seen(runner: CliRunner, db: str) -> None:
    clean = str(SAMPLE_EVENTS / "clean.jsonl")
    check = run_json(runner, "process", clean, "--store", db, "--mode", "check")
    assert (check["new"], check["duplicates"], check["processed"]) == (15, 0, 0)
    seed = run_json(runner, "process", clean, "--store", db, "--mode", "seed")
    assert (seed["seeded"], seed["duplicates"]) == (15, 0)
    after = run_json(runner, "process", str(SAMPLE_EVENTS), "--store", db)
    assert (after["processed"], after["duplicates"], after["conflicts"]) == (0, 42, 1)


def test_namespaces_are_separate(runner: CliRunner, db: str) -> None:
    clean = str(SAMPLE_EVENTS / "clean.jsonl")
    run_json(runner, "process", clean, "--store", db, "--namespace", "test")
    other = run_json(runner, "process", clean, "--store", db, "--namespace", "prod")
    assert other["processed"] == 15


def test_bad_records_are_reported_and_strict_fails(
    runner: CliRunner, db: str, tmp_path: Path
) -> None:
    lines = (SAMPLE_EVENTS / "clean.jsonl").read_text().splitlines()
    broken = tmp_path / "broken.jsonl"
    broken.write_text(
        "\n".join([lines[0], "{not json", lines[1], '{"no": "detail"}', lines[2]]) + "\n"
    )
    report = run_json(runner, "process", str(broken), "--store", db)
    assert (report["events"], report["processed"], report["bad_records"]) == (3, 3, 2)
    assert [b["location"] for b in report["bad_record_samples"]] == [
        f"{broken}:2",
        f"{broken}:4",
    ]
    assert "no 'detail' field" in report["bad_record_samples"][1]["reason"]
    strict = run(runner, "process", str(broken), "--store", db, "--strict")
    assert strict.exit_code == 1
    assert f"bad record at {broken}:2" in strict.stderr


def test_stdin_and_sqs_batches(runner: CliRunner, db: str) -> None:
    data = (SAMPLE_EVENTS / "clean.jsonl").read_bytes()
    result = runner.invoke(app, ["process", "-", "--store", db, "--json"], input=data)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["processed"] == 15
    sqs = run_json(runner, "process", str(SAMPLE_EVENTS / "sqs_batch.json"), "--store", db)
    assert (sqs["events"], sqs["duplicates"]) == (4, 4)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["process", "nope.jsonl"], "Error: no such file or directory: nope.jsonl"),
        (["process", "{samples}", "--key", "bogus"], "Error: unknown key strategy 'bogus'"),
        (["process", "{samples}", "--namespace", "a#b"], "Error: invalid namespace 'a#b'"),
        (["process", "{samples}", "--store", "redis://x"], "Error: unsupported store URL"),
        (["process", "{samples}", "--ttl", "soon"], "Error: invalid --ttl 'soon'"),
        (["process", "{samples}", "--handler", "nomodule:f"], "Error: cannot import handler"),
        (["process", "{samples}", "--handler", "json:nope"], "has no attribute 'nope'"),
        (["process", "{samples}", "--format", "xml"], "Error: unknown format 'xml'"),
        (["process", "{samples}", "--genesys", "--handler", "json:dumps"], "exclusive"),
        (["purge"], "Error: nothing selected"),
        (["purge", "--all", "--namespace", "x"], "Error: --all cannot be combined"),
        (["purge", "--older-than", "-3h", "--yes"], "Error: invalid --older-than"),
        (["keys"], "Error: give event files to key, or --list"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    runner: CliRunner, db: str, args: list[str], message: str
) -> None:
    args = [a.replace("{samples}", str(GENESYS)) for a in args]
    if args[0] in ("process", "purge") and "--store" not in args:
        args += ["--store", db]
    result = run(runner, *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_genesys_without_credentials_is_a_usage_error(
    runner: CliRunner, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("GENESYSCLOUD_OAUTHCLIENT_ID", "GENESYSCLOUD_OAUTHCLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    result = run(runner, "process", str(GENESYS), "--store", db, "--genesys")
    assert result.exit_code == 2
    assert "GENESYSCLOUD_OAUTHCLIENT_ID is not set" in result.stderr


def test_purge_by_namespace_with_dry_run_and_confirmation(runner: CliRunner, db: str) -> None:
    clean = str(SAMPLE_EVENTS / "clean.jsonl")
    run_json(runner, "process", clean, "--store", db, "--namespace", "test")
    run_json(runner, "process", clean, "--store", db, "--namespace", "prod")
    dry = run_json(runner, "purge", "--store", db, "--namespace", "test", "--dry-run")
    assert (dry["matched"], dry["deleted"]) == (15, 0)
    declined = runner.invoke(app, ["purge", "--store", db, "--namespace", "test"], input="n\n")
    assert declined.exit_code == 1
    assert "Delete 15 key(s)" in declined.stderr
    done = runner.invoke(app, ["purge", "--store", db, "--namespace", "test"], input="y\n")
    assert done.exit_code == 0
    assert "deleted 15 key(s)" in done.stdout
    with open_store(db) as store:
        summary = store.summary()
    assert summary.by_namespace == {"prod": {"records": 15, "duplicates": 0}}


def test_purge_by_run_id_and_prefix(runner: CliRunner, db: str) -> None:
    run_json(runner, "process", str(GENESYS), "--store", db, "--run-id", "first")
    run_json(
        runner, "process", str(SAMPLE_EVENTS / "clean.jsonl"), "--store", db, "--run-id", "second"
    )
    by_run = run_json(runner, "purge", "--store", db, "--run-id", "first", "--yes")
    assert by_run["deleted"] == 4
    audits = run_json(
        runner, "purge", "--store", db, "--namespace", "default", "--prefix", "v2.audits#", "--yes"
    )
    assert audits["filter"]["prefix"] == "default#v2.audits#"
    assert audits["deleted"] == 3
    everything = run_json(runner, "purge", "--store", db, "--all", "--yes")
    assert everything["deleted"] == 12


def test_purge_json_without_yes_refuses(runner: CliRunner, db: str) -> None:
    run_json(runner, "process", str(GENESYS), "--store", db)
    result = run(runner, "purge", "--store", db, "--all", "--json")
    assert result.exit_code == 2
    assert "--json needs --yes" in result.stderr


def test_init_creates_the_sqlite_store(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "d.sqlite3"
    result = run(runner, "init", "--store", f"sqlite:///{path}")
    assert result.exit_code == 0
    assert f"SQLite store ready at {path}" in result.stdout
    assert path.exists()


def test_keys_prints_one_line_per_record(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "in.jsonl"
    lines = [json.dumps(json.loads(p.read_text())) for p in sorted(GENESYS.glob("0*.json"))]
    target.write_text("\n".join([*lines, "[1]"]) + "\n")
    result = run(runner, "keys", str(target))
    assert result.exit_code == 0
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 6
    assert rows[2]["key"] == rows[4]["key"]  # 03 and 05: one business event
    assert rows[0] == {
        "location": f"{target}:1",
        "topic": "v2.audits.entitytype.{id}.entityid.{id}",
        "key": "default#v2.audits#b8775049-2993-450d-97d7-5d7c784d7cc9",
    }
    assert rows[5] == {"location": f"{target}:6", "error": "expected a JSON object, got an array"}
    envelope = run(runner, "keys", str(target), "--key", "tutorial")
    assert json.loads(envelope.stdout.splitlines()[0])["error"] == "tutorial: detail has no eventId"


def test_keys_list(runner: CliRunner) -> None:
    listed = run_json(runner, "keys", "--list")
    assert [row["name"] for row in listed] == [  # type: ignore[index]
        "genesys", "envelope", "content", "tutorial", "jmespath:<expr>"
    ]  # fmt: skip


def test_help_documents_exit_codes_and_every_option_has_help(runner: CliRunner) -> None:
    top = run(runner, "--help")
    assert "Exit codes: 0 success; 1 a runtime failure" in top.stdout
    from typer.main import get_command

    command = get_command(app)
    ctx = command.make_context("gcdedup", ["keys"])
    for name in command.list_commands(ctx):  # type: ignore[attr-defined]
        sub = command.get_command(ctx, name)  # type: ignore[attr-defined]
        for param in sub.params:
            if param.param_type_name == "option":
                assert param.help, f"{name} {param.name} has no help"


def test_version(runner: CliRunner) -> None:
    result = run(runner, "--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("gcdedup ")


def test_copying_samples_keeps_relative_locations(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(SAMPLE_EVENTS, tmp_path / "sample_events")
    monkeypatch.chdir(tmp_path)
    report = run_json(
        runner,
        "process",
        "sample_events/retries_and_replays.jsonl",
        "--store",
        "memory://",
        "--mode",
        "check",
    )
    assert (report["duplicates"], report["conflicts"]) == (8, 1)
    assert report["new"] == 15


def test_a_malformed_event_is_one_bad_record_in_every_command(
    runner: CliRunner, db: str, tmp_path: Path
) -> None:
    good = (SAMPLE_EVENTS / "clean.jsonl").read_text().splitlines()[0]
    poison = '{"id":"a","detail-type":123,"detail":{"eventBody":{"a":1}}}'
    path = tmp_path / "poison.jsonl"
    path.write_text(f"{poison}\n{good}\n")
    jmes = run_json(runner, "process", str(path), "--store", db,
                    "--key", "jmespath:length(detail.topicName)")  # fmt: skip
    assert (jmes["bad_records"], jmes["processed"]) == (1, 1)
    assert jmes["bad_record_samples"][0]["reason"].startswith(
        "no key: jmespath:length(detail.topicName): JMESPathTypeError"
    )
    report = run_json(runner, "process", str(path), "--store", db)
    assert (report["events"], report["processed"], report["bad_records"]) == (2, 2, 0)
    keys = run(runner, "keys", str(path))
    assert keys.exit_code == 0
    assert json.loads(keys.stdout.splitlines()[0])["key"].startswith("default#unknown#")
    stats = run_json(runner, "stats", str(path))
    assert stats["events"] == 2


def test_brackets_in_names_are_text_not_markup(runner: CliRunner, db: str, tmp_path: Path) -> None:
    missing = run(runner, "process", "nope[/x].jsonl", "--store", db)
    assert missing.exit_code == 2
    assert "Error: no such file or directory: nope[/x].jsonl" in missing.stderr
    odd = tmp_path / "d[bold]x"
    odd.mkdir()
    path = odd / "f[red].jsonl"
    path.write_text("{broken\n")
    result = run(runner, "process", str(path), "--store", db)
    assert f"bad record at {path}@0: truncated" in result.stderr


def test_a_printing_handler_cannot_corrupt_json_output(
    runner: CliRunner, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "chatty.py").write_text("def handle(event):\n    print('hello from handler')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = run(runner, "process", str(GENESYS), "--store", db, "--handler", "chatty:handle",
                 "--json")  # fmt: skip
    assert result.exit_code == 0
    assert json.loads(result.stdout)["processed"] == 4
    assert result.stderr.count("hello from handler") == 4


def test_events_claimed_elsewhere_are_reported_with_a_warning(runner: CliRunner, db: str) -> None:
    from gcdedup.store import KeyItem

    key = "default#v2.audits#b8775049-2993-450d-97d7-5d7c784d7cc9"
    with open_store(db) as store:
        # another worker's live claim, with a lease of its own (2 h, not this run's 5 min)
        store.claim([KeyItem(key, "default")], 7200, 7200)
    sample = str(GENESYS / "01_user_presence_audit.json")
    result = run(runner, "process", sample, "--store", db)
    assert result.exit_code == 0
    assert re.search(
        r"Warning: 1 event\(s\) are claimed by another worker and were not processed here; "
        r"the earliest of their claims lapses in (2h|1h59m): if that worker died, run again "
        r"then, or use --wait-in-flight",
        result.stderr,
    ), result.stderr
    doc = run_json(runner, "process", sample, "--store", db, "--json")
    assert doc["in_flight"] == 1
    assert len(doc["warnings"]) == 1
    assert doc["warnings"][0].startswith("1 event(s) are claimed by another worker")
    assert 7100 < doc["in_flight_lapse_at"] - time.time() <= 7200
    strict = run(runner, "process", sample, "--store", db, "--strict")
    assert strict.exit_code == 3


def test_stats_does_not_count_unkeyable_events_as_unique(runner: CliRunner) -> None:
    clean = str(SAMPLE_EVENTS / "clean.jsonl")
    report = run_json(runner, "stats", clean, "--key", "tutorial")
    assert (report["events"], report["unkeyable"], report["unique"]) == (15, 15, 0)
    assert report["duplicate_rate"] == 0
    compared = run_json(runner, "stats", clean, "--compare", "genesys,tutorial")
    rows = {row["strategy"]: row for row in compared["compare"]}
    assert (rows["genesys"]["unique"], rows["genesys"]["unkeyable"]) == (15, 0)
    assert (rows["tutorial"]["unique"], rows["tutorial"]["unkeyable"]) == (0, 15)


def test_store_commands_refuse_a_missing_sqlite_file_and_stray_namespace(
    runner: CliRunner, tmp_path: Path, db: str
) -> None:
    missing = f"sqlite:///{tmp_path / 'typo' / 'none.sqlite3'}"
    for args in (["stats", "--store", missing], ["purge", "--store", missing, "--all", "--yes"]):
        result = run(runner, *args)
        assert result.exit_code == 2, result.output
        assert f"Error: no SQLite store at {tmp_path / 'typo' / 'none.sqlite3'}" in result.stderr
    assert not (tmp_path / "typo").exists()
    run_json(runner, "process", str(GENESYS), "--store", db)
    result = run(runner, "stats", "--store", db, "--namespace", "test")
    assert result.exit_code == 2
    assert "--namespace selects keys of event files" in result.stderr
