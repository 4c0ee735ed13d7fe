"""Shared fixtures: a controllable clock and sleep, and one store factory per backend.

The store behaviour suite takes ``make_store`` and so runs against every
backend: memory, SQLite and DynamoDB (a real local server over HTTP, see
``dynamodb_server.py``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gcdedup.store import DedupStore, open_store

try:  # the DynamoDB server fixtures (moto's server on a free port)
    from dynamodb_server import *  # noqa: F403
    from dynamodb_server import dynamodb_table_url  # noqa: F401

    HAVE_DYNAMODB = True
except ImportError:  # pragma: no cover - until the DynamoDB backend lands
    HAVE_DYNAMODB = False

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "tests" / "fixtures" / "genesys"
SAMPLE_EVENTS = REPO / "sample_events"
#: The DynamoDB backend needs moto's server, so its cases belong to the integration tier.
BACKENDS = [
    "memory",
    "sqlite",
    *(
        [
            pytest.param(name, marks=pytest.mark.integration)
            for name in ("dynamodb", "dynamodb-sk-prefix", "dynamodb-sk-partition")
        ]
        if HAVE_DYNAMODB
        else []
    ),
]
INTEGRATION_DIR = Path(__file__).resolve().parent / "integration"


def write_audit_events(path: Path, count: int) -> list[str]:
    """``count`` copies of the audit sample, each with an id of its own (``audit-00000``
    ...), one per line; the ids, in order."""
    envelope = json.loads((SAMPLES / "01_user_presence_audit.json").read_text())
    ids = [f"audit-{n:05d}" for n in range(count)]
    with path.open("w") as out:
        for ident in ids:
            envelope["detail"]["eventBody"]["id"] = ident
            out.write(json.dumps(envelope) + "\n")
    return ids


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under ``tests/integration`` is the integration tier (servers, sockets, builds)."""
    for item in items:
        if INTEGRATION_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.integration)


class FakeClock:
    """Epoch seconds that only move when a test says so."""

    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class FakeSleep:
    """A sleep that returns at once and records each wait it was asked for (thread-safe)."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)


@pytest.fixture
def fake_sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A URL for an empty store of the current backend."""
    if backend == "memory":
        return f"memory://{uuid.uuid4().hex}"
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'dedup.sqlite3'}"
    url = str(request.getfixturevalue("dynamodb_table_url"))
    if backend == "dynamodb":
        return url
    # A single-table design: an existing table keyed PK/SK holding other entities too.
    single_table(url)
    layout = "partition=DEDUP" if backend.endswith("partition") else "prefix=DEDUP%23"
    return f"{url}&pk=PK&sk=SK&{layout}"


#: Items of other entities in every single-table test table: never read, changed or
#: deleted by a dedup store (tests/unit/test_store_contract.py checks it).
OTHER_ENTITIES = [
    {"PK": {"S": "DEDUP"}, "SK": {"S": "ORDER#1"}, "status": {"S": "OPEN"}},
    {"PK": {"S": "DEDUP#a"}, "SK": {"S": "PROFILE"}, "name": {"S": "not a record"}},
    {"PK": {"S": "CUSTOMER#1"}, "SK": {"S": "gcdedup"}, "expires_at": {"N": "1"}},
]


def single_table(url: str) -> None:
    """Create the table of ``url`` as a single-table design with items of other entities."""
    import boto3

    from gcdedup.store.dynamodb.client import parse_url

    table, options = parse_url(url)
    client = boto3.client(
        "dynamodb", endpoint_url=options["endpoint_url"], region_name=options["region"]
    )
    client.create_table(
        TableName=table,
        KeySchema=[
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for item in OTHER_ENTITIES:
        client.put_item(TableName=table, Item=item)


@pytest.fixture
def make_store(store_url: str, clock: FakeClock) -> Iterator[Callable[..., DedupStore]]:
    """Open (and init) the current backend's store; every opened store is closed after."""
    opened: list[DedupStore] = []

    def factory(run_id: str | None = None) -> DedupStore:
        store = open_store(store_url, clock=clock, run_id=run_id)
        store.init()
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


# -- the Spark tier (tests/spark): one local Spark session for the whole test session ------
# Here, not in a conftest of tests/spark: test modules import helpers with
# ``from conftest import ...``, and a second conftest module would shadow this one.

SPARK_TESTS = Path(__file__).resolve().parent / "spark"


@pytest.fixture(scope="session")
def spark_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory the tasks' handlers write to (named in their environment)."""
    return tmp_path_factory.mktemp("spark-tasks")


@pytest.fixture(scope="session")
def spark(dynamodb_server: Any, spark_dir: Path) -> Iterator[Any]:
    """A local[2] session whose tasks may fail twice before the job does (local[2,3]).

    It starts after the local DynamoDB server: the tasks inherit the environment
    (test credentials, endpoints) that the server fixture sets.
    """
    if importlib.util.find_spec("pyspark") is None:
        pytest.skip("pyspark is not installed (pip install '.[spark]')")
    from gcdedup.spark.session import java_available

    if not java_available():
        pytest.skip("no Java runtime for Spark (install openjdk-17-jre-headless)")
    from gcdedup.spark.session import get_session

    os.environ["GCDEDUP_SPARK_TEST_DIR"] = str(spark_dir)
    path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SPARK_TESTS), path]))
    session = get_session(
        "local[2,3]",
        {"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"},
    )
    yield session
    session.stop()
