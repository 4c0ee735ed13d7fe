"""Records as DynamoDB items and back, and PurgeFilter as a Scan filter.

Items are in DynamoDB's typed JSON (``{"S": ...}``, ``{"N": ...}``), as the
low-level client speaks it. Items the tutorial's Lambda wrote (``dedup_key``,
``processed_at`` as an ISO-8601 string, ``expires_at``) have no ``status``: they
read as COMPLETED records of the ``tutorial`` namespace, first seen at
``processed_at`` (0 when it is missing or unreadable), and the purge filters
select and age them the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from ...errors import ConfigError, StoreError
from ..base import KeyItem, PurgeFilter, Record, RecordStatus

#: One item in DynamoDB's typed JSON ({"S": ...}, {"N": ...}), as the client returns it.
DynamoDBItem = Mapping[str, Any]

KEY_ATTRIBUTE = "dedup_key"
TTL_ATTRIBUTE = "expires_at"

_NUMBER_FIELDS = ("expires_at", "lease_until", "first_seen_at", "dup_count", "last_dup_at")

#: The namespace items written by the tutorial's Lambda read as (``purge --namespace
#: tutorial`` selects them too), and the attribute that says when it saw them.
FOREIGN_NAMESPACE = "tutorial"
FOREIGN_SEEN_ATTRIBUTE = "processed_at"

#: What a summary reads of each item (a Scan projection).
SUMMARY_ATTRIBUTES = (
    "namespace",
    "status",
    "topic",
    "first_seen_at",
    "dup_count",
    "expires_at",
    FOREIGN_SEEN_ATTRIBUTE,
)


#: An origin (file and line, message id) is kept for messages only: bounded.
MAX_ORIGIN_CHARS = 512


def _text(item: DynamoDBItem, name: str) -> str | None:
    value = item.get(name)
    return None if value is None else str(value["S"])


def names(*attributes: str) -> dict[str, str]:
    """ExpressionAttributeNames for exactly these attributes (DynamoDB rejects unused ones)."""
    return {f"#{a}": a for a in attributes}


def num(value: float | int) -> dict[str, str]:
    return {"N": str(value) if isinstance(value, int) else repr(float(value))}


def string(value: str) -> dict[str, str]:
    return {"S": value}


def key_of(key: str) -> dict[str, dict[str, str]]:
    """The ``Key`` argument for one record in a table of gcdedup's own layout."""
    return {KEY_ATTRIBUTE: string(key)}


#: The sort key value of records under a key prefix (``?pk=PK&sk=SK``).
SORT_VALUE = "gcdedup"
DEFAULT_PREFIX = "gcdedup#"


