"""The function's log lines: one JSON object per line on stdout, ``request_id`` on each.

Every ``gcdedup`` logger (the pipeline's, the Genesys client's, the store's) writes
through :class:`JsonLines` once :func:`configure_logging` ran, so a warning of any
module is a JSON line with the invocation's request id like the function's own lines.
The request id is a module global, not a context variable: Lambda runs one invocation
at a time per container, and the lines written by the pipeline's and the store's
worker threads must carry it too (threads do not inherit context variables).
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import datetime, timezone
from typing import Any

import orjson

#: The function's own logger (container, invocation and per-event lines).
log = logging.getLogger("gcdedup.aws_lambda")

#: The package logger: the JSON handler sits here, so every gcdedup module's lines are JSON.
package_log = logging.getLogger("gcdedup")

#: The ``extra`` fields of other gcdedup modules' log records that reach a line: keys,
#: locations, error class names, retry timings, HTTP statuses and paths. Nothing else
#: (never a body, a URL, a token or a credential).
EXTRA_FIELDS = (
    "key",
    "location",
    "error",
    "attempt",
    "delay_s",
    "waited_s",
    "status",
    "method",
    "path",
    "conversation_id",
    "topic",
    "event_id",
    "variable",
    "expires_in",
)

#: ``user:password@`` in a URL inside an error text (e.g. a proxy's).
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")

_request_id: str | None = None


def set_request_id(request_id: str | None) -> None:
    """The invocation every following line belongs to (None between invocations)."""
    global _request_id
    _request_id = request_id


def current_request_id() -> str | None:
    return _request_id


class JsonLines(logging.Handler):
    """One JSON object per line on stdout (CloudWatch keeps one line per entry).

    ``sys.stdout`` is looked up at each write so tests that capture it see the lines.
    Written: the ``fields`` passed by :func:`emit`, the :data:`EXTRA_FIELDS` other
    gcdedup modules pass as ``extra``, and the request id; never an event body.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line: dict[str, Any] = {
                "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                    timespec="milliseconds"
                ),
                "level": record.levelname,
                "message": record.getMessage(),
            }
            if record.name != log.name:
                line["logger"] = record.name
            for name in EXTRA_FIELDS:
                value = getattr(record, name, None)
                if value is not None:
                    line[name] = _USERINFO.sub("***@", value) if isinstance(value, str) else value
            if record.exc_info and record.exc_info[0] is not None:
                line["exception"] = record.exc_info[0].__name__
            line.update(getattr(record, "fields", {}))
            if _request_id is not None:
                line.setdefault("request_id", _request_id)
            sys.stdout.write(orjson.dumps(line, default=str).decode() + "\n")
            sys.stdout.flush()
        except Exception:  # pragma: no cover - logging must never fail an invocation
            self.handleError(record)


def configure_logging() -> None:
    """JSON lines for every ``gcdedup`` logger, not through Lambda's plain-text root handler.

    Done when the container is built (not at import, so importing the package leaves
    the CLI's and a test runner's logging alone); calling it again is a no-op.
    """
    if not any(isinstance(h, JsonLines) for h in package_log.handlers):
        package_log.addHandler(JsonLines())
    package_log.setLevel(logging.INFO)
    package_log.propagate = False  # Lambda's root handler would prefix and re-wrap our JSON


def emit(level: int, message: str, **fields: Any) -> None:
    """One line of the function's own, with these fields."""
    log.log(level, message, extra={"fields": fields})
