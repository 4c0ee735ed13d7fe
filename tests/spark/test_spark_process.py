"""``process --engine spark`` on the local DynamoDB server: each distinct key handled once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from analysis_support import REPO
from streams import write_stream

from gcdedup.events import Event
from gcdedup.keys import KeyMaker
from gcdedup.outcomes import Mode
from gcdedup.settings import Settings
from gcdedup.sources import EventReader
from gcdedup.spark.process import process_spark
from gcdedup.store import open_store

#: The stream of the test (the 20,000-event stream of the stats tests passes too, but
#: takes minutes through the local DynamoDB server on a loaded 2-core machine).
STREAM_EVENTS = 2_000

pytestmark = [pytest.mark.spark, pytest.mark.timeout(900)]


def distinct_keys(files: list[str]) -> set[str]:
    """The keys a run must handle once each, read with the Python reader."""
    keys = KeyMaker.create("genesys", "default")
    out = set()
    for record in EventReader(files):
        if isinstance(record, Event):
            try:
                out.add(keys(record))
            except Exception:
                continue  # unkeyable: a bad record for process
    return out


def new_table(server: Any) -> str:
    url = server.table_url()
    with open_store(url) as store:
        store.init()
    return str(url)


def handled(log: Path) -> Counter[str]:
    return Counter(log.read_text().split()) if log.exists() else Counter()


def start_log(spark_dir: Path, name: str) -> Path:
    log = spark_dir / f"{name}.log"
    (spark_dir / "current").write_text(str(log))
    return log


def test_each_distinct_key_is_handled_once_and_a_second_run_handles_none(
    spark: Any, dynamodb_server: Any, spark_dir: Path, tmp_path: Path
) -> None:
    files = [str(f) for f in write_stream(tmp_path, 5, events=STREAM_EVENTS)]
    expected = distinct_keys(files)
    settings = Settings.resolve(store_url=new_table(dynamodb_server))
    log = start_log(spark_dir, "once")
    report = process_spark(spark, files, settings, Mode.PROCESS, "spark_handlers:record")
    assert handled(log) == Counter(expected)
    assert report.processed == len(expected)
    assert report.failed == 0 and report.in_flight == 0
    assert report.bad_record == 22  # the hostile lines (as stats counts them)
    assert report.events == report.processed + report.duplicate + report.conflicts + 22

    again = process_spark(spark, files, settings, Mode.PROCESS, "spark_handlers:record")
    assert again.processed == 0
    assert again.duplicate + again.conflicts == report.events - 22
    assert handled(log) == Counter(expected)  # nothing ran a second time


def test_a_task_that_dies_is_retried_without_running_completed_keys_again(
    spark: Any, dynamodb_server: Any, spark_dir: Path, tmp_path: Path
) -> None:
    """A worker dies at its 30th event (after 29 were completed); Spark retries the
    task: the completed keys are duplicates for it, the key the dead attempt held is
    in flight until its lease lapses, and the next run handles that one only."""
    files = [str(f) for f in write_stream(tmp_path, 6, events=600)]
    expected = distinct_keys(files)
    settings = Settings.resolve(
        store_url=new_table(dynamodb_server), batch_size=1, concurrency=1, lease_seconds=3
    )
    log = start_log(spark_dir, "crash")
    first = process_spark(spark, files, settings, Mode.PROCESS, "spark_handlers:crash_once")
    assert (spark_dir / "crashed").exists()  # a task died and was retried
    done = handled(log)
    assert max(done.values()) == 1  # nothing completed ran twice
    assert first.failed == 0
    left = expected - set(done)
    assert first.in_flight == len(left) <= 1  # at most the key the dead attempt held
    time.sleep(settings.lease_seconds + 1)
    second = process_spark(spark, files, settings, Mode.PROCESS, "spark_handlers:record")
    assert second.processed == len(left)
    assert handled(log) == Counter(expected)


def test_the_cli_runs_process_on_spark(dynamodb_server: Any, spark: Any, tmp_path: Path) -> None:
    """`gcdedup process --engine spark --store dynamodb://T --handler m:f --json`."""
    files = [str(f) for f in write_stream(tmp_path, 7, events=500)]
    url = new_table(dynamodb_server)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(REPO)]),
        "GCDEDUP_ENGINE": "spark",
        "GCDEDUP_SPARK_MASTER": "local[2]",
    }
    log = tmp_path / "cli.log"
    dirs = tmp_path / "dir"
    dirs.mkdir()
    (dirs / "current").write_text(str(log))
    env["GCDEDUP_SPARK_TEST_DIR"] = str(dirs)
    command = [sys.executable, "-m", "gcdedup", "process", *files, "--store", url]
    run = subprocess.run(
        [*command, "--handler", "spark_handlers:record", "--json"],
        capture_output=True,
        env=env,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    doc = json.loads(run.stdout)
    expected = distinct_keys(files)
    assert doc["processed"] == len(expected)
    assert handled(log) == Counter(expected)
