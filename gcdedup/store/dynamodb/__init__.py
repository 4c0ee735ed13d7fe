"""The production store: one DynamoDB table, shared by every Lambda and every laptop.

- ``client``: the ``dynamodb://`` URL's options, the boto3 client (retries, pool,
  timeouts) and the one ``call`` every request goes through;
- ``errors``: botocore's exceptions as one-line gcdedup errors;
- ``codec``: records as items and back (the tutorial's items included), PurgeFilter
  as a Scan filter;
- ``admin``: ``init``: the table, its key schema and TTL;
- ``store``: :class:`DynamoDBStore`, the DedupStore contract on that table.

Nothing here imports boto3 until a store is opened, so the CLI starts fast and boto3
stays an optional extra (``gcdedup[dynamodb]``).
"""

from __future__ import annotations

from .client import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_RETRY_MODE,
    URL_OPTIONS,
    ClientOptions,
)
from .codec import FOREIGN_NAMESPACE, KEY_ATTRIBUTE, TTL_ATTRIBUTE, DynamoDBItem
from .store import MAX_BATCH_GET, MAX_BATCH_WRITE, SCAN_PAGE_ITEMS, SCAN_SEGMENTS, DynamoDBStore

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_RETRY_MODE",
    "FOREIGN_NAMESPACE",
    "KEY_ATTRIBUTE",
    "MAX_BATCH_GET",
    "MAX_BATCH_WRITE",
    "SCAN_PAGE_ITEMS",
    "SCAN_SEGMENTS",
    "TTL_ATTRIBUTE",
    "URL_OPTIONS",
    "ClientOptions",
    "DynamoDBItem",
    "DynamoDBStore",
]
