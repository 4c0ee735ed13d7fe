"""``gcdedup capture`` on moto's server over HTTP: replay, resume, clean-up, errors.

moto replays synchronously (the replay is COMPLETED when StartReplay returns) and
ignores ``FilterArns`` (it sends replayed events to every matching rule on the
bus), so isolation from other rules is checked on the request moto stored, not by
delivery; see docs/guides/capture.md.
"""

from __future__ import annotations

import gzip
import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from dynamodb_server import DynamoDBServer
from typer.testing import CliRunner

from gcdedup.cli.app import app
from gcdedup.events import Event
from gcdedup.sources import EventReader, aws

GENESYS = Path(__file__).resolve().parents[1] / "fixtures" / "genesys"
SAMPLES = [json.loads(p.read_text()) for p in sorted(GENESYS.glob("0*.json"))]
FAST = ("--settle", "0")


def run(*args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result


class Archive:
    """A bus with an archive holding the five samples, and a production rule + queue."""

    def __init__(self) -> None:
        self.events = boto3.client("events")
        self.sqs = boto3.client("sqs")
        suffix = uuid.uuid4().hex[:8]
        self.bus = f"genesys-{suffix}"
        self.name = f"genesys-archive-{suffix}"
        bus_arn = self.events.create_event_bus(Name=self.bus)["EventBusArn"]
        self.events.create_archive(ArchiveName=self.name, EventSourceArn=bus_arn)
        queue = self.sqs.create_queue(QueueName=f"production-{suffix}")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        self.events.put_rule(
            Name="production", EventBusName=self.bus, EventPattern='{"source":[{"prefix":""}]}'
        )
        self.events.put_targets(
            Rule="production",
            EventBusName=self.bus,
            Targets=[{"Id": "p", "Arn": arn["Attributes"]["QueueArn"]}],
        )
        for sample in SAMPLES:
            entry = {
                "Source": sample["source"],
                "DetailType": sample["detail-type"],
                "Detail": json.dumps(sample["detail"]),
                "EventBusName": self.bus,
            }
            assert self.events.put_events(Entries=[entry])["FailedEntryCount"] == 0
        self.sqs.purge_queue(QueueUrl=queue)  # the live deliveries are not under test

    def plumbing(self) -> tuple[list[dict[str, Any]], list[str]]:
        """Every rule on the bus (with its targets) and every queue: before == after."""
        rules = self.events.list_rules(EventBusName=self.bus)["Rules"]
        for rule in rules:
            rule["Targets"] = self.events.list_targets_by_rule(
                Rule=rule["Name"], EventBusName=self.bus
            )["Targets"]
        return rules, sorted(self.sqs.list_queues().get("QueueUrls", []))


@pytest.fixture
def archive(aws_server: DynamoDBServer) -> Iterator[Archive]:
    yield Archive()


def capture(archive: Archive, out: Path, *extra: str, code: int = 0) -> Any:
    args = ["capture", "--archive", archive.name, "--from", "-1h", "--to", "now"]
    return run(*args, "--out", str(out), *FAST, *extra, code=code)


def lines(path: Path) -> list[dict[str, Any]]:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        return [json.loads(text) for text in fh]


def test_capture_replays_the_archive_into_a_file_and_leaves_nothing(
    archive: Archive, tmp_path: Path
) -> None:
    before = archive.plumbing()
    out = tmp_path / "replayed.jsonl"
    result = capture(archive, out, "--json")
    summary = json.loads(result.stdout)
    assert summary["events"] == 5 and summary["in_file"] == 5
    replay = summary["replay_name"]
    assert replay.startswith("gcdedup-capture-")
    events = lines(out)
    assert len(events) == 5
    assert {e["replay-name"] for e in events} == {replay}
    details = sorted(json.dumps(e["detail"], sort_keys=True) for e in events)
    assert details == sorted(json.dumps(s["detail"], sort_keys=True) for s in SAMPLES)
    assert archive.plumbing() == before
    # the replay named only the temporary rule (moto stores the request as given)
    destination = archive.events.describe_replay(ReplayName=replay)["Destination"]
    account = destination["Arn"].split(":event-bus/")[0]
    assert destination["FilterArns"] == [f"{account}:rule/{archive.bus}/{replay}"]
    # progress went to stderr, the summary alone to stdout
    assert "replay COMPLETED: 5 event(s) written" in result.stderr


def test_capture_resumes_without_duplicating(archive: Archive, tmp_path: Path) -> None:
    out = tmp_path / "replayed.jsonl.gz"
    first = json.loads(capture(archive, out, "--json").stdout)
    again = json.loads(capture(archive, out, "--json").stdout)
    assert (first["events"], again["events"], again["already_in_file"]) == (5, 0, 5)
    assert len(lines(out)) == 5
    assert sum(isinstance(r, Event) for r in EventReader([str(out)])) == 5
    # a file that lost two events gets exactly those back
    plain = tmp_path / "replayed.jsonl"
    plain.write_text("".join(json.dumps(e) + "\n" for e in lines(out)[:3]))
    resumed = json.loads(capture(archive, plain, "--json").stdout)
    assert (resumed["events"], resumed["already_in_file"], resumed["in_file"]) == (2, 3, 5)
    assert len(lines(plain)) == 5


def test_keep_leaves_the_private_rule_and_queue(archive: Archive, tmp_path: Path) -> None:
    summary = json.loads(capture(archive, tmp_path / "o.jsonl", "--keep", "--json").stdout)
    name = summary["replay_name"]
    assert summary["kept"]["rule"] == name
    rule = archive.events.describe_rule(Name=name, EventBusName=archive.bus)
    assert json.loads(rule["EventPattern"]) == {"replay-name": [name]}
    queue = summary["kept"]["queue"]
    policy = json.loads(
        archive.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["Policy"])["Attributes"][
            "Policy"
        ]
    )
    condition = policy["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert condition == rule["Arn"]
    archive.events.remove_targets(Rule=name, EventBusName=archive.bus, Ids=["gcdedup-capture"])
    archive.events.delete_rule(Name=name, EventBusName=archive.bus)
    archive.sqs.delete_queue(QueueUrl=queue)


def fail_on(service: str, operation: str, error: BaseException) -> None:
    def raise_error(**_: Any) -> None:
        raise error

    aws.client(service).meta.events.register(f"before-call.{service}.{operation}", raise_error)


def test_ctrl_c_and_errors_clean_up(archive: Archive, tmp_path: Path) -> None:
    before = archive.plumbing()
    fail_on("sqs", "ReceiveMessage", KeyboardInterrupt())
    interrupted = capture(archive, tmp_path / "o.jsonl", code=130)
    assert "Interrupted." in interrupted.stderr
    assert archive.plumbing() == before
    aws.reset_clients()
    # an AWS failure while draining
    from botocore.exceptions import ClientError

    broken = ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, "x")
    fail_on("sqs", "DeleteMessageBatch", broken)
    failed = capture(archive, tmp_path / "o.jsonl", code=1)
    assert "Error: sqs:DeleteMessage failed: boom" in failed.stderr
    assert archive.plumbing() == before
    aws.reset_clients()
    # an output that cannot be written fails before anything is created
    directory = tmp_path / "a-directory.jsonl"
    directory.mkdir()
    unwritable = capture(archive, directory, code=2)
    assert "Error: cannot read the existing --out file" in unwritable.stderr
    assert archive.plumbing() == before


