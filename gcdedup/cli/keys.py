"""``gcdedup keys``: show the dedup key of every event (or list the strategies)."""

from __future__ import annotations

import sys
from typing import Annotated

import orjson
import typer

from ..errors import KeyStrategyError, UsageError
from ..events import Event
from ..keys import STRATEGIES, KeyMaker
from ..sources import EventReader
from .common import (
    FormatOpt,
    JsonOpt,
    NamespaceOpt,
    StrategyOpt,
    handle_errors,
    settings_from,
    stdin_hint,
)
from .output import Output


@handle_errors
def keys(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="PATH",
            help="Event files, directories or globs; '-' reads stdin.",
            show_default=False,
        ),
    ] = None,
    key: StrategyOpt = None,
    namespace: NamespaceOpt = None,
    fmt: FormatOpt = "auto",
    list_strategies: Annotated[
        bool, typer.Option("--list", help="List the key strategies and exit.")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Print the dedup key of every event, one JSON line each.

    Each line has the location, the topic and the key (or the error saying why
    the event has none).

    Example: gcdedup keys sample_events/clean.jsonl --key envelope
    """
    output = Output(json_output)
    if list_strategies:
        rows = [(s.name, s.description) for s in STRATEGIES.values()]
        rows.append(("jmespath:<expr>", "the value of a JMESPath expression on the envelope"))
        if json_output:
            output.json([{"name": n, "description": d} for n, d in rows])
        else:
            output.table("key strategies", ["name", "description"], rows)
        return
    if not paths:
        raise UsageError("give event files to key, or --list")
    settings = settings_from(key_strategy=key, namespace=namespace)
    maker = KeyMaker.create(settings.key_strategy, settings.namespace)
    stdin_hint(paths, output)
    lines = []
    write = sys.stdout.buffer.write
    for record in EventReader(paths, fmt):
        if isinstance(record, Event):
            try:
                row = {
                    "location": str(record.location),
                    "topic": record.family,
                    "key": maker(record),
                }
            except KeyStrategyError as exc:
                row = {"location": str(record.location), "topic": record.family, "error": str(exc)}
        else:
            row = {"location": str(record.location), "error": record.reason}
        if json_output:
            lines.append(row)
        else:
            write(orjson.dumps(row) + b"\n")
    if json_output:
        output.json(lines)
