"""Getting a SparkSession: the active one when gcdedup runs inside a Spark job, else
a new one on ``--spark-master``; a missing pyspark or Java is one clear error."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

from ..errors import MissingDependencyError, UsageError
from . import DEFAULT_MASTER

#: Small defaults for a session gcdedup starts itself (a cluster's own settings win:
#: an active session is used as it is).
SESSION_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.adaptive.enabled": "true",
    "spark.python.worker.reuse": "true",
    "spark.ui.showConsoleProgress": "false",
}


class JavaMissingError(UsageError):
    """Spark needs a Java runtime and none was found."""


def require_pyspark() -> Any:
    """The pyspark module, or the error naming the extra to install."""
    try:
        import pyspark
    except ImportError:
        raise MissingDependencyError("pyspark", "spark") from None
    return pyspark


def java_available() -> bool:
    """Whether a Java runtime can start (``JAVA_HOME`` or ``java`` on PATH)."""
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return True
    return shutil.which("java") is not None


def get_session(master: str | None = None, conf: dict[str, str] | None = None) -> Any:
    """The active SparkSession, or a new one on ``master`` (default ``local[*]``)."""
    require_pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if not java_available():
        raise JavaMissingError(
            "the Spark engine needs Java 17 (or 11+): install a JRE (e.g. "
            "openjdk-17-jre-headless) or set JAVA_HOME; pyspark is installed"
        )
    # Local tasks run this interpreter (where gcdedup is installed) and import what it
    # imports from the working directory (a --handler module).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if (master or DEFAULT_MASTER).startswith("local"):
        path = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), path]))
    builder = SparkSession.builder.master(master or DEFAULT_MASTER).appName("gcdedup")
    for name, value in {**SESSION_CONF, **(conf or {})}.items():
        builder = builder.config(name, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")  # Spark's warnings are not the user's
    return spark
