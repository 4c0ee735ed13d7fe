"""The duplicate analysis behind ``gcdedup stats``: exact counts on known streams."""

from __future__ import annotations

import gzip
import itertools
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from analysis_support import bench_generator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gcdedup.analysis import AnalysisOptions, CostModel, Workers, analyze, plan_chunks
from gcdedup.analysis import decode as typed
from gcdedup.analysis.jsonl import split_ranges
from gcdedup.analysis.plan import GZIP_RATIO, input_work
from gcdedup.analysis.records import Chunk, empty_partial, merge, stable_digest
from gcdedup.analysis.report import build_report, percentile
from gcdedup.analysis.scan import ChunkScanner, scan_chunk
from gcdedup.analysis.tally import Group, Tally, TallyContext, tally
from gcdedup.events import Event, Location
from gcdedup.keys import KeyMaker

REPO = Path(__file__).resolve().parents[2]
SAMPLES = sorted((REPO / "tests" / "fixtures" / "genesys").glob("0*.json"))
T0 = 1_735_689_600  # 2025-01-01T00:00:00Z


generator = bench_generator()


def iso(seconds: int) -> str:
    return generator.iso(T0 + seconds)


def envelope(eid: str, t: int, topic: str, body: dict[str, Any], dt: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": eid,
        "detail-type": dt,
        "source": "aws.partner/genesys.com/cloud/org/bus",
        "time": iso(t),
        "detail": {
            "topicName": topic,
            "version": "2",
            "eventBody": body,
            "metadata": {"CorrelationId": f"corr-{eid}"},
            "timestamp": iso(t),
        },
    }


CONV = "v2.detail.events.conversation.{id}.customer.end"
A = envelope(
    "a1",
    0,
    "v2.detail.events.conversation.c1.customer.end",
    {"conversationId": "c1", "participantId": "p1", "sessionId": "s1", "eventTime": 1},
    CONV,
)
B = envelope(
    "b1",
    600,
    "v2.audits.entitytype.User.entityid.u1",
    {"id": "aud1", "action": "Update"},
    "v2.audits.entitytype.{id}.entityid.{id}",
)
C = envelope(
    "c1", 7200, "v2.users.u1.presence", {"systemPresence": "AWAY"}, "v2.users.{id}.presence"
)


def handmade() -> list[dict[str, Any]]:
    """8 deliveries of 3 events: one duplicate of every kind, arrival gaps known exactly."""
    a_resend = json.loads(json.dumps(A))
    a_resend.update(id="a2", time=iso(10800))
    a_resend["detail"]["timestamp"] = iso(10800)
    b_conflict = json.loads(json.dumps(B))
    b_conflict.update(id="b2", time=iso(28800))
    b_conflict["detail"]["eventBody"]["action"] = "Delete"
    a_replay = {**A, "replay-name": "replay-1"}
    c_resend = json.loads(json.dumps(C))
    c_resend.update(id="c2", time=iso(115200))
    return [A, B, A, C, a_resend, b_conflict, a_replay, c_resend]


def write_jsonl(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return path


@pytest.fixture
def handmade_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "handmade.jsonl", handmade())


def test_kinds_counts_and_gaps_on_a_handmade_stream(handmade_file: Path) -> None:
    doc = analyze([str(handmade_file)]).to_dict()
    assert (doc["events"], doc["unique"], doc["duplicates"] + doc["conflicts"]) == (8, 3, 5)
    assert {k: v["count"] for k, v in doc["by_kind"].items()} == {
        "retry": 1,
        "replay": 1,
        "resend": 2,
        "conflict": 1,
    }
    assert doc["by_kind"]["conflict"]["example_key"] == "default#v2.audits#aud1"
    assert doc["by_kind"]["retry"]["example_key"] == f"default#{CONV}#c1#p1#s1#1"
    # Arrival = newest envelope time so far: the retry arrives with B (600 s), the replay
    # with the conflict (28800 s).
    gaps = doc["gaps"]
    assert gaps["timed"] == 5 and gaps["untimed"] == 0
    assert gaps["percentiles_seconds"] == {
        "p50": 28200,
        "p90": 108000,
        "p95": 108000,
        "p99": 108000,
    }
    assert gaps["max_seconds"] == 108000
    assert [h["count"] for h in gaps["histogram"]] == [0, 0, 1, 1, 2, 1, 0]
    ttl = {row["ttl"]: row for row in doc["ttl"]["candidates"]}
    assert {k: v["slipped"] for k, v in ttl.items()} == {"1h": 4, "6h": 3, "1d": 1, "4d": 0}
    assert ttl["1h"]["slipped_by_kind"] == {"retry": 0, "replay": 1, "resend": 2, "conflict": 1}
    assert ttl["6h"]["slipped_by_kind"] == {"retry": 0, "replay": 1, "resend": 1, "conflict": 1}
    assert doc["ttl"]["recommended"] == "4d"
    assert doc["by_topic"][CONV] == {
        "events": 4,
        "unique": 1,
        "duplicates": 3,
        "duplicate_rate": 0.75,
    }
    assert doc["by_topic"]["v2.users.{id}.presence"]["duplicates"] == 1
    assert doc["top_keys"][0]["key"] == f"default#{CONV}#c1#p1#s1#1"
    assert doc["top_keys"][0]["deliveries"] == 4


