"""The docs' S3, SQS, capture and DynamoDB examples run as written against moto's server.

Each ``sh`` block after an ``<!-- example: local aws -->`` line (on any page, in reading
order) runs in bash (``set -euo pipefail``) in one scratch directory holding
``sample_events/``, with the test server's endpoint variables in place of the page's
``moto_server`` block; an endpoint written as ``http://127.0.0.1:8000`` is the server's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from doc_examples import DOCS, REPO, pages
from dynamodb_server import DynamoDBServer

MARKED = re.compile(r"<!-- example: local aws -->\n```sh\n(.*?)```", re.S)


def marked_blocks() -> list[tuple[Path, str]]:
    return [(page, block) for page in pages() for block in MARKED.findall(page.read_text())]


def test_the_cloud_examples_run(aws_server: DynamoDBServer, tmp_path: Path) -> None:
    blocks = marked_blocks()
    assert [page.relative_to(DOCS).as_posix() for page, _ in blocks] == [
        "guides/cloud-sources.md",
        "guides/cloud-sources.md",
        "guides/capture.md",
        "stores/dynamodb.md",
        "stores/dynamodb.md",
    ]
    shutil.copytree(REPO / "sample_events", tmp_path / "sample_events")
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    outputs = []
    for page, block in blocks:
        script = block.replace("http://127.0.0.1:8000", aws_server.endpoint_url)
        done = subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, (
            f"{page}\n{block}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        )
        outputs.append(done.stdout)
    # the two stats runs (S3, then the same files on disk) give the same summary (at 80
    # columns it is turned on its side: one measure per row)
    reports = outputs[0].split("Duplicates by key strategy")[1:]
    summaries = [report[: report.index("└")] for report in reports]
    assert len(summaries) == 2 and summaries[0] == summaries[1], outputs[0]
    measures = dict(re.findall(r"│ ([a-z ]+?) +│ +([\d.%]+) │", summaries[0]))
    assert (measures["events"], measures["unique"], measures["bad records"]) == ("43", "15", "0")
    assert (measures["duplicates"], measures["conflicts"]) == ("27", "1"), summaries[0]
    assert "bad records" in outputs[1] and "queue: sqs://gcdedup-demo-dlq" in outputs[1]
    assert "0 event(s) written" in outputs[2]
    # DynamoDB: init, the samples processed, then a read-only check finds every one known
    assert "created DynamoDB table gcdedup-dedup" in outputs[3]
    check = json.loads(outputs[3][outputs[3].index("\n{") + 1 :])
    assert (check["mode"], check["events"], check["new"]) == ("check", 43, 0)
    assert (check["duplicates"], check["conflicts"]) == (42, 1)
    assert "processed" in outputs[4] and "dynamodb://gcdedup-dedup" in outputs[4]
