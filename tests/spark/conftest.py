"""The Spark tier: one local Spark session (``local[2]``) for the whole test session.

Every test here carries the ``spark`` marker (see ``pytestmark`` in each module)
and is left out of the unit and integration tiers. Without pyspark or Java the
tests are skipped with the reason; CI installs both (``.ci/run``).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gcdedup.spark.session import java_available

HERE = Path(__file__).resolve().parent


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
    if not java_available():
        pytest.skip("no Java runtime for Spark (install openjdk-17-jre-headless)")
    from gcdedup.spark.session import get_session

    os.environ["GCDEDUP_SPARK_TEST_DIR"] = str(spark_dir)
    path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), path]))
    session = get_session(
        "local[2,3]",
        {"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"},
    )
    yield session
    session.stop()