@dataclass(frozen=True)
class Layout:
    """Where records live in the table: by default its partition key ``dedup_key`` is
    the dedup key. In an existing single-table design (``?pk=PK&sk=SK``, attribute
    names) a record is either ``PK = prefix + key, SK = "gcdedup"`` (the default
    prefix ``gcdedup#``: keys spread over partitions) or, with ``partition=VALUE``,
    ``PK = VALUE, SK = key`` (all records in one partition: simple to read, but one
    partition's 1,000 WCU/s is then the limit). Every record also carries the key in
    ``dedup_key``, and scans read only the records of this layout.
    """

    pk: str = KEY_ATTRIBUTE
    sk: str | None = None
    partition: str | None = None
    prefix: str | None = None

    @classmethod
    def from_options(
        cls,
        pk: str | None = None,
        sk: str | None = None,
        partition: str | None = None,
        prefix: str | None = None,
    ) -> Layout:
        if sk is None:
            if partition is not None or prefix is not None:
                raise ConfigError("DynamoDB options partition and prefix need sk=SORT_KEY too")
            return cls(pk or KEY_ATTRIBUTE)
        if not pk:
            raise ConfigError("DynamoDB option sk needs pk=PARTITION_KEY too")
        if sk == pk or KEY_ATTRIBUTE in (pk, sk):
            raise ConfigError(
                f"DynamoDB options pk and sk must be two attributes other than {KEY_ATTRIBUTE}"
            )
        if partition is not None and prefix is not None:
            raise ConfigError("DynamoDB options partition and prefix are exclusive")
        if partition is not None:
            return cls(pk, sk, partition=partition)
        return cls(pk, sk, prefix=DEFAULT_PREFIX if prefix is None else prefix)

    @property
    def plain(self) -> bool:
        """gcdedup's own layout (the only one where tutorial items may live)."""
        return self.pk == KEY_ATTRIBUTE and self.sk is None

    def key(self, key: str) -> dict[str, dict[str, str]]:
        """The ``Key`` argument for one record."""
        if self.sk is None:
            return {self.pk: string(key)}
        if self.partition is not None:
            return {self.pk: string(self.partition), self.sk: string(key)}
        return {self.pk: string(f"{self.prefix}{key}"), self.sk: string(SORT_VALUE)}

    def key_of_item(self, item: DynamoDBItem) -> dict[str, Any]:
        """The ``Key`` of a stored item (its table key attributes)."""
        return {name: item[name] for name in (self.pk, self.sk) if name is not None}

    def scope(self) -> tuple[str, dict[str, str], dict[str, Any]]:
        """A FilterExpression clause selecting this layout's records in a Scan (other
        entities share a single table), with its names and values; '' for plain. Only
        ANDs, so it joins another AND of clauses without parentheses (DynamoDB rejects
        redundant ones)."""
        if self.sk is None:
            return "", {}, {}
        ours = {"#scope_key": KEY_ATTRIBUTE}  # every record carries it; other items need not
        if self.partition is not None:
            return (
                "#scope_pk = :scope AND attribute_exists(#scope_key)",
                {"#scope_pk": self.pk, **ours},
                {":scope": string(self.partition)},
            )
        return (
            "begins_with(#scope_pk, :scope) AND #scope_sk = :scope_sk"
            " AND attribute_exists(#scope_key)",
            {"#scope_pk": self.pk, "#scope_sk": self.sk, **ours},
            {":scope": string(self.prefix or ""), ":scope_sk": string(SORT_VALUE)},
        )

    def describe(self) -> str:
        if self.sk is None:
            return f"key {self.pk}"
        where = (
            f"{self.pk} = {self.partition!r}, {self.sk} = the key"
            if self.partition is not None
            else f"{self.pk} = {self.prefix!r} + the key, {self.sk} = {SORT_VALUE!r}"
        )
        return f"records at {where}"

    def query(self) -> str:
        """The URL options that name this layout ('' for the plain one)."""
        if self.sk is None:
            return "" if self.pk == KEY_ATTRIBUTE else f"pk={self.pk}"
        extra = (
            f"partition={self.partition}" if self.partition is not None else f"prefix={self.prefix}"
        )
        return f"pk={self.pk}&sk={self.sk}&{extra}"


def new_item(
    item: KeyItem,
    status: RecordStatus,
    now: float,
    ttl_seconds: int,
    run_id: str | None,
    token: str | None = None,
    lease_seconds: float | None = None,
    counted: bool = True,
    layout: Layout | None = None,
) -> dict[str, Any]:
    """A fresh record's item: first seen now, no duplicates yet, a lease when claimed.

    ``token`` is kept in ``claim_token`` on every record, a claim's and one written
    COMPLETED at once alike: a retried write that finds it knows the item is its own.

    Without ``counted`` it has no ``dup_count`` (claimed without duplicate counting:
    a summary tells such records apart, and the first counted duplicate adds one)."""
    attrs: dict[str, Any] = {
        KEY_ATTRIBUTE: string(item.key),
        "status": string(status.value),
        "expires_at": num(int(now) + ttl_seconds),
        "namespace": string(item.namespace),
        "topic": string(item.topic),
        "first_seen_at": num(now),
    }
    if counted:
        attrs["dup_count"] = num(0)
    if layout is not None and not layout.plain:
        attrs.update(layout.key(item.key))
    if item.fingerprint:
        attrs["fingerprint"] = string(item.fingerprint)
    if item.origin:
        attrs["origin"] = string(item.origin[:MAX_ORIGIN_CHARS])
    if token is not None:  # a claim's holder, or the writer of a record written done
        attrs["claim_token"] = string(token)
        if lease_seconds is not None:
            attrs["lease_until"] = num(now + lease_seconds)
    if run_id is not None:
        attrs["run_id"] = string(run_id)
    return attrs


def _number(item: DynamoDBItem, name: str) -> Decimal | None:
    value = item.get(name)
    return None if value is None else Decimal(value["N"])


def iso(timestamp: float) -> str:
    """A Unix time as the tutorial writes processed_at (UTC, ISO-8601, no offset)."""
    return datetime.fromtimestamp(timestamp, timezone.utc).replace(tzinfo=None).isoformat()


