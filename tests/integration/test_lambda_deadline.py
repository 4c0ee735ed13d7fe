"""The Lambda within its deadline; logs as events finish; metrics; the Genesys token.

Helpers and fixtures (``lambda_env``: a clean environment and a fresh container with
the recording handler) come from test_aws_lambda.
"""

# ruff: noqa: F811 - test functions take the fixtures imported from test_aws_lambda

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import FakeClock
from genesys_server import *  # noqa: F403 - the genesys_server fixture
from genesys_server import CLIENT_ID, CLIENT_SECRET, GenesysTestServer
from test_aws_lambda import (  # noqa: F401 - fixtures among them
    GENESYS,
    RECORDER,
    FakeContext,
    failures,
    genesys,
    lambda_env,
    load,
    log_lines,
    namespace,
    outcomes,
    shared_table_url,
    sqs_batch,
    sqs_record,
    store_url,
)

from gcdedup import aws_lambda
from gcdedup.aws_lambda import container as lambda_container
from gcdedup.genesys import auth as genesys_auth
from gcdedup.store import open_store

STORES = ["sqlite", "dynamodb"]


def ten_events() -> list[dict[str, Any]]:
    """Ten distinct events (the audit sample with ten ids)."""
    base = genesys(1)
    return [
        {**base, "id": f"e-{n}", "detail": {**base["detail"], "eventBody": {"id": f"audit-{n}"}}}
        for n in range(10)
    ]


class TickingClock(FakeClock):
    """A fake clock (for the store and the deadline) that the handler moves."""


@pytest.fixture
def ticking(lambda_env: pytest.MonkeyPatch) -> TickingClock:
    clock = TickingClock()
    aws_lambda.reset(clock=clock, deadline_clock=clock)
    return clock


# -- the deadline ------------------------------------------------------------------------------


