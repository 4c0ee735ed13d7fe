"""Setting the table up (``gcdedup init``): create it on demand with TTL on
``expires_at``, or check that an existing one can hold gcdedup records."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from ...errors import StoreError
from .client import TableClient
from .codec import KEY_ATTRIBUTE, TTL_ATTRIBUTE, Layout
from .errors import Refused, one_line


def init_table(db: TableClient, layout: Layout | None = None) -> str:
    """Create the table (on-demand, TTL on expires_at) or verify an existing one;
    a one-line description of what was done. A single-table layout (``?pk=&sk=``)
    lives in a table that exists already: it is verified, never created."""
    layout = layout or Layout()
    try:
        table = db.call(
            "init",
            db.client.describe_table,
            allow=("ResourceNotFoundException",),
            TableName=db.table,
        )["Table"]
    except Refused:
        if not layout.plain:
            raise StoreError(
                f"table {db.table} does not exist: a store with pk/sk options lives in an "
                "existing single-table design (gcdedup init creates only its own layout)"
            ) from None
        return _create_table(db)
    problems = schema_problems(table, layout)
    if problems:
        raise StoreError(f"table {db.table} cannot hold gcdedup records: {problems}")
    if table.get("TableStatus") != "ACTIVE":
        _wait_active(db)
    ttl_note = _ensure_ttl(db, created=False)
    return f"DynamoDB table {db.table} is ready ({layout.describe()}, {ttl_note})"


def _create_table(db: TableClient) -> str:
    # Another init may create it meanwhile: then wait for that one like our own.
    with contextlib.suppress(Refused):
        db.call(
            "init",
            db.client.create_table,
            allow=("ResourceInUseException",),
            TableName=db.table,
            KeySchema=[{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": KEY_ATTRIBUTE, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    _wait_active(db)
    _ensure_ttl(db, created=True)
    return (
        f"created DynamoDB table {db.table} (on-demand, key {KEY_ATTRIBUTE}, "
        f"TTL on {TTL_ATTRIBUTE})"
    )


def _wait_active(db: TableClient) -> None:
    from botocore.exceptions import WaiterError

    try:
        db.client.get_waiter("table_exists").wait(
            TableName=db.table, WaiterConfig={"Delay": 1, "MaxAttempts": 300}
        )
    except WaiterError as exc:
        raise StoreError(f"table {db.table} did not become ACTIVE: {one_line(exc)}") from exc


def _ensure_ttl(db: TableClient, created: bool) -> str:
    """TTL must be on expires_at. Disabled (e.g. an interrupted init) is fixed here;
    TTL on another attribute is an error, as DynamoDB allows one TTL attribute."""
    description = db.call("init", db.client.describe_time_to_live, TableName=db.table).get(
        "TimeToLiveDescription", {}
    )
    status = description.get("TimeToLiveStatus", "DISABLED")
    attribute = description.get("AttributeName")
    if status in ("ENABLED", "ENABLING"):
        if attribute != TTL_ATTRIBUTE:
            raise StoreError(
                f"table {db.table} has TTL on {attribute!r}, but gcdedup records expire by "
                f"{TTL_ATTRIBUTE!r}: disable that TTL (and wait an hour) or use another table"
            )
        return f"TTL on {TTL_ATTRIBUTE}"
    if status == "DISABLING":
        raise StoreError(
            f"table {db.table} is disabling its TTL: wait until that finishes "
            "(up to an hour), then run gcdedup init again"
        )
    db.call(
        "init",
        db.client.update_time_to_live,
        TableName=db.table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
    return f"TTL on {TTL_ATTRIBUTE}" if created else f"TTL enabled on {TTL_ATTRIBUTE} now"


def schema_problems(table: Mapping[str, Any], layout: Layout | None = None) -> str:
    """What is wrong with an existing table's key schema, in words ('' if nothing)."""
    layout = layout or Layout()
    keys = table.get("KeySchema", [])
    types = {d["AttributeName"]: d["AttributeType"] for d in table.get("AttributeDefinitions", [])}
    hash_keys = [k["AttributeName"] for k in keys if k["KeyType"] == "HASH"]
    range_keys = [k["AttributeName"] for k in keys if k["KeyType"] == "RANGE"]
    problems = []
    pk = layout.pk
    if hash_keys != [pk]:
        found = ", ".join(f"{k!r} ({types.get(k, '?')})" for k in hash_keys) or "none"
        problems.append(f"its partition key is {found}, gcdedup needs {pk!r} (S)")
    elif types.get(pk) != "S":
        problems.append(
            f"its partition key {pk!r} is of type {types.get(pk)}, gcdedup needs S (string)"
        )
    if layout.sk is None and range_keys:
        hint = (
            f" (or name both in the URL: dynamodb://{table.get('TableName', 'Table')}"
            f"?pk={hash_keys[0]}&sk={range_keys[0]})"
            if hash_keys and hash_keys[0] != KEY_ATTRIBUTE
            else ""
        )
        problems.append(f"it has a sort key {range_keys[0]!r}, gcdedup needs none{hint}")
    elif layout.sk is not None and range_keys != [layout.sk]:
        found = ", ".join(repr(k) for k in range_keys) or "none"
        problems.append(f"its sort key is {found}, the URL names {layout.sk!r}")
    elif layout.sk is not None and types.get(layout.sk) != "S":
        problems.append(f"its sort key {layout.sk!r} is not of type S (string)")
    return "; ".join(problems)
