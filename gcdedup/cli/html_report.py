"""``gcdedup stats --html FILE``: the report as one self-contained page.

Charts are inline SVG drawn here (no library, no script): duplicates over time by
kind, the arrival-gap distribution with the TTL what-if marked, duplicate rates per
topic, the key strategies compared; then every table of the text report with full
values. Nothing is loaded from anywhere: a Content-Security-Policy forbids it, so a
browser reports any mistake as a console error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from ..analysis import KINDS
from ..errors import UsageError
from .cut import cut
from .output import duration, fmt, percent, usd
from .stats_tables import DedupKey, Rate, Table, Usd, headline

#: One colour per kind of duplicate (colour-blind safe, Tableau 10).
COLOURS = {"retry": "#4e79a7", "replay": "#f28e2b", "resend": "#59a14f", "conflict": "#e15759"}
WIDTH = 880

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 920px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; } h3 { font-size: 1em; }
.headline { font-size: 1.1em; background: #f3f6fa; padding: .6em .8em; border-radius: 4px; }
.warning { background: #fff4e5; padding: .4em .8em; border-left: 4px solid #f28e2b; }
.legend span { display: inline-block; margin-right: 1.2em; }
.legend i { display: inline-block; width: .9em; height: .9em; margin-right: .3em;
  vertical-align: -1px; }
svg { display: block; margin: .5em 0; font-size: 11px; }
svg text { fill: #333; } svg .axis { stroke: #999; } svg .grid { stroke: #eee; }
svg .ttl { stroke: #555; stroke-dasharray: 4 3; } svg .recommended { stroke: #2a7; }
table { border-collapse: collapse; margin: .3em 0 1em; }
th, td { border: 1px solid #ddd; padding: .2em .5em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
td { overflow-wrap: break-word; } td .long { overflow-wrap: anywhere; }
p.note { color: #666; }
"""


