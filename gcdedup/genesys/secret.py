"""A wrapper that keeps a secret out of reprs, logs, exceptions and JSON output."""

from __future__ import annotations

import hmac

REDACTED = "***"


class Secret:
    """Holds a credential; ``str``/``repr``/f-strings show ``***``, only :meth:`reveal` shows it.

    A plain ``str`` field ends up in a dataclass repr, a traceback's locals or a
    ``--json`` dump sooner or later; this type makes the leak impossible by default.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself: call this only where it goes on the wire."""
        return self._value

    def __repr__(self) -> str:
        return REDACTED

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))
