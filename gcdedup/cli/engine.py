"""``--engine`` and ``--spark-master`` for ``stats`` and ``process``, and the calls into
:mod:`gcdedup.spark` (imported only when that engine runs: ``--help`` stays fast)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from ..errors import UsageError
from ..settings import env_name
from ..spark import ENGINES
from .common import setting_option

EngineOpt = Annotated[
    str,
    setting_option("engine", envvar=env_name("engine"), show_envvar=False),
]
SparkMasterOpt = Annotated[
    str | None,
    setting_option("spark_master", envvar=env_name("spark_master"), show_envvar=False),
]


def engine_name(value: str) -> str:
    """The engine asked for, checked."""
    name = value.strip().lower()
    if name not in ENGINES:
        raise UsageError(f"unknown engine {value!r}: choose python or spark")
    return name


def session(master: str | None) -> Any:
    """The Spark session to run on (the active one inside a Spark job)."""
    from ..spark.session import get_session

    return get_session(master)


def spark_stats(paths: list[str], options: Any, master: str | None) -> Any:
    """``stats --engine spark``: the report, from Spark."""
    from ..spark.session import require_pyspark
    from ..spark.stats import analyze_spark

    require_pyspark()
    return analyze_spark(session(master), paths, options)


def spark_process(
    paths: list[str],
    settings: Any,
    mode: Any,
    handler: str | None,
    fmt: str,
    master: str | None,
    refused: Mapping[str, object],
) -> Any:
    """``process --engine spark``; ``refused``: options this engine does not take, set."""
    given = [flag for flag, value in refused.items() if value]
    if given:
        raise UsageError(f"{', '.join(given)} cannot be used with --engine spark")
    from ..spark.process import process_spark, require_shared_store
    from ..spark.session import require_pyspark

    require_shared_store(settings.store_url)  # before starting Spark
    require_pyspark()
    return process_spark(session(master), paths, settings, mode, handler, fmt)


def exit_code(report: Any, strict: bool) -> int:
    """What ``process`` exits with after a run on Spark (as after one here: 1 for failed
    events or lost leases, and with --strict for bad records or no events)."""
    if report.failed or report.lease_lost or (strict and (report.bad_record or not report.events)):
        return 1
    return 0