def write_html(
    path: Path, doc: dict[str, Any], tables: Sequence[Table], warnings: list[str]
) -> None:
    """Write the page; an unwritable path is a usage error."""
    try:
        path.write_text(render(doc, tables, warnings), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write --html file {path}: {exc.strerror or exc}") from None


def render(doc: dict[str, Any], tables: Sequence[Table], warnings: list[str]) -> str:
    title = f"gcdedup stats: {doc['events']:,} events, {doc['duplicate_rate']:.2%} duplicates"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # Nothing may be fetched: inline styles only (and no script at all).
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        "<h1>Duplicate analysis</h1>",
        f'<p class="headline">{escape(headline(doc).removeprefix("Summary: "))}</p>',
        *(f'<p class="warning">Warning: {escape(w)}</p>' for w in warnings),
        "<h2>Duplicates over time, by kind</h2>",
        timeline_chart(doc),
        "<h2>Arrival gap to the first delivery, and the TTL what-if</h2>",
        gap_chart(doc),
        "<h2>Duplicate rate per topic family</h2>",
        topic_chart(doc),
        "<h2>Key strategies compared</h2>",
        strategy_chart(doc),
        "<h2>Tables</h2>",
        *(_table(t) for t in tables),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _legend() -> str:
    items = "".join(f'<span><i style="background:{COLOURS[k]}"></i>{k}</span>' for k in KINDS)
    return f'<p class="legend">{items}</p>'


def _svg(height: int, body: list[str], label: str) -> str:
    return (
        f'<svg class="chart" role="img" aria-label="{escape(label)}" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


def _nice(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at least ``value``."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value)


def _y_axis(body: list[str], top: float, left: int, y0: int, height: int, label: str) -> None:
    for i in range(5):
        value = top * i / 4
        y = y0 - height * i / 4
        body.append(f'<line class="grid" x1="{left}" x2="{WIDTH - 10}" y1="{y:.1f}" y2="{y:.1f}"/>')
        text = fmt(round(value)) if top >= 4 else f"{value:g}"
        body.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{text}</text>')
    body.append(
        f'<text x="12" y="{y0 - height / 2:.0f}" transform="rotate(-90 12 {y0 - height / 2:.0f})" '
        f'text-anchor="middle">{escape(label)}</text>'
    )


def timeline_chart(doc: dict[str, Any]) -> str:
    """Stacked bars: timed duplicates per time bucket, one colour per kind."""
    series = doc.get("timeline") or {}
    buckets = series.get("buckets") or []
    if not buckets:
        return '<p class="note">No timed duplicates (no envelope times): nothing to plot.</p>'
    left, y0, plot_h = 60, 250, 230
    plot_w = WIDTH - left - 10
    top = _nice(max(sum(b[k] for k in KINDS) for b in buckets))
    body: list[str] = []
    _y_axis(body, top, left, y0, plot_h, "duplicates")
    step = plot_w / len(buckets)
    for i, bucket in enumerate(buckets):
        x = left + i * step
        y = float(y0)
        tip = f"{bucket['start']}: " + ", ".join(f"{bucket[k]:,} {k}" for k in KINDS)
        for kind in KINDS:
            h = plot_h * bucket[kind] / top
            if h > 0:
                y -= h
                body.append(
                    f'<rect x="{x + 0.5:.1f}" y="{y:.1f}" width="{max(step - 1, 1):.1f}" '
                    f'height="{h:.1f}" fill="{COLOURS[kind]}"><title>{escape(tip)}</title></rect>'
                )
    body.append(f'<line class="axis" x1="{left}" x2="{WIDTH - 10}" y1="{y0}" y2="{y0}"/>')
    for i in sorted({0, len(buckets) // 2, len(buckets) - 1}):
        label = buckets[i]["start"].replace("T", " ").removesuffix(":00Z") + " UTC"
        anchor = "start" if i == 0 else "end" if i == len(buckets) - 1 else "middle"
        x = left + (i + (0 if i == 0 else 1 if i == len(buckets) - 1 else 0.5)) * step
        body.append(f'<text x="{x:.1f}" y="{y0 + 18}" text-anchor="{anchor}">{label}</text>')
    size = duration(series["bucket_seconds"])
    return (
        _legend()
        + _svg(275, body, f"Timed duplicates per {size}, stacked by kind")
        + f'<p class="note">Each bar: the duplicates that arrived in {size} (arrival: the '
        "newest envelope time seen so far); untimed duplicates are left out.</p>"
    )


def gap_chart(doc: dict[str, Any]) -> str:
    """The gap histogram on a log time axis, each TTL of the what-if a dashed line."""
    gaps = doc["gaps"]
    counts = [h["count"] for h in gaps["histogram"]]
    if not any(counts):
        return '<p class="note">No timed duplicates: no arrival gaps to plot.</p>'
    ttls = doc["ttl"]["candidates"]
    longest = max([gaps["max_seconds"] or 1, *(t["seconds"] for t in ttls)])
    x_max = max(16 * 86400, longest * 2)
    edges = [1, 60, 600, 3600, 6 * 3600, 86400, 4 * 86400, x_max]
    left, y0, plot_h = 60, 250, 210
    plot_w = WIDTH - left - 20

    def x(seconds: float) -> float:
        return left + plot_w * math.log10(max(seconds, 1)) / math.log10(x_max)

    top = _nice(max(counts))
    body: list[str] = []
    _y_axis(body, top, left, y0, plot_h, "duplicates")
    for h, low, high in zip(gaps["histogram"], edges, edges[1:], strict=False):
        height = plot_h * h["count"] / top
        body.append(
            f'<rect x="{x(low) + 1:.1f}" y="{y0 - height:.1f}" width="{x(high) - x(low) - 2:.1f}" '
            f'height="{height:.1f}" fill="#4e79a7"><title>{escape(h["bucket"])}: '
            f"{h['count']:,}</title></rect>"
        )
    body.append(f'<line class="axis" x1="{left}" x2="{left + plot_w}" y1="{y0}" y2="{y0}"/>')
    for seconds, label in ((1, "1s"), (60, "1m"), (600, "10m"), (3600, "1h"), (86400, "1d")):
        body.append(f'<text x="{x(seconds):.1f}" y="{y0 + 16}" text-anchor="middle">{label}</text>')
    recommended = doc["ttl"]["recommended"]
    for row in ttls:
        cls = "ttl recommended" if row["ttl"] == recommended else "ttl"
        xt = x(row["seconds"])
        body.append(
            f'<line class="{cls}" x1="{xt:.1f}" x2="{xt:.1f}" y1="{y0}" y2="{y0 - plot_h - 14}"/>'
        )
        note = f"TTL {row['ttl']}: {row['slipped']:,} slip past"
        body.append(
            f'<text x="{xt + 3:.1f}" y="{y0 - plot_h - 4}">{escape(row["ttl"])}'
            f"<title>{escape(note)}</title></text>"
        )
    if gaps["max_seconds"] is not None:
        xm = x(gaps["max_seconds"])
        body.append(
            f'<circle cx="{xm:.1f}" cy="{y0}" r="4" fill="#e15759"><title>longest gap '
            f"{duration(gaps['max_seconds'])}</title></circle>"
        )
    rec = f"recommended TTL {recommended} (green)" if recommended else "no TTL tried covers all"
    return _svg(275, body, "Arrival gaps (log scale) with the TTLs tried") + (
        f'<p class="note">Dashed: the TTLs of the what-if; {escape(rec)}; red dot: the longest '
        f"gap, {escape(duration(gaps['max_seconds']))}. A duplicate arriving later than the TTL "
        "after the first delivery is processed again.</p>"
    )


def _bars(rows: list[tuple[str, list[tuple[str, float]], str]], label: str) -> str:
    """Horizontal bars, each a stack of (colour, fraction) with a label; the longest bar
    takes the whole width."""
    left, row_h = 330, 24
    longest = max((sum(f for _, f in parts) for _, parts, _ in rows), default=0) or 1
    plot_w = (WIDTH - left - 150) / longest
    body: list[str] = []
    for i, (name, parts, text) in enumerate(rows):
        y = 6 + i * row_h
        shown = cut(name, 52)  # the same cut as the terminal's tables
        body.append(
            f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{escape(shown)}'
            f"<title>{escape(name)}</title></text>"
        )
        x = float(left)
        for colour, fraction in parts:
            w = plot_w * fraction
            if w > 0:
                body.append(
                    f'<rect x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="{row_h - 6}" '
                    f'fill="{colour}"/>'
                )
                x += w
        body.append(f'<text x="{x + 6:.1f}" y="{y + 15}">{escape(text)}</text>')
    body.append(f'<line class="axis" x1="{left}" x2="{left}" y1="4" y2="{8 + len(rows) * row_h}"/>')
    return _svg(12 + len(rows) * row_h, body, label)


def topic_chart(doc: dict[str, Any]) -> str:
    rows = [
        (
            topic,
            [("#4e79a7", v["duplicate_rate"])],
            f"{v['duplicate_rate']:.2%} ({v['duplicates']:,} of {v['events']:,})",
        )
        for topic, v in doc["by_topic"].items()
    ]
    if not rows:
        return '<p class="note">No events.</p>'
    return _bars(rows, "Duplicate rate per topic family (the longest bar: the highest rate)")


def strategy_chart(doc: dict[str, Any]) -> str:
    compared = doc.get("compare")
    if not compared:
        return (
            '<p class="note">Run with --compare genesys,envelope,content,tutorial to see '
            "what each key strategy would catch and hide.</p>"
        )
    rows = []
    for c in compared:
        keyed = c["keyed"] or 1
        parts = [(COLOURS[k], c[k] / keyed) for k in KINDS]
        text = f"{c['duplicate_rate']:.2%}" + (
            f", {c['unkeyable']:,} unkeyable" if c["unkeyable"] else ""
        )
        rows.append((c["strategy"], parts, text))
    return (
        _legend()
        + _bars(rows, "Duplicates each key strategy finds, as a share of its keyed events")
        + '<p class="note">A conflict is a merged event whose eventBody differs: what a key '
        "too coarse hides.</p>"
    )


def _cell(value: Any, numeric: bool) -> str:
    if isinstance(value, Rate):
        text = percent(value)
    elif isinstance(value, Usd):
        text = usd(value)
    elif isinstance(value, DedupKey):
        text = str(value)
    elif value is None:
        text = ""
    else:
        text = fmt(value)
    return f'<td class="n">{escape(text)}</td>' if numeric else f"<td>{breakable(text)}</td>"


#: After these a key, path or topic may wrap (``<wbr>``): words themselves stay whole.
_SEPARATORS = re.compile(r"(?<=[#./_\-:,=])")
#: A token longer than this with no separator (a digest) may wrap anywhere.
LONG_TOKEN = 24


def breakable(text: str) -> str:
    """``text`` escaped for HTML, with a line-break opportunity after each separator of
    a key, path or topic, and a long token (a digest) marked to wrap anywhere: a table
    never splits a word, and a long key wraps instead of widening its column."""
    pieces = []
    for piece in _SEPARATORS.split(text):
        shown = escape(piece)
        pieces.append(f'<span class="long">{shown}</span>' if len(piece) > LONG_TOKEN else shown)
    return "<wbr>".join(pieces)


def _table(table: Table) -> str:
    numeric = [c in table.numeric for c in table.columns]
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(_cell(v, n) for v, n in zip(row, numeric, strict=True)) + "</tr>"
        for row in table.rows
    )
    return f"<h3>{escape(table.title)}</h3><table><thead><tr>{head}</tr></thead>{body}</table>"
