"""The door matrix: one stream through every way in, one set of counts.

Events reach gcdedup through seven doors: a local file read inline or read ahead,
standard input, ``s3://``, ``sqs://`` (moto's server over HTTP), the Lambda entry
point and the ``@dedup`` decorator. Each door runs the same stream into a fresh
store and must report the same counts under the same names; ``stats`` on the file
must report the same duplicates, conflicts and rate as ``process``. A feature that
reaches events adds a row here (the window rows: ``--since``/``--until``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from dynamodb_server import DynamoDBServer
from typer.testing import CliRunner

from gcdedup import aws_lambda, dedup
from gcdedup.cli.app import app
from gcdedup.sources import keyed

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_events"
#: The counts every door reports, by their one name.
COUNTS = ("processed", "duplicates", "conflicts", "bad_records", "outside_window")
BAD_LINES = [b"{not json at all", b'{"version": "0", "no": "detail"}']

HANDLER_MODULE = """
def handle(event):
    return None
"""


def stream_lines() -> list[bytes]:
    """The two sample streams (retries, replays, a conflict) and two bad records."""
    lines = []
    for name in ("clean.jsonl", "retries_and_replays.jsonl"):
        lines += [ln for ln in (SAMPLES / name).read_bytes().splitlines() if ln.strip()]
    lines.insert(7, BAD_LINES[0])
    lines.append(BAD_LINES[1])
    return lines


def event_times() -> list[datetime]:
    times = []
    for line in stream_lines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and "detail" in document:
            times.append(datetime.fromisoformat(document["time"].replace("Z", "+00:00")))
    return times


@pytest.fixture
def world(
    aws_server: DynamoDBServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    (tmp_path / "door_handler.py").write_text(HANDLER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    for name in [n for n in __import__("os").environ if n.startswith("GCDEDUP_")]:
        monkeypatch.delenv(name)
    yield World(tmp_path, monkeypatch)
    aws_lambda.reset()


class World:
    """What a door needs: a fresh store each run, the stream as a file, the servers."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.monkeypatch = monkeypatch
        self.file = root / "stream.jsonl"
        self.file.write_bytes(b"\n".join(stream_lines()) + b"\n")

    def store(self) -> str:
        return f"sqlite:///{self.root / (uuid.uuid4().hex + '.sqlite3')}"

    def cli(self, *args: str, stdin: bytes | None = None) -> dict[str, int]:
        result = CliRunner().invoke(app, ["process", *args, "--json"], input=stdin)
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        return {name: report[name] for name in COUNTS}


Door = Callable[[World, tuple[str, ...]], dict[str, int]]
HANDLED = ("--handler", "door_handler:handle")


def file_inline(world: World, extra: tuple[str, ...]) -> dict[str, int]:
    args = (str(world.file), "--no-read-ahead", *HANDLED, "--store", world.store())
    return world.cli(*args, *extra)


def file_read_ahead(world: World, extra: tuple[str, ...]) -> dict[str, int]:
    started: list[int] = []
    real_start = keyed.KeyedReader.start

    def start(self: keyed.KeyedReader) -> None:
        started.append(1)
        real_start(self)

    world.monkeypatch.setattr(keyed.KeyedReader, "start", start)
    world.monkeypatch.setattr(keyed, "_cores", lambda: 2)
    counts = world.cli(str(world.file), "--read-ahead", "--store", world.store(), *extra)
    assert started, "the events were not read ahead"
    return counts


def stdin(world: World, extra: tuple[str, ...]) -> dict[str, int]:
    return world.cli("-", *HANDLED, "--store", world.store(), *extra, stdin=world.file.read_bytes())


def s3(world: World, extra: tuple[str, ...]) -> dict[str, int]:
    bucket = f"gcdedup-doors-{uuid.uuid4().hex[:10]}"
    client = boto3.client("s3")
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="doors/stream.jsonl", Body=world.file.read_bytes())
    return world.cli(f"s3://{bucket}/doors/", *HANDLED, "--store", world.store(), *extra)


def sqs(world: World, extra: tuple[str, ...]) -> dict[str, int]:
    queue = f"gcdedup-doors-{uuid.uuid4().hex[:10]}"
    client = boto3.client("sqs")
    url = client.create_queue(QueueName=queue)["QueueUrl"]
    for line in stream_lines():
        client.send_message(QueueUrl=url, MessageBody=line.decode())
    return world.cli(f"sqs://{queue}?wait=1", *HANDLED, "--store", world.store(), *extra)


