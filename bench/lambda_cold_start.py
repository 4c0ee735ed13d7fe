"""The Lambda artifact's size and cold start, as shipped and as the old build made it.

    python bench/lambda_cold_start.py [--runs 10] [--before 33171a0]

Builds the deployment directory with ``scripts/build-lambda`` (the Makefile's
arguments: Python 3.12, both architectures), zips it as ``sam deploy`` would, and
starts it ``--runs`` times in a fresh Python 3.12 whose ``sys.path`` holds only the
artifact and boto3 (as Lambda's runtime): the time to import the handler module
(which, with ``AWS_LAMBDA_RUNTIME_API`` set, builds the container: settings, boto3
client) and the first invocation (an SQS batch of the five sample payloads against
moto's DynamoDB server on loopback). ``--before REF`` does the same with the README's
former build (``pip install --target`` of the wheel and every dependency, at REF).

Writes ``bench/results/lambda.json`` and ``bench/results/lambda.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
RESULTS = REPO / "bench" / "results"

from lambda_runtime import copy_runtime  # noqa: E402 - from tests/, shared with the artifact test

DRIVER = r"""
import json, sys, time
t0 = time.perf_counter()
artifact, runtime, event_path = sys.argv[1:4]
sys.path[:] = [artifact, runtime, *sys.path[1:]]
import gcdedup.aws_lambda as entry
t1 = time.perf_counter()
class Context:
    aws_request_id = "bench"
    def get_remaining_time_in_millis(self):
        return 60_000
event = json.load(open(event_path))
t2 = time.perf_counter()
result = entry.handler(event, Context())
t3 = time.perf_counter()
CLI = {"typer", "rich", "click", "pydantic", "pydantic_core", "pygments"}
print(json.dumps({"import_s": t1 - t0, "first_invocation_s": t3 - t2, "result": result,
    "cli_loaded": sorted(m for m in sys.modules if m.split(".")[0] in CLI)}), file=sys.stderr)
"""


def python312() -> str:
    """A Python 3.12 that runs (a pyenv shim may exist and refuse)."""
    found = sorted(str(p) for p in Path("/root/.pyenv/versions").glob("3.12*/bin/python3.12"))
    for candidate in [shutil.which("python3.12"), *found]:
        if candidate and subprocess.run([candidate, "-c", ""], check=False).returncode == 0:
            return candidate
    raise SystemExit("no Python 3.12 interpreter found")


def size_of(directory: Path, skip_bytecode: bool = False) -> dict[str, int]:
    files = [
        p
        for p in directory.rglob("*")
        if p.is_file() and not (skip_bytecode and (p.suffix == ".pyc" or "__pycache__" in p.parts))
    ]
    zipped = directory.parent / f"{directory.name}.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(directory))
    return {
        "bytes": sum(p.stat().st_size for p in files),
        "files": len(files),
        "zip_bytes": zipped.stat().st_size,
    }


def build_now(out: Path) -> Path:
    command = [sys.executable, str(REPO / "scripts" / "build-lambda"), str(out)]
    subprocess.run([*command, "--python-version", "3.12", "--arch", "all"], check=True)
    return out


def build_before(ref: str, work: Path) -> Path:
    """The README's former step 1, at ``ref`` (x86_64, as it was)."""
    source = work / "source"
    source.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(work / "dist"), str(source)], check=True)
    out = work / "before"
    [wheel] = (work / "dist").glob("gcdedup-*.whl")
    target = ["--target", str(out), "--platform", "manylinux2014_x86_64", "--implementation", "cp"]
    target += ["--python-version", "3.12", "--only-binary=:all:"]
    subprocess.run([*pip, "install", *target, str(wheel)], check=True)
    return out


def start_moto() -> tuple[subprocess.Popen[str], str]:
    child = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "dynamodb_server.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    return child, f"http://127.0.0.1:{int(child.stdout.readline())}"


