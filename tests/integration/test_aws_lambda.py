"""The Lambda entry point, invoked the way Lambda invokes it, against real stores.

Stores: SQLite and the DynamoDB test server (moto's, over HTTP). Secrets Manager
is served by the same moto server. The context object is a small fake: Lambda's
context is a plain object, not an AWS service.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from conftest import HAVE_DYNAMODB, FakeClock
from genesys_server import *  # noqa: F403 - the genesys_server fixture
from genesys_server import CLIENT_ID, CLIENT_SECRET, GenesysTestServer

from gcdedup import aws_lambda
from gcdedup.aws_lambda import container as lambda_container
from gcdedup.aws_lambda import secrets as lambda_secrets
from gcdedup.errors import ConfigError
from gcdedup.events import BadRecord, Event, Location, expand
from gcdedup.keys import KeyMaker
from gcdedup.pipeline import EventOutcome, Mode, Pipeline
from gcdedup.settings import Settings
from gcdedup.store import KeyItem, RecordStatus, open_store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LAMBDA_FIXTURES = FIXTURES / "lambda"
GENESYS = sorted((FIXTURES / "genesys").glob("*.json"))
CONVERSATION = "2f7bf00a-0fc2-4d6a-9b56-92238191433e"
STORES = ["sqlite", *(["dynamodb"] if HAVE_DYNAMODB else [])]
DEFAULT_STORE = STORES[-1]


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def genesys(number: int) -> dict[str, Any]:
    return load(next(p for p in GENESYS if p.name.startswith(f"{number:02d}_")))


# -- Lambda's side: context, delivery shapes ----------------------------------------------------


@dataclass
class FakeContext:
    """What the handler reads from Lambda's context object."""

    remaining_ms: int = 30_000
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_name: str = "gcdedup"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def sqs_record(body: str | dict[str, Any], message_id: str | None = None) -> dict[str, Any]:
    """One SQS message as the event source mapping delivers it (``body`` is a string)."""
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "AQEB" + uuid.uuid4().hex,
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1718000000000"},
        "messageAttributes": {},
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:gcdedup-events",
        "awsRegion": "us-east-1",
    }


