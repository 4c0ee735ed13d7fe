"""``s3://`` and ``sqs://`` inputs, on moto's server over HTTP (boto3's endpoint variables)."""

from __future__ import annotations

import gzip
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from dynamodb_server import DynamoDBServer
from typer.testing import CliRunner

from gcdedup.cli.app import app
from gcdedup.events import Event
from gcdedup.sources import EventReader, s3

GENESYS = Path(__file__).resolve().parents[1] / "fixtures" / "genesys"
SAMPLES = [json.loads(p.read_text()) for p in sorted(GENESYS.glob("0*.json"))]


def run(*args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result


def run_json(*args: str, code: int = 0) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(run(*args, "--json", code=code).stdout)
    return document


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# -- every input shape, on disk and in S3 -------------------------------------


def line(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode() + b"\n"


def shapes(root: Path) -> None:
    """One file per input shape (plus a bad record and repeats), and files a walk skips."""
    a, b, c, d, e = SAMPLES
    (root / "firehose" / "2024" / "05" / "01" / "10").mkdir(parents=True)
    (root / "plain.jsonl").write_bytes(line(a) + line(b) + b"{not json\n" + line(a))
    (root / "array.json").write_text(json.dumps([c, d]))
    (root / "pretty.json").write_text(json.dumps(e, indent=2))
    firehose = root / "firehose" / "2024" / "05" / "01" / "10" / "stream-1.gz"
    firehose.write_bytes(gzip.compress(b"".join(json.dumps(x).encode() for x in (a, c, e))))
    # gzip by content, whatever the name says
    (root / "zipped.json").write_bytes(gzip.compress(line(b) + line(d)))
    (root / "cloudwatch.log").write_text(
        "".join(f"2024-05-01T10:00:0{i}.000Z {json.dumps(x)}\n" for i, x in enumerate((a, b)))
    )
    messages = [{"MessageId": f"m{i}", "Body": json.dumps(x)} for i, x in enumerate((c, d))]
    (root / "receive.json").write_text(json.dumps({"Messages": messages}))
    records = [{"messageId": "r1", "body": json.dumps(e)}, {"messageId": "r2", "body": "oops"}]
    (root / "lambda.json").write_text(json.dumps({"Records": records}))
    (root / "README.md").write_text("not data")
    (root / ".hidden.json").write_text(json.dumps(a))


def upload(root: Path, bucket: str, prefix: str) -> None:
    client = boto3.client("s3")
    client.create_bucket(Bucket=bucket)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        key = prefix + path.relative_to(root).as_posix()
        client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())


SUMMARY = ("events", "unique", "duplicates", "bad_records", "files")


def test_stats_on_s3_equals_stats_on_the_same_files(
    aws_server: DynamoDBServer, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    root.mkdir()
    shapes(root)
    bucket = name("gcdedup-shapes")
    upload(root, bucket, "exports/")
    on_disk = run_json("stats", str(root))
    in_s3 = run_json("stats", f"s3://{bucket}/exports/")
    assert {k: in_s3[k] for k in SUMMARY} == {k: on_disk[k] for k in SUMMARY}
    assert (in_s3["events"], in_s3["bad_records"], in_s3["files"]) == (16, 2, 8)
    # the prefix without its slash is the same directory; positions name object and line
    records = list(EventReader([f"s3://{bucket}/exports"]))
    bad = [str(r) for r in records if not isinstance(r, Event)]
    assert bad[0].startswith(f"s3://{bucket}/exports/lambda.json:1 [r2]: SQS body is not JSON")
    assert bad[1].startswith(f"s3://{bucket}/exports/plain.jsonl:3: ")
    # process reads the same events
    report = run_json(
        "process", f"s3://{bucket}/exports/", "--store", f"sqlite:///{tmp_path / 'd.sqlite3'}"
    )
    assert (report["events"], report["bad_records"]) == (16, 2)


def test_s3_names_one_object_and_filters_by_firehose_hour(
    aws_server: DynamoDBServer, tmp_path: Path
) -> None:
    bucket = name("gcdedup-hours")
    client = boto3.client("s3")
    client.create_bucket(Bucket=bucket)
    for hour in ("09", "10", "11"):
        key = f"fh/2024/05/01/{hour}/stream-{hour}.gz"
        client.put_object(Bucket=bucket, Key=key, Body=gzip.compress(line(SAMPLES[0])))
    client.put_object(Bucket=bucket, Key="fh/notes", Body=b"no extension: not data")
    odd = "fh/odd name?#1.jsonl"  # a key a URL parser would cut
    client.put_object(Bucket=bucket, Key=odd, Body=line(SAMPLES[2]))
    assert run_json("stats", f"s3://{bucket}/fh/")["events"] == 4
    window = f"s3://{bucket}/fh/?since=2024-05-01T10:00&until=2024-05-01T11:00"
    assert run_json("stats", window)["events"] == 1
    flags = ("--since", "2024-05-01T10:00", "--until", "2024-05-01T11:00")
    assert run_json("stats", f"s3://{bucket}/fh/", *flags)["events"] == 1
    assert (
        run_json("stats", f"s3://{bucket}/fh/", "--since", "2024-05-01T10:00")["events"] == 3
    )  # the two late hours, and the odd key by LastModified
    # without a date path, LastModified decides
    client.put_object(Bucket=bucket, Key="flat/a.jsonl", Body=line(SAMPLES[1]))
    assert run_json("stats", f"s3://{bucket}/flat/", "--since", "2020-01-01")["events"] == 1
    old = run("stats", f"s3://{bucket}/flat/", "--until", "2020-01-01", code=2)
    assert f"no objects to read under s3://{bucket}/flat/?until=2020-01-01 in the" in old.stderr
    local = run("stats", str(GENESYS), "--since", "2020-01-01", code=2)
    assert "--since/--until filter s3:// inputs only" in local.stderr
    # an object's exact key names that object, whatever its name
    assert run_json("stats", f"s3://{bucket}/fh/notes")["bad_records"] == 1
    assert run_json("stats", f"s3://{bucket}/fh/2024/05/01/11/stream-11.gz")["events"] == 1


def test_s3_lists_past_a_page_in_key_order(aws_server: DynamoDBServer) -> None:
    bucket = name("gcdedup-many")
    client = boto3.client("s3")
    client.create_bucket(Bucket=bucket)
    count = 1010  # more than one ListObjectsV2 page (1000)
    event = SAMPLES[0]

    def put(i: int) -> None:
        body = line({**event, "id": f"e{i}"})
        client.put_object(Bucket=bucket, Key=f"many/{i % 7}/{i:05d}.jsonl", Body=body)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(count)))
    # sorted as a path listing: many/0/... before many/0-late.jsonl (a plain key sort
    # would put '-' before '/')
    client.put_object(Bucket=bucket, Key="many/0-late.jsonl", Body=line({**event, "id": "late"}))
    reader = EventReader([f"s3://{bucket}/many/"])
    assert len(reader.files) == count + 1
    assert reader.files == sorted(reader.files, key=lambda n: n.split("/"))
    ids = [r.id for r in reader if isinstance(r, Event)]
    assert len(ids) == count + 1
    last = max(i for i in range(count) if i % 7 == 6)
    assert (ids[0], ids[-1]) == ("e0", f"e{last}")
    assert ids.index("late") == len([i for i in range(count) if i % 7 == 0])
    sizes = sum(len(line({**event, "id": f"e{i}"})) for i in range(count))
    sizes += len(line({**event, "id": "late"}))
    assert reader.bytes_read == reader.total_bytes == sizes


