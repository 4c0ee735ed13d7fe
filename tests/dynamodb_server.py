"""A DynamoDB-speaking server for the tests: moto's, over real HTTP on a free local port.

The store under test talks to it with a real boto3 client (signing, retries,
connection pool, error parsing), so the tests exercise the same code path as
production. ``conftest.py`` star-imports the fixtures below; importing this
module fails (and the "dynamodb" backend is skipped) when moto is missing.

The server (moto's ``ThreadedMotoServer``) runs in a child process started by
running this file: in the test process it would share one GIL with every client
thread of the race tests, which made them several times slower. Closing the
child's stdin stops it, so it cannot outlive the test session.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fault_proxy import FaultProxy

if importlib.util.find_spec("moto") is None or importlib.util.find_spec("boto3") is None:
    raise ImportError("moto[server] and boto3 are needed for the DynamoDB tests")

from gcdedup.store.dynamodb import DynamoDBStore

__all__ = [
    "DynamoDBServer",
    "aws_server",
    "dynamodb_server",
    "dynamodb_store",
    "dynamodb_table_url",
    "open_dynamodb_store",
    "proxy",
]

REGION = "us-east-1"

#: Dummy credentials and a region, so boto3 never looks for real ones, plus the
#: endpoint variable boto3 itself honours, so even a bare dynamodb://Table URL
#: (and a spawned worker process) reaches the local server.
_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}
_UNSET = ("AWS_PROFILE", "AWS_REGION", "AWS_ENDPOINT_URL")
#: Services the tests reach on the one local server (AWS_ENDPOINT_URL_<SERVICE>).
#: (EventBridge's variable is named after its service id: AWS_ENDPOINT_URL_EVENTBRIDGE.)
_SERVICES = ("DYNAMODB", "S3", "SQS", "EVENTBRIDGE")


@dataclass(frozen=True)
class DynamoDBServer:
    """Where the local server listens."""

    endpoint_url: str
    region: str = REGION

    def table_url(self, table: str | None = None) -> str:
        """A store URL for a table (a fresh unique name by default)."""
        name = table or f"gcdedup-test-{uuid.uuid4().hex[:12]}"
        return f"dynamodb://{name}?endpoint_url={self.endpoint_url}&region={self.region}"


def _serialize_writes() -> None:
    """Make moto's item writes atomic, as DynamoDB's are.

    DynamoDB evaluates a ConditionExpression and applies the write atomically per
    item. moto checks and then writes in Python, and its threaded server runs
    requests concurrently, so two racing conditional puts can both pass. One lock
    around moto's write and read entry points restores DynamoDB's guarantee; our
    store's own code is untouched.
    """
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    names = (
        "put_item",
        "update_item",
        "delete_item",
        "get_item",
        "batch_write_item",
        "transact_write_items",
    )
    originals: dict[str, Any] = {name: getattr(DynamoDBBackend, name) for name in names}

    def locked(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return method(*args, **kwargs)

        return wrapper

    for name, method in originals.items():
        setattr(DynamoDBBackend, name, locked(method))


def _serve() -> None:
    """Child process: serve on a free port, print it, stop when stdin closes."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request
    _serialize_writes()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    print(server.get_host_and_port()[1], flush=True)
    sys.stdin.read()  # EOF: the parent closed the pipe or died
    server.stop()


@pytest.fixture(scope="session")
def dynamodb_server() -> Iterator[DynamoDBServer]:
    """moto's server on 127.0.0.1 (a free port) in a child process, with test credentials
    in the environment for the session; stopped and the environment restored at the end."""
    child = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        port = int(child.stdout.readline())
    except ValueError:
        child.kill()
        raise RuntimeError("the local DynamoDB server did not start") from None
    endpoint = f"http://127.0.0.1:{port}"
    # One server for every service: the per-service endpoint variables boto3 honours.
    env = {
        **_ENV,
        **{f"AWS_ENDPOINT_URL_{service}": endpoint for service in _SERVICES},
    }
    saved = {name: os.environ.get(name) for name in (*env, *_UNSET)}
    os.environ.update(env)
    for name in _UNSET:
        os.environ.pop(name, None)
    try:
        yield DynamoDBServer(endpoint)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@pytest.fixture
def aws_server(dynamodb_server: DynamoDBServer) -> Iterator[DynamoDBServer]:
    """The same moto server for S3, SQS and EventBridge, with gcdedup's shared boto3
    clients made afresh for the test (they are cached per process; S3 listings belong
    to the run that made them)."""
    from gcdedup.sources import aws

    aws.reset_clients()
    yield dynamodb_server
    aws.reset_clients()


@pytest.fixture
def dynamodb_table_url(dynamodb_server: DynamoDBServer) -> str:
    """``dynamodb://<fresh table>?endpoint_url=...&region=...`` (not created: call init())."""
    return dynamodb_server.table_url()


@pytest.fixture
def open_dynamodb_store(
    dynamodb_table_url: str, fake_sleep: Callable[[float], None]
) -> Iterator[Callable[..., DynamoDBStore]]:
    """Open a DynamoDBStore (on a fresh table unless given a URL) with the test's fake
    sleep, ``init`` it unless ``init=False``; every store opened is closed after."""
    opened: list[DynamoDBStore] = []

    def factory(url: str | None = None, *, init: bool = True, **options: Any) -> DynamoDBStore:
        options.setdefault("sleep", fake_sleep)
        store = DynamoDBStore.from_url(url or dynamodb_table_url, **options)
        opened.append(store)
        if init:
            store.init()
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def dynamodb_store(open_dynamodb_store: Callable[..., DynamoDBStore]) -> DynamoDBStore:
    """An initialised store on a fresh table (closed after the test)."""
    return open_dynamodb_store()


if __name__ == "__main__":
    _serve()


@pytest.fixture
def proxy(dynamodb_server: DynamoDBServer) -> Iterator[FaultProxy]:
    """A fault proxy in front of the server (lost responses, outages; none until set)."""
    with FaultProxy(dynamodb_server.endpoint_url) as running:
        yield running
