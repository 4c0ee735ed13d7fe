"""``gcdedup init``: create the store (the SQLite file, or the DynamoDB table with TTL)."""

from __future__ import annotations

from .common import JsonOpt, StoreOpt, handle_errors, settings_from
from .output import Output


@handle_errors
def init(store: StoreOpt = None, json_output: JsonOpt = False) -> None:
    """Create the dedup store if needed and check an existing one.

    For DynamoDB: an on-demand table keyed by dedup_key with TTL on expires_at;
    an existing table with another key or no TTL is reported, not changed.
    """
    from ..store import open_store

    output = Output(json_output)
    settings = settings_from(store_url=store)
    with open_store(settings.store_url, create=True) as dedup:
        dedup.verify()
        message = dedup.init()
    if json_output:
        output.json({"store": settings.store_url, "message": message})
    else:
        output.line(message)