def _batches() -> Iterator[dict[str, Any]]:
    lines = stream_lines()
    for start in range(0, len(lines), 10):
        yield {
            "Records": [
                {
                    "messageId": f"m{start + i}",
                    "receiptHandle": f"r{start + i}",
                    "body": line.decode(),
                    "eventSource": "aws:sqs",
                }
                for i, line in enumerate(lines[start : start + 10])
            ]
        }


def _invocation_counts(run: Callable[[dict[str, Any]], Any]) -> dict[str, int]:
    """Run every batch; the counts are the invocation lines' (the metrics' source)."""
    from gcdedup.aws_lambda import entry

    lines: list[dict[str, Any]] = []
    real_emit = entry.emit

    def emit(level: int, message: str, **fields: Any) -> None:
        if message == "invocation":
            lines.append(fields)
        real_emit(level, message, **fields)

    package = aws_lambda.package_log
    saved = (list(package.handlers), package.level, package.propagate)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(entry, "emit", emit)
            for batch in _batches():
                run(batch)
    finally:
        package.handlers[:], package.level, package.propagate = saved
    return {name: sum(line[name] for line in lines) for name in COUNTS}


def lambda_entry(world: World, extra: tuple[str, ...]) -> dict[str, int]:
    assert not extra
    world.monkeypatch.setenv("GCDEDUP_STORE", world.store())
    world.monkeypatch.setenv("GCDEDUP_HANDLER", "door_handler:handle")
    aws_lambda.reset()
    return _invocation_counts(lambda batch: aws_lambda.handler(batch, None))


def decorator(world: World, extra: tuple[str, ...]) -> dict[str, int]:
    assert not extra

    @dedup(store=world.store())
    def handle(event: dict[str, Any]) -> None:
        return None

    try:
        return _invocation_counts(lambda batch: handle.lambda_handler(batch, None))
    finally:
        handle.close()


DOORS: dict[str, Door] = {
    "file": file_inline,
    "file-read-ahead": file_read_ahead,
    "stdin": stdin,
    "s3": s3,
    "sqs": sqs,
    "lambda": lambda_entry,
    "decorator": decorator,
}
#: The doors a run's window reaches (the Lambda and the decorator take no window).
WINDOWED = ("file", "file-read-ahead", "stdin", "s3", "sqs")


def expected() -> dict[str, int]:
    """The stream's truth, counted by hand from the sample files' own description:
    15 + 24 deliveries, 15 business events first seen, one conflict (a key repeated
    with another payload), the rest repeats of the same payload."""
    return {
        "processed": 15,
        "duplicates": 23,
        "conflicts": 1,
        "bad_records": 2,
        "outside_window": 0,
    }


@pytest.mark.parametrize("door", DOORS)
def test_every_door_gives_the_same_counts(world: World, door: str) -> None:
    assert DOORS[door](world, ()) == expected()


def test_stats_counts_what_process_counts_under_the_same_names(world: World) -> None:
    result = CliRunner().invoke(app, ["stats", str(world.file), "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    result = CliRunner().invoke(
        app, ["process", str(world.file), "--store", world.store(), "--json"]
    )
    process = json.loads(result.stdout)
    for name in ("duplicates", "conflicts", "duplicate_rate", "bad_records"):
        assert stats[name] == pytest.approx(process[name]), name
    assert stats["unique"] == process["processed"]


@pytest.mark.parametrize("door", WINDOWED)
def test_every_door_keeps_only_the_window(world: World, door: str) -> None:
    times = sorted(event_times())
    since, until = times[10], times[30]
    outside = sum(1 for t in times if not since <= t < until)
    assert 0 < outside < len(times)
    flags = ("--since", since.isoformat(), "--until", until.isoformat())
    counts = DOORS[door](world, flags)
    assert counts["outside_window"] == outside
    assert counts["processed"] + counts["duplicates"] + counts["conflicts"] == len(times) - outside
    reference = file_inline(world, flags)
    assert counts == reference


def test_a_window_seeds_only_its_own_keys(world: World) -> None:
    """--mode seed with a window marks done the keys of the window, no others: a later
    run over the whole stream processes every event outside it."""
    times = sorted(event_times())
    since = times[20]
    store = world.store()
    seeded = world.cli(
        str(world.file), "--mode", "seed", "--since", since.isoformat(), "--store", store
    )
    later = world.cli(str(world.file), "--store", store)
    assert seeded["outside_window"] == sum(1 for t in times if t < since) > 0
    assert later["processed"] > 0
    assert later["processed"] + later["duplicates"] + later["conflicts"] == len(times)
