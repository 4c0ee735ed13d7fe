"""The CLI's commands as data: names, modules, summaries, epilogs, the root's options.

Nothing here imports Typer or Rich: the Typer application (:mod:`gcdedup.cli.app`)
is built from this table, and ``gcdedup --help`` (:mod:`gcdedup.cli.quick`) prints
from it before Typer is imported. A test holds the two pages to each other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LazyCommand:
    """Where a command lives, and what the root help says about it."""

    module: str
    function: str
    summary: str
    epilog: str | None = None


ROOT_HELP = (
    "Deduplicate Genesys Cloud EventBridge events: process files through a dedup "
    "store, measure duplicates, and manage the store."
)

VERBOSE_HELP = "More logging on stderr (-vv: debug)."
VERSION_HELP = "Show the version and exit."

#: The root's own options as its help lists them: (names, help).
ROOT_OPTIONS: tuple[tuple[str, str], ...] = (
    ("-v, --verbose", VERBOSE_HELP),
    ("--version", VERSION_HELP),
    ("--help", "Show this message and exit."),
)

EPILOG = (
    "Exit codes: 0 success; 1 a runtime failure (an event's handler failed, the store "
    "failed, or --strict found bad records); 2 a usage error (bad option, path, URL or "
    "GCDEDUP_* variable). Output to a closed pipe (| head) ends quietly with 0."
)

#: Inputs with no event at all (an empty file or directory) are not an error.
NO_EVENTS = "No events found: a warning, exit 0 (1 with --strict)."

STATS_EPILOG = (
    "Exit codes: 0 success; 1 a runtime failure (the store failed, or --strict found bad "
    "records, no events or a key strategy that keys none); 2 a usage error (bad option, path, "
    f"URL or GCDEDUP_* variable). {NO_EVENTS}"
)

PROCESS_EPILOG = (
    "Exit codes: 0 success; 1 a runtime failure (an event's handler failed, a claim was "
    "taken over while its handler ran, the store failed, or --strict found bad records or "
    "no events); 2 a usage error (bad option, path, URL or GCDEDUP_* variable); 3 with "
    "--strict, events were left claimed by another worker; 130 / 143 stopped by Ctrl-C / "
    f"SIGTERM. {NO_EVENTS}"
)

#: init, keys and capture run no handler and have no --strict.
PLAIN_EPILOG = (
    "Exit codes: 0 success; 1 a runtime failure (the store or an AWS call failed, an input "
    "could not be read); 2 a usage error (bad option, path, URL or GCDEDUP_* variable). "
    "Output to a closed pipe (| head) ends quietly with 0."
)

PURGE_EPILOG = (
    "Exit codes: 0 success (also when nothing matched); 1 the store failed or is damaged, "
    "or the confirmation was declined; 2 a usage error (no filter, bad option, a store "
    "that does not exist, bad URL or GCDEDUP_* variable). Output to a closed pipe (| head) "
    "ends quietly with 0."
)


def root_epilog() -> str:
    """The root help's epilog; the settings are imported only when it is shown."""
    from ..settings import SCHEMA

    return (
        f"{EPILOG} Variables (flags win over them): "
        + ", ".join(s.env for s in SCHEMA if s.flags)
        + "; see each command's --help."
    )


#: Each command's module, function and root-help summary (the first paragraph of its
#: docstring; a test checks they agree), in the order the root help lists them.
COMMANDS: dict[str, LazyCommand] = {
    "process": LazyCommand(
        "gcdedup.cli.process",
        "process",
        "Run events through the dedup store once each.",
        PROCESS_EPILOG,
    ),
    "stats": LazyCommand(
        "gcdedup.cli.stats",
        "stats",
        "Measure duplicates: per kind, topic and file; compare key strategies; gaps, TTL, cost.",
        STATS_EPILOG,
    ),
    "purge": LazyCommand(
        "gcdedup.cli.purge",
        "purge",
        "Delete dedup keys (filters combine; one filter or --all is required).",
        PURGE_EPILOG,
    ),
    "init": LazyCommand(
        "gcdedup.cli.init",
        "init",
        "Create the dedup store if needed and check an existing one.",
        PLAIN_EPILOG,
    ),
    "keys": LazyCommand(
        "gcdedup.cli.keys",
        "keys",
        "Print the dedup key of every event, one JSON line each.",
        PLAIN_EPILOG,
    ),
    "capture": LazyCommand(
        "gcdedup.cli.capture",
        "capture",
        "Replay an archive's events into a file, without any other rule seeing them.",
        PLAIN_EPILOG,
    ),
}