def test_s3_read_ahead_is_bounded(aws_server: DynamoDBServer) -> None:
    bucket = name("gcdedup-big")
    client = boto3.client("s3")
    client.create_bucket(Bucket=bucket)
    big = line(SAMPLES[0]) * (8 * 1024 * 1024 // len(line(SAMPLES[0])))
    for i in range(3):
        client.put_object(Bucket=bucket, Key=f"big/{i}.jsonl", Body=big)
    names = s3.expand(f"s3://{bucket}/big/", (".jsonl",))
    stream = s3.open_object(names[0])  # starts the read-ahead of all three
    time.sleep(1.0)
    listing = names[0].listing  # the run's own: nothing is kept at module level
    with listing.lock:
        ahead = list(listing.downloads.values())
    assert len(ahead) == 2
    again = s3.expand(f"s3://{bucket}/big/", (".jsonl",))
    assert again == names and again[0].listing is not listing and not again[0].listing.downloads
    for download in [stream, *ahead]:
        held = download._blocks.qsize()  # type: ignore[attr-defined]
        assert held <= s3.DEPTH
    assert sum(len(stream.read(s3.BLOCK) or b"") for _ in range(4)) == 4 * s3.BLOCK
    stream.close()
    events = sum(1 for r in EventReader(names) if isinstance(r, Event))
    assert events == 3 * (len(big) // len(line(SAMPLES[0])))


def test_s3_errors_are_one_line(aws_server: DynamoDBServer) -> None:
    missing = run("stats", "s3://gcdedup-no-such-bucket-here/x/", code=2)
    assert "Error: no such bucket: s3://gcdedup-no-such-bucket-here/x/" in missing.stderr
    bucket = name("gcdedup-empty")
    boto3.client("s3").create_bucket(Bucket=bucket)
    empty = run("process", f"s3://{bucket}/nothing/", "--store", "memory://", code=2)
    assert f"Error: no objects to read under s3://{bucket}/nothing/" in empty.stderr
    bad = run("stats", f"s3://{bucket}/?since=yesterday", code=2)
    assert "invalid since time 'yesterday'" in bad.stderr


# -- draining a queue through the store -----------------------------------------------


def make_queue(visibility: int = 30) -> tuple[str, str]:
    queue = name("gcdedup-dlq")
    url = boto3.client("sqs").create_queue(
        QueueName=queue, Attributes={"VisibilityTimeout": str(visibility)}
    )["QueueUrl"]
    return queue, url


def send(url: str, bodies: list[str]) -> None:
    client = boto3.client("sqs")
    for body in bodies:
        client.send_message(QueueUrl=url, MessageBody=body)


def remaining(url: str) -> list[str]:
    messages = boto3.client("sqs").receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=0
    )
    return [m["Body"] for m in messages.get("Messages", [])]


def test_process_drains_a_queue_and_leaves_the_bad_message(
    aws_server: DynamoDBServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue, url = make_queue(visibility=2)
    sns = {"Type": "Notification", "MessageId": "n1", "Message": json.dumps(SAMPLES[1])}
    bodies = [json.dumps(x) for x in SAMPLES[:1]] + [json.dumps(sns)]
    bodies += [json.dumps(x) for x in SAMPLES[2:]]
    bodies += [json.dumps(SAMPLES[0]), json.dumps(SAMPLES[3]), "this is not JSON"]
    send(url, bodies)
    (tmp_path / "ok_handler.py").write_text("def handle(event):\n    return 'ok'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    store = f"sqlite:///{tmp_path / 'd.sqlite3'}"
    report = run_json(
        "process", f"sqs://{queue}?wait=1", "--store", store, "--handler", "ok_handler:handle"
    )
    # 05 repeats 03's business key with another payload: a conflict (skipped, so
    # released: nobody handled it); with the two repeats, three copies of known keys
    assert (report["processed"], report["duplicates"], report["conflicts"]) == (4, 2, 1)
    assert report["bad_records"] == 1
    assert report["queue"]["received"] == 8
    assert report["queue"]["deleted"] == 6
    assert (report["queue"]["released"], report["queue"]["left_in_queue"]) == (1, 1)
    assert report["queue"]["remaining"] == 2
    assert report["bad_record_samples"][0]["location"].startswith(f"sqs://{queue} [")
    time.sleep(2.5)  # the bad message's visibility timeout
    assert sorted(remaining(url)) == sorted([json.dumps(SAMPLES[4]), "this is not JSON"])


def test_process_leaves_failed_messages_and_honours_max_messages(
    aws_server: DynamoDBServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue, url = make_queue(visibility=1)
    send(url, [json.dumps(x) for x in SAMPLES])
    handler = tmp_path / "failing_handler.py"
    handler.write_text(
        "def handle(event):\n"
        "    if event['detail-type'].startswith('v2.audits'):\n"
        "        raise RuntimeError('audit service down')\n"
        "    return 'ok'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    store = f"sqlite:///{tmp_path / 'd.sqlite3'}"
    first = run_json(
        "process",
        f"sqs://{queue}?wait=1",
        "--store",
        store,
        "--max-messages",
        "3",
        "--handler",
        "failing_handler:handle",
        code=1,
    )
    assert first["queue"]["received"] == 3
    # the drain goes on while the failed messages are out (the queue counts them in
    # flight): they come back within it and fail again
    rest = run_json(
        "process",
        f"sqs://{queue}?wait=1",
        "--store",
        store,
        "--handler",
        "failing_handler:handle",
        code=1,
    )
    assert (rest["processed"], rest["duplicates"], rest["conflicts"]) == (1, 0, 1)  # 05 after 03
    assert (rest["failed"], rest["queue"]["received"], rest["queue"]["released"]) == (2, 4, 1)
    time.sleep(1.5)
    left = sorted(json.loads(b)["detail-type"] for b in remaining(url))
    audit = "v2.audits.entitytype.{id}.entityid.{id}"
    assert left == [audit, audit, SAMPLES[4]["detail-type"]]  # the conflict was released
    assert first["failed"] == 2 and first["processed"] == 1


def test_visibility_is_extended_while_a_handler_runs(
    aws_server: DynamoDBServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue, url = make_queue(visibility=2)
    send(url, [json.dumps(SAMPLES[0])])
    seen = tmp_path / "seen.txt"
    handler = tmp_path / "slow_handler.py"
    handler.write_text(
        "import time, boto3\n"
        "def handle(event):\n"
        "    time.sleep(4)\n"
        f"    got = boto3.client('sqs').receive_message(QueueUrl={url!r}, WaitTimeSeconds=0)\n"
        f"    open({str(seen)!r}, 'w').write(str(len(got.get('Messages', []))))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    report = run_json(
        "process",
        f"sqs://{queue}?wait=1",
        "--store",
        f"sqlite:///{tmp_path / 'd.sqlite3'}",
        "--handler",
        "slow_handler:handle",
    )
    assert report["processed"] == 1 and report["queue"]["deleted"] == 1
    assert seen.read_text() == "0"  # no other consumer saw it while the handler ran
    assert remaining(url) == []


def test_sqs_usage_errors(aws_server: DynamoDBServer) -> None:
    missing = run("process", "sqs://gcdedup-no-such-queue", "--store", "memory://", code=2)
    assert "Error: no such queue: sqs://gcdedup-no-such-queue" in missing.stderr
    mixed = run("process", "sqs://q", "file.json", "--store", "memory://", code=2)
    assert "an sqs:// input must be the only input of a run" in mixed.stderr
    flag = run("process", str(GENESYS), "--max-messages", "2", "--store", "memory://", code=2)
    assert "--max-messages needs an sqs://queue input" in flag.stderr


def test_messages_left_earlier_coming_back_do_not_end_the_drain(
    aws_server: DynamoDBServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue, url = make_queue(visibility=1)
    send(url, [f"bad {i}" for i in range(10)])
    send(url, [json.dumps({**SAMPLES[0], "id": f"g{i}"}) for i in range(15)])
    handler = tmp_path / "slow_first.py"
    handler.write_text(
        "import time\n"
        "def handle(event):\n"
        "    if event['id'] == 'g0':\n"
        "        time.sleep(1.5)  # the bad messages' visibility lapses meanwhile\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    report = run_json(
        "process",
        f"sqs://{queue}?wait=1",
        "--store",
        f"sqlite:///{tmp_path / 'd.sqlite3'}",
        "--key",
        "envelope",
        "--batch-size",
        "10",
        "--handler",
        "slow_first:handle",
    )
    assert (report["processed"], report["bad_records"]) == (15, 10)
    assert report["queue"]["received"] == 25
    assert report["queue"]["returned_unread"] >= 10
    time.sleep(1.2)
    left = remaining(url)
    assert len(left) == 10 and all(body.startswith("bad ") for body in left)