def test_ttl_what_if_takes_extra_ttls_and_recommends_the_smallest(handmade_file: Path) -> None:
    options = AnalysisOptions(ttls=(3600, 30 * 3600, 31 * 3600))
    doc = analyze([str(handmade_file)], options).to_dict()
    assert [(r["ttl"], r["slipped"]) for r in doc["ttl"]["candidates"]] == [
        ("1h", 4),
        ("30h", 0),
        ("31h", 0),
    ]
    assert doc["ttl"]["recommended"] == "30h"


def test_compare_counts_duplicates_and_hidden_conflicts(handmade_file: Path) -> None:
    options = AnalysisOptions(compare=("genesys", "envelope", "content", "tutorial"))
    rows = {c["strategy"]: c for c in analyze([str(handmade_file)], options)["compare"]}
    assert list(rows) == ["genesys", "envelope", "content", "tutorial"]
    assert (rows["genesys"]["duplicates"], rows["genesys"]["conflicts_hidden"]) == (5, 1)
    assert (rows["envelope"]["duplicates"], rows["envelope"]["retry"]) == (2, 1)
    assert rows["envelope"]["replay"] == 1 and rows["envelope"]["conflicts_hidden"] == 0
    # The presence re-send kept its detail byte for byte: content catches it too.
    assert (rows["content"]["duplicates"], rows["content"]["unique"]) == (3, 5)
    assert rows["tutorial"]["unkeyable"] == 8 and rows["tutorial"]["duplicates"] == 0


def test_cost_from_observed_rate_and_given_rate(handmade_file: Path) -> None:
    cost = analyze([str(handmade_file)])["cost"]
    # 8 events over 115200 s: 6 per day; every delivery costs 2 writes, a check 1 read.
    assert cost["basis"] == "observed" and cost["events_per_day"] == 6.0
    assert cost["process_writes_per_day"] == 12.0 and cost["check_reads_per_day"] == 6.0
    options = AnalysisOptions(cost=CostModel(price_write=1.0, price_read=0.5, events_per_day=8e6))
    cost = analyze([str(handmade_file)], options)["cost"]
    assert cost["new_per_day"] == 3e6 and cost["duplicates_per_day"] == 5e6
    assert cost["process_writes_per_day"] == 16e6
    assert cost["process_cost_per_day"] == 16.0
    assert cost["check_cost_per_day"] == 4.0
    assert cost["items_held"] == 3e6 * 5


def test_untimed_duplicates_fall_back_to_input_order(tmp_path: Path) -> None:
    bare = {k: v for k, v in A.items() if k != "time"}
    other = {k: v for k, v in B.items() if k != "time"}
    path = write_jsonl(tmp_path / "untimed.jsonl", [bare, other, other, bare])
    gaps = analyze([str(path)])["gaps"]
    assert gaps["timed"] == 0 and gaps["untimed"] == 2
    assert gaps["untimed_percentiles_events"]["p50"] == 1
    assert gaps["untimed_percentiles_events"]["p99"] == 3


def _reordered(doc: Any) -> Any:
    """The same JSON value with every object's keys in reverse order."""
    if isinstance(doc, dict):
        return {k: _reordered(doc[k]) for k in reversed(doc)}
    if isinstance(doc, list):
        return [_reordered(v) for v in doc]
    return doc


