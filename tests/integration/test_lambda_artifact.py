"""What ships is what is tested: build the Lambda directory, then run it as Lambda would.

``scripts/build-lambda`` runs once per session with the Makefile's arguments (what
``sam build`` deploys). A fresh interpreter (Python 3.12, Lambda's runtime, when this
machine has one) whose ``sys.path`` holds only the standard library, the artifact and
boto3 with its dependencies (what Lambda's runtime provides) imports the handler,
with ``AWS_LAMBDA_RUNTIME_API`` set so the container is built at import as in Lambda's
init phase, and handles an SQS batch of the real sample payloads against the DynamoDB
test server (moto's, over HTTP).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO
from lambda_runtime import copy_runtime

from gcdedup.events import Event, Location
from gcdedup.keys import KeyMaker
from gcdedup.store import open_store

FIXTURES = REPO / "tests" / "fixtures"
SAMPLES = sorted((FIXTURES / "genesys").glob("*.json"))
CLI_STACK = ("typer", "rich", "click", "pydantic", "pydantic_core", "pygments")

DRIVER = r"""
import json, sys, time
artifact, runtime, event_path = sys.argv[1:4]
sys.path[:] = [artifact, runtime, *sys.path[1:]]  # drop the driver's own directory
started = time.perf_counter()
import gcdedup.aws_lambda as entry
imported = time.perf_counter()

class Context:
    aws_request_id = "00000000-0000-4000-8000-000000000001"
    function_name = "gcdedup"
    def get_remaining_time_in_millis(self):
        return 30_000

with open(event_path) as f:
    event = json.load(f)
before = time.perf_counter()
response = entry.handler(event, Context())
after = time.perf_counter()
import orjson, boto3
print(json.dumps({
    "result": response,
    "python": sys.version.split()[0],
    "loaded": sorted({name.split(".")[0] for name in sys.modules}),
    "files": {m.__name__: m.__file__ for m in (entry, orjson, boto3)},
    "import_s": imported - started,
    "first_invocation_s": after - before,
}), file=sys.stderr)
"""


def lambda_python() -> tuple[str, str]:
    """(interpreter, version): Python 3.12 when there is one, else this interpreter."""
    candidates = [shutil.which("python3.12")]
    candidates += sorted(str(p) for p in Path("/root/.pyenv/versions").glob("3.12*/bin/python3.12"))
    for candidate in candidates:
        if candidate and subprocess.run([candidate, "-c", ""], check=False).returncode == 0:
            return candidate, "3.12"
    return sys.executable, f"{sys.version_info.major}.{sys.version_info.minor}"


@pytest.fixture(scope="session")
def python_for_lambda() -> tuple[str, str]:
    return lambda_python()


@pytest.fixture(scope="session")
def artifact(tmp_path_factory: pytest.TempPathFactory, python_for_lambda: tuple[str, str]) -> Path:
    """The deployment directory, built once per session as the Makefile builds it."""
    out = tmp_path_factory.mktemp("lambda") / "artifact"
    _, version = python_for_lambda
    command = [sys.executable, str(REPO / "scripts" / "build-lambda"), str(out)]
    command += ["--python-version", version, "--arch", "all"]
    build = subprocess.run(command, capture_output=True, text=True, check=False)
    assert build.returncode == 0, build.stderr
    assert f"built {out}:" in build.stdout
    return out


@pytest.fixture(scope="session")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """boto3 and its dependencies, as Lambda's runtime has them."""
    return copy_runtime(tmp_path_factory.mktemp("runtime"))


def sqs_message(body: str, message_id: str) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": "AQEB" + uuid.uuid4().hex,
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:gcdedup-events",
        "awsRegion": "us-east-1",
    }


@pytest.fixture
def table_url(dynamodb_server: Any) -> Iterator[str]:
    url = str(dynamodb_server.table_url())
    with open_store(url) as store:
        store.init()
    yield url