@pytest.mark.parametrize("store_url", STORES, indirect=True)
def test_a_batch_stops_starting_events_before_the_deadline(
    lambda_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Real time: ten 0.4 s events, 3 s left, concurrency 1, a 1 s margin. The function
    returns before the 3 s are up; what it handled and what it gives back are disjoint
    and cover the batch; the redelivery handles each given-back message once."""
    lambda_env.setenv("GCDEDUP_CONCURRENCY", "1")
    lambda_env.setenv("GCDEDUP_DEADLINE_MARGIN", "1s")
    RECORDER.during = lambda envelope: time.sleep(0.4)
    events = ten_events()
    ids = [f"m-{n}" for n in range(10)]
    batch = sqs_batch(*(sqs_record(e, m) for e, m in zip(events, ids, strict=True)))
    aws_lambda.get_container()  # the container is built in the init phase, not the budget

    started = time.monotonic()
    response = aws_lambda.handler(batch, FakeContext(remaining_ms=3000))
    elapsed = time.monotonic() - started

    assert elapsed < 3.0
    given_back = failures(response)
    seen = outcomes(capsys.readouterr().out)
    handled = {m for m, outcome in seen.items() if outcome == "processed"}
    assert handled | given_back == set(ids) and not handled & given_back
    assert 4 <= len(handled) <= 6, (len(handled), elapsed)  # 6 when nothing else takes time
    assert {m for m, o in seen.items() if o == "not_started"} == given_back
    assert set(RECORDER.calls.values()) == {1} and len(RECORDER.calls) == len(handled)

    RECORDER.during = None
    retry = sqs_batch(*(r for r in batch["Records"] if r["messageId"] in given_back))
    assert failures(aws_lambda.handler(retry, FakeContext())) == set()
    assert RECORDER.calls == {event["id"]: 1 for event in events}


def test_exactly_the_events_that_fit_are_started(
    ticking: TickingClock, lambda_env: pytest.MonkeyPatch, store_url: str, namespace: str
) -> None:
    """The same on a fake clock the handler moves by 0.5 s: events start while at least
    the margin is left (3.0, 2.5, 2.0, 1.5, 1.0 s), and nothing is claimed for the
    other five."""
    lambda_env.setenv("GCDEDUP_CONCURRENCY", "1")
    lambda_env.setenv("GCDEDUP_DEADLINE_MARGIN", "1s")
    RECORDER.during = lambda envelope: ticking.advance(0.5)
    events = ten_events()
    batch = sqs_batch(*(sqs_record(e, f"m-{n}") for n, e in enumerate(events)))
    response = aws_lambda.handler(batch, FakeContext(remaining_ms=3000))
    assert failures(response) == {f"m-{n}" for n in range(5, 10)}
    assert list(RECORDER.calls) == [f"e-{n}" for n in range(5)]
    keys = [lambda_container.get_container().pipeline.keys(e) for e in _as_events(events)]
    with open_store(store_url) as store:
        assert [r is not None for r in (store.get(k) for k in keys)] == [True] * 5 + [False] * 5


def _as_events(documents: list[dict[str, Any]]) -> list[Any]:
    from gcdedup.events import Event, Location

    return [Event(d, Location("test")) for d in documents]


def test_a_direct_invocation_with_no_time_left_raises(
    lambda_env: pytest.MonkeyPatch, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    event = genesys(3)
    with pytest.raises(aws_lambda.InvocationError, match=r"1 of 1 event\(s\) not started"):
        aws_lambda.handler(event, FakeContext(remaining_ms=0))
    assert not RECORDER.calls
    lines = log_lines(capsys.readouterr().out)
    summary = lines[-1]
    assert (summary["message"], summary["level"], summary["not_started"]) == (
        "invocation",
        "ERROR",
        1,
    )
    # EventBridge retries it; with time enough it is processed.
    assert aws_lambda.handler(event, FakeContext(remaining_ms=10_000))["processed"] == 1


def test_a_function_with_lambdas_default_timeout_processes_its_batch(
    lambda_env: pytest.MonkeyPatch, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """3 s functions start with 2.9 s: the 5 s margin shrinks to a fifth of that (warned
    once per container), and every message is processed instead of returned unstarted."""
    events = ten_events()
    batch = sqs_batch(*(sqs_record(e) for e in events))
    assert aws_lambda.handler(batch, FakeContext(remaining_ms=2900)) == {"batchItemFailures": []}
    assert len(RECORDER.calls) == 10
    aws_lambda.handler(sqs_batch(sqs_record(genesys(3))), FakeContext(remaining_ms=2900))
    warnings = [line for line in log_lines(capsys.readouterr().out) if line["level"] == "WARNING"]
    assert [line["message"] for line in warnings] == [
        "GCDEDUP_DEADLINE_MARGIN=5s cannot work with 2.90 s per invocation: keeping 0.58 s "
        "instead (20% of the time an invocation starts with)"
    ]


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A TCP port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.mark.parametrize("store_url", ["dynamodb"], indirect=True)
def test_a_hung_dynamodb_cannot_hold_the_function_past_its_deadline(
    lambda_env: pytest.MonkeyPatch, black_hole: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each attempt times out after 1 + 2 s, and no retry starts that could not end
    before the deadline: with 4 s left the invocation gives the batch back in time
    (the store's own defaults, 5 + 20 s per attempt and 10 attempts, would not)."""
    lambda_env.setenv(
        "GCDEDUP_STORE", f"dynamodb://hung?endpoint_url={black_hole}&region=us-east-1"
    )
    lambda_env.setenv("GCDEDUP_DEADLINE_MARGIN", "1s")
    config = aws_lambda.get_container().store.client.meta.config  # type: ignore[attr-defined]
    assert (config.connect_timeout, config.read_timeout) == (1.0, 2.0)
    assert config.retries["total_max_attempts"] == 3
    batch = sqs_batch(sqs_record(genesys(1), "m-1"), sqs_record(genesys(2), "m-2"))
    started = time.monotonic()
    response = aws_lambda.handler(batch, FakeContext(remaining_ms=4000))
    elapsed = time.monotonic() - started
    assert elapsed < 4.0
    assert failures(response) == {"m-1", "m-2"}
    summary = log_lines(capsys.readouterr().out)[-1]
    assert summary["message"] == "invocation" and summary["level"] == "WARNING"
    assert "deadline" in summary["error"] or "timed out" in summary["error"].lower()
    assert not RECORDER.calls


# -- logs and metrics --------------------------------------------------------------------------


def test_each_event_is_logged_as_it_finishes(
    lambda_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lambda_env.setenv("GCDEDUP_CONCURRENCY", "1")
    order: list[str] = []

    def during(envelope: dict[str, Any]) -> None:
        printed = [
            line for line in log_lines(capsys.readouterr().out) if line["message"] == "event"
        ]
        order.extend(f"line {line['message_id']}" for line in printed)
        order.append(f"handle {envelope['id']}")

    RECORDER.during = during
    events = ten_events()[:3]
    aws_lambda.handler(
        sqs_batch(*(sqs_record(e, f"m-{n}") for n, e in enumerate(events))), FakeContext()
    )
    assert order == ["handle e-0", "line m-0", "handle e-1", "line m-1", "handle e-2"]


def test_every_line_carries_the_request_id_and_the_invocation_line_is_emf(
    lambda_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lambda_env.setenv("AWS_LAMBDA_FUNCTION_NAME", "gcdedup-test")
    failing = genesys(4)
    RECORDER.fail_ids = {failing["id"]}
    context = FakeContext()
    batch = sqs_batch(
        sqs_record(genesys(3), "m-1"),
        sqs_record(genesys(5), "m-2"),  # the key of m-1, another payload: a conflict
        sqs_record(failing, "m-3"),
        sqs_record("not json", "m-4"),
    )
    aws_lambda.handler(batch, context)
    lines = log_lines(capsys.readouterr().out)
    assert {line.get("logger", "gcdedup.aws_lambda") for line in lines} == {
        "gcdedup.aws_lambda",
        "gcdedup.pipeline",  # "handler failed"
    }
    assert {line["request_id"] for line in lines} == {context.aws_request_id}
    [record] = [line for line in lines if "_aws" in line]
    assert record["message"] == "invocation"
    [directive] = record["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "gcdedup"
    assert directive["Dimensions"] == [["FunctionName"]]
    assert record["FunctionName"] == "gcdedup-test"
    names = [metric["Name"] for metric in directive["Metrics"]]
    assert names == [
        "processed",
        "duplicates",
        "cached",
        "conflicts",
        "unkeyed",
        "in_flight",
        "failed",
        "bad_records",
        "not_started",
    ]
    assert {name: record[name] for name in names} == {
        "processed": 1,
        "duplicates": 0,
        "cached": 0,
        "conflicts": 1,
        "unkeyed": 0,
        "in_flight": 0,
        "failed": 1,
        "bad_records": 1,
        "not_started": 0,
    }
    assert abs(record["_aws"]["Timestamp"] / 1000 - time.time()) < 60


# -- Genesys: the token endpoint's rate limit, one token per batch -----------------------------


def test_a_rate_limited_token_endpoint_still_processes_the_batch(
    lambda_env: pytest.MonkeyPatch,
    genesys_server: GenesysTestServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lambda_env.setattr(genesys_auth, "TOKEN_BACKOFF_BASE_SECONDS", 0.01)
    lambda_env.delenv("GCDEDUP_HANDLER")
    lambda_env.setenv("GCDEDUP_GENESYS", "true")
    lambda_env.setenv("GENESYSCLOUD_OAUTHCLIENT_ID", CLIENT_ID)
    lambda_env.setenv("GENESYSCLOUD_OAUTHCLIENT_SECRET", CLIENT_SECRET)
    lambda_env.setenv("GENESYSCLOUD_API_URL", genesys_server.url)
    lambda_env.setenv("GENESYSCLOUD_LOGIN_URL", genesys_server.url)
    genesys_server.token_rate_limit(2)
    conversation = load(GENESYS[2])  # 03_detail_customer_end
    events = [
        {**conversation, "id": str(uuid.uuid4()), "detail": {**conversation["detail"]}}
        for _ in range(10)
    ]
    for n, event in enumerate(events):  # ten distinct keys on one conversation
        event["detail"]["eventBody"] = {**conversation["detail"]["eventBody"], "eventTime": n}
    response = aws_lambda.handler(sqs_batch(*(sqs_record(e) for e in events)), FakeContext())
    assert failures(response) == set()
    assert len(genesys_server.authorizations) == 3  # two "rate limit exceeded", one token
    assert genesys_server.token_requests == 1
    out = capsys.readouterr().out
    assert [json.loads(line)["message"] for line in out.splitlines()].count(
        "Genesys token rate limit; waiting"
    ) == 2
    assert CLIENT_SECRET not in out


def test_the_decorator_keeps_the_entry_points_deadline_policy(
    lambda_env: pytest.MonkeyPatch, store_url: str
) -> None:
    """The decorator reads the margin variable and fits it to the invocation exactly as
    the entry point does: a 3 s function processes its whole batch through either."""
    from gcdedup import dedup

    calls: list[str] = []

    @dedup(store=store_url, env={"GCDEDUP_DEADLINE_MARGIN": "4s"})
    def handle(event: dict[str, Any]) -> None:
        calls.append(event["id"])

    try:
        assert handle.container().deadline.configured == 4.0
        batch = sqs_batch(*(sqs_record(e) for e in ten_events()))
        assert handle.lambda_handler(batch, FakeContext(remaining_ms=2900)) == {
            "batchItemFailures": []
        }
        assert len(calls) == 10
        assert handle.container().margin == 4.0  # back to the configured one between calls
    finally:
        handle.close()