def from_iso(item: DynamoDBItem, name: str) -> float:
    """An ISO-8601 string attribute as a Unix time (UTC when it has no offset); 0 if
    it is missing or unreadable."""
    try:
        moment = datetime.fromisoformat(item[name]["S"])
    except (KeyError, TypeError, ValueError):
        return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def to_record(item: DynamoDBItem) -> Record:
    """A record from an item; an item with no ``status`` is one the tutorial wrote
    (see FOREIGN_NAMESPACE): it was processed, so it reads as COMPLETED.

    Raises KeyError, ValueError or ArithmeticError for an item gcdedup cannot read.
    """
    numbers = {name: _number(item, name) for name in _NUMBER_FIELDS}
    expires_at, first_seen_at = numbers["expires_at"], numbers["first_seen_at"]
    foreign = "status" not in item
    if expires_at is None:
        raise KeyError("expires_at")
    if first_seen_at is None:
        if not foreign:
            raise KeyError("first_seen_at")
        first_seen_at = Decimal(repr(from_iso(item, FOREIGN_SEEN_ATTRIBUTE)))
    lease_until, last_dup_at = numbers["lease_until"], numbers["last_dup_at"]
    namespace = FOREIGN_NAMESPACE if foreign else ""
    held = not foreign and item["status"]["S"] == RecordStatus.IN_PROGRESS.value
    return Record(
        key=item[KEY_ATTRIBUTE]["S"],
        status=RecordStatus.COMPLETED if foreign else RecordStatus(item["status"]["S"]),
        expires_at=int(expires_at),
        lease_until=float(lease_until) if lease_until is not None else None,
        # Who holds it: only a live claim is held (a completed record keeps its writer's
        # token in the item, for retries to recognise, but nobody holds it).
        claim_token=item["claim_token"]["S"] if "claim_token" in item and held else None,
        namespace=item["namespace"]["S"] if "namespace" in item else namespace,
        topic=item["topic"]["S"] if "topic" in item else "",
        first_seen_at=float(first_seen_at),
        dup_count=int(numbers["dup_count"] or 0),
        last_dup_at=float(last_dup_at) if last_dup_at is not None else None,
        run_id=item["run_id"]["S"] if "run_id" in item else None,
        fingerprint=_text(item, "fingerprint"),
        origin=_text(item, "origin"),
        result=_text(item, "result"),
        counted="dup_count" in item or foreign,  # the tutorial's items never had counters
    )


def read_record(table: str, item: DynamoDBItem) -> Record:
    """``to_record``, with an unreadable item as a StoreError naming the table and key."""
    try:
        return to_record(item)
    except (KeyError, ValueError, ArithmeticError) as exc:
        key = item.get(KEY_ATTRIBUTE, {}).get("S", "?")
        raise StoreError(
            f"table {table} holds an item gcdedup cannot read "
            f"(key {key!r}, bad or missing {exc}): is it a gcdedup table?"
        ) from None


def purge_filter(where: PurgeFilter, now: float) -> dict[str, Any]:
    """Scan arguments pushing PurgeFilter into a FilterExpression (none for all)."""
    clauses: list[str] = []
    attribute_names: dict[str, str] = {}
    values: dict[str, Any] = {}
    if where.namespace is not None:
        if where.namespace == FOREIGN_NAMESPACE:  # the tutorial's items read as this one
            clauses.append("(#namespace = :namespace OR attribute_not_exists(#status))")
            attribute_names.update(names("namespace", "status"))
        else:
            clauses.append("#namespace = :namespace")
            attribute_names.update(names("namespace"))
        values[":namespace"] = string(where.namespace)
    if where.run_id is not None:
        clauses.append("#run_id = :run_id")
        attribute_names.update(names("run_id"))
        values[":run_id"] = string(where.run_id)
    if where.older_than is not None:
        # The tutorial's items are aged by processed_at (ISO-8601 strings compare in
        # time order when written in UTC, as its Lambda does); without it, by 0.
        cutoff = now - where.older_than
        clauses.append(
            "(#first_seen_at < :cutoff OR (attribute_not_exists(#first_seen_at) AND "
            "(#processed_at < :cutoff_iso OR attribute_not_exists(#processed_at))))"
        )
        attribute_names.update(names("first_seen_at", FOREIGN_SEEN_ATTRIBUTE))
        values[":cutoff"] = num(cutoff)
        values[":cutoff_iso"] = string(iso(cutoff))
    if where.prefix is not None:
        clauses.append(f"begins_with(#{KEY_ATTRIBUTE}, :prefix)")
        attribute_names.update(names(KEY_ATTRIBUTE))
        values[":prefix"] = string(where.prefix)
    if not clauses:
        return {}
    return {
        "FilterExpression": " AND ".join(clauses),
        "ExpressionAttributeNames": attribute_names,
        "ExpressionAttributeValues": values,
    }
