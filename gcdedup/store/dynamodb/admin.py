"""Setting the table up (``gcdedup init``): create it on demand with TTL on
``expires_at``, or check that an existing one can hold gcdedup records."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from ...errors import StoreError
from .client import TableClient
from .codec import KEY_ATTRIBUTE, TTL_ATTRIBUTE
from .errors import Refused, one_line


def init_table(db: TableClient) -> str:
    """Create the table (on-demand, TTL on expires_at) or verify an existing one;
    a one-line description of what was done."""
    try:
        table = db.call(
            "init",
            db.client.describe_table,
            allow=("ResourceNotFoundException",),
            TableName=db.table,
        )["Table"]
    except Refused:
        return _create_table(db)
    problems = schema_problems(table)
    if problems:
        raise StoreError(f"table {db.table} cannot hold gcdedup records: {problems}")
    if table.get("TableStatus") != "ACTIVE":
        _wait_active(db)
    ttl_note = _ensure_ttl(db, created=False)
    return f"DynamoDB table {db.table} is ready (key {KEY_ATTRIBUTE}, {ttl_note})"


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


def schema_problems(table: Mapping[str, Any]) -> str:
    """What is wrong with an existing table's key schema, in words ('' if nothing)."""
    keys = table.get("KeySchema", [])
    types = {d["AttributeName"]: d["AttributeType"] for d in table.get("AttributeDefinitions", [])}
    hash_keys = [k["AttributeName"] for k in keys if k["KeyType"] == "HASH"]
    range_keys = [k["AttributeName"] for k in keys if k["KeyType"] == "RANGE"]
    problems = []
    if hash_keys != [KEY_ATTRIBUTE]:
        found = ", ".join(f"{k!r} ({types.get(k, '?')})" for k in hash_keys) or "none"
        problems.append(f"its partition key is {found}, gcdedup needs {KEY_ATTRIBUTE!r} (S)")
    elif types.get(KEY_ATTRIBUTE) != "S":
        problems.append(
            f"its partition key {KEY_ATTRIBUTE!r} is of type {types.get(KEY_ATTRIBUTE)}, "
            "gcdedup needs S (string)"
        )
    if range_keys:
        problems.append(f"it has a sort key {range_keys[0]!r}, gcdedup needs none")
    return "; ".join(problems)
