"""What happens to a queue message once its event has an outcome: one rule, one table.

A message leaves the queue only when its event needs no further delivery: a
handler succeeded for it, or it repeats a key whose record was completed (by a
handler, or by an explicit ``--mode seed``). Everything else stays in the queue:

* ``release``: the message becomes visible again when the drain ends (its
  visibility is set to 0), as if this run had never received it. Read-only runs
  (``--mode check``; count-only runs are turned into check runs on a queue),
  conflicts that were not processed, events a stopped run did not start, and
  events outside the run's ``--since``/``--until`` window.
* ``leave``: the message comes back after its visibility timeout, and its receive
  count moves it to a dead-letter queue in the end: a failed handler, a bad
  record, an event another worker holds a claim on.

:data:`TABLE` spells the rule out for every outcome, mode and handler presence;
``docs/queue-disposition.md`` shows the same table, and a unit test holds the two
together.
"""

from __future__ import annotations

import enum

from ..outcomes import EventOutcome, Mode


class Disposition(str, enum.Enum):
    DELETE = "delete"  # the event needs no further delivery
    RELEASE = "release"  # visible again when the drain ends (visibility 0)
    LEAVE = "leave"  # back after the visibility timeout (toward the DLQ)


_O = EventOutcome
_D = Disposition

#: Process mode with a handler: only success (or a completed key) deletes.
_HANDLED: dict[EventOutcome, Disposition] = {
    _O.PROCESSED: _D.DELETE,
    _O.DUPLICATE: _D.DELETE,
    _O.CONFLICT: _D.RELEASE,  # another payload, skipped: not handled by anyone
    _O.NOT_STARTED: _D.RELEASE,  # a stopped run: the next run takes it at once
    _O.OUTSIDE_WINDOW: _D.RELEASE,  # not this run's: --since/--until left it alone
    _O.FAILED: _D.LEAVE,
    _O.IN_FLIGHT: _D.LEAVE,  # the holder completes it; its copy here is then a duplicate
    _O.BAD_RECORD: _D.LEAVE,
    _O.NEW: _D.LEAVE,  # not an outcome of process mode
    _O.SEEDED: _D.LEAVE,  # not an outcome of process mode
}

#: --mode seed: the user marks these events done, so their messages are consumed.
_SEEDED: dict[EventOutcome, Disposition] = {
    **{outcome: _D.LEAVE for outcome in EventOutcome},
    _O.SEEDED: _D.DELETE,
    _O.DUPLICATE: _D.DELETE,
    _O.CONFLICT: _D.RELEASE,  # its payload was not recorded: not seeded
    _O.NOT_STARTED: _D.RELEASE,
    _O.OUTSIDE_WINDOW: _D.RELEASE,
}

#: Read only: check mode, and process mode with no handler (count only).
_READ_ONLY: dict[EventOutcome, Disposition] = {outcome: _D.RELEASE for outcome in EventOutcome}

#: (mode, handler configured) -> outcome -> what happens to the message.
TABLE: dict[tuple[Mode, bool], dict[EventOutcome, Disposition]] = {
    (Mode.PROCESS, True): _HANDLED,
    (Mode.PROCESS, False): _READ_ONLY,
    (Mode.CHECK, True): _READ_ONLY,
    (Mode.CHECK, False): _READ_ONLY,
    (Mode.SEED, True): _SEEDED,
    (Mode.SEED, False): _SEEDED,
}


def disposition(outcome: EventOutcome, mode: Mode, handler: bool) -> Disposition:
    """What to do with the message of an event that got ``outcome`` in a ``mode`` run
    (``handler``: whether the run has a handler)."""
    return TABLE[(mode, handler)][outcome]
