"""Event sources: read events (and bad records) from what the user names.

* :mod:`.local`: files, directories, globs and standard input, resolved before
  anything is read (:func:`expand_paths`) and opened one at a time;
* :mod:`.reader`: :class:`EventReader`, the one way any input becomes
  :class:`~gcdedup.events.Event` and :class:`~gcdedup.events.BadRecord` objects;
* :mod:`.sniff`: the input format from the first bytes (``--format auto``);
* :mod:`.compression`: gzip, detected by content and streamed;
* :mod:`.splitter`: the JSON stream splitter for arrays and back-to-back objects;
* :mod:`.framing`: what all of these share about bytes: read size, BOM, long
  lines, bad-record reasons.
"""

from .local import EXTENSIONS, STDIN, expand_paths
from .reader import FORMATS, EventReader, Record, read_events

__all__ = ["EXTENSIONS", "FORMATS", "STDIN", "EventReader", "Record", "expand_paths", "read_events"]
