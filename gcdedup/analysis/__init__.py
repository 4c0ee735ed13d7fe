"""Offline duplicate analysis of event files: what ``gcdedup stats PATH...`` reports.

:func:`analyze` reads the inputs once (in several processes for large inputs),
then classifies every duplicate against the *first* delivery of its key, in
input order:

1. ``replay``   the duplicate carries ``replay-name`` (an EventBridge archive replay);
2. ``retry``    same envelope ``id`` and identical canonical ``detail`` as the first
                (an EventBridge or Lambda redelivery);
3. ``resend``   identical canonical ``eventBody`` (``detail`` itself when there is no
                eventBody object) under a new envelope: re-sent upstream;
4. ``conflict`` anything else: same key, different eventBody (a key too coarse, or a
                superseding update).

Arrival time of a delivery is the newest envelope ``time`` seen so far in input
order (a watermark): redeliveries keep their original ``time``, so their own
``time`` would always say "no delay". Where no time is known, gaps fall back to
input order (events in between) and are left out of the TTL what-if.

The modules, in the order a run uses them: :mod:`.options` (what to analyse),
:mod:`.plan` (chunks), :mod:`.scan` with :mod:`.jsonl` and :mod:`.decode` (the
hot loop), :mod:`.records` (what a scan produces and how partials merge),
:mod:`.classify` and :mod:`.tally` (kinds and counts of duplicates),
:mod:`.report` and :mod:`.cost` (the document), :mod:`.run` (:func:`analyze`
and the worker processes). The library returns data; the CLI renders it.
"""

from .classify import KINDS
from .cost import CostModel
from .options import DEFAULT_TTLS, AnalysisOptions
from .plan import plan_chunks
from .report import StatsReport
from .run import Workers, analyze

__all__ = [
    "DEFAULT_TTLS",
    "KINDS",
    "AnalysisOptions",
    "CostModel",
    "StatsReport",
    "Workers",
    "analyze",
    "plan_chunks",
]
