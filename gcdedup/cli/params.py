"""Parsers for option values whose mistakes a newcomer makes: a duration without a unit,
a mode that does not exist. Each raises :class:`UsageError` with one line that says what
is accepted; :class:`gcdedup.cli.common.Command` prints it as ``Error: ...`` (exit 2)."""

from __future__ import annotations

import re
from collections.abc import Callable

from ..errors import ConfigError, UsageError
from ..outcomes import Mode
from ..settings import parse_duration

#: A number and a unit parse_duration knows (ms and w too, not advertised).
_WITH_UNIT = re.compile(r"^\s*\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w)\s*$")
_NUMBER = re.compile(r"^\s*\d+(?:\.\d+)?\s*$")
UNITS_HELP = "s, m, h or d (e.g. 36h, 5d)"


def duration_flag(flag: str) -> Callable[[str], str]:
    """The parser of a duration option: the unit is required (``--ttl 5`` would silently
    mean five seconds). It returns the text unchanged (the settings parse it); the
    environment variables still take a bare number of seconds, as the Lambda template
    documents, so a deployed stack keeps working."""

    def parse(value: str) -> str:
        if not isinstance(value, str):  # a default, already a value
            return value
        if _NUMBER.match(value):
            raise UsageError(f"invalid {flag} {value.strip()!r}: add a unit: {UNITS_HELP}")
        if not _WITH_UNIT.match(value):
            raise UsageError(f"invalid {flag} {value!r}: use a number and {UNITS_HELP}")
        try:
            parse_duration(value)
        except ConfigError as exc:  # zero
            reason = exc.message.rpartition(": ")[2]
            raise UsageError(f"invalid {flag} {value!r}: {reason}") from None
        return value

    return parse


def mode_choice(value: str | Mode) -> Mode:
    """``--mode``: one of the modes, in any case; anything else names them all."""
    if isinstance(value, Mode):
        return value
    try:
        return Mode(str(value).strip().lower())
    except ValueError:
        *rest, last = (m.value for m in Mode)
        raise UsageError(f"invalid --mode {value!r}: choose {', '.join(rest)} or {last}") from None