def test_kinds_compare_canonical_json_not_bytes(tmp_path: Path) -> None:
    # Re-serialised copies (other key order, other spacing) are the same JSON: a retry
    # and a resend. 1 and 1.0 are equal in Python but not in canonical JSON: a conflict.
    a_resend = json.loads(json.dumps(A))
    a_resend["id"] = "a2"
    b_float = json.loads(json.dumps(B))
    b_float["detail"]["eventBody"]["version"] = 1
    b_float_copy = json.loads(json.dumps(b_float))
    b_float_copy["detail"]["eventBody"]["version"] = 1.0
    lines = [
        orjson.dumps(A),
        orjson.dumps(b_float),
        json.dumps(_reordered(A), indent=None, separators=(", ", ": ")).encode(),
        orjson.dumps(_reordered(a_resend)),
        orjson.dumps(b_float_copy),
    ]
    path = tmp_path / "reserialised.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join(lines) + b"\n")
    for options in (AnalysisOptions(), AnalysisOptions(jobs=2, parallel_threshold=1)):
        doc = analyze([str(path)], options).to_dict()
        assert {k: v["count"] for k, v in doc["by_kind"].items()} == {
            "retry": 1,
            "replay": 0,
            "resend": 1,
            "conflict": 1,
        }
    gz = tmp_path / "reserialised.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert _comparable(analyze([str(gz)]).to_dict()) == _comparable(doc)


def test_reread_lines_and_carried_digests_agree(stream: tuple[Path, Any], tmp_path: Path) -> None:
    # JSON Lines duplicates are classified by re-reading their lines (gzip JSON Lines
    # too: it is inflated first); events read any other way, here gzipped
    # back-to-back objects as Firehose writes them, carry their digests from the scan.
    # Both must tell the same story.
    path, truth = stream
    gz = tmp_path / "stream.concat.gz"
    gz.write_bytes(gzip.compress(b"".join(path.read_bytes().splitlines())))
    options = AnalysisOptions(compare=("envelope", "content"))
    lines = _comparable(analyze([str(path)], options).to_dict())
    carried = _comparable(analyze([str(gz)], options).to_dict())
    assert lines == carried
    assert {k: v["count"] for k, v in lines["by_kind"].items()} == truth["by_kind"]


def test_percentile_is_nearest_rank() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2
    assert percentile([1, 2, 3, 4], 51) == 3
    assert percentile([], 90) is None


def _formats(tmp_path: Path) -> dict[str, list[str]]:
    docs = [json.loads(p.read_text()) for p in SAMPLES]
    lines = b"".join(orjson.dumps(d) + b"\n" for d in docs)
    (tmp_path / "all.jsonl").write_bytes(lines)
    (tmp_path / "all.json").write_text(json.dumps(docs, indent=2))
    (tmp_path / "all.concat").write_bytes(b"".join(orjson.dumps(d) for d in docs))
    (tmp_path / "all.jsonl.gz").write_bytes(gzip.compress(lines))
    (tmp_path / "all.log").write_bytes(
        b"".join(b"2025-01-01T00:00:00.000Z " + orjson.dumps(d) + b"\n" for d in docs)
    )
    sqs = {"Records": [{"messageId": f"m{i}", "body": json.dumps(d)} for i, d in enumerate(docs)]}
    (tmp_path / "sqs.json").write_text(json.dumps(sqs))
    return {
        "separate files": [str(p) for p in SAMPLES],
        "jsonl": [str(tmp_path / "all.jsonl")],
        "array": [str(tmp_path / "all.json")],
        "concatenated": [str(tmp_path / "all.concat")],
        "gzip": [str(tmp_path / "all.jsonl.gz")],
        "cloudwatch": [str(tmp_path / "all.log")],
        "sqs batch": [str(tmp_path / "sqs.json")],
    }


def _comparable(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in ("by_file", "files")}


