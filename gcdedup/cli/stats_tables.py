"""The tables ``gcdedup stats`` prints and writes as CSV, built from the library's data.

The analysis (:mod:`gcdedup.analysis`) returns a JSON-ready document and the store
a summary; this module turns them into :class:`Table` objects: CSV files get
``rows`` as they are, the screen may get other headers and narrower rows.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..analysis import KINDS
from .output import duration


class Rate(float):
    """A fraction shown as a percentage in tables and written raw to CSV."""


class Usd(float):
    """An amount in US dollars: shown by :func:`gcdedup.cli.output.usd`, raw in CSV."""


class DedupKey(str):
    """A dedup key: shortened in tables (its ids cut to a prefix), in full in CSV and JSON."""

    __slots__ = ()


#: The header of a column of shortened keys on screen.
SHORT_KEY_HEADER = "key (ids cut; full in --json, --csv)"


@dataclass
class Table:
    """One rendered table: a title, column names, rows; numeric columns right-aligned.

    ``rows`` are what CSV files get. The screen may show other headers
    (``screen_columns``) and, for a table too wide for a terminal, a narrower view
    of each row (``screen_row``: a row of ``rows`` -> a row of the view).
    """

    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    numeric: list[str] = field(default_factory=list)
    screen_columns: list[str] | None = None
    screen_row: Callable[[list[Any]], list[Any]] | None = None
    #: Screen columns cut in the middle to fit (keys, paths, topics).
    shorten: list[str] = field(default_factory=list)
    #: Too wide for the terminal: show it transposed (columns become rows).
    transpose: bool = False

    def screen(self) -> tuple[list[str], list[list[Any]]]:
        """Columns and rows to show on screen."""
        columns = self.columns if self.screen_columns is None else self.screen_columns
        if self.screen_row is None:
            return columns, self.rows
        return columns, [self.screen_row(row) for row in self.rows]


def _top_key_screen_row(row: list[Any]) -> list[Any]:
    """``[key, deliveries, *kind counts, topic]`` -> ``[key, deliveries, "2 retry, 1 resend"]``."""
    counts = row[2 : 2 + len(KINDS)]
    kinds = ", ".join(f"{n} {kind}" for kind, n in zip(KINDS, counts, strict=True) if n)
    return [row[0], row[1], kinds]


def _top_key_screen_row_topic(row: list[Any]) -> list[Any]:
    """As :func:`_top_key_screen_row`, keeping the topic (keys that do not show it)."""
    return [*_top_key_screen_row(row), row[-1]]


#: The summary's rows, in process's words (a duplicate is same key, same payload).
SUMMARY_COLUMNS = [
    "events",
    "unique",
    "duplicates",
    "conflicts",
    "duplicate rate",
    "bad records",
    "unkeyable",
]


def headline(d: dict[str, Any]) -> str:
    """The report in one line: printed after a report longer than the terminal."""
    ttl = d["ttl"]["recommended"]
    text = (
        f"Summary: {d['events']:,} events, {d['unique']:,} unique, {d['duplicates']:,} "
        f"duplicates, {d['conflicts']:,} conflict{'' if d['conflicts'] == 1 else 's'} "
        f"({d['duplicate_rate']:.2%}) by "
        f"{d['strategy']!r} keys, "
        f"{d['bad_records']:,} bad records"
    )
    if ttl:
        return f"{text}; recommended TTL {ttl}"
    if d["gaps"]["timed"]:
        return f"{text}; no TTL tried is long enough"
    return text


def transposed(
    columns: list[str], rows: list[list[Any]], labelled: bool = True
) -> tuple[list[str], list[list[Any]]]:
    """Columns become rows. ``labelled``: the first column's values (e.g. strategy names)
    become the header; otherwise (one row of measures) the header is ``["", "value"]``."""
    if not labelled:
        return ["", "value"], [[name, *(row[i] for row in rows)] for i, name in enumerate(columns)]
    header = [columns[0], *(str(row[0]) for row in rows)]
    body = [[name, *(row[i] for row in rows)] for i, name in enumerate(columns) if i]
    return header, body


def report_tables(d: dict[str, Any]) -> list[Table]:
    """The tables of a ``stats`` report document (:meth:`StatsReport.to_dict`)."""
    tables = [
        Table(
            "summary",
            f"Duplicates by key strategy {d['strategy']!r} (namespace {d['namespace']})",
            SUMMARY_COLUMNS,
            [
                [
                    d["events"],
                    d["unique"],
                    d["duplicates"],
                    d["conflicts"],
                    Rate(d["duplicate_rate"]),
                    d["bad_records"],
                    d["unkeyable"],
                ]
            ],
            SUMMARY_COLUMNS,
            transpose=True,
        ),
        Table(
            "by_kind",
            "Duplicates by kind (replay > retry > resend > conflict)",
            ["kind", "count", "of events", "of duplicates", "example key"],
            [
                [
                    kind,
                    v["count"],
                    Rate(v["rate"]),
                    Rate(v["share_of_duplicates"]),
                    None if v["example_key"] is None else DedupKey(v["example_key"]),
                ]
                for kind, v in d["by_kind"].items()
            ],
            ["count", "of events", "of duplicates"],
            # Keys are shortened on screen (see DedupKey); the header says so.
            screen_columns=["kind", "count", "of events", "of duplicates", SHORT_KEY_HEADER],
            shorten=[SHORT_KEY_HEADER],
        ),
        _counts_table("by_topic", "By topic family", "topic", d["by_topic"]),
        _file_table(d["by_file"]),
    ]
    if "compare" in d:
        tables.append(
            Table(
                "compare",
                "Key strategies compared (conflicts hidden: merged events whose eventBody differs)",
                [
                    "strategy",
                    "unique",
                    "duplicates",
                    "rate",
                    *KINDS,
                    "conflicts hidden",
                    "unkeyable",
                ],
                [
                    [
                        c["strategy"],
                        c["unique"],
                        c["duplicates"],
                        Rate(c["duplicate_rate"]),
                        *(c[k] for k in KINDS),
                        c["conflicts_hidden"],
                        c["unkeyable"],
                    ]
                    for c in d["compare"]
                ],
                ["unique", "duplicates", "rate", *KINDS, "conflicts hidden", "unkeyable"],
                transpose=True,
            )
        )
    g = d["gaps"]
    tables.append(
        Table(
            "gaps",
            f"Arrival gap to the first delivery ({g['timed']:,} timed, {g['untimed']:,} untimed)",
            ["percentile", "gap", "seconds"],
            [[p, duration(v), v] for p, v in g["percentiles_seconds"].items()]
            + [["max", duration(g["max_seconds"]), g["max_seconds"]]],
            ["seconds"],
        )
    )
    peak = max((h["count"] for h in g["histogram"]), default=0)
    tables.append(
        Table(
            "gap_histogram",
            "Arrival gaps",
            ["gap", "count"],
            [[h["bucket"], h["count"]] for h in g["histogram"]],
            ["count"],
            # the bar is for the screen; the CSV file holds numbers only
            screen_columns=["gap", "count", "histogram"],
            screen_row=lambda row: [*row, "█" * (round(30 * row[1] / peak) if peak else 0)],
        )
    )
    t = d["ttl"]
    tables.append(
        Table(
            "ttl",
            f"TTL what-if (recommended: {t['recommended'] or 'none of these'}; "
            f"longest gap {duration(t['max_gap_seconds'])})",
            ["ttl", "slipped past", "of timed duplicates", *KINDS],
            [
                [
                    r["ttl"],
                    r["slipped"],
                    Rate(r["slipped_rate"]),
                    *(r["slipped_by_kind"][k] for k in KINDS),
                ]
                for r in t["candidates"]
            ],
            ["slipped past", "of timed duplicates", *KINDS],
            transpose=True,
        )
    )
    c = d["cost"]
    rows: list[list[Any]] = [["events per day", c["events_per_day"], c["basis"]]]
    if c["events_per_day"] is not None:
        rows += [
            ["process: writes per day", c["process_writes_per_day"], "2*new + 2*duplicates"],
            [
                "process: USD per day",
                _usd(c["process_cost_per_day"]),
                f"at {c['price_write_per_million']} per million writes",
            ],
            ["check: reads per day", c["check_reads_per_day"], "1 per event"],
            [
                "check: USD per day",
                _usd(c["check_cost_per_day"]),
                f"at {c['price_read_per_million']} per million reads",
            ],
            [
                "items held",
                None if c["items_held"] is None else round(c["items_held"]),
                f"new per day x TTL {duration(c['items_held_ttl_seconds'])}",
            ],
        ]
    tables.append(
        Table(
            "cost",
            "DynamoDB on-demand estimate",
            ["measure", "value", "basis"],
            rows,
            ["value"],
        )
    )
    if d["top_keys"]:
        topic_in_key = d["strategy"] == "genesys"
        tables.append(
            Table(
                "top_keys",
                "Most duplicated keys",
                ["key", "deliveries", *KINDS, "topic"],
                [
                    [DedupKey(k["key"]), k["deliveries"], *(k[x] for x in KINDS), k["topic"]]
                    for k in d["top_keys"]
                ],
                ["deliveries", *KINDS],
                # On screen the kinds share one column and, for genesys keys (which
                # begin with their topic), the topic is left out: the key keeps the width.
                screen_columns=[SHORT_KEY_HEADER, "deliveries", "duplicates by kind"]
                + ([] if topic_in_key else ["topic"]),
                screen_row=_top_key_screen_row if topic_in_key else _top_key_screen_row_topic,
                shorten=[SHORT_KEY_HEADER, "topic"],
            )
        )
    if d["bad"]:
        tables.append(
            Table(
                "bad",
                f"Bad records ({d['bad_records']})",
                ["location", "reason"],
                [[b["location"], b["reason"]] for b in d["bad"]],
                shorten=["location"],
            )
        )
    return tables


def _usd(value: float | None) -> Usd | None:
    return None if value is None else Usd(value)


def _file_table(data: dict[str, dict[str, Any]]) -> Table:
    """Per file; on screen, the directory all files share is said once, in the title."""
    table = _counts_table("by_file", "By file", "file", data, extra="bad_records")
    try:
        common = os.path.commonpath([os.path.dirname(path) for path in data])
    except ValueError:  # none, or absolute and relative paths mixed
        common = ""
    if common and common != os.sep:
        prefix = common.rstrip(os.sep) + os.sep
        table.title = f"By file (in {prefix})"
        table.screen_row = lambda row: [
            row[0][len(prefix) :] if row[0].startswith(prefix) else row[0],
            *row[1:],
        ]
    return table


def _counts_table(
    name: str, title: str, label: str, data: dict[str, dict[str, Any]], extra: str | None = None
) -> Table:
    columns = [label, "events", "unique", "duplicates", "duplicate rate"]
    if extra:
        columns.append(extra.replace("_", " "))
    rows = []
    for key, v in data.items():
        row = [key, v["events"], v["unique"], v["duplicates"], Rate(v["duplicate_rate"])]
        if extra:
            row.append(v[extra])
        rows.append(row)
    return Table(name, title, columns, rows, columns[1:], shorten=[label])


def store_tables(summary: dict[str, Any]) -> list[Table]:
    """Tables for ``stats --store``: what the dedup table holds."""
    return [
        Table(
            "store",
            "Dedup store",
            ["records", "expired", "duplicates recorded", "duplicate rate"],
            [
                [
                    summary["records"],
                    summary["expired"],
                    summary["duplicates"],
                    Rate(summary["duplicate_rate"]),
                ]
            ],
            ["records", "expired", "duplicates recorded", "duplicate rate"],
            transpose=True,
        ),
        Table(
            "by_namespace",
            "By namespace",
            ["namespace", "records", "duplicates"],
            [
                [k, v["records"], v["duplicates"]]
                for k, v in sorted(summary["by_namespace"].items())
            ],
            ["records", "duplicates"],
            shorten=["namespace"],
        ),
        Table(
            "by_status",
            "By status",
            ["status", "records"],
            [[k, v] for k, v in sorted(summary["by_status"].items())],
            ["records"],
        ),
        Table(
            "by_topic",
            "By topic",
            ["topic", "records", "duplicates"],
            [[k, v["records"], v["duplicates"]] for k, v in sorted(summary["by_topic"].items())],
            ["records", "duplicates"],
            shorten=["topic"],
        ),
        Table(
            "by_age",
            "By age (since first seen)",
            ["age", "records"],
            [[k, v] for k, v in summary["by_age"].items()],
            ["records"],
        ),
    ]
