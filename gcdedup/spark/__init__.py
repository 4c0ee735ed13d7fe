"""The Spark engine: ``stats`` and ``process`` over inputs too large for one machine.

Nothing here re-states a rule: Spark tasks run gcdedup's own readers, decoding
contract and key rules (:mod:`.scan`) over their part of the input, and the
duplicate analysis is Spark's own aggregations over the narrow table they produce
(:mod:`.stats`); ``process`` runs the same :class:`~gcdedup.pipeline.Pipeline` in
every task over a shared store (:mod:`.process`). pyspark is an optional extra
(``pip install '.[spark]'`` in the checkout) and is imported only when this engine runs.
"""

from __future__ import annotations

ENGINES = ("python", "spark")
DEFAULT_MASTER = "local[*]"

__all__ = ["DEFAULT_MASTER", "ENGINES"]