def cold_starts(
    python: str, artifact: Path, runtime: Path, event: Path, env: dict[str, str], runs: int
) -> dict[str, Any]:
    imports, firsts, walls = [], [], []
    report: dict[str, Any] = {}
    for _ in range(runs):
        driver = event.parent / "driver.py"
        driver.write_text(DRIVER)
        started = time.perf_counter()
        done = subprocess.run(
            [python, "-B", "-S", "-E", "-s", str(driver), str(artifact), str(runtime), str(event)],
            capture_output=True,
            text=True,
            env={**env, "GCDEDUP_NAMESPACE": f"bench{uuid.uuid4().hex[:8]}"},
            check=False,
        )
        walls.append(time.perf_counter() - started)
        if done.returncode != 0:
            return {"error": done.stderr.strip().splitlines()[-1]}
        report = json.loads(done.stderr.strip().splitlines()[-1])
        imports.append(report["import_s"])
        firsts.append(report["first_invocation_s"])
    return {
        "runs": runs,
        "import_ms_median": round(statistics.median(imports) * 1000, 1),
        "first_invocation_ms_median": round(statistics.median(firsts) * 1000, 1),
        "process_ms_median": round(statistics.median(walls) * 1000, 1),
        "result": report.get("result"),
        "cli_modules_loaded": report.get("cli_loaded"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--before", metavar="REF", help="also measure the old build at REF")
    args = parser.parse_args()
    python = python312()
    samples = sorted((REPO / "tests" / "fixtures" / "genesys").glob("*.json"))
    records = [
        {"messageId": f"m-{n}", "body": p.read_text(), "eventSource": "aws:sqs"}
        for n, p in enumerate(samples)
    ]
    with tempfile.TemporaryDirectory(prefix="gcdedup-bench-") as tmp:
        work = Path(tmp)
        event = work / "event.json"
        event.write_text(json.dumps({"Records": records}))
        runtime = copy_runtime(work / "runtime")
        moto, endpoint = start_moto()
        try:
            env = {
                "PATH": os.environ.get("PATH", ""),
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_REGION": "us-east-1",
                "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
                "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
                "AWS_LAMBDA_FUNCTION_NAME": "gcdedup-bench",
                "GCDEDUP_STORE": "dynamodb://gcdedup-bench",
            }
            os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
            from gcdedup.store import open_store

            with open_store("dynamodb://gcdedup-bench") as store:
                store.init()
            contenders: dict[str, Any] = {}
            now = build_now(work / "artifact")
            contenders["scripts/build-lambda (--arch all)"] = {
                **size_of(now),
                **cold_starts(python, now, runtime, event, env, args.runs),
            }
            if args.before:
                before = build_before(args.before, work)
                contenders[f"README build at {args.before} (x86_64)"] = {
                    **size_of(before, skip_bytecode=True),
                    "bytes_with_pyc": size_of(before)["bytes"],
                    **cold_starts(python, before, runtime, event, env, args.runs),
                }
        finally:
            assert moto.stdin is not None
            moto.stdin.close()
            moto.wait(timeout=10)
    result = {
        "python": subprocess.run(
            [python, "-c", "import sys; print(sys.version.split()[0])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "store": "moto DynamoDB server on loopback",
        "batch": f"SQS, {len(records)} sample payloads, count-only handler",
        "contenders": contenders,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "lambda.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Lambda artifact: size and cold start",
        "",
        f"Python {result['python']} ({result['machine']}, {result['cpus']} CPUs, load "
        f"{result['load_average'][0]:.2f}); {result['batch']}; {result['store']}; medians of "
        f"{args.runs} fresh processes. Import = `import gcdedup.aws_lambda` with the container "
        "built at import (Lambda's init phase); first invocation = the handler's first call.",
        "",
        "| build | unzipped MB | zipped MB | files | import ms | first invocation ms | "
        "process ms | CLI modules loaded |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, c in contenders.items():
        if "error" in c:
            lines.append(
                f"| {name} | {c['bytes'] / 1e6:.2f} | {c['zip_bytes'] / 1e6:.2f} | "
                f"{c['files']} | - | - | - | fails: {c['error']} |"
            )
            continue
        lines.append(
            f"| {name} | {c['bytes'] / 1e6:.2f} | {c['zip_bytes'] / 1e6:.2f} | {c['files']} | "
            f"{c['import_ms_median']} | {c['first_invocation_ms_median']} | "
            f"{c['process_ms_median']} | {', '.join(c['cli_modules_loaded']) or 'none'} |"
        )
    (RESULTS / "lambda.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