def test_the_five_samples_give_the_same_stats_in_every_format(tmp_path: Path) -> None:
    results = {
        name: _comparable(analyze(paths).to_dict()) for name, paths in _formats(tmp_path).items()
    }
    reference = results.pop("separate files")
    assert (reference["events"], reference["unique"], reference["conflicts"]) == (5, 4, 1)
    # 03 and 05: one business event under genesys (same conversation, participant,
    # session and eventTime), different eventBody: a conflict.
    assert reference["by_kind"]["conflict"]["count"] == 1
    assert reference["by_topic"]["v2.audits.entitytype.{id}.entityid.{id}"]["unique"] == 2
    for name, doc in results.items():
        assert doc == reference, name


def test_per_file_counts(tmp_path: Path) -> None:
    doc = analyze([str(p) for p in SAMPLES]).to_dict()
    per_file = {Path(k).name: (v["events"], v["duplicates"]) for k, v in doc["by_file"].items()}
    assert per_file == {
        "01_user_presence_audit.json": (1, 0),
        "02_oauth_client_delete_audit.json": (1, 0),
        "03_detail_customer_end.json": (1, 0),
        "04_detail_customer_start.json": (1, 0),
        "05_detail_customer_end_no_external_contact.json": (1, 1),
    }


def test_bad_records_are_counted_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(orjson.dumps(A) + b"\nnot json\n\n[1]\n" + orjson.dumps(A) + b"\n")
    doc = analyze([str(path)]).to_dict()
    assert (doc["events"], doc["duplicates"], doc["bad_records"]) == (2, 1, 2)
    assert [b["location"] for b in doc["bad"]] == [f"{path}:2", f"{path}:4"]
    assert doc["bad"][0]["reason"].startswith("invalid JSON")
    assert doc["by_file"][str(path)]["bad_records"] == 2


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("gen") / "stream.jsonl"
    truth = generator.generate(path, 1500, dup_rate=0.2, seed=11, delay_scale=0.5)
    return path, truth


def test_by_kind_matches_the_generator_truth_exactly(stream: tuple[Path, Any]) -> None:
    path, truth = stream
    doc = analyze([str(path)]).to_dict()
    assert doc["events"] == truth["events"]
    assert doc["duplicates"] + doc["conflicts"] == truth["duplicates"]
    assert {k: v["count"] for k, v in doc["by_kind"].items()} == truth["by_kind"]
    assert all(truth["by_kind"][k] > 0 for k in truth["by_kind"])
    assert {
        k: {"events": v["events"], "unique": v["unique"], "duplicates": v["duplicates"]}
        for k, v in doc["by_topic"].items()
    } == truth["by_topic"]


def test_parallel_path_equals_single_process(stream: tuple[Path, Any], tmp_path: Path) -> None:
    path, _ = stream
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"oops\n" + orjson.dumps(A) + b"\n{}\n")
    paths = [str(path), str(bad), *(str(p) for p in SAMPLES)]
    compare = ("envelope", "content")
    single = analyze(paths, AnalysisOptions(jobs=1, compare=compare)).to_dict()
    chunks = plan_chunks([str(path)], "auto", 2, threshold=1)
    assert len(chunks) > 2 and all(c.start is not None for c in chunks)
    parallel = analyze(
        paths, AnalysisOptions(jobs=2, parallel_threshold=1, compare=compare)
    ).to_dict()
    assert parallel == single


def test_parallel_merge_and_classification_equal_single_process(
    stream: tuple[Path, Any], tmp_path: Path
) -> None:
    # Keys seen once in a byte range and once in a file read by the parent (gzip) must
    # still meet in the partitioned merge; duplicates classified and counted in the
    # workers, one key partition per task.
    path, _ = stream
    gz = tmp_path / "copy.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    paths = [str(path), str(gz)]
    single = analyze(paths, AnalysisOptions(jobs=1, compare=("envelope",))).to_dict()
    options = AnalysisOptions(jobs=2, parallel_threshold=1, compare=("envelope",))
    assert analyze(paths, options).to_dict() == single
    assert single["duplicates"] > single["unique"]


def test_spawned_workers_give_the_same_report(stream: tuple[Path, Any]) -> None:
    # Where workers cannot be forked, they are spawned: they do not share the parent's
    # string hash secret, so keys are digested with blake2b instead of hash().
    path, _ = stream
    options = AnalysisOptions(jobs=2, parallel_threshold=1, compare=("envelope",))
    default = analyze([str(path)], options).to_dict()
    spawned = Workers(start_method="spawn")
    assert spawned.key_digest is stable_digest
    assert analyze([str(path)], options, workers=spawned).to_dict() == default


