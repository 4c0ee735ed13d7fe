"""The AWS region from ``AWS_REGION`` alone (boto3 reads only ``AWS_DEFAULT_REGION``),
and, when no region is found, an error naming the variables and the URL at fault; on
moto's server over HTTP."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import boto3
import pytest
from dynamodb_server import DynamoDBServer
from typer.testing import CliRunner

from gcdedup.aws_region import region_from_env
from gcdedup.cli.app import app

REPO = Path(__file__).resolve().parents[2]
CLEAN = REPO / "sample_events" / "clean.jsonl"


@pytest.fixture
def only_aws_region(
    aws_server: DynamoDBServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> DynamoDBServer:
    """The server's region in AWS_REGION only: no AWS_DEFAULT_REGION, no profile."""
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", aws_server.region)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    return aws_server


@pytest.fixture
def no_region(
    aws_server: DynamoDBServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> DynamoDBServer:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    return aws_server


def test_sqs_and_dynamodb_work_with_only_aws_region(only_aws_region: DynamoDBServer) -> None:
    region = only_aws_region.region
    queue = f"gcdedup-region-{uuid.uuid4().hex[:8]}"
    sqs = boto3.client("sqs", region_name=region)
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    for line in CLEAN.read_text().splitlines():
        sqs.send_message(QueueUrl=url, MessageBody=line)
    table = f"gcdedup-region-{uuid.uuid4().hex[:8]}"
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--store", f"dynamodb://{table}"]).exit_code == 0
    result = runner.invoke(
        app, ["process", f"sqs://{queue}?wait=1", "--store", f"dynamodb://{table}", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["new"] == 15  # no handler: a read-only check of the queue


def test_without_a_region_the_error_names_the_variables_and_the_url(
    no_region: DynamoDBServer,
) -> None:
    runner = CliRunner()
    queue = runner.invoke(app, ["process", "sqs://orders-dlq", "--store", "memory://"])
    assert queue.exit_code == 1
    assert queue.stderr == (
        "Error: no AWS region for sqs://orders-dlq: set AWS_REGION or AWS_DEFAULT_REGION "
        "(e.g. export AWS_REGION=eu-west-1), or a region in your AWS profile\n"
    )
    # (an S3 client needs no region: boto3 signs for us-east-1 and follows redirects)
    table = runner.invoke(app, ["stats", "--store", "dynamodb://orders-dedup"])
    assert table.exit_code == 1
    assert table.stderr == (
        "Error: no AWS region for dynamodb://orders-dedup: set AWS_REGION or "
        "AWS_DEFAULT_REGION (e.g. export AWS_REGION=eu-west-1), or a region in your AWS "
        "profile, or use dynamodb://orders-dedup?region=eu-west-1\n"
    )


def test_aws_region_is_read_as_the_aws_cli_reads_it() -> None:
    assert region_from_env({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1"}) == (
        "eu-west-1"
    )
    assert region_from_env({"AWS_DEFAULT_REGION": "us-east-1"}) is None  # boto3 reads it
    assert region_from_env({"AWS_REGION": " "}) is None
