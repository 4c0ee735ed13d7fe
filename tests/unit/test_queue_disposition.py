"""The queue disposition rule: one function, the same table as docs/queue-disposition.md."""

from __future__ import annotations

from itertools import product
from pathlib import Path

import pytest

from gcdedup.outcomes import EventOutcome, Mode
from gcdedup.sources.disposition import TABLE, Disposition, disposition

DOC = Path(__file__).resolve().parents[2] / "docs" / "queue-disposition.md"
#: The doc's columns: (mode, handler) for each.
COLUMNS = {
    "process, with a handler": [(Mode.PROCESS, True)],
    "process, no handler (count only)": [(Mode.PROCESS, False)],
    "check": [(Mode.CHECK, True), (Mode.CHECK, False)],
    "seed": [(Mode.SEED, True), (Mode.SEED, False)],
}


def doc_table() -> dict[tuple[EventOutcome, Mode, bool], Disposition]:
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in DOC.read_text().splitlines()
        if line.startswith("| ")
    ]
    header, body = rows[0], rows[1:]
    assert header[0] == "outcome" and header[1:] == list(COLUMNS)
    table = {}
    for row in body:
        outcome = EventOutcome(row[0])
        for column, cell in zip(header[1:], row[1:], strict=True):
            for mode, handler in COLUMNS[column]:
                table[(outcome, mode, handler)] = Disposition(cell)
    return table


def test_the_docs_table_is_the_rule_cell_by_cell() -> None:
    documented = doc_table()
    every = set(product(EventOutcome, Mode, (True, False)))
    assert set(documented) == every  # the doc covers every outcome, mode and handler
    ruled = {cell: disposition(*cell) for cell in every}
    assert ruled == documented
    assert set(TABLE) == set(product(Mode, (True, False)))


#: The only cells that delete a message: a handler succeeded, a completed key, a seed.
DELETES = {
    (EventOutcome.PROCESSED, Mode.PROCESS, True),
    (EventOutcome.DUPLICATE, Mode.PROCESS, True),
    (EventOutcome.SEEDED, Mode.SEED, True),
    (EventOutcome.SEEDED, Mode.SEED, False),
    (EventOutcome.DUPLICATE, Mode.SEED, True),
    (EventOutcome.DUPLICATE, Mode.SEED, False),
}


@pytest.mark.parametrize(
    ("outcome", "mode", "handler"), list(product(EventOutcome, Mode, (True, False)))
)
def test_only_handled_or_seeded_events_leave_the_queue(
    outcome: EventOutcome, mode: Mode, handler: bool
) -> None:
    action = disposition(outcome, mode, handler)
    assert (action is Disposition.DELETE) == ((outcome, mode, handler) in DELETES)
    read_only = mode is Mode.CHECK or (mode is Mode.PROCESS and not handler)
    if read_only:
        assert action is Disposition.RELEASE  # as if never received
    if outcome in (EventOutcome.CONFLICT, EventOutcome.NOT_STARTED):
        assert action is Disposition.RELEASE  # nobody handled it: back at once
    if outcome is EventOutcome.FAILED and not read_only:
        assert action is Disposition.LEAVE  # toward the dead-letter queue