def test_the_stable_key_digest_is_the_same_in_every_process() -> None:
    # Equal for equal keys (built separately, so not the same object), different for
    # different keys, and the same in a fresh interpreter with another hash secret.
    key = "default#" + "#".join(["v2.audits", "a1"])
    assert stable_digest(key) == stable_digest("default#v2.audits#a1")
    assert stable_digest(key) != stable_digest("default#v2.audits#a2")
    assert -(2**63) <= stable_digest(key) < 2**63  # fits the packed 64-bit maps
    code = "from gcdedup.analysis.records import stable_digest; print(stable_digest(input()))"
    fresh = subprocess.run(
        [sys.executable, "-c", code],
        input=key,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    assert int(fresh.stdout) == stable_digest(key)


def test_whole_files_are_spread_over_the_workers(stream: tuple[Path, Any], tmp_path: Path) -> None:
    # A directory of gzip files (a Firehose archive): the files are inflated and cut
    # into byte ranges for the workers, and the report is the single-process one.
    path, _ = stream
    lines = path.read_bytes().splitlines(keepends=True)
    third = len(lines) // 3
    parts = [lines[:third], lines[third : 2 * third], lines[2 * third :]]
    paths = []
    for n, part in enumerate(parts):
        gz = tmp_path / f"part{n}.jsonl.gz"
        gz.write_bytes(gzip.compress(b"".join(part)))
        paths.append(str(gz))
    pools: list[int] = []

    class CountingWorkers(Workers):
        def pool(self, processes: int) -> Any:
            pools.append(processes)
            return super().pool(processes)

    workers = CountingWorkers()
    single = analyze(paths, AnalysisOptions(jobs=1), workers=workers).to_dict()
    assert pools == []
    seen: list[int] = []

    def on_bytes(n: int) -> None:
        seen.append(n)

    options = AnalysisOptions(jobs=2, parallel_threshold=1)
    assert analyze(paths, options, on_bytes=on_bytes, workers=workers).to_dict() == single
    assert pools == [2]
    assert sum(seen) == sum(os.path.getsize(p) for p in paths)
    assert single["events"] == len(lines) and single["duplicates"] > 0
    # One gzip JSON Lines file is inflated and cut into byte ranges like a plain file;
    # a small input stays in this process.
    assert analyze(paths[:1], options, workers=workers).to_dict()["events"] == len(parts[0])
    assert pools == [2, 2]
    analyze(paths, AnalysisOptions(jobs=2), workers=workers)
    assert pools == [2, 2]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_pipes_are_read_once_by_the_parent(stream: tuple[Path, Any], tmp_path: Path) -> None:
    # A pipe (a named pipe, or bash's <(...)) can be read once: planning must not open
    # it, and no worker may take it. Its events count with the regular files' ones.
    path, _ = stream
    single = analyze([str(path), str(path)], AnalysisOptions(jobs=1)).to_dict()
    fifo = tmp_path / "events.pipe"
    os.mkfifo(fifo)
    # The writer is another process, not a thread: forking the workers from a
    # multi-threaded process is deprecated (a DeprecationWarning on Python 3.12+).
    copy = (
        "import shutil, sys; shutil.copyfileobj(open(sys.argv[1], 'rb'), open(sys.argv[2], 'wb'))"
    )
    writer = subprocess.Popen([sys.executable, "-c", copy, str(path), str(fifo)])
    try:
        options = AnalysisOptions(jobs=2, parallel_threshold=1)
        report = analyze([str(path), str(fifo)], options).to_dict()
    finally:
        writer.wait(timeout=30)
    assert writer.returncode == 0
    assert (report["events"], report["unique"], report["duplicates"]) == (
        single["events"],
        single["unique"],
        single["duplicates"],
    )
    assert report["bad_records"] == 0
    assert report["by_kind"] == single["by_kind"]


def test_input_work_counts_gzip_at_its_inflated_size(tmp_path: Path) -> None:
    plain = tmp_path / "a.jsonl"
    plain.write_bytes(b"x" * 1000)
    gz = tmp_path / "b.jsonl.gz"
    gz.write_bytes(gzip.compress(b"y" * 100_000))
    work = input_work([str(plain), str(gz), "-", str(tmp_path / "missing")])
    assert work == 1000 + gz.stat().st_size * GZIP_RATIO


def test_scan_keys_equal_the_key_module(stream: tuple[Path, Any]) -> None:
    # Both fast paths of the scan (the typed decoder for plain JSON Lines, the dict
    # path for everything else) give every generated and sample event its key.
    path, _ = stream
    lines = path.read_bytes().splitlines()
    lines += [orjson.dumps(json.loads(p.read_text())) for p in SAMPLES]
    maker = KeyMaker.create("genesys")
    scanner = ChunkScanner(Chunk(0, 0, "x"), [maker], empty_partial(1))
    for line in lines:
        expected = maker(Event(orjson.loads(line), Location("x")))
        assert scanner.key(0, orjson.loads(line)) == expected
        env = typed.decode(line)
        assert env is not None
        assert "default#" + (typed.genesys_key(env, line) or "") == expected


def test_split_ranges_cut_after_newlines(stream: tuple[Path, Any]) -> None:
    path, _ = stream
    data = path.read_bytes()
    ranges = split_ranges(str(path), len(data), 7)
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
    for (_, end), (start, _) in itertools.pairwise(ranges):
        assert end == start and data[start - 1 : start] == b"\n"


@pytest.fixture(scope="module")
def whole(stream: tuple[Path, Any]) -> dict[str, Any]:
    options = AnalysisOptions(jobs=1, compare=("envelope",))
    return analyze([str(stream[0])], options).to_dict()


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cuts=st.integers(min_value=1, max_value=9), order=st.randoms(use_true_random=False))
def test_merging_partials_is_order_independent(
    stream: tuple[Path, Any], whole: dict[str, Any], cuts: int, order: random.Random
) -> None:
    path, _ = stream
    size = path.stat().st_size
    makers = [KeyMaker.create("genesys"), KeyMaker.create("envelope")]
    chunks = [
        Chunk(i, 0, str(path), start, end)
        for i, (start, end) in enumerate(split_ranges(str(path), size, cuts))
    ]
    partials = [scan_chunk(c, makers, "auto") for c in chunks]
    order.shuffle(partials)
    merged = empty_partial(2)
    for p in partials:
        merge(merged, p)
    options = AnalysisOptions(compare=("envelope",))
    got = build_report(merged, chunks, [str(path)], ["genesys", "envelope"], makers, options)
    assert got.to_dict() == whole


