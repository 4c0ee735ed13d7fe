"""What Lambda's Python runtime provides beside a function's code: boto3 and its
dependencies, copied from this environment (pure Python) into a directory that a
clean interpreter puts on ``sys.path``. Shared by the artifact test and its benchmark."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

#: Lambda's Python runtime provides boto3 and these (urllib3 too; the artifact ships its own).
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")


def copy_runtime(target: Path) -> Path:
    """Copy the runtime's packages into ``target`` (created if missing), no ``.pyc``."""
    target.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        origin = Path(spec.origin)
        if origin.name == "__init__.py":
            shutil.copytree(origin.parent, target / name, ignore=shutil.ignore_patterns("*.pyc"))
        else:
            shutil.copy2(origin, target / origin.name)
    return target
