"""The README's S3, SQS and capture examples run as written against moto's server.

Each ``sh`` block after an ``<!-- example: local aws -->`` line runs in bash
(``set -euo pipefail``) in a scratch directory holding ``sample_events/``, with the
test server's endpoint variables in place of the README's ``moto_server`` block.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from dynamodb_server import DynamoDBServer

REPO = Path(__file__).resolve().parents[2]
MARKED = re.compile(r"<!-- example: local aws -->\n```sh\n(.*?)```", re.S)


def test_the_cloud_examples_run(aws_server: DynamoDBServer, tmp_path: Path) -> None:
    blocks = MARKED.findall((REPO / "README.md").read_text())
    assert len(blocks) == 3
    shutil.copytree(REPO / "sample_events", tmp_path / "sample_events")
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    outputs = []
    for block in blocks:
        done = subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + block],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, (
            f"{block}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        )
        outputs.append(done.stdout)
    # the two stats runs (S3, then the same files on disk) give the same first row
    rows = re.findall(r"^\W*(\d+)\W+(\d+)\W+(\d+)\W+[\d.]+%\W+(\d+)", outputs[0], re.M)
    assert rows[0] == rows[1] == ("43", "15", "28", "0"), outputs[0]
    assert "bad records" in outputs[1] and "queue: sqs://gcdedup-demo-dlq" in outputs[1]
    assert "0 event(s) written" in outputs[2]