def sqs_batch(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def failures(response: dict[str, Any]) -> set[str]:
    return {item["itemIdentifier"] for item in response["batchItemFailures"]}


# -- the user's handler (loaded by GCDEDUP_HANDLER) ----------------------------------------


class Recorder:
    """A handler that counts calls per event id and fails the ids it is told to."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.calls: Counter[str] = Counter()
        self.fail_ids: set[str] = set()  # fail every time
        self.fail_once: set[str] = set()  # fail the first call only
        self.during: Callable[[dict[str, Any]], None] | None = None

    def __call__(self, envelope: dict[str, Any]) -> dict[str, Any]:
        event_id = envelope["id"]
        self.calls[event_id] += 1
        if self.during is not None:
            self.during(envelope)
        if event_id in self.fail_ids or event_id in self.fail_once:
            self.fail_once.discard(event_id)
            raise RuntimeError("downstream said no")
        return {"handled": event_id}


RECORDER = Recorder()


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_endpoint(request: pytest.FixtureRequest) -> Iterator[str]:
    """A moto server for Secrets Manager: the DynamoDB test server's when there is one."""
    if HAVE_DYNAMODB:
        yield str(request.getfixturevalue("dynamodb_server").endpoint_url)
        return
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def shared_table_url(request: pytest.FixtureRequest) -> str:
    """One DynamoDB table for the module: each test has its own namespace in it, as
    production and test keys share a table (creating a table per test is slow)."""
    server = request.getfixturevalue("dynamodb_server")
    url = str(server.table_url(f"gcdedup-lambda-{uuid.uuid4().hex[:8]}"))
    with open_store(url) as store:
        store.init()
    return url


@pytest.fixture
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An initialised store (as the template or ``gcdedup init`` leaves it): DynamoDB
    by default; core tests are parametrized over SQLite too (``indirect``)."""
    backend = getattr(request, "param", DEFAULT_STORE)
    if backend == "dynamodb":
        return str(request.getfixturevalue("shared_table_url"))
    url = f"sqlite:///{tmp_path / 'lambda.sqlite3'}"
    with open_store(url) as store:
        store.init()
    return url


@pytest.fixture
def namespace() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


def key_of(event: dict[str, Any], namespace: str) -> str:
    return KeyMaker.create("genesys", namespace)(Event(event, Location("test")))


both_stores = pytest.mark.parametrize("store_url", STORES, indirect=True)
#: For tests about the adapter itself, not the store: a new DynamoDB client per container is slow.
sqlite_only = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


@pytest.fixture
def lambda_env(
    monkeypatch: pytest.MonkeyPatch, store_url: str, namespace: str
) -> Iterator[pytest.MonkeyPatch]:
    """A clean environment like the template's, with the recording handler; fresh container."""
    import os

    for name in list(os.environ):
        if name.startswith(("GCDEDUP_", "GENESYSCLOUD_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("GCDEDUP_STORE", store_url)
    monkeypatch.setenv("GCDEDUP_NAMESPACE", namespace)
    monkeypatch.setenv("GCDEDUP_HANDLER", "test_aws_lambda:RECORDER")
    RECORDER.reset()
    aws_lambda.reset()
    # The function sends the whole gcdedup logger tree to its JSON handler: undo that
    # afterwards so other tests' log capture sees the package's records again.
    package = aws_lambda.package_log
    saved = (list(package.handlers), package.level, package.propagate)
    yield monkeypatch
    aws_lambda.reset()
    package.handlers[:], package.level, package.propagate = saved


@pytest.fixture
def clock(lambda_env: pytest.MonkeyPatch) -> FakeClock:
    """The next container's store runs on this clock."""
    fake = FakeClock()
    aws_lambda.reset(clock=fake)
    return fake


def log_lines(out: str) -> list[dict[str, Any]]:
    """Every stdout line must be one JSON object."""
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def outcomes(out: str) -> dict[str, str]:
    """message_id (or location) -> outcome, from the per-event log lines."""
    return {
        line.get("message_id", line["location"]): line["outcome"]
        for line in log_lines(out)
        if line["message"] == "event"
    }


# -- SQS batches --------------------------------------------------------------------------------


@both_stores
def test_sqs_batch_reports_exactly_the_failures(
    lambda_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first, same_key, failing = genesys(3), genesys(5), genesys(4)
    RECORDER.fail_ids = {failing["id"]}
    batch = sqs_batch(
        sqs_record("not json {", "m-bad"),
        sqs_record(first, "m-first"),
        sqs_record(same_key, "m-dup"),
        sqs_record(failing, "m-fail"),
    )

    response = aws_lambda.handler(batch, FakeContext())

    assert failures(response) == {"m-bad", "m-fail"}
    assert outcomes(capsys.readouterr().out) == {
        "m-bad": "bad_record",
        "m-first": "processed",
        "m-dup": "conflict",  # the key of m-first, another payload: skipped, reported
        "m-fail": "failed",
    }
    assert RECORDER.calls == {first["id"]: 1, failing["id"]: 1}

    # SQS redelivers the two failures; the downstream has recovered.
    RECORDER.fail_ids.clear()
    retry = sqs_batch(sqs_record("not json {", "m-bad"), sqs_record(failing, "m-fail"))
    assert failures(aws_lambda.handler(retry, FakeContext())) == {"m-bad"}
    assert outcomes(capsys.readouterr().out)["m-fail"] == "processed"

    # The whole batch again (a replay): nothing is handled twice.
    again = aws_lambda.handler(batch, FakeContext())
    assert failures(again) == {"m-bad"}
    assert RECORDER.calls == {first["id"]: 1, failing["id"]: 2}
    assert set(outcomes(capsys.readouterr().out).values()) == {
        "bad_record",
        "duplicate",
        "conflict",
    }


@sqlite_only
def test_sqs_fixture_gives_two_failures(lambda_env: pytest.MonkeyPatch) -> None:
    response = aws_lambda.handler(load(LAMBDA_FIXTURES / "sqsEvent.json"), FakeContext())
    assert failures(response) == {
        "059f36b4-87a3-44ab-83d2-661975830a7d",  # "Test message." is not JSON
        "2e1424d4-f796-459a-8184-9c92662be6da",  # JSON, but no detail
    }
    assert not RECORDER.calls


@both_stores
def test_claim_held_by_a_live_invocation_fails_until_its_lease_ends(
    clock: FakeClock, store_url: str, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    event = genesys(1)
    key = key_of(event, namespace)
    with open_store(store_url, clock=clock) as other:  # another invocation, still running
        other.init()
        [held] = other.claim([KeyItem(key, namespace)], lease_seconds=60, ttl_seconds=3600)
    assert held.token

    batch = sqs_batch(sqs_record(event, "m-held"))
    assert failures(aws_lambda.handler(batch, FakeContext())) == {"m-held"}
    assert outcomes(capsys.readouterr().out) == {"m-held": "in_flight"}
    assert not RECORDER.calls

    clock.advance(61)  # the other invocation died without releasing: its lease ran out
    assert failures(aws_lambda.handler(batch, FakeContext())) == set()
    assert outcomes(capsys.readouterr().out) == {"m-held": "processed"}
    assert RECORDER.calls == {event["id"]: 1}


@sqlite_only
def test_duplicates_inside_one_batch_after_a_failed_first_copy(
    lambda_env: pytest.MonkeyPatch,
) -> None:
    """The first copy fails and is released, so the second copy in the same batch runs."""
    event = genesys(2)
    RECORDER.fail_once = {event["id"]}
    batch = sqs_batch(sqs_record(event, "m-1"), sqs_record(event, "m-2"))
    assert failures(aws_lambda.handler(batch, FakeContext())) == {"m-1"}
    # SQS redelivers m-1: by now it is a duplicate, which is a success.
    assert failures(aws_lambda.handler(sqs_batch(batch["Records"][0]), FakeContext())) == set()
    assert RECORDER.calls[event["id"]] == 2


# -- direct EventBridge invocations -------------------------------------------------------------


def test_direct_eventbridge_event_is_processed_once(
    lambda_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    event = load(LAMBDA_FIXTURES / "eventBridgeEvent.json")
    first = aws_lambda.handler(event, FakeContext())
    second = aws_lambda.handler(event, FakeContext())
    assert (first["processed"], first["duplicates"], first["failures"]) == (1, 0, 0)
    assert (second["processed"], second["duplicates"], second["failures"]) == (0, 1, 0)
    assert RECORDER.calls == {event["id"]: 1}
    events = [line for line in log_lines(capsys.readouterr().out) if line["message"] == "event"]
    assert [line["outcome"] for line in events] == ["processed", "duplicate"]
    assert events[0]["replay_name"] == "replay_archive"
    assert events[0]["event_id"] == event["id"]


def test_direct_invocation_raises_for_a_failing_handler_then_succeeds(
    lambda_env: pytest.MonkeyPatch,
) -> None:
    event = genesys(3)
    RECORDER.fail_ids = {event["id"]}
    with pytest.raises(aws_lambda.InvocationError, match="failed"):
        aws_lambda.handler(event, FakeContext())
    RECORDER.fail_ids.clear()
    assert aws_lambda.handler(event, FakeContext())["processed"] == 1  # the retry runs
    assert RECORDER.calls == {event["id"]: 2}


def test_direct_invocation_raises_while_another_holds_the_claim(
    clock: FakeClock, store_url: str, namespace: str
) -> None:
    event = genesys(4)
    key = key_of(event, namespace)
    with open_store(store_url, clock=clock) as other:
        other.init()
        other.claim([KeyItem(key, namespace)], lease_seconds=60, ttl_seconds=3600)
    with pytest.raises(aws_lambda.InvocationError, match="in_flight"):
        aws_lambda.handler(event, FakeContext())
    assert not RECORDER.calls


@sqlite_only
def test_direct_invocation_of_a_non_event_raises(lambda_env: pytest.MonkeyPatch) -> None:
    """Retrying cannot fix it, but raising sends it to the async failure destination."""
    for payload in ({}, {"foo": 1}, [1, 2], "text", {"Records": [{"Sns": {"Message": "x"}}]}):
        with pytest.raises(aws_lambda.InvocationError, match="bad_record"):
            aws_lambda.handler(payload, FakeContext())


@sqlite_only
def test_direct_invocation_without_records_raises(
    lambda_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An SQS batch is never empty, so an empty list is a direct call that did nothing."""
    for payload in ({"Records": []}, {"Messages": []}):
        with pytest.raises(aws_lambda.InvocationError, match="no event"):
            aws_lambda.handler(payload, FakeContext())
    summaries = [
        line for line in log_lines(capsys.readouterr().out) if line["message"] == "invocation"
    ]
    assert [(s["level"], s["records"]) for s in summaries] == [("ERROR", 0)] * 2


def test_genesys_payloads_in_both_delivery_shapes(lambda_env: pytest.MonkeyPatch) -> None:
    """Every sample payload, sent twice directly and twice through SQS: handled once."""
    for path in GENESYS:
        event = load(path)
        direct = [aws_lambda.handler(event, FakeContext()) for _ in range(2)]
        via_sqs = [
            aws_lambda.handler(sqs_batch(sqs_record(event)), FakeContext()) for _ in range(2)
        ]
        key_seen_before = path.name.startswith("05_")  # the key of 03, another payload
        assert direct[0]["conflicts" if key_seen_before else "processed"] == 1, path.name
        assert direct[1]["conflicts" if key_seen_before else "duplicates"] == 1
        assert via_sqs == [{"batchItemFailures": []}] * 2
    assert set(RECORDER.calls.values()) == {1}
    assert len(RECORDER.calls) == 4


# -- leases, caching, configuration ------------------------------------------------------------


@both_stores
def test_lease_comes_from_the_remaining_time(
    clock: FakeClock, store_url: str, namespace: str
) -> None:
    event = genesys(1)
    key = key_of(event, namespace)
    seen: list[Any] = []
    RECORDER.during = lambda envelope: seen.append(aws_lambda.get_container().store.get(key))

    aws_lambda.handler(event, FakeContext(remaining_ms=12_500))

    [record] = seen
    assert record.status is RecordStatus.IN_PROGRESS
    expected = clock.now + 12.5 + lambda_container.LEASE_MARGIN_SECONDS
    assert record.lease_until == pytest.approx(expected, abs=0.01)


@sqlite_only
def test_without_a_context_the_configured_lease_applies(
    lambda_env: pytest.MonkeyPatch, clock: FakeClock, namespace: str
) -> None:
    lambda_env.setenv("GCDEDUP_LEASE", "45s")
    aws_lambda.reset(clock=clock)
    event = genesys(2)
    key = key_of(event, namespace)
    seen: list[Any] = []
    RECORDER.during = lambda envelope: seen.append(aws_lambda.get_container().store.get(key))
    aws_lambda.handler(event, None)
    assert seen[0].lease_until == pytest.approx(clock.now + 45, abs=0.01)
    assert aws_lambda.lease_seconds(None, 45.0) == 45.0
    assert aws_lambda.lease_seconds(FakeContext(remaining_ms=-5), 45.0) == 2.0


@sqlite_only
def test_store_and_handler_are_built_once_per_container(
    lambda_env: pytest.MonkeyPatch, namespace: str
) -> None:
    opened: list[str] = []
    from gcdedup import assembly

    real_open = assembly.open_store

    def counting_open(url: str, **kwargs: Any) -> Any:
        opened.append(url)
        return real_open(url, **kwargs)

    lambda_env.setattr(assembly, "open_store", counting_open)
    for number in (1, 2, 3, 1):
        aws_lambda.handler(sqs_batch(sqs_record(genesys(number))), FakeContext())
    aws_lambda.handler(genesys(4), FakeContext())
    assert len(opened) == 1
    container = aws_lambda.get_container()
    assert container.settings.namespace == namespace
    assert container.handler.handler is RECORDER
    aws_lambda.reset()  # a new container starts from scratch
    aws_lambda.handler(genesys(5), FakeContext())
    assert len(opened) == 2


@sqlite_only
def test_configuration_errors(lambda_env: pytest.MonkeyPatch) -> None:
    lambda_env.delenv("GCDEDUP_STORE")
    with pytest.raises(ConfigError, match="GCDEDUP_STORE is not set"):
        aws_lambda.handler(genesys(1), FakeContext())
    lambda_env.setenv("GCDEDUP_STORE", f"memory://{uuid.uuid4().hex}")
    lambda_env.setenv("GCDEDUP_GENESYS", "1")
    with pytest.raises(ConfigError, match=r"^GCDEDUP_HANDLER=.*not both"):
        aws_lambda.handler(genesys(1), FakeContext())
    lambda_env.setenv("GCDEDUP_GENESYS", "perhaps")
    with pytest.raises(ConfigError, match="GCDEDUP_GENESYS"):
        aws_lambda.handler(genesys(1), FakeContext())
    lambda_env.delenv("GCDEDUP_GENESYS")
    lambda_env.delenv("GCDEDUP_HANDLER")
    # No handler at all: count only, every event recorded.
    assert aws_lambda.handler(genesys(1), FakeContext())["processed"] == 1
    assert aws_lambda.get_container().handler_name == "count-only"


@sqlite_only
@pytest.mark.parametrize(
    ("variable", "value", "error"),
    [
        ("GCDEDUP_TTL", "5 days", "invalid TTL"),
        ("GCDEDUP_LEASE", "soon", "invalid lease"),
        ("GCDEDUP_BATCH_SIZE", "0", "at least 1"),
        ("GCDEDUP_CONCURRENCY", "many", "whole number"),
        ("GCDEDUP_NAMESPACE", "a#b", ""),
        ("GCDEDUP_KEY_STRATEGY", "nope", ""),
        ("GCDEDUP_HANDLER", "no_such_module_here:handle", "cannot import"),
        ("GCDEDUP_HANDLER", "not a spec", "module:function"),
        ("GCDEDUP_GENESYS", "perhaps", "expected 1/0"),
        ("GCDEDUP_STORE", "nosuchscheme://x?secret=1", ""),
    ],
)
def test_configuration_errors_name_the_variable(
    lambda_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    error: str,
) -> None:
    lambda_env.setenv(variable, value)
    if variable == "GCDEDUP_GENESYS":
        lambda_env.delenv("GCDEDUP_HANDLER")
    with pytest.raises(ConfigError, match=f"^{variable}=") as raised:
        aws_lambda.handler(genesys(1), FakeContext())
    assert error in str(raised.value)
    assert not RECORDER.calls
    [line] = log_lines(capsys.readouterr().out)
    assert (line["level"], line["message"]) == ("ERROR", "container failed")
    assert line["error"].startswith(f"ConfigError: {variable}=")
    assert "secret=1" not in json.dumps(line)


@sqlite_only
def test_a_failed_start_closes_the_genesys_handler(
    lambda_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Genesys handler is built before the store: a bad store must not leak it."""
    from gcdedup.genesys import handlers as genesys_handlers

    closed: list[str] = []
    real_build = genesys_handlers.build_genesys_handler

    def build(settings: Any, **options: Any) -> Any:
        built = real_build(settings, **options)
        real_close = built.close

        def close() -> None:
            closed.append("genesys")
            real_close()

        built.close = close
        return built

    lambda_env.setattr(genesys_handlers, "build_genesys_handler", build)
    lambda_env.delenv("GCDEDUP_HANDLER")
    lambda_env.setenv("GCDEDUP_GENESYS", "true")
    lambda_env.setenv("GENESYSCLOUD_OAUTHCLIENT_ID", CLIENT_ID)
    lambda_env.setenv("GENESYSCLOUD_OAUTHCLIENT_SECRET", CLIENT_SECRET)
    lambda_env.setenv("GENESYSCLOUD_REGION", "mypurecloud.ie")
    lambda_env.setenv("GCDEDUP_STORE", "nosuchscheme://x")
    with pytest.raises(ConfigError, match=r"^GCDEDUP_STORE="):
        aws_lambda.handler(genesys(1), FakeContext())
    assert closed == ["genesys"]
    assert [line["message"] for line in log_lines(capsys.readouterr().out)] == ["container failed"]


@sqlite_only
def test_package_warnings_are_json_lines_too(
    lambda_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], namespace: str
) -> None:
    """The pipeline's own warnings ("handler failed") are JSON, with their whitelisted extras."""
    event = genesys(3)
    RECORDER.fail_ids = {event["id"]}
    aws_lambda.handler(sqs_batch(sqs_record(event, "m-1")), FakeContext())
    lines = log_lines(capsys.readouterr().out)  # every line parses
    [failed] = [line for line in lines if line["message"] == "handler failed"]
    assert failed["level"] == "WARNING"
    assert failed["logger"] == "gcdedup.pipeline"
    assert failed["key"] == key_of(event, namespace)
    assert failed["error"] == "RuntimeError"
    assert "detail" not in failed and event["id"] not in json.dumps(failed)


def test_json_lines_write_only_whitelisted_extras(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    handler = aws_lambda.JsonLines()
    record = logging.LogRecord(
        "gcdedup.genesys.transport", logging.WARNING, "", 0, "retrying", (), None
    )
    record.__dict__.update(
        status=503,
        path="/api/v2/conversations/x",
        delay_s=0.5,
        error="ProxyError('http://user:hunter2@proxy:8080')",
        body="a conversation",
        client_secret="s3cret",
    )
    handler.emit(record)
    [line] = log_lines(capsys.readouterr().out)
    assert (line["status"], line["path"], line["delay_s"]) == (503, "/api/v2/conversations/x", 0.5)
    assert "body" not in line and "client_secret" not in line
    assert "hunter2" not in line["error"] and "proxy:8080" in line["error"]


@sqlite_only
def test_a_store_error_mid_batch_returns_what_is_left_as_failures(
    lambda_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Events are started in chunks of GCDEDUP_CONCURRENCY; a store error in the second
    chunk fails that chunk and leaves the rest unstarted, and the first chunk's messages
    are done (not redelivered), whatever the error."""
    from gcdedup.errors import StoreError

    lambda_env.setenv("GCDEDUP_CONCURRENCY", "2")
    container = aws_lambda.get_container()
    real_run_batch = container.pipeline.run_batch
    calls: list[int] = []

    def run_batch(records: Any, **kwargs: Any) -> Any:
        calls.append(len(records))
        if len(calls) == 2:
            raise StoreError("throttled beyond retries")
        return real_run_batch(records, **kwargs)

    lambda_env.setattr(container.pipeline, "run_batch", run_batch)
    batch = sqs_batch(*(sqs_record(genesys(n), f"m-{n}") for n in (1, 2, 3, 4, 5)))
    response = aws_lambda.handler(batch, FakeContext())
    assert failures(response) == {"m-3", "m-4", "m-5"}
    assert calls == [2, 2]
    lines = log_lines(capsys.readouterr().out)
    assert [(line["message"], line.get("outcome")) for line in lines] == [
        ("container ready", None),
        ("event", "processed"),
        ("event", "processed"),
        ("event", "failed"),
        ("event", "failed"),
        ("event", "not_started"),
        ("invocation", None),
    ]
    assert lines[3]["error"] == "StoreError: throttled beyond retries"
    summary = lines[-1]
    assert summary["level"] == "WARNING"
    assert (summary["records"], summary["processed"], summary["total_records"]) == (2, 2, 5)
    assert (summary["failed"], summary["not_started"], summary["not_finished"]) == (2, 1, 3)
    assert summary["failures"] == 3
    assert summary["error"] == "StoreError: throttled beyond retries"


@sqlite_only
def test_a_store_error_fails_a_direct_invocation(
    lambda_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from gcdedup.errors import StoreError

    container = aws_lambda.get_container()

    def run_batch(records: Any, **kwargs: Any) -> Any:
        raise StoreError("table gone")

    lambda_env.setattr(container.pipeline, "run_batch", run_batch)
    with pytest.raises(StoreError, match="table gone"):
        aws_lambda.handler(genesys(1), FakeContext())
    summary = log_lines(capsys.readouterr().out)[-1]
    assert (summary["message"], summary["level"], summary["failed"]) == ("invocation", "ERROR", 1)


@sqlite_only
def test_log_lines_are_json_one_per_event_and_a_summary(
    lambda_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    context = FakeContext()
    batch = sqs_batch(
        sqs_record(genesys(3), "m-1"), sqs_record(genesys(3), "m-2"), sqs_record("x", "m-3")
    )
    aws_lambda.handler(batch, context)
    lines = log_lines(capsys.readouterr().out)
    assert [line["message"] for line in lines] == ["container ready", *["event"] * 3, "invocation"]
    for line in lines[1:4]:
        assert {"time", "level", "key", "outcome", "topic", "location", "message_id"} <= set(line)
        assert line["request_id"] == context.aws_request_id
        assert "detail" not in line and "eventBody" not in json.dumps(line)
    summary = lines[-1]
    assert (summary["records"], summary["processed"], summary["duplicates"]) == (3, 1, 1)
    assert (summary["bad_records"], summary["failures"], summary["delivery"]) == (1, 1, "sqs")
    assert "12456349-b5c7-4d8f-9eb4-f4df18bce9a9" not in json.dumps(lines)  # body data


# -- Genesys credentials from Secrets Manager ---------------------------------------------------


@pytest.fixture
def secrets(moto_endpoint: str, lambda_env: pytest.MonkeyPatch) -> Any:
    lambda_env.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto_endpoint)
    return boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name="us-east-1")


def test_genesys_handler_with_credentials_from_secrets_manager(
    secrets: Any,
    lambda_env: pytest.MonkeyPatch,
    genesys_server: GenesysTestServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = f"gcdedup/genesys/{uuid.uuid4().hex}"
    secrets.create_secret(
        Name=name, SecretString=json.dumps({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
    )
    lambda_env.delenv("GCDEDUP_HANDLER")
    lambda_env.setenv("GCDEDUP_GENESYS", "true")
    lambda_env.setenv("GCDEDUP_GENESYS_SECRET_ID", name)
    lambda_env.setenv("GENESYSCLOUD_API_URL", genesys_server.url)
    lambda_env.setenv("GENESYSCLOUD_LOGIN_URL", genesys_server.url)
    fetched: list[str] = []
    real_fetch = lambda_secrets.fetch_genesys_secret

    def counting_fetch(secret_id: str, client: Any = None) -> dict[str, Any]:
        fetched.append(secret_id)
        return real_fetch(secret_id, client)

    lambda_env.setattr(lambda_secrets, "fetch_genesys_secret", counting_fetch)

    batch = sqs_batch(*(sqs_record(load(path)) for path in GENESYS))
    assert failures(aws_lambda.handler(batch, FakeContext())) == set()
    assert failures(aws_lambda.handler(batch, FakeContext())) == set()

    assert fetched == [name]  # once per container
    assert genesys_server.token_requests == 1
    # 03 and 05 are one business event; 04 is another event on the same conversation.
    assert genesys_server.calls(CONVERSATION) == 2
    out = capsys.readouterr().out
    assert CLIENT_SECRET not in out
    assert aws_lambda.get_container().handler_name == "genesys"
    summaries = [line for line in log_lines(out) if line["message"] == "invocation"]
    assert [(s["processed"], s["duplicates"], s["conflicts"]) for s in summaries] == [
        (4, 0, 1),
        (0, 4, 1),
    ]


def test_secret_problems_are_configuration_errors(
    secrets: Any, lambda_env: pytest.MonkeyPatch
) -> None:
    base = f"gcdedup/bad/{uuid.uuid4().hex}"
    secrets.create_secret(Name=f"{base}/text", SecretString=f"plain {CLIENT_SECRET}")
    secrets.create_secret(Name=f"{base}/partial", SecretString=json.dumps({"client_id": "x"}))
    secrets.create_secret(
        Name=f"{base}/typed", SecretString=json.dumps({"client_id": 1, "client_secret": "y"})
    )
    with pytest.raises(ConfigError, match="cannot read secret") as missing:
        aws_lambda.fetch_genesys_secret(f"{base}/absent")
    with pytest.raises(ConfigError, match="not a JSON object") as text:
        aws_lambda.fetch_genesys_secret(f"{base}/text")
    with pytest.raises(ConfigError, match="no 'client_secret'"):
        aws_lambda.fetch_genesys_secret(f"{base}/partial")
    with pytest.raises(ConfigError, match="must be a string"):
        aws_lambda.fetch_genesys_secret(f"{base}/typed")
    assert CLIENT_SECRET not in str(text.value) + str(missing.value)


def test_secret_overrides_region_and_wraps_the_secret(secrets: Any) -> None:
    name = f"gcdedup/genesys/{uuid.uuid4().hex}"
    secrets.create_secret(
        Name=name,
        SecretString=json.dumps(
            {"client_id": "abc", "client_secret": CLIENT_SECRET, "region": "eu-west-1"}
        ),
    )
    overrides = aws_lambda.fetch_genesys_secret(name)
    assert overrides["client_id"] == "abc" and overrides["region"] == "eu-west-1"
    assert overrides["client_secret"].reveal() == CLIENT_SECRET
    assert CLIENT_SECRET not in repr(overrides)


# -- the CLI's check mode and the Lambda agree --------------------------------------------------


def replay_stream() -> list[dict[str, Any]]:
    """Events as an archive replay would send them: repeats, and one not-an-event."""
    events = [load(path) for path in GENESYS]
    replayed = {**genesys(3), "replay-name": "nightly"}
    return [*events, genesys(1), replayed, {"not": "an event"}, genesys(4)]


def test_check_mode_and_the_lambda_report_the_same_duplicates(
    lambda_env: pytest.MonkeyPatch,
    tmp_path: Path,
    namespace: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stream = replay_stream()
    ids = [f"m-{index}" for index in range(len(stream))]

    check_settings = Settings.resolve(
        env={}, store_url=f"sqlite:///{tmp_path / 'check.sqlite3'}", namespace=namespace
    )
    records: list[Event | BadRecord] = []
    for message_id, document in zip(ids, stream, strict=True):
        records.extend(expand(document, Location("archive", record=message_id)))
    with (
        open_store(check_settings.store_url) as check_store,
        Pipeline(check_store, check_settings, mode=Mode.CHECK) as pipeline,
    ):
        check_store.init()
        checked = pipeline.run_batch(records)
    check_duplicates = {r.location.record for r in checked if r.status is EventOutcome.DUPLICATE}
    check_conflicts = {r.location.record for r in checked if r.status is EventOutcome.CONFLICT}

    batch = sqs_batch(*(sqs_record(doc, mid) for mid, doc in zip(ids, stream, strict=True)))
    capsys.readouterr()
    response = aws_lambda.handler(batch, FakeContext())
    seen = outcomes(capsys.readouterr().out)
    lambda_duplicates = {mid for mid, outcome in seen.items() if outcome == "duplicate"}
    lambda_conflicts = {mid for mid, outcome in seen.items() if outcome == "conflict"}

    assert check_duplicates == lambda_duplicates == {"m-5", "m-6", "m-8"}
    assert check_conflicts == lambda_conflicts == {"m-4"}  # 05: the key of 03, another payload
    assert failures(response) == {"m-7"}
    assert {r.location.record for r in checked if r.status is EventOutcome.NEW} == {
        mid for mid, outcome in seen.items() if outcome == "processed"
    }


@sqlite_only
def test_cli_check_mode_and_the_lambda_report_the_same_duplicates(
    lambda_env: pytest.MonkeyPatch,
    tmp_path: Path,
    namespace: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The same, through ``gcdedup process --mode check --json --out`` on a captured batch."""
    from typer.testing import CliRunner

    from gcdedup.cli.app import app

    stream = replay_stream()
    ids = [f"m-{index}" for index in range(len(stream))]
    batch = sqs_batch(*(sqs_record(doc, mid) for mid, doc in zip(ids, stream, strict=True)))
    captured = tmp_path / "captured.json"
    captured.write_text(json.dumps(batch))
    results = tmp_path / "results.jsonl"
    store = f"sqlite:///{tmp_path / 'cli.sqlite3'}"

    args = ["process", str(captured), "--mode", "check", "--json", "--store", store]
    args += ["--namespace", namespace, "--out", str(results)]
    run = CliRunner().invoke(app, args)
    assert run.exit_code == 0, run.output
    assert (json.loads(run.stdout)["duplicates"], json.loads(run.stdout)["conflicts"]) == (3, 1)
    cli_outcomes = {
        line["record"]: line["outcome"]
        for line in map(json.loads, results.read_text().splitlines())
    }

    capsys.readouterr()
    aws_lambda.handler(batch, FakeContext())
    lambda_outcomes = outcomes(capsys.readouterr().out)
    for outcome in ("duplicate", "conflict"):
        assert {m for m, o in cli_outcomes.items() if o == outcome} == {
            m for m, o in lambda_outcomes.items() if o == outcome
        }
    assert {m for m, o in cli_outcomes.items() if o == "new"} == {
        m for m, o in lambda_outcomes.items() if o == "processed"
    }
