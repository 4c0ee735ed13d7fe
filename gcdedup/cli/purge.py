"""``gcdedup purge``: delete keys by namespace, run, age or prefix (never by accident)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import UsageError
from ..keys import validate_namespace
from ..settings import parse_duration
from ..store import PurgeFilter, open_store
from .common import JsonOpt, StoreOpt, handle_errors, require_existing_store, settings_from
from .output import Output
from .params import duration_flag


@handle_errors
def purge(
    store: StoreOpt = None,
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace",
            "-n",
            metavar="NAME",
            help="Only keys of this namespace.",
            show_default=False,
        ),
    ] = None,
    run_id: Annotated[
        str | None,
        typer.Option(
            "--run-id", metavar="ID", help="Only keys written by this run.", show_default=False
        ),
    ] = None,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            metavar="DURATION",
            parser=duration_flag("--older-than"),
            help="Only keys first seen longer ago than this, e.g. 2h, 7d.",
            show_default=False,
        ),
    ] = None,
    prefix: Annotated[
        str | None,
        typer.Option(
            "--prefix",
            metavar="PREFIX",
            help="Only keys starting with this (within --namespace if given).",
            show_default=False,
        ),
    ] = None,
    all_records: Annotated[
        bool, typer.Option("--all", help="Every key in the store (all namespaces).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Delete dedup keys (filters combine; one filter or --all is required).

    Example: gcdedup purge --namespace test --older-than 2h --yes
    """
    output = Output(json_output)
    if all_records and any(v is not None for v in (namespace, run_id, older_than, prefix)):
        raise UsageError("--all cannot be combined with other filters")
    if namespace is not None:
        validate_namespace(namespace)
    if prefix is not None and namespace is not None and not prefix.startswith(f"{namespace}#"):
        prefix = f"{namespace}#{prefix}"
    where = PurgeFilter(
        namespace=namespace,
        run_id=run_id,
        older_than=parse_duration(older_than, "--older-than") if older_than else None,
        prefix=prefix,
        all_records=all_records,
    )
    if where.is_empty():
        raise UsageError(
            "nothing selected: give --namespace, --run-id, --older-than, --prefix or --all"
        )
    settings = settings_from(store_url=store)
    require_existing_store(settings.store_url)
    if not (dry_run or yes) and json_output:
        raise UsageError("--json needs --yes (there is no one to confirm)")
    with open_store(settings.store_url) as dedup:
        dedup.verify()  # never count or delete in a damaged store
        if yes and not dry_run:  # one pass: counting first would scan the store twice
            matched = deleted = dedup.purge(where)
        else:
            matched = dedup.purge(where, dry_run=True)
            deleted = 0
            if not dry_run and matched:
                typer.confirm(
                    f"Delete {matched:,} key(s) from {settings.store_url}?", abort=True, err=True
                )
                deleted = dedup.purge(where)
    summary = {
        "store": settings.store_url,
        "matched": matched,
        "deleted": deleted,
        "dry_run": dry_run,
        "filter": {
            "namespace": namespace,
            "run_id": run_id,
            "older_than_seconds": where.older_than,
            "prefix": prefix,
            "all": all_records,
        },
    }
    if json_output:
        output.json(summary)
    elif dry_run:
        output.line(f"would delete {matched:,} key(s) from {settings.store_url}")
    else:
        output.line(f"deleted {deleted:,} key(s) from {settings.store_url}")
