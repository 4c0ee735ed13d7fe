"""Read ahead (``gcdedup.sources.keyed``): a second process reads and keys events.

Two paths, one contract: the records the child sends are those the inline reader
and key maker give, on hostile fuzzed inputs, in every input shape, across chunk
and file boundaries; ``process`` reports and ``--out`` lines are byte-identical
with and without read ahead. And the child's failures are the run's errors, a stop
loses nothing, and no child outlives its parent.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib.util
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gcdedup.errors import KeyStrategyError
from gcdedup.events import BadRecord, Event, KeyedEvent
from gcdedup.keys import NO_KEY, KeyMaker, payload_fingerprint
from gcdedup.sources import keyed
from gcdedup.sources.keyed import KeyedReader, ReadAheadError
from gcdedup.sources.reader import EventReader

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"  # the real Genesys payloads and Lambda events
GCDEDUP = [sys.executable, "-m", "gcdedup"]

_spec = importlib.util.spec_from_file_location("gcdedup_bench_fuzz", ROOT / "bench" / "fuzz.py")
assert _spec is not None and _spec.loader is not None
fuzz = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fuzz)
EVENTS = fuzz.base_events()


def inline(paths: list[str], keys: KeyMaker) -> list[tuple[Any, ...]]:
    """What the pipeline would make of each record in one process."""
    out: list[tuple[Any, ...]] = []
    for record in EventReader(paths):
        if isinstance(record, Event):
            try:
                key = keys(record)
            except KeyStrategyError as exc:
                out.append((record.location, f"{NO_KEY}{exc}"))
                continue
            out.append((record.location, key, payload_fingerprint(record), record.family))
        else:
            assert isinstance(record, BadRecord)
            out.append((record.location, record.reason))
    return out


def ahead(paths: list[str], keys: KeyMaker, **options: Any) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    with KeyedReader(paths, keys, **options) as reader:
        for record in reader:
            if isinstance(record, KeyedEvent):
                out.append((record.location, record.key, record.fingerprint, record.family))
            else:
                assert isinstance(record, BadRecord)
                out.append((record.location, record.reason))
        assert reader.bytes_read == reader.total_bytes
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    rng=st.randoms(use_true_random=False),
    files=st.integers(1, 3),
    chunk=st.integers(1, 7),
    compress=st.booleans(),
    strategy=st.sampled_from(
        ["genesys", "envelope", "content", "tutorial", "jmespath:detail.eventBody.id"]
    ),
)
def test_the_child_sends_what_the_inline_reader_gives(
    rng: random.Random,
    files: int,
    chunk: int,
    compress: bool,
    strategy: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    base = tmp_path_factory.mktemp("ahead")
    paths = []
    for n in range(files):
        data = fuzz.make_case(EVENTS, rng)
        path = base / f"case-{n}.jsonl"
        path.write_bytes(gzip.compress(data) if compress and n == 0 else data)
        paths.append(str(path))
    keys = KeyMaker.create(strategy, "diff")
    expected = inline(paths, keys)
    assert expected, "a case with no record tests nothing"
    assert ahead(paths, keys, chunk_records=chunk) == expected


def test_the_real_samples_and_every_input_shape_read_the_same(tmp_path: Path) -> None:
    samples = sorted((FIXTURES / "genesys").glob("*.json"))
    lines = [fuzz.orjson.dumps(fuzz.orjson.loads(p.read_bytes())) for p in samples]
    assert len(lines) >= 5
    (tmp_path / "a.jsonl").write_bytes(b"\n".join(lines) + b"\nnot json\n")
    (tmp_path / "b.json").write_bytes(b"[" + b",".join(lines) + b"]")
    (tmp_path / "c.cloudwatch.log").write_bytes(
        b"".join(b"2026-01-01T00:00:00Z " + line + b"\n" for line in lines)
    )
    (tmp_path / "d.jsonl.gz").write_bytes(gzip.compress(b"\n".join(lines)))
    paths = [str(tmp_path), *sorted(str(p) for p in (FIXTURES / "lambda").glob("*.json"))]
    keys = KeyMaker.create()
    expected = inline(paths, keys)
    assert sum(len(row) == 4 for row in expected) >= 4 * len(lines)
    assert ahead(paths, keys, chunk_records=4) == expected
    assert ahead(paths, keys, method="spawn") == expected


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GCDEDUP, *args], capture_output=True, text=True, env=env, cwd=ROOT, check=False
    )


@pytest.mark.parametrize("mode", ["process", "check", "seed"])
def test_process_reports_and_out_lines_are_identical_either_way(tmp_path: Path, mode: str) -> None:
    inputs = [str(ROOT / "sample_events"), str(FIXTURES)]
    hostile = tmp_path / "hostile.jsonl"
    rng = random.Random(7)
    hostile.write_bytes(b"".join(fuzz.make_case(EVENTS, rng) for _ in range(20)))
    inputs.append(str(hostile))
    outputs = {}
    for name, flag in (("ahead", "--read-ahead"), ("inline", "--no-read-ahead")):
        store = f"sqlite:///{tmp_path / name}.sqlite3"
        # a store that has seen part of the input, so every outcome occurs
        _cli("process", str(ROOT / "sample_events"), "--store", store, "--create", "-q")
        out = tmp_path / f"{name}.out"
        done = _cli(
            "process", *inputs, "--store", store, "--mode", mode, "--json", "--out", str(out),
            "--run-id", "same", flag,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        report.pop("store")
        outputs[name] = (report, out.read_bytes())
    assert outputs["ahead"] == outputs["inline"]
    report, lines = outputs["ahead"]
    assert report["bad_records"] > 0 and report["duplicates"] > 0
    assert len(lines.splitlines()) == report["records"]


def test_an_error_in_the_child_is_the_runs_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_event: Any) -> str:
        raise RuntimeError("fingerprint failed")

    monkeypatch.setattr(keyed, "payload_fingerprint", broken)  # the forked child has it
    path = tmp_path / "a.jsonl"
    path.write_bytes(fuzz.orjson.dumps(EVENTS[0]) + b"\n")
    reader = KeyedReader([str(path)], KeyMaker.create(), method="fork")
    with reader, pytest.raises(ReadAheadError) as caught:
        list(reader)
    assert "the read-ahead process failed" in str(caught.value)
    assert "RuntimeError: fingerprint failed" in str(caught.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_killed_child_is_an_error_naming_the_signal(tmp_path: Path) -> None:
    fifo = tmp_path / "events.pipe"
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR)  # holds the pipe open: the child's read waits
    try:
        os.write(writer, fuzz.orjson.dumps(EVENTS[0]) + b"\n")
        reader = KeyedReader([str(fifo)], KeyMaker.create(), chunk_records=1)
        with reader:
            records = iter(reader)
            first = next(records)
            assert isinstance(first, KeyedEvent)
            assert str(first.location) == f"{fifo}:1"
            os.kill(reader._process.pid, signal.SIGKILL)
            with pytest.raises(ReadAheadError, match="was killed by signal 9 before the end"):
                next(records)
    finally:
        os.close(writer)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_the_child_leaves_ctrl_c_and_sigterm_to_its_parent(tmp_path: Path) -> None:
    """Ctrl-C reaches the whole process group: the child keeps reading, and the parent
    stops the run at a batch boundary and then ends the child."""
    fifo = tmp_path / "events.pipe"
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR)
    line = fuzz.orjson.dumps(EVENTS[0]) + b"\n"
    try:
        reader = KeyedReader([str(fifo)], KeyMaker.create(), chunk_records=1)
        with reader:
            records = iter(reader)
            os.write(writer, line)
            assert next(records).location.line == 1
            for signum in (signal.SIGINT, signal.SIGTERM):
                os.kill(reader._process.pid, signum)
            os.write(writer, line)
            second = next(records)
            assert isinstance(second, KeyedEvent) and second.location.line == 2
            assert reader._process.is_alive()
        assert reader._process.exitcode is not None
    finally:
        os.close(writer)


def test_closing_early_ends_the_child(tmp_path: Path) -> None:
    path = tmp_path / "many.jsonl"
    line = fuzz.orjson.dumps(EVENTS[0]) + b"\n"
    path.write_bytes(line * 50_000)
    reader = KeyedReader([str(path)], KeyMaker.create(), chunk_records=10)
    records = iter(reader)
    assert len([next(records) for _ in range(25)]) == 25
    reader.close()
    assert reader._process.exitcode is not None  # ended and reaped
    assert reader._receiver is not None and not reader._receiver.is_alive()


def _generate(path: Path, events: int) -> dict[str, Any]:
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "generate.py"), "--events", str(events),
         "--out", str(path)],
        check=True, capture_output=True,
    )  # fmt: skip
    truth: dict[str, Any] = json.loads(path.with_name(path.name + ".truth.json").read_text())
    return truth


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(child) for child in text]
    return found


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
def test_ctrl_c_stops_a_read_ahead_run_and_the_rerun_loses_nothing(tmp_path: Path) -> None:
    data = tmp_path / "events.jsonl"
    truth = _generate(data, 60_000)
    store = f"sqlite:///{tmp_path / 'dedup.sqlite3'}"
    out = tmp_path / "first.out"
    proc = subprocess.Popen(
        [*GCDEDUP, "process", str(data), "--store", store, "--create", "--json",
         "--out", str(out), "--batch-size", "500"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (out.exists() and out.stat().st_size) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    children = _children(proc.pid)
    assert children, "no read-ahead process"
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    first = json.loads(stdout)
    assert first["processed"] > 0 and first["records"] < truth["events"]
    assert not any(Path(f"/proc/{child}").exists() for child in children)
    again = _cli("process", str(data), "--store", store, "--json")
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    # Every key is processed once over the two runs: none lost, none twice.
    assert first["processed"] + second["processed"] == truth["unique"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
def test_the_child_ends_when_its_parent_is_killed(tmp_path: Path) -> None:
    fifo = tmp_path / "events.pipe"
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR)  # never closed while the child reads: it would wait
    try:
        proc = subprocess.Popen(
            [*GCDEDUP, "process", str(fifo), "--store",
             f"sqlite:///{tmp_path / 'dedup.sqlite3'}", "--create", "-q"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not _children(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        (child,) = _children(proc.pid)
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 10
        while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
            # reap it if it became ours (it is re-parented to init or a subreaper)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(child, os.WNOHANG)
            time.sleep(0.05)
        status = Path(f"/proc/{child}/status")
        alive = status.exists() and "zombie" not in status.read_text()
        assert not alive, "the read-ahead process outlived its parent"
    finally:
        os.close(writer)
