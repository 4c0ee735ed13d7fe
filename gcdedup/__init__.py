"""gcdedup: process each Genesys Cloud EventBridge event once.

The library is the product; the CLI (``gcdedup.cli``) and the Lambda entry point
(``gcdedup.aws_lambda``) are thin adapters over :func:`gcdedup.pipeline.process`, and
:func:`dedup` wraps a function of your own (your own Lambda handler) in the same pipeline.

``__all__`` is the public API. Names are imported on first use, so ``import
gcdedup`` stays cheap and a Lambda that only processes never loads the offline
analysis (and its decoder dependency) or the CLI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS = {
    "AnalysisOptions": "gcdedup.analysis",
    "BadRecord": "gcdedup.events",
    "ConfigError": "gcdedup.errors",
    "ConflictError": "gcdedup.errors",
    "Deduplicated": "gcdedup.api",
    "DedupStore": "gcdedup.store",
    "Event": "gcdedup.events",
    "EventOutcome": "gcdedup.pipeline",
    "EventReader": "gcdedup.sources",
    "EventResult": "gcdedup.pipeline",
    "GcdedupError": "gcdedup.errors",
    "InFlightError": "gcdedup.errors",
    "KeyMaker": "gcdedup.keys",
    "KeyStrategyError": "gcdedup.errors",
    "Location": "gcdedup.events",
    "Mode": "gcdedup.pipeline",
    "Pipeline": "gcdedup.pipeline",
    "PurgeFilter": "gcdedup.store",
    "RecordStatus": "gcdedup.store",
    "RunReport": "gcdedup.pipeline",
    "Settings": "gcdedup.settings",
    "StoreError": "gcdedup.errors",
    "analyze": "gcdedup.analysis",
    "build_handler": "gcdedup.handlers",
    "dedup": "gcdedup.api",
    "open_store": "gcdedup.store",
    "process": "gcdedup.pipeline",
}

__all__ = [
    "AnalysisOptions",
    "BadRecord",
    "ConfigError",
    "ConflictError",
    "DedupStore",
    "Deduplicated",
    "Event",
    "EventOutcome",
    "EventReader",
    "EventResult",
    "GcdedupError",
    "InFlightError",
    "KeyMaker",
    "KeyStrategyError",
    "Location",
    "Mode",
    "Pipeline",
    "PurgeFilter",
    "RecordStatus",
    "RunReport",
    "Settings",
    "StoreError",
    "__version__",
    "analyze",
    "build_handler",
    "dedup",
    "open_store",
    "process",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors only
    from gcdedup.analysis import AnalysisOptions, analyze
    from gcdedup.api import Deduplicated, dedup
    from gcdedup.errors import (
        ConfigError,
        ConflictError,
        GcdedupError,
        InFlightError,
        KeyStrategyError,
        StoreError,
    )
    from gcdedup.events import BadRecord, Event, Location
    from gcdedup.handlers import build_handler
    from gcdedup.keys import KeyMaker
    from gcdedup.pipeline import EventOutcome, EventResult, Mode, Pipeline, RunReport, process
    from gcdedup.settings import Settings
    from gcdedup.sources import EventReader
    from gcdedup.store import DedupStore, PurgeFilter, RecordStatus, open_store


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gcdedup' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return __all__
