"""The library API: a user's own Lambda handler built with ``@gcdedup.dedup`` behaves
exactly like the built-in entry point on SQS batches of the real samples, and a single
call returns, skips or raises as documented."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import test_aws_lambda
from test_aws_lambda import GENESYS as SAMPLES
from test_aws_lambda import (
    RECORDER,
    FakeContext,
    both_stores,
    failures,
    genesys,
    key_of,
    load,
    log_lines,
    outcomes,
    sqs_batch,
    sqs_record,
)

import gcdedup
from gcdedup import aws_lambda
from gcdedup.store import RecordStatus, open_store

# The entry point's fixtures: the same environment, stores and namespaces.
lambda_env = test_aws_lambda.lambda_env
store_url = test_aws_lambda.store_url
shared_table_url = test_aws_lambda.shared_table_url
namespace = test_aws_lambda.namespace


class UserCode:
    """What a user writes: a function of the event, decorated, and a Lambda handler."""

    def __init__(self, store: str, namespace: str, **options: Any) -> None:
        self.calls: Counter[str] = Counter()
        self.fail_ids: set[str] = set()

        @gcdedup.dedup(store=store, namespace=namespace, **options)
        def handle(event: dict[str, Any]) -> dict[str, Any]:
            event_id = event.get("id", "-")
            self.calls[event_id] += 1
            if event_id in self.fail_ids:
                raise RuntimeError("downstream said no")
            return {"handled": event_id}

        self.handle = handle

    def lambda_handler(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return self.handle.lambda_handler(event, context)


def batch_of_samples() -> dict[str, Any]:
    """Every real sample, a replay of 03, a body that is not JSON, and 04 again."""
    records = [sqs_record(load(path), f"m-{path.name[:2]}") for path in SAMPLES]
    records.append(sqs_record({**genesys(3), "replay-name": "nightly"}, "m-replay"))
    records.append(sqs_record("not json {", "m-bad"))
    records.append(sqs_record(genesys(4), "m-04-again"))
    return sqs_batch(*records)


def records_of(url: str, namespace: str) -> dict[str, str]:
    """Stored status per key, the namespace prefix taken off."""
    with open_store(url) as store:
        keys = [key_of(load(path), namespace) for path in SAMPLES]
        return {
            r.key.split("#", 1)[1]: r.record.status.value if r.record else "-"
            for r in store.check(keys)
        }


@both_stores
def test_a_users_handler_dedups_an_sqs_batch_exactly_like_the_entry_point(
    lambda_env: pytest.MonkeyPatch,
    store_url: str,
    namespace: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    failing = genesys(4)["id"]
    batch = batch_of_samples()
    # The built-in entry point (GCDEDUP_* from lambda_env, RECORDER as the handler).
    RECORDER.fail_ids = {failing}
    builtin = [aws_lambda.handler(batch, FakeContext())]
    builtin_out = [outcomes(capsys.readouterr().out)]
    RECORDER.fail_ids.clear()
    builtin.append(aws_lambda.handler(batch, FakeContext()))  # redelivered, recovered
    builtin_out.append(outcomes(capsys.readouterr().out))
    # The user's handler, on its own namespace of the same store.
    mine = f"{namespace}u"
    user = UserCode(store_url, mine)
    user.fail_ids = {failing}
    own = [user.lambda_handler(batch, FakeContext())]
    own_out = [outcomes(capsys.readouterr().out)]
    user.fail_ids.clear()
    own.append(user.lambda_handler(batch, FakeContext()))
    own_out.append(outcomes(capsys.readouterr().out))
    user.handle.close()

    assert [failures(r) for r in own] == [failures(r) for r in builtin]
    assert failures(own[0]) == {"m-bad", "m-04", "m-04-again"}
    assert failures(own[1]) == {"m-bad"}
    assert own_out == builtin_out
    assert own_out[0]["m-05"] == "conflict" and own_out[0]["m-replay"] == "duplicate"
    assert user.calls == RECORDER.calls
    assert sorted(user.calls.values()) == [1, 1, 1, 3]  # 04 failed twice (two copies), then ran
    assert records_of(store_url, mine) == records_of(store_url, namespace)
    assert set(records_of(store_url, mine).values()) == {RecordStatus.COMPLETED.value}


def test_a_single_call_returns_skips_and_raises_as_documented(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'api.sqlite3'}"
    with open_store(url) as store:
        store.init()
    user = UserCode(url, "api", save_result=True, on_conflict="fail", cache_size=0)
    first, same_key, failing = genesys(3), genesys(5), genesys(4)
    assert user.handle(first) == {"handled": first["id"]}
    assert user.handle(first) == {"handled": first["id"]}  # the saved result
    assert user.calls[first["id"]] == 1
    with pytest.raises(gcdedup.ConflictError, match="was completed for another payload"):
        user.handle(same_key)
    user.fail_ids = {failing["id"]}
    with pytest.raises(RuntimeError, match="downstream said no"):
        user.handle(failing)
    user.fail_ids.clear()
    assert user.handle(failing) == {"handled": failing["id"]}  # the claim was released
    user.handle.close()

    plain = UserCode(url, "other", duplicate_result="seen")
    assert plain.handle(first) == {"handled": first["id"]}
    assert plain.handle(first) == "seen"  # no result saved: the configured duplicate result
    plain.handle.close()

    unkeyable = {"detail-type": "x", "source": "s", "detail": {}}  # no envelope id
    strict = UserCode(url, "envelope", key="envelope")
    with pytest.raises(gcdedup.KeyStrategyError, match="no key"):
        strict.handle(unkeyable)
    assert strict.calls == {}
    loose = UserCode(url, "envelope", key="envelope", on_unkeyable="process")
    assert loose.handle(unkeyable) == {"handled": "-"}
    assert loose.handle(unkeyable) == {"handled": "-"}  # no key, no dedup: runs each time
    assert loose.calls == {"-": 2}
    strict.handle.close()
    loose.handle.close()


def test_a_call_on_a_key_held_elsewhere_raises_in_flight(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'held.sqlite3'}"
    event = genesys(1)
    holder = UserCode(url, "api")
    inner = UserCode(url, "api")

    def nested(envelope: dict[str, Any]) -> None:
        with pytest.raises(gcdedup.InFlightError, match="claimed by another worker"):
            inner.handle(envelope)

    holder.handle.function = nested  # type: ignore[misc]
    holder.handle(event)
    holder.handle.close()
    inner.handle.close()


@both_stores
def test_the_invocation_line_counts_conflicts_and_cache_hits_as_metrics(
    lambda_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    batch = sqs_batch(sqs_record(genesys(3), "m-03"), sqs_record(genesys(5), "m-05"))
    assert failures(aws_lambda.handler(batch, FakeContext())) == set()
    again = sqs_batch(sqs_record(genesys(3), "m-03b"))
    assert failures(aws_lambda.handler(again, FakeContext())) == set()
    lines = [line for line in log_lines(capsys.readouterr().out) if "message" in line]
    events = {line["message_id"]: line for line in lines if line["message"] == "event"}
    assert events["m-05"]["outcome"] == "conflict"
    assert events["m-05"]["conflict_with"] == "sqs [m-03]"
    assert events["m-03b"]["outcome"] == "duplicate" and events["m-03b"]["cached"] is True
    first, second = [line for line in lines if line["message"] == "invocation"]
    metrics = {m["Name"] for m in first["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"conflicts", "cached", "unkeyed"} <= metrics
    assert (first["processed"], first["conflicts"], first["cached"]) == (1, 1, 0)
    assert (second["duplicates"], second["cached"]) == (1, 1)


def test_the_lambda_reprocessing_200_known_events_costs_one_write_each(
    lambda_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Lambda's defaults on the DynamoDB test server: a duplicate is one PutItem; in a warm
    container that completed it, none."""
    sample = genesys(1)
    events = []
    for index in range(200):
        event = json.loads(json.dumps(sample))
        event["detail"]["eventBody"]["id"] = str(uuid.UUID(int=index))
        events.append(sqs_record(event, f"m-{index}"))
    batch = sqs_batch(*events)

    def requests() -> Counter[str]:
        sent: Counter[str] = Counter()
        client = aws_lambda.get_container().store.client  # type: ignore[attr-defined]
        client.meta.events.register(
            "before-send.dynamodb", lambda event_name, **_: sent.update([event_name[12:]])
        )
        return sent

    first = requests()
    assert failures(aws_lambda.handler(batch, FakeContext())) == set()
    assert first == {"dynamodb.PutItem": 200, "dynamodb.UpdateItem": 200}
    warm = requests()
    assert failures(aws_lambda.handler(batch, FakeContext())) == set()
    assert warm == {}  # the container cache
    aws_lambda.reset()  # a new container: nothing cached
    cold = requests()
    assert failures(aws_lambda.handler(batch, FakeContext())) == set()
    assert cold == {"dynamodb.PutItem": 200}
    summaries = [line for line in log_lines(capsys.readouterr().out) if line.get("_aws")]
    assert [(s["processed"], s["duplicates"], s["cached"]) for s in summaries] == [
        (200, 0, 0),
        (0, 200, 200),
        (0, 200, 0),
    ]