def test_missing_permission_names_the_actions(archive: Archive, tmp_path: Path) -> None:
    from botocore.exceptions import ClientError

    before = archive.plumbing()
    denied = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, "PutRule"
    )
    fail_on("events", "PutRule", denied)
    result = capture(archive, tmp_path / "o.jsonl", code=1)
    assert "Error: access denied: events:PutRule (not authorized). gcdedup capture needs" in (
        result.stderr.replace("\n", " ")
    )
    assert "sqs:CreateQueue" in result.stderr and "events:StartReplay" in result.stderr
    assert archive.plumbing() == before  # the queue made before the denial is gone


def test_clear_errors_before_anything_is_created(archive: Archive, tmp_path: Path) -> None:
    before = archive.plumbing()
    out = str(tmp_path / "o.jsonl")
    missing = run(
        "capture",
        "--archive",
        "no-such-archive",
        "--from",
        "-1h",
        "--to",
        "now",
        "--out",
        out,
        code=2,
    )
    assert "Error: no archive named 'no-such-archive'" in missing.stderr
    early = run(
        "capture",
        "--archive",
        archive.name,
        "--from",
        "2020-01-01",
        "--to",
        "2020-01-02",
        "--out",
        out,
        code=2,
    )
    assert "Error: the window ends (2020-01-02T00:00:00+00:00) before archive" in early.stderr
    backwards = run(
        "capture", "--archive", archive.name, "--from", "now", "--to", "-1h", "--out", out, code=2
    )
    assert "must be before --to" in backwards.stderr
    bus = run(
        "capture",
        "--archive",
        archive.name,
        "--from",
        "-1h",
        "--to",
        "now",
        "--out",
        out,
        "--bus",
        "default",
        code=2,
    )
    assert f"holds events of bus {archive.bus}, not default" in bus.stderr
    assert archive.plumbing() == before
    assert not Path(out).exists()


def test_sigterm_cleans_up_the_rule_and_the_queue(archive: Archive, tmp_path: Path) -> None:
    """A capture in a child gets SIGTERM while it drains: its rule and queue are deleted.

    moto replays synchronously, so the replay is COMPLETED before the signal and its
    cancellation (CancelReplay on a RUNNING replay) cannot be observed here."""
    before = archive.plumbing()
    out = tmp_path / "o.jsonl"
    command = [
        sys.executable, "-m", "gcdedup", "capture", "--archive", archive.name,
        "--from", "-1h", "--to", "now", "--out", str(out), "--settle", "120",
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out.exists() and len(out.read_text().splitlines()) == 5):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the capture wrote nothing"
        time.sleep(0.05)
    queues = archive.sqs.list_queues(QueueNamePrefix="gcdedup-capture").get("QueueUrls", [])
    assert len(queues) == 1  # draining, waiting out --settle
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "Terminated." in err and "Traceback" not in err
    assert archive.plumbing() == before
