"""What running the dedup store on DynamoDB would cost, from the measured duplicate rate.

Prices are examples (the us-east-1 on-demand list prices at the time of writing),
not truths: pass your region's. The formula is in :func:`estimate` and the README
(Duplicate analysis).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CostModel:
    """DynamoDB on-demand prices in USD per million request units, and the load.

    ``events_per_day`` None: from the span of envelope times. ``ttl_seconds``: how
    long the store keeps a key (for the items held).
    """

    price_write: float = 0.625
    price_read: float = 0.125
    events_per_day: float | None = None
    ttl_seconds: int = 5 * 86400


def estimate(model: CostModel, events: int, unique: int, dups: int, span: int) -> dict[str, Any]:
    """DynamoDB request units per day for ``process`` and ``check``.

    process: a new key costs 2 writes (claim put + complete update), a duplicate 2
    writes (the failed conditional put + the dup_count update): W = 2*new + 2*dup.
    check: one strongly consistent read per key: R = events. ``span``: seconds
    between the oldest and newest envelope time (0: unknown).
    """
    if model.events_per_day is not None:
        per_day = float(model.events_per_day)
        basis = "given"
    elif span > 0:
        per_day = events * 86400.0 / span
        basis = "observed"
    else:
        per_day = None
        basis = "unknown (no time span; pass --per-day)"
    share_new = unique / events if events else 0.0
    doc: dict[str, Any] = {
        "basis": basis,
        "span_seconds": span,
        "events_per_day": per_day,
        "price_write_per_million": model.price_write,
        "price_read_per_million": model.price_read,
        "formula": "process writes/day = 2*new + 2*duplicates; check reads/day = events",
    }
    if per_day is not None:
        new_day = per_day * share_new
        dup_day = per_day - new_day
        writes = 2 * new_day + 2 * dup_day
        reads = per_day
        doc.update(
            {
                "new_per_day": new_day,
                "duplicates_per_day": dup_day,
                "process_writes_per_day": writes,
                "process_cost_per_day": writes * model.price_write / 1e6,
                "check_reads_per_day": reads,
                "check_cost_per_day": reads * model.price_read / 1e6,
                "items_held": new_day * model.ttl_seconds / 86400.0,
                "items_held_ttl_seconds": model.ttl_seconds,
            }
        )
    return doc
