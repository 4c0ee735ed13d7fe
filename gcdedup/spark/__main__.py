"""The entry point for ``spark-submit`` (and ``python -m gcdedup.spark``).

::

    spark-submit --py-files gcdedup.zip -m gcdedup.spark ...   # or, with gcdedup installed:
    python -m gcdedup.spark stats s3://archive/2026/ --json-out s3://reports/dups.json
    python -m gcdedup.spark process s3://archive/2026/ --store dynamodb://T --handler m:f

Runs on the active Spark session (the one spark-submit starts) or on ``--master``.
The JSON written is what ``gcdedup stats --json`` / ``gcdedup process --json`` print.
Exit codes as the CLI's: 0 ok, 1 runtime failure, 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import orjson

from ..errors import GcdedupError, UsageError


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m gcdedup.spark", description=__doc__.split("\n")[0]
    )
    commands = top.add_subparsers(dest="command", required=True)
    for name in ("stats", "process"):
        cmd = commands.add_parser(name, help=f"gcdedup {name} --engine spark")
        cmd.add_argument("paths", nargs="+", metavar="PATH", help="files, prefixes, s3:// URIs")
        cmd.add_argument("--json-out", metavar="PATH", help="write the JSON here (or s3://...)")
        cmd.add_argument("--master", help="Spark master when no session is active")
        cmd.add_argument("--key", help="key strategy (default genesys)")
        cmd.add_argument("--namespace", help="key namespace (default 'default')")
        cmd.add_argument("--format", default="auto", dest="fmt", help="input format")
        if name == "stats":
            cmd.add_argument("--compare", default="", help="strategies to compare")
            cmd.add_argument("--top", type=int, default=10, help="most duplicated keys shown")
        else:
            cmd.add_argument("--store", required=True, help="dynamodb://TABLE")
            cmd.add_argument("--handler", help="module:function run on each new event")
            cmd.add_argument("--mode", default="process", choices=("process", "check", "seed"))
    return top


def stats_doc(args: argparse.Namespace, spark: Any) -> dict[str, Any]:
    from ..analysis import AnalysisOptions
    from ..cli.stats import report_warnings
    from ..settings import Settings
    from .stats import analyze_spark

    settings = Settings.resolve(namespace=args.namespace, key_strategy=args.key)
    compare = tuple(s.strip() for s in args.compare.split(",") if s.strip())
    options = AnalysisOptions(
        strategy=settings.key_strategy,
        namespace=settings.namespace,
        fmt=args.fmt,
        compare=compare,
        top=args.top,
    )
    doc = analyze_spark(spark, args.paths, options).to_dict()
    return {**doc, "warnings": report_warnings(doc, args.paths)}


def process_doc(args: argparse.Namespace, spark: Any) -> tuple[dict[str, Any], int]:
    from ..outcomes import Mode
    from ..settings import Settings
    from .process import process_spark

    settings = Settings.resolve(
        store_url=args.store, namespace=args.namespace, key_strategy=args.key
    )
    report = process_spark(spark, args.paths, settings, Mode(args.mode), args.handler, args.fmt)
    return {**report.to_dict(), "store": settings.store_url}, 1 if report.failed else 0


def write(doc: dict[str, Any], target: str | None) -> None:
    """The document on stdout, or in a file or an S3 object."""
    data = orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n"
    if target is None:
        sys.stdout.buffer.write(data)
    elif target.startswith(("s3://", "s3a://")):
        from ..sources.aws import client

        bucket, _, key = target.split("://", 1)[1].partition("/")
        if not key:
            raise UsageError(f"--json-out {target}: name an object, not a bucket")
        client("s3").put_object(Bucket=bucket, Key=key, Body=data)
    else:
        with open(target, "wb") as fh:
            fh.write(data)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        from .session import get_session

        spark = get_session(args.master)
        code = 0
        if args.command == "stats":
            doc = stats_doc(args, spark)
        else:
            doc, code = process_doc(args, spark)
        write(doc, args.json_out)
        return code
    except GcdedupError as exc:
        print(f"Error: {exc.message}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
