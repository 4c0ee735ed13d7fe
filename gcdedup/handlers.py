"""Handlers: what runs on each new event. A handler takes the EventBridge event as a dict.

It returns anything JSON-serialisable (written to ``--out``) or None, and raises
to fail the event (its claim is released so the next delivery runs it).

:func:`build_handler` is the one place the CLI (``process --handler/--genesys``) and
the Lambda (the handler and genesys settings) turn their settings into one.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import HandlerError

if TYPE_CHECKING:  # the Genesys client (requests) is imported only when it is used
    from .genesys.settings import GenesysSettings

Handler = Callable[[dict[str, Any]], Any]


def load_handler(spec: str) -> Handler:
    """Import ``package.module:function`` (or ``module:Class.attr``) and check it is callable."""
    module_name, sep, attr_path = spec.partition(":")
    if not sep or not module_name or not attr_path:
        raise HandlerError(f"invalid handler {spec!r}: expected module:function")
    target: Any = _import_handler_module(module_name)
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


def _import_handler_module(name: str) -> Any:
    """Import the handler's module; one not found on ``sys.path`` is looked for in the
    current directory too, as ``python -m`` would (``--handler myhandler:handle`` next
    to ``myhandler.py`` needs no PYTHONPATH). The directory is appended, not put first,
    so a file there never shadows an installed module; it stays on the path for the
    handler's own later imports."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        top = name.partition(".")[0]
        cwd = os.getcwd()
        on_path = {os.path.abspath(p or os.curdir) for p in sys.path}
        if exc.name != top or cwd in on_path:  # a dependency is missing, or nothing to add
            raise HandlerError(_not_found(name, exc, cwd)) from exc
        sys.path.append(cwd)
        importlib.invalidate_caches()
    except ImportError as exc:
        raise HandlerError(f"cannot import handler module {name!r}: {exc}") from exc
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise HandlerError(_not_found(name, exc, cwd)) from exc


def _not_found(name: str, exc: ImportError, cwd: str) -> str:
    message = f"cannot import handler module {name!r}: {exc}"
    top = name.partition(".")[0]
    if isinstance(exc, ModuleNotFoundError) and exc.name == top:
        message += (
            f" (looked on sys.path and in the current directory {cwd}: run from the "
            "directory that holds it, or add that directory to PYTHONPATH)"
        )
    return message


@dataclass
class BuiltHandler:
    """What :func:`build_handler` made: the handler (None: count only), its name for
    logs, and what to close when done (the Genesys client's connections)."""

    handler: Handler | None
    name: str
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for closer in reversed(self.closers):
            closer()
        self.closers.clear()

    def __enter__(self) -> BuiltHandler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_handler(
    spec: str | None = None,
    genesys: GenesysSettings | None = None,
    *,
    time_left: Callable[[], float] | None = None,
) -> BuiltHandler:
    """The handler a run uses, for the CLI and the Lambda alike.

    ``spec`` (``module:function``) loads the user's handler; ``genesys`` builds the
    Genesys conversation handler (no network I/O yet), whose waits end within
    ``time_left()`` seconds when given; neither means count only. Both is a
    HandlerError: the adapters check it first to name their own flag or variable.
    """
    if spec and genesys is not None:
        raise HandlerError("a handler module:function and the Genesys handler are exclusive")
    if spec:
        return BuiltHandler(load_handler(spec), spec)
    if genesys is not None:
        from .genesys.handlers import build_genesys_handler

        if time_left is None:
            conversations = build_genesys_handler(genesys)
        else:
            conversations = build_genesys_handler(genesys, time_left=time_left)
        return BuiltHandler(conversations, "genesys", [conversations.close])
    return BuiltHandler(None, "count-only")
