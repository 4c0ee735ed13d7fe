"""The CLI on ``dynamodb://`` (moto's server over HTTP) gives the same results as on SQLite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dynamodb_server import DynamoDBServer
from typer.testing import CliRunner

from gcdedup.cli.app import app

SAMPLE_EVENTS = Path(__file__).resolve().parents[2] / "sample_events"
VOLATILE = {"store", "run_id"}


def cli(*args: str, code: int = 0) -> dict[str, Any]:
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == code, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return {k: v for k, v in document.items() if k not in VOLATILE}


def session(store: str) -> list[dict[str, Any]]:
    """One operator's afternoon: init, a test run, a replay, a check, stats, purges."""
    clean, everything = str(SAMPLE_EVENTS / "clean.jsonl"), str(SAMPLE_EVENTS)
    return [
        cli("init", "--store", store),
        cli("process", clean, "--store", store, "--run-id", "first"),
        cli("process", everything, "--store", store, "--run-id", "replay"),
        cli("process", everything, "--store", store, "--mode", "check"),
        cli("process", clean, "--store", store, "--namespace", "test", "--mode", "seed"),
        cli("stats", "--store", store),
        cli("purge", "--store", store, "--namespace", "test", "--dry-run"),
        cli("purge", "--store", store, "--namespace", "default", "--prefix", "v2.audits#", "--yes"),
        cli("purge", "--store", store, "--run-id", "first", "--yes"),
        cli("stats", "--store", store),
        cli("purge", "--store", store, "--all", "--yes"),
    ]


def test_every_command_agrees_between_sqlite_and_dynamodb(
    dynamodb_server: DynamoDBServer, tmp_path: Path
) -> None:
    on_sqlite = session(f"sqlite:///{tmp_path / 'dedup.sqlite3'}")
    on_dynamodb = session(dynamodb_server.table_url())
    assert [s for s in on_sqlite[1:]] == [s for s in on_dynamodb[1:]]
    first, replay, check = on_dynamodb[1:4]
    assert (first["processed"], replay["processed"], replay["duplicates"]) == (15, 0, 42)
    assert (replay["conflicts"], check["conflicts"]) == (1, 1)  # the key of one, another payload
    assert (check["new"], check["duplicates"]) == (0, 42)
    stats = on_dynamodb[5]
    assert stats["records"] == 30
    assert stats["duplicates"] == 42
    assert stats["by_namespace"]["test"] == {"records": 15, "duplicates": 0}
    assert on_dynamodb[6]["matched"] == 15
    assert on_dynamodb[7]["deleted"] == 3
    assert on_dynamodb[8]["deleted"] == 12
    assert on_dynamodb[10]["deleted"] == 15


def test_init_on_dynamodb_creates_the_table_with_ttl(dynamodb_server: DynamoDBServer) -> None:
    url = dynamodb_server.table_url()
    table = url.split("://", 1)[1].split("?", 1)[0]
    created = cli("init", "--store", url)
    again = cli("init", "--store", url)
    assert created["message"] == (
        f"created DynamoDB table {table} (on-demand, key dedup_key, TTL on expires_at)"
    )
    assert again["message"] == f"DynamoDB table {table} is ready (key dedup_key, TTL on expires_at)"
