"""``gcdedup process --genesys`` end to end against the local Genesys Cloud server."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from genesys_server import *  # noqa: F403
from genesys_server import GenesysTestServer
from typer.testing import CliRunner

from gcdedup.cli.app import app

SAMPLE_EVENTS = Path(__file__).resolve().parents[2] / "sample_events"
CLEAN = SAMPLE_EVENTS / "clean.jsonl"


def conversation_events(path: Path) -> Counter[str]:
    """Distinct conversation detail events per conversation id in a JSON Lines file."""
    seen: set[tuple[Any, ...]] = set()
    per_conversation: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        envelope = json.loads(line)
        body = envelope["detail"]["eventBody"]
        if not envelope["detail"]["topicName"].startswith("v2.detail.events.conversation."):
            continue
        identity = (envelope["detail-type"], body["conversationId"], body["participantId"],
                    body["sessionId"], body["eventTime"])  # fmt: skip
        if identity not in seen:
            seen.add(identity)
            per_conversation[body["conversationId"]] += 1
    return per_conversation


@pytest.fixture
def env(genesys_server: GenesysTestServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.setenv("GENESYSCLOUD_OAUTHCLIENT_ID", genesys_server.client_id)
    monkeypatch.setenv("GENESYSCLOUD_OAUTHCLIENT_SECRET", genesys_server.client_secret)
    monkeypatch.setenv("GENESYSCLOUD_API_URL", genesys_server.url)
    monkeypatch.setenv("GENESYSCLOUD_LOGIN_URL", genesys_server.url)
    monkeypatch.delenv("GENESYSCLOUD_REGION", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return f"sqlite:///{tmp_path / 'dedup.sqlite3'}"


def process(*args: str, code: int = 0) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["process", *args, "--genesys", "--json"])
    assert result.exit_code == code, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_each_unique_conversation_event_is_fetched_once_across_two_runs(
    genesys_server: GenesysTestServer, env: str, tmp_path: Path
) -> None:
    expected = conversation_events(CLEAN)
    assert sum(expected.values()) == 12
    out = tmp_path / "out.jsonl"
    first = process(str(SAMPLE_EVENTS), "--store", env, "--out", str(out))
    assert (first["processed"], first["duplicates"], first["failed"]) == (15, 27, 0)
    assert first["conflicts"] == 1  # a delivery of a known key with another payload
    assert dict(genesys_server.conversation_calls) == dict(expected)
    assert genesys_server.token_requests == 1
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    fetched = [line for line in lines if line["outcome"] == "processed" and line.get("result")]
    assert len(fetched) == 12
    assert {line["result"]["conversation"]["id"] for line in fetched} == set(expected)
    audits = [
        line for line in lines if line["outcome"] == "processed" and "audits" in line["topic"]
    ]
    assert len(audits) == 3 and all("result" not in line for line in audits)
    second = process(str(SAMPLE_EVENTS), "--store", env)
    assert (second["processed"], second["duplicates"], second["conflicts"]) == (0, 42, 1)
    assert dict(genesys_server.conversation_calls) == dict(expected)  # no new calls


def test_rate_limits_server_errors_and_expired_tokens_are_survived(
    genesys_server: GenesysTestServer, env: str
) -> None:
    genesys_server.rate_limit(2, retry_after="0")
    genesys_server.server_error(2)
    report = process(str(CLEAN), "--store", env, "--concurrency", "1")
    assert (report["processed"], report["failed"]) == (15, 0)
    assert genesys_server.total_calls == 12 + 4  # every fault answered one extra call
    assert genesys_server.token_requests == 1
    genesys_server.unauthorized(1)  # the token is refused once mid-run
    more = process(str(CLEAN), "--store", env, "--namespace", "again", "--concurrency", "1")
    assert (more["processed"], more["failed"]) == (15, 0)
    assert genesys_server.token_requests == 1 + 2  # the new run's token, one refresh after 401
    assert genesys_server.total_calls == 16 + 12 + 1


def test_a_permanently_failing_conversation_fails_its_events_and_runs_next_time(
    genesys_server: GenesysTestServer, env: str
) -> None:
    expected = conversation_events(CLEAN)
    broken = sorted(expected)[0]
    genesys_server.always_fail(broken, status=404)
    first = process(str(CLEAN), "--store", env, code=1)
    assert (first["processed"], first["failed"]) == (15 - expected[broken], expected[broken])
    assert "HTTP 404" in first["failure_samples"][0]["error"]
    assert f"/api/v2/conversations/{broken}" in first["failure_samples"][0]["error"]
    genesys_server.always_fail(broken, status=0)  # healed
    with genesys_server._lock:
        genesys_server._failing.clear()
    second = process(str(CLEAN), "--store", env)
    assert (second["processed"], second["duplicates"]) == (expected[broken], 15 - expected[broken])


def test_the_secret_never_appears_in_output_logs_or_results(
    genesys_server: GenesysTestServer, env: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = genesys_server.client_secret
    genesys_server.always_fail(sorted(conversation_events(CLEAN))[0], status=500)
    out = tmp_path / "out.jsonl"
    texts = []
    with caplog.at_level(logging.DEBUG):
        for extra in (["--json"], [], ["-v"]):
            args = ["process", str(CLEAN), "--store", env, "--genesys", "--out", str(out), *extra]
            if extra == ["-v"]:
                args = ["-vv", *args[:-1]]
            result = CliRunner().invoke(app, args)
            assert result.exit_code == 1, result.output
            texts += [result.output, out.read_text()]
    texts.append(caplog.text)
    texts += [repr(record.__dict__) for record in caplog.records]
    assert all(secret not in text for text in texts)
    assert any("failed" in text for text in texts)
