"""The installed ``gcdedup`` script, as a newcomer runs it: a handler module next to the
user, no PYTHONPATH, eight handler threads printing to a real pipe."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLEAN = REPO / "sample_events" / "clean.jsonl"
SCRIPT = shutil.which("gcdedup", path=str(Path(sys.executable).parent))

pytestmark = pytest.mark.skipif(SCRIPT is None, reason="needs the installed gcdedup script")

HANDLER = """
import time

def handle(event):
    for word in ("handling", event["id"], "in", "pieces"):
        print(word, end=" ")
        time.sleep(0.001)
    print("end")
    return event["id"]
"""


def test_the_script_finds_a_handler_in_the_current_directory(tmp_path: Path) -> None:
    (tmp_path / "myhandler.py").write_text(HANDLER)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    assert SCRIPT is not None
    result = subprocess.run(
        [
            SCRIPT,
            "process",
            str(CLEAN),
            "--store",
            "memory://",
            "--handler",
            "myhandler:handle",
            "-j",
            "8",
            "--json",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["processed"] == 15
    printed = result.stderr.splitlines()
    whole = re.compile(r"handling [0-9a-f-]{36} in pieces end")
    assert len(printed) == 15 and all(whole.fullmatch(line) for line in printed), printed
