"""What to analyse and how: :class:`AnalysisOptions`, one field per ``stats`` flag."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..keys import DEFAULT_NAMESPACE, DEFAULT_STRATEGY
from .cost import CostModel
from .plan import PARALLEL_THRESHOLD

#: The TTL what-if always tries these (seconds): 1h, 6h, 24h, 4d.
DEFAULT_TTLS = (3600, 6 * 3600, 86400, 4 * 86400)


@dataclass(frozen=True)
class AnalysisOptions:
    """What to analyse and how; every field has a CLI flag."""

    strategy: str = DEFAULT_STRATEGY
    namespace: str = DEFAULT_NAMESPACE
    fmt: str = "auto"
    compare: tuple[str, ...] = ()
    ttls: tuple[int, ...] = DEFAULT_TTLS
    top: int = 10
    cost: CostModel = field(default_factory=CostModel)
    jobs: int | None = None  # None: every core
    parallel_threshold: int = PARALLEL_THRESHOLD
    #: Bound on temporary disk for inflated gzip input (None: gz.WINDOW_BYTES, 128 MiB;
    #: too small for a window: no temporary files, the general reader); see analysis.gz.
    temp_limit: int | None = None

    def strategies(self) -> list[str]:
        """The primary strategy first, then the compared ones (no repeats)."""
        names = [self.strategy]
        for name in self.compare:
            if name not in names:
                names.append(name)
        return names
