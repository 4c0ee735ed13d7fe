"""The server-free parts of the cloud sources and capture: URLs, windows, identities."""

from __future__ import annotations

import sys
from datetime import datetime, timezone

import pytest

from gcdedup.capture import bus_name, identity, parse_time
from gcdedup.errors import MissingDependencyError, UsageError
from gcdedup.sources import aws, s3
from gcdedup.sources.sqs import SqsDrain, sqs_input

UTC = timezone.utc


def test_a_missing_boto3_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(MissingDependencyError) as caught:
        aws.new_client("s3")
    assert str(caught.value) == (
        "boto3 is not installed; install the aws extra in the gcdedup checkout: "
        "pip install '.[aws]' (gcdedup is not on PyPI)"
    )


def test_object_time_is_the_firehose_hour_else_last_modified() -> None:
    modified = datetime(2030, 1, 1, tzinfo=UTC)
    hourly = s3.S3Object("b", "p/2024/05/01/13/stream-1-2024-05-01-13-59-59-x.gz", 1, modified)
    assert hourly.time == datetime(2024, 5, 1, 13, tzinfo=UTC)
    assert s3.S3Object("b", "p/flat.gz", 1, modified).time == modified
    assert s3.S3Object("b", "p/2024/13/40/99/x.gz", 1, modified).time == modified


def test_window_flags_become_url_options() -> None:
    paths = ["s3://b/p/", "s3://b/q/?since=2020-01-01", "local.json"]
    assert s3.with_window(paths, "2024-05-01", None) == [
        "s3://b/p/?since=2024-05-01",
        "s3://b/q/?since=2024-05-01",
        "local.json",
    ]
    assert s3.with_window(paths, None, None) == paths
    with pytest.raises(UsageError, match="invalid until time 'soon'"):
        s3.with_window(paths, None, "soon")
    # local inputs keep their names: process windows their events, stats refuses
    assert s3.with_window(["local.json"], "2024-05-01", None) == ["local.json"]
    with pytest.raises(UsageError, match="S3 URLs take since= and until="):
        s3.parse_url("s3://b/p/?limit=3")


def test_an_sqs_input_stands_alone_and_its_url_is_checked() -> None:
    assert sqs_input(["a.json", "b/"]) is None
    assert sqs_input(["sqs://dlq"]) == "sqs://dlq"
    with pytest.raises(UsageError, match="must be the only input"):
        sqs_input(["sqs://dlq", "a.json"])
    with pytest.raises(UsageError, match="must be 1 to 20 seconds"):
        SqsDrain("sqs://dlq?wait=0")
    with pytest.raises(UsageError, match="use sqs://queue-name"):
        SqsDrain("sqs://a/b")


def test_resume_identity_ignores_what_a_replay_changes() -> None:
    event = {"id": "1", "source": "s", "detail": {"a": 1, "b": [1, 2]}}
    replayed = {"detail": {"b": [1, 2], "a": 1}, "source": "s", "id": "2", "replay-name": "r"}
    assert identity(event) == identity(replayed)
    assert identity(event) != identity({**event, "detail": {"a": 2, "b": [1, 2]}})


def test_capture_times() -> None:
    now = datetime(2024, 5, 2, 12, tzinfo=UTC)
    assert parse_time("now", "--to", now) == now
    assert parse_time("-2h", "--from", now) == datetime(2024, 5, 2, 10, tzinfo=UTC)
    assert parse_time("-3d", "--from", now) == datetime(2024, 4, 29, 12, tzinfo=UTC)
    assert parse_time("2024-05-01", "--from", now) == datetime(2024, 5, 1, tzinfo=UTC)
    assert parse_time("2024-05-01T10:00+02:00", "--from", now).hour == 10
    with pytest.raises(UsageError, match="invalid --from time 'yesterday'"):
        parse_time("yesterday", "--from", now)


def test_bus_names_from_arns_keep_a_partner_bus_whole() -> None:
    prefix = "arn:aws:events:eu-west-1:123456789012:event-bus/"
    assert bus_name(prefix + "default") == "default"
    partner = "aws.partner/genesys.com/cloud/0c6a4c1e-aaaa/genesys-events"
    assert bus_name(prefix + partner) == partner
