"""Every error a user can cause has a class here and a one-line message.

The CLI turns :class:`GcdedupError` into ``Error: <message>`` and the exit code
of the class; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class GcdedupError(Exception):
    """Base of all errors gcdedup reports to a user without a traceback."""

    exit_code = 1

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: The setting the message asks to change (e.g. ``concurrency``), named as the
        #: library knows it; an adapter (the CLI) may add how to set it there.
        self.setting = setting

    def __str__(self) -> str:
        return self.message


class UsageError(GcdedupError):
    """The call itself is wrong: an option, a URL, a path that does not exist."""

    exit_code = 2


class ConfigError(UsageError):
    """Configuration (flags, the settings schema's variables, GENESYSCLOUD_*) is invalid."""


class InputError(GcdedupError):
    """An input file or stream cannot be read at all (not a single bad record)."""


class KeyStrategyError(GcdedupError):
    """A key strategy cannot compute a key for one event."""


class StoreError(GcdedupError):
    """The dedup store failed or is not set up as gcdedup needs it."""


class MissingDependencyError(UsageError):
    """An optional dependency is not installed; the message names the extra."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"{module} is not installed; install the {extra} extra in the gcdedup checkout: "
            f"pip install '.[{extra}]' (gcdedup is not on PyPI)"
        )


class HandlerError(GcdedupError):
    """A handler cannot be loaded (the ``module:function`` spec is wrong)."""

    exit_code = 2


class GenesysError(GcdedupError):
    """A Genesys Cloud API call failed after the retries it is allowed."""


class InFlightError(GcdedupError):
    """The event's key is claimed by another live worker: deliver it again later."""


class ConflictError(GcdedupError):
    """The event's key was completed for another payload (``on_conflict="fail"``)."""