@pytest.fixture(scope="module")
def tally_input(stream: tuple[Path, Any]) -> tuple[TallyContext, list[Group]]:
    """The main strategy's repeated keys of the generated stream, as the report sees them."""
    path, _ = stream
    chunk = Chunk(0, 0, str(path), 0, path.stat().st_size)
    partial = scan_chunk(chunk, [KeyMaker.create("genesys")], "auto")
    groups = [(kd, sorted(slot)) for kd, slot in partial.maps[0].items() if type(slot) is list]
    ctx = TallyContext(
        paths={0: str(path)},
        wm_before={0: -1},
        families={0: partial.chunks[0].families},
        file_of={0: 0},
        seq_base={0: 0},
        ttls=(60, 3600, 86400),
        detailed=True,
        top=5,
    )
    return ctx, groups


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=st.randoms(use_true_random=False), cuts=st.integers(0, 6))
def test_tallies_add_up_in_any_order(
    tally_input: tuple[TallyContext, list[Group]], order: random.Random, cuts: int
) -> None:
    ctx, groups = tally_input
    whole = tally(ctx, groups)
    assert whole.duplicates > 0 and all(whole.by_kind)
    bounds = sorted(order.sample(range(1, len(groups)), cuts))
    parts = [tally(ctx, groups[a:b]) for a, b in itertools.pairwise([0, *bounds, len(groups)])]
    order.shuffle(parts)
    total = Tally(slipped={ttl: [0] * 4 for ttl in ctx.ttls})
    for part in parts:
        total.add(part, ctx.top)
    assert sorted(total.gaps) == sorted(whole.gaps)
    assert sorted(total.arrivals) == sorted(whole.arrivals)
    total.gaps, whole.gaps = [], []
    total.arrivals, whole.arrivals = [], []
    assert total == whole
