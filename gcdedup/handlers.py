"""Handlers: what runs on each new event. A handler takes the EventBridge event as a dict.

It returns anything JSON-serialisable (written to ``--out``) or None, and raises
to fail the event (its claim is released so the next delivery runs it).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from .errors import HandlerError

Handler = Callable[[dict[str, Any]], Any]


def load_handler(spec: str) -> Handler:
    """Import ``package.module:function`` (or ``module:Class.attr``) and check it is callable."""
    module_name, sep, attr_path = spec.partition(":")
    if not sep or not module_name or not attr_path:
        raise HandlerError(f"invalid handler {spec!r}: expected module:function")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise HandlerError(f"cannot import handler module {module_name!r}: {exc}") from exc
    for part in attr_path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise HandlerError(
                f"handler {spec!r}: {module_name} has no attribute {attr_path!r}"
            ) from None
    if not callable(target):
        raise HandlerError(f"handler {spec!r} is not callable")
    handler: Handler = target
    return handler