def run_shipped(
    python: str,
    artifact: Path,
    runtime: Path,
    event: dict[str, Any],
    env: dict[str, str],
    tmp: Path,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    (tmp / "driver.py").write_text(DRIVER)
    arguments = [str(path) for path in (tmp / "driver.py", artifact, runtime, tmp / "event.json")]
    (tmp / "event.json").write_text(json.dumps(event))
    done = subprocess.run(
        # -B: /var/task is read-only in Lambda, so nothing is compiled into it
        [python, "-B", "-S", "-E", "-s", *arguments],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stderr.strip().splitlines()[-1])
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    return report, lines


def test_the_built_directory_handles_a_batch_as_lambda_runs_it(
    artifact: Path,
    runtime: Path,
    python_for_lambda: tuple[str, str],
    table_url: str,
    tmp_path: Path,
) -> None:
    python, version = python_for_lambda
    namespace = f"shipped{uuid.uuid4().hex[:8]}"
    samples = [path.read_text() for path in SAMPLES]
    bad = json.loads((FIXTURES / "lambda" / "sqsEvent.json").read_text())["Records"][0]
    assert bad["body"] == "Test message."
    records = [sqs_message(body, f"m-{n}") for n, body in enumerate(samples)]
    event = {"Records": [*records, sqs_message(bad["body"], bad["messageId"])]}
    table = table_url.split("?")[0]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_DYNAMODB": os.environ["AWS_ENDPOINT_URL_DYNAMODB"],
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",  # as in Lambda: build at import
        "AWS_LAMBDA_FUNCTION_NAME": "gcdedup-shipped",
        "GCDEDUP_STORE": table,
        "GCDEDUP_NAMESPACE": namespace,
    }

    report, lines = run_shipped(python, artifact, runtime, event, env, tmp_path)

    assert report["python"].startswith(version)
    assert report["result"] == {"batchItemFailures": [{"itemIdentifier": bad["messageId"]}]}
    assert not set(CLI_STACK) & set(report["loaded"]), report["loaded"]
    files = report["files"]
    assert files["gcdedup.aws_lambda"].startswith(str(artifact))
    assert files["orjson"].startswith(str(artifact))
    assert files["boto3"].startswith(str(runtime))
    # The container was built at import (init phase), before the invocation's lines.
    messages = [line["message"] for line in lines]
    assert messages[0] == "container ready" and "request_id" not in lines[0]
    summary = lines[-1]
    assert (summary["processed"], summary["duplicates"], summary["bad_records"]) == (4, 0, 1)
    assert summary["conflicts"] == 1  # 05: the key of 03, another payload
    assert summary["FunctionName"] == "gcdedup-shipped" and "_aws" in summary
    keys = KeyMaker.create("genesys", namespace)
    with open_store(table_url) as store:
        for path in SAMPLES:
            record = store.get(keys(Event(json.loads(path.read_text()), Location("test"))))
            assert record is not None and record.status.value == "COMPLETED", path.name

    # The same batch again (a redelivery, a new container): nothing is processed twice.
    _, lines = run_shipped(python, artifact, runtime, event, env, tmp_path)
    assert (lines[-1]["processed"], lines[-1]["duplicates"], lines[-1]["conflicts"]) == (0, 4, 1)


def test_the_artifact_holds_what_the_function_imports_and_nothing_else(artifact: Path) -> None:
    top = {path.name for path in artifact.iterdir()}
    packages = {name for name in top if not name.endswith(".dist-info")}
    assert packages == {
        "gcdedup",
        "msgspec",
        "orjson",
        "requests",
        "urllib3",
        "idna",
        "certifi",
        "charset_normalizer",
        "gcdedup-lambda-build.json",
    }
    assert not (artifact / "gcdedup" / "cli").exists()
    assert not list((artifact / "charset_normalizer").rglob("*.so"))  # its sources suffice
    assert not list(artifact.rglob("*.pyc")) and not list(artifact.rglob("__pycache__"))
    machines = {
        path.name.rsplit("-linux-gnu", 1)[0].rsplit("-", 1)[-1]
        for path in (artifact / "orjson").glob("*.so")
    }
    assert machines == {"x86_64", "aarch64"}  # both architectures' compiled modules
    marker = artifact / "gcdedup-lambda-build.json"
    size = sum(p.stat().st_size for p in artifact.rglob("*") if p.is_file() and p != marker)
    assert size <= 4_000_000, size
    build = json.loads(marker.read_text())
    assert build["bytes"] == size and build["architectures"] == ["x86_64", "arm64"]
    assert platform.machine()  # the test ran the artifact on this machine's architecture
