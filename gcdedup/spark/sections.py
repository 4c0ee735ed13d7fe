"""The report's gap, timeline and TTL sections from aggregates, not from lists.

The Python engine keeps one number per duplicate and sorts them
(:func:`gcdedup.analysis.report.build_report`). The Spark engine keeps no such
lists on the driver: Spark answers with the few numbers these sections show
(ranks, bucket counts), and these functions lay them out exactly as
:mod:`gcdedup.analysis.report` does, with its constants and labels (equality with
it is tested on generated lists).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from ..analysis.classify import KINDS
from ..analysis.report import (
    GAP_BUCKETS,
    PERCENTILES,
    TIMELINE_MAX_BUCKETS,
    TIMELINE_SIZES,
    _rate,
    _ttl_label,
)


def rank(p: float, n: int) -> int:
    """The 1-based nearest rank of percentile ``p`` among ``n`` values (as
    :func:`gcdedup.analysis.report.percentile` picks it)."""
    return max(1, math.ceil(p / 100 * n))


def gap_doc(
    timed: int,
    untimed: int,
    at_rank: Mapping[int, int],
    untimed_at_rank: Mapping[int, int],
    histogram: Sequence[int],
    max_gap: int | None,
) -> dict[str, Any]:
    """``gaps``: ``at_rank`` maps each :func:`rank` of :data:`PERCENTILES` to its value."""
    labels = [label for label, _ in GAP_BUCKETS]
    return {
        "timed": timed,
        "untimed": untimed,
        "percentiles_seconds": {
            f"p{p}": at_rank[rank(p, timed)] if timed else None for p in PERCENTILES
        },
        "max_seconds": max_gap,
        "histogram": [
            {"bucket": label, "count": count}
            for label, count in zip(labels, histogram, strict=True)
        ],
        "untimed_percentiles_events": {
            f"p{p}": untimed_at_rank[rank(p, untimed)] if untimed else None for p in PERCENTILES
        },
    }


def timeline_size(low: int, high: int) -> int:
    """Seconds per bucket for arrivals from ``low`` to ``high`` (report.timeline's choice)."""
    return next(
        (s for s in TIMELINE_SIZES if (high - low) // s < TIMELINE_MAX_BUCKETS),
        TIMELINE_SIZES[-1],
    )


def timeline_doc(
    low: int | None, high: int | None, counts: Mapping[tuple[int, int], int]
) -> dict[str, Any]:
    """``timeline``: ``counts`` maps (bucket index from ``start``, kind code) to duplicates."""
    if low is None or high is None:
        return {"bucket_seconds": None, "buckets": []}
    size = timeline_size(low, high)
    start = low - low % size
    buckets = []
    for i in range((high - start) // size + 1):
        when = datetime.fromtimestamp(start + i * size, timezone.utc)
        buckets.append(
            {
                "start": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                **{kind: counts.get((i, code), 0) for code, kind in enumerate(KINDS)},
            }
        )
    return {"bucket_seconds": size, "buckets": buckets}


def ttl_doc(
    ttls: Sequence[int],
    slipped: Mapping[int, Sequence[int]],
    timed: int,
    untimed: int,
    max_gap: int | None,
) -> dict[str, Any]:
    """``ttl``: ``slipped`` maps each TTL (ascending) to copies slipping past it, per kind."""
    rows = []
    recommended = None
    for ttl in ttls:
        total = sum(slipped[ttl])
        rows.append(
            {
                "ttl": _ttl_label(ttl),
                "seconds": ttl,
                "slipped": total,
                "slipped_rate": _rate(total, timed),
                "slipped_by_kind": dict(zip(KINDS, slipped[ttl], strict=True)),
            }
        )
        if recommended is None and total == 0 and timed:
            recommended = _ttl_label(ttl)
    return {
        "candidates": rows,
        "recommended": recommended,
        "max_gap_seconds": max_gap,
        "untimed_duplicates": untimed,
    }
