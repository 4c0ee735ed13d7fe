"""The production store: one DynamoDB table, shared by every Lambda and every laptop.

Why it is safe: every state change is a single conditional write whose condition
holds the whole rule (absent, expired or lease-expired for a claim; "still my
token" for complete and release), so DynamoDB's per-item atomicity is the lock.
Nothing is read first and written after.

Why it is fast from far away: a batch is fanned out over a bounded thread pool
(one HTTP connection per worker), reads go 100 keys per ``BatchGetItem``, a
failed claim learns DUPLICATE vs IN_FLIGHT from ``ALL_OLD`` instead of a second
read, and ``Scan`` runs in parallel segments.

boto3 is imported only when a store is opened, so the CLI starts fast and
boto3 stays an optional extra (``gcdedup[dynamodb]``).
"""

from __future__ import annotations

import contextlib
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from ..concurrency import map_in_order, waves
from ..errors import ConfigError, MissingDependencyError, StoreError
from .base import (
    Clock,
    DedupStore,
    KeyItem,
    Outcome,
    PurgeFilter,
    Record,
    RecordStatus,
    Result,
    StoreSummary,
    classify,
    new_token,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

T = TypeVar("T")
R = TypeVar("R")
Item = Mapping[str, Any]  # one item in DynamoDB's typed JSON ({"S": ...}, {"N": ...})

KEY_ATTRIBUTE = "dedup_key"
TTL_ATTRIBUTE = "expires_at"

#: DynamoDB's per-call limits, enforced here whatever a local server accepts.
MAX_BATCH_GET = 100
MAX_BATCH_WRITE = 25
MAX_KEY_BYTES = 2048
#: Items per Scan page. Our items are ~200-400 bytes, so a page stays under the
#: 1 MB DynamoDB cuts pages at; a local server that does not cut pages still
#: never sends us an unbounded one.
SCAN_PAGE_ITEMS = 1000
SCAN_SEGMENTS = 4

DEFAULT_CONCURRENCY = 16
DEFAULT_MAX_ATTEMPTS = 10
DEFAULT_RETRY_MODE = "standard"

#: Our own retries of UnprocessedKeys / UnprocessedItems (botocore does not
#: retry those: the call itself succeeded). Full jitter, bounded rounds.
BACKOFF_BASE = 0.05
BACKOFF_CAP = 2.0
MAX_UNPROCESSED_ROUNDS = 12

_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_OPTIONS = ("endpoint_url", "region", "profile", "concurrency", "retry_mode", "max_attempts")

# A key is claimable when absent, expired (TTL deletion lags by up to ~48 h) or an
# IN_PROGRESS whose lease ran out: the same rule as classify(), inside the write.
_CLAIMABLE = (
    "attribute_not_exists(#dedup_key) OR #expires_at < :now"
    " OR (#status = :in_progress AND #lease_until < :now)"
)
_HELD_BY_TOKEN = "#claim_token = :token AND #status = :in_progress"

_NUMBER_FIELDS = ("expires_at", "lease_until", "first_seen_at", "dup_count", "last_dup_at")

#: Items the tutorial's Lambda wrote (``dedup_key``, ``processed_at`` as an ISO-8601
#: string, ``expires_at``) have no ``status``: they read as COMPLETED records of this
#: namespace, first seen at ``processed_at`` (0 when it is missing or unreadable).
#: ``purge --namespace tutorial`` selects them too.
FOREIGN_NAMESPACE = "tutorial"
FOREIGN_SEEN_ATTRIBUTE = "processed_at"


def _names(*attributes: str) -> dict[str, str]:
    """ExpressionAttributeNames for exactly these attributes (DynamoDB rejects unused ones)."""
    return {f"#{a}": a for a in attributes}


def _num(value: float | int) -> dict[str, str]:
    return {"N": str(value) if isinstance(value, int) else repr(float(value))}


def _str(value: str) -> dict[str, str]:
    return {"S": value}


def _backoff(attempt: int) -> float:
    """Full-jitter exponential backoff (spreads retries of many workers apart)."""
    return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * (2**attempt)))


def _chunks(seq: Sequence[T], size: int) -> list[Sequence[T]]:
    return [seq[i : i + size] for i in range(0, len(seq), size)]


class _Refused(Exception):
    """An error code the caller asked to handle itself (see ``_call(allow=...)``)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class _ConditionFailed(Exception):
    """A conditional write was refused; ``item`` is the old item when ALL_OLD asked for it."""

    def __init__(self, item: Item | None) -> None:
        super().__init__("conditional check failed")
        self.item = item


class DynamoDBStore(DedupStore):
    """A DedupStore in one DynamoDB table (partition key ``dedup_key``, TTL on ``expires_at``)."""

    def __init__(
        self,
        table: str,
        *,
        clock: Clock | None = None,
        run_id: str | None = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        retry_mode: str = DEFAULT_RETRY_MODE,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        super().__init__(clock=clock or time.time, run_id=run_id)
        if not _TABLE_NAME.match(table):
            raise ConfigError(
                f"invalid DynamoDB table name {table!r}: 3-255 characters of A-Z a-z 0-9 _ . -"
            )
        if concurrency < 1:
            raise ConfigError(f"DynamoDB concurrency must be at least 1, not {concurrency}")
        if max_attempts < 1:
            raise ConfigError(f"DynamoDB max_attempts must be at least 1, not {max_attempts}")
        if retry_mode not in ("standard", "adaptive", "legacy"):
            raise ConfigError(
                f"invalid retry_mode {retry_mode!r}: use standard, adaptive or legacy"
            )
        self.table = table
        self.concurrency = concurrency
        query = "&".join(
            f"{k}={v}" for k, v in (("endpoint_url", endpoint_url), ("region", region)) if v
        )
        self.url = f"dynamodb://{table}" + (f"?{query}" if query else "")
        self._client = self._make_client(
            endpoint_url, region, profile, concurrency, retry_mode, max_attempts
        )
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    # -- construction -----------------------------------------------------------------

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        clock: Clock | None = None,
        run_id: str | None = None,
        **options: object,
    ) -> DynamoDBStore:
        """``dynamodb://Table[?endpoint_url=...&region=...&concurrency=16&profile=...]``.

        Keyword options win over the query string; ``None`` values are ignored so a
        CLI can pass its unset flags through.
        """
        parts = urlsplit(url)
        if parts.scheme != "dynamodb" or not parts.netloc or parts.path not in ("", "/"):
            raise ConfigError(f"invalid DynamoDB URL {url!r}: use dynamodb://TableName")
        merged: dict[str, object] = {
            k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=False).items()
        }
        merged.update({k: v for k, v in options.items() if v is not None})
        unknown = sorted(set(merged) - set(_OPTIONS))
        if unknown:
            raise ConfigError(
                f"unknown DynamoDB store option(s) {', '.join(unknown)}: "
                f"valid are {', '.join(_OPTIONS)}"
            )
        kwargs: dict[str, Any] = {}
        for name, value in merged.items():
            if name in ("concurrency", "max_attempts"):
                try:
                    kwargs[name] = int(str(value))
                except ValueError:
                    raise ConfigError(f"DynamoDB option {name} must be an integer") from None
            else:
                kwargs[name] = str(value)
        return cls(parts.netloc, clock=clock, run_id=run_id, **kwargs)

    def _make_client(
        self,
        endpoint_url: str | None,
        region: str | None,
        profile: str | None,
        concurrency: int,
        retry_mode: str,
        max_attempts: int,
    ) -> DynamoDBClient:
        """The low-level client: retries for throttling, one pooled connection per worker."""
        try:
            import boto3
            from botocore.config import Config
            from botocore.exceptions import BotoCoreError
        except ImportError as exc:
            raise MissingDependencyError("boto3", "dynamodb") from exc
        # total_max_attempts counts the first try too (as AWS_MAX_ATTEMPTS does).
        retries: Any = {"mode": retry_mode, "total_max_attempts": max_attempts}
        config = Config(
            retries=retries,
            max_pool_connections=concurrency + 4,
            connect_timeout=5,
            read_timeout=20,
            tcp_keepalive=True,
        )
        try:
            session = boto3.session.Session(profile_name=profile, region_name=region)
            # endpoint_url=None lets boto3 honour AWS_ENDPOINT_URL_DYNAMODB itself.
            return session.client("dynamodb", endpoint_url=endpoint_url, config=config)
        except BotoCoreError as exc:
            name = type(exc).__name__
            if name == "NoRegionError":
                raise StoreError(
                    f"no AWS region for DynamoDB table {self.table}: set AWS_REGION "
                    f"(or AWS_DEFAULT_REGION) or use dynamodb://{self.table}?region=..."
                ) from exc
            raise StoreError(f"cannot open DynamoDB table {self.table}: {_one_line(exc)}") from exc

    @property
    def client(self) -> DynamoDBClient:
        """The boto3 client (e.g. to register botocore event hooks)."""
        return self._client

    # -- plumbing -----------------------------------------------------------------------

    def _call(
        self, operation: str, fn: Callable[..., T], allow: tuple[str, ...] = (), **kwargs: Any
    ) -> T:
        """Call the client; a refused condition becomes _ConditionFailed, a code in
        ``allow`` _Refused, anything else a one-line StoreError naming the table and
        what we were doing."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code == "ConditionalCheckFailedException":
                raw: Mapping[str, Any] = exc.response
                raise _ConditionFailed(raw.get("Item")) from None
            if code in allow:
                raise _Refused(code) from None
            raise self._client_error(operation, exc) from exc
        except BotoCoreError as exc:
            name = type(exc).__name__
            if name in ("NoCredentialsError", "PartialCredentialsError"):
                message = (
                    f"no AWS credentials for DynamoDB {operation} on table {self.table}: "
                    "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
                )
            elif name in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError"):
                message = (
                    f"cannot reach DynamoDB for {operation} on table {self.table}: {_one_line(exc)}"
                )
            else:
                message = f"DynamoDB {operation} on table {self.table} failed: {_one_line(exc)}"
            raise StoreError(message) from exc

    def _client_error(self, operation: str, exc: Any) -> StoreError:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        detail = _one_line(error.get("Message", "") or exc)
        action = f"dynamodb:{getattr(exc, 'operation_name', '?')}"
        if code == "ResourceNotFoundException":
            return StoreError(
                f"table {self.table} does not exist: run gcdedup init --store dynamodb://{self.table}"
            )
        if code in ("AccessDeniedException", "AccessDenied"):
            return StoreError(
                f"access denied for {action} on table {self.table} (needed by {operation}): "
                "grant it to this role or user (see the README, DynamoDB, IAM permissions)"
            )
        if code in ("UnrecognizedClientException", "InvalidSignatureException"):
            return StoreError(
                f"AWS rejected the credentials for DynamoDB {operation} on table "
                f"{self.table}: {detail}"
            )
        if code in ("ExpiredTokenException", "ExpiredToken"):
            return StoreError(
                f"AWS credentials expired during DynamoDB {operation} on table {self.table}: "
                "refresh them (e.g. aws sso login)"
            )
        if code in (
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "RequestLimitExceeded",
        ):
            return StoreError(
                f"DynamoDB throttled {operation} on table {self.table} after all retries "
                f"({code}): lower --concurrency or raise the table's capacity"
            )
        return StoreError(f"DynamoDB {operation} on table {self.table} failed ({code}): {detail}")

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.concurrency, thread_name_prefix="gcdedup-dynamodb"
                )
            return self._pool

    def _map(self, fn: Callable[[T], R], args: Sequence[T]) -> list[R]:
        """fn over args on the pool, results in input order; inline for a single call.

        When a task fails, the tasks not started yet are cancelled and the running ones
        are waited for before the first failure (in input order) is raised: nothing of
        this call is still writing once it has returned or raised, so a caller can undo
        what did succeed. Tasks never submit to the pool themselves, so a small pool
        cannot deadlock.
        """
        if len(args) <= 1 or self.concurrency == 1:
            return [fn(a) for a in args]
        return map_in_order(fn, args, self._executor())

    def _map_waves(self, keys: Sequence[str], fn: Callable[[int], R]) -> list[R]:
        """fn(index) for every position, in parallel, repeated keys in later rounds."""
        out: dict[int, R] = {}
        for wave in waves(keys):
            for index, result in zip(wave, self._map(fn, wave), strict=True):
                out[index] = result
        return [out[i] for i in range(len(keys))]

    def _check_key(self, key: str) -> None:
        if not key or len(key.encode()) > MAX_KEY_BYTES:
            raise StoreError(
                f"key {key[:40]!r}... cannot be stored in DynamoDB: a partition key must be "
                f"1 to {MAX_KEY_BYTES} bytes"
            )

    def _new_item(
        self,
        item: KeyItem,
        status: RecordStatus,
        now: float,
        ttl_seconds: int,
        token: str | None = None,
        lease_seconds: float | None = None,
    ) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            KEY_ATTRIBUTE: _str(item.key),
            "status": _str(status.value),
            "expires_at": _num(int(now) + ttl_seconds),
            "namespace": _str(item.namespace),
            "topic": _str(item.topic),
            "first_seen_at": _num(now),
            "dup_count": _num(0),
        }
        if token is not None and lease_seconds is not None:
            attrs["claim_token"] = _str(token)
            attrs["lease_until"] = _num(now + lease_seconds)
        if self.run_id is not None:
            attrs["run_id"] = _str(self.run_id)
        return attrs

    def _conditional_put(self, operation: str, attrs: dict[str, Any], now: float) -> Item | None:
        """Put if claimable; None on success, else the item that stood in the way."""
        try:
            self._call(
                operation,
                self._client.put_item,
                TableName=self.table,
                Item=attrs,
                ConditionExpression=_CLAIMABLE,
                ExpressionAttributeNames=_names(
                    KEY_ATTRIBUTE, "expires_at", "status", "lease_until"
                ),
                ExpressionAttributeValues={
                    ":now": _num(now),
                    ":in_progress": _str(RecordStatus.IN_PROGRESS.value),
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except _ConditionFailed as failed:
            if failed.item is None:  # a server without ALL_OLD support: read it
                return self._get_item(operation, str(attrs[KEY_ATTRIBUTE]["S"])) or {}
            return failed.item
        return None

    def _get_item(self, operation: str, key: str) -> Item | None:
        response = self._call(
            operation,
            self._client.get_item,
            TableName=self.table,
            Key={KEY_ATTRIBUTE: _str(key)},
            ConsistentRead=True,
        )
        return response.get("Item")

    def _record(self, item: Item) -> Record:
        try:
            return _to_record(item)
        except (KeyError, ValueError, ArithmeticError) as exc:
            key = item.get(KEY_ATTRIBUTE, {}).get("S", "?")
            raise StoreError(
                f"table {self.table} holds an item gcdedup cannot read "
                f"(key {key!r}, bad or missing {exc}): is it a gcdedup table?"
            ) from None

    # -- the contract ---------------------------------------------------------------------

    def init(self) -> str:
        """Create the table (on-demand, TTL on expires_at) or verify an existing one."""
        try:
            table = self._call(
                "init",
                self._client.describe_table,
                allow=("ResourceNotFoundException",),
                TableName=self.table,
            )["Table"]
        except _Refused:
            return self._create_table()
        problems = _schema_problems(table)
        if problems:
            raise StoreError(f"table {self.table} cannot hold gcdedup records: {problems}")
        if table.get("TableStatus") != "ACTIVE":
            self._wait_active()
        ttl_note = self._ensure_ttl(created=False)
        return f"DynamoDB table {self.table} is ready (key {KEY_ATTRIBUTE}, {ttl_note})"

    def _create_table(self) -> str:
        # Another init may create it meanwhile: then wait for that one like our own.
        with contextlib.suppress(_Refused):
            self._call(
                "init",
                self._client.create_table,
                allow=("ResourceInUseException",),
                TableName=self.table,
                KeySchema=[{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": KEY_ATTRIBUTE, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        self._wait_active()
        self._ensure_ttl(created=True)
        return (
            f"created DynamoDB table {self.table} (on-demand, key {KEY_ATTRIBUTE}, "
            f"TTL on {TTL_ATTRIBUTE})"
        )

    def _wait_active(self) -> None:
        from botocore.exceptions import WaiterError

        try:
            self._client.get_waiter("table_exists").wait(
                TableName=self.table, WaiterConfig={"Delay": 1, "MaxAttempts": 300}
            )
        except WaiterError as exc:
            raise StoreError(f"table {self.table} did not become ACTIVE: {_one_line(exc)}") from exc

    def _ensure_ttl(self, created: bool) -> str:
        """TTL must be on expires_at. Disabled (e.g. an interrupted init) is fixed here;
        TTL on another attribute is an error, as DynamoDB allows one TTL attribute."""
        description = self._call(
            "init", self._client.describe_time_to_live, TableName=self.table
        ).get("TimeToLiveDescription", {})
        status = description.get("TimeToLiveStatus", "DISABLED")
        attribute = description.get("AttributeName")
        if status in ("ENABLED", "ENABLING"):
            if attribute != TTL_ATTRIBUTE:
                raise StoreError(
                    f"table {self.table} has TTL on {attribute!r}, but gcdedup records expire by "
                    f"{TTL_ATTRIBUTE!r}: disable that TTL (and wait an hour) or use another table"
                )
            return f"TTL on {TTL_ATTRIBUTE}"
        if status == "DISABLING":
            raise StoreError(
                f"table {self.table} is disabling its TTL: wait until that finishes "
                "(up to an hour), then run gcdedup init again"
            )
        self._call(
            "init",
            self._client.update_time_to_live,
            TableName=self.table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )
        return f"TTL on {TTL_ATTRIBUTE}" if created else f"TTL enabled on {TTL_ATTRIBUTE} now"

    def claim(
        self, items: Sequence[KeyItem], lease_seconds: float, ttl_seconds: int
    ) -> list[Result]:
        for item in items:
            self._check_key(item.key)
        now = self.clock()
        claimed: list[tuple[str, str]] = []  # appended from the pool's threads
        lock = threading.Lock()

        def one(index: int) -> Result:
            item = items[index]
            token = new_token()
            attrs = self._new_item(
                item, RecordStatus.IN_PROGRESS, now, ttl_seconds, token, lease_seconds
            )
            old = self._conditional_put("claim", attrs, now)
            if old is None:
                with lock:
                    claimed.append((item.key, token))
                return Result(item.key, Outcome.CLAIMED, token=token)
            return self._count_duplicate(item.key, old, now)

        try:
            return self._map_waves([i.key for i in items], one)
        except BaseException as exc:
            # The caller never sees these tokens, so nobody else could release them:
            # a failed claim() leaves no claim behind (else each stays in flight until
            # its lease runs out).
            stuck = self._release_all(claimed)
            if stuck and isinstance(exc, StoreError):
                raise StoreError(
                    f"{exc} ({stuck} of the {len(claimed)} keys claimed before the failure "
                    "could not be released: they stay in flight until their lease runs out)"
                ) from exc
            raise

    def _release_all(self, claims: Sequence[tuple[str, str]]) -> int:
        """Best-effort release of these claims; how many could not be released."""

        def one(claim: tuple[str, str]) -> bool:
            try:
                self.release(*claim)
            except StoreError:
                return False
            return True

        return sum(not released for released in self._map(one, claims))

    def _count_duplicate(self, key: str, old: Item, now: float) -> Result:
        """The claim failed: the record is live. Count the delivery on it.

        Only failed claims pay this second write. It is bound to the same life of the
        record (same first_seen_at), so a count never lands on a record that was
        released and claimed again in between.
        """
        if not old:  # vanished between the put and the read
            return Result(key, Outcome.IN_FLIGHT)
        before = self._record(old)
        outcome = classify(before, now)
        if outcome is Outcome.NEW:  # cannot happen: the condition said it is live
            outcome = Outcome.IN_FLIGHT
        if "first_seen_at" in old:
            same_life = "#first_seen_at = :seen"
            names = _names("dup_count", "last_dup_at", "first_seen_at")
            seen = {":seen": old["first_seen_at"]}
        else:  # an item the tutorial wrote: bound to its expiry instead
            same_life = "attribute_not_exists(#first_seen_at) AND #expires_at = :seen"
            names = _names("dup_count", "last_dup_at", "first_seen_at", "expires_at")
            seen = {":seen": old["expires_at"]}
        try:
            response = self._call(
                "claim",
                self._client.update_item,
                TableName=self.table,
                Key={KEY_ATTRIBUTE: _str(key)},
                UpdateExpression="ADD #dup_count :one SET #last_dup_at = :now",
                ConditionExpression=same_life,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={":one": _num(1), ":now": _num(now), **seen},
                ReturnValues="ALL_NEW",
            )
        except _ConditionFailed:
            return Result(key, outcome, record=before)
        return Result(key, outcome, record=self._record(response["Attributes"]))

    def complete(self, key: str, token: str, ttl_seconds: int) -> bool:
        return self.complete_many([(key, token)], ttl_seconds)[0]

    def complete_many(self, pairs: Sequence[tuple[str, str]], ttl_seconds: int) -> list[bool]:
        expires_at = int(self.clock()) + ttl_seconds

        def one(index: int) -> bool:
            key, token = pairs[index]
            try:
                self._call(
                    "complete",
                    self._client.update_item,
                    TableName=self.table,
                    Key={KEY_ATTRIBUTE: _str(key)},
                    UpdateExpression=(
                        "SET #status = :completed, #expires_at = :expires_at "
                        "REMOVE #lease_until, #claim_token"
                    ),
                    ConditionExpression=_HELD_BY_TOKEN,
                    ExpressionAttributeNames=_names(
                        "status", "expires_at", "lease_until", "claim_token"
                    ),
                    ExpressionAttributeValues={
                        ":completed": _str(RecordStatus.COMPLETED.value),
                        ":expires_at": _num(expires_at),
                        ":token": _str(token),
                        ":in_progress": _str(RecordStatus.IN_PROGRESS.value),
                    },
                )
            except _ConditionFailed:
                return False
            return True

        return self._map_waves([key for key, _ in pairs], one)

    def release(self, key: str, token: str) -> bool:
        try:
            self._call(
                "release",
                self._client.delete_item,
                TableName=self.table,
                Key={KEY_ATTRIBUTE: _str(key)},
                ConditionExpression=_HELD_BY_TOKEN,
                ExpressionAttributeNames=_names("claim_token", "status"),
                ExpressionAttributeValues={
                    ":token": _str(token),
                    ":in_progress": _str(RecordStatus.IN_PROGRESS.value),
                },
            )
        except _ConditionFailed:
            return False
        return True

    def seed(self, items: Sequence[KeyItem], ttl_seconds: int) -> list[Result]:
        """Conditional PutItems in parallel, not BatchWriteItem.

        BatchWriteItem (25 a call) cannot carry a condition, so it would overwrite a
        live IN_PROGRESS claim; a BatchGetItem pre-check followed by BatchWriteItem of
        the keys absent at read time is racy (a claim can land in between). A seed is
        a one-off pre-load, so correctness wins: the same conditional put as a claim,
        fanned out over the pool. Both cost 1 WCU per key.
        """
        for item in items:
            self._check_key(item.key)
        now = self.clock()

        def one(index: int) -> Result:
            item = items[index]
            attrs = self._new_item(item, RecordStatus.COMPLETED, now, ttl_seconds)
            old = self._conditional_put("seed", attrs, now)
            if old is None:
                return Result(item.key, Outcome.SEEDED)
            if not old:
                return Result(item.key, Outcome.IN_FLIGHT)
            record = self._record(old)
            outcome = classify(record, now)
            return Result(
                item.key,
                Outcome.IN_FLIGHT if outcome is Outcome.NEW else outcome,
                record=record,
            )

        return self._map_waves([i.key for i in items], one)

    def check(self, keys: Sequence[str]) -> list[Result]:
        """BatchGetItem, 100 distinct keys a call, chunks in parallel, strongly consistent."""
        for key in keys:
            self._check_key(key)
        now = self.clock()
        unique = list(dict.fromkeys(keys))  # BatchGetItem rejects a key twice in one call
        found: dict[str, Record] = {}
        for items in self._map(self._batch_get, _chunks(unique, MAX_BATCH_GET)):
            for item in items:
                record = self._record(item)
                found[record.key] = record
        return [Result(key, classify(found.get(key), now), record=found.get(key)) for key in keys]

    def _batch_get(self, keys: Sequence[str]) -> list[Item]:
        """One BatchGetItem, then its UnprocessedKeys (throttling or the 16 MB response
        cap) again with jittered backoff, a bounded number of rounds."""
        request: Mapping[str, Any] = {
            self.table: {"Keys": [{KEY_ATTRIBUTE: _str(k)} for k in keys], "ConsistentRead": True}
        }
        items: list[Item] = []
        for attempt in range(MAX_UNPROCESSED_ROUNDS):
            response: Mapping[str, Any] = self._call(
                "check", self._client.batch_get_item, RequestItems=request
            )
            items.extend(response.get("Responses", {}).get(self.table, []))
            request = response.get("UnprocessedKeys") or {}
            if not request.get(self.table, {}).get("Keys"):
                return items
            time.sleep(_backoff(attempt))
        left = len(request[self.table]["Keys"])
        raise StoreError(
            f"DynamoDB check on table {self.table}: {left} keys still unprocessed after "
            f"{MAX_UNPROCESSED_ROUNDS} rounds (throttled): retry later or lower --concurrency"
        )

    def get(self, key: str) -> Record | None:
        self._check_key(key)
        item = self._get_item("get", key)
        return self._record(item) if item is not None else None

    # -- scans ----------------------------------------------------------------------------

    def _filter(self, where: PurgeFilter, now: float) -> dict[str, Any]:
        """Scan arguments pushing PurgeFilter into a FilterExpression (no filter for all)."""
        clauses: list[str] = []
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        if where.namespace is not None:
            if where.namespace == FOREIGN_NAMESPACE:  # the tutorial's items read as this one
                clauses.append("(#namespace = :namespace OR attribute_not_exists(#status))")
                names.update(_names("namespace", "status"))
            else:
                clauses.append("#namespace = :namespace")
                names.update(_names("namespace"))
            values[":namespace"] = _str(where.namespace)
        if where.run_id is not None:
            clauses.append("#run_id = :run_id")
            names.update(_names("run_id"))
            values[":run_id"] = _str(where.run_id)
        if where.older_than is not None:
            # The tutorial's items are aged by processed_at (ISO-8601 strings compare in
            # time order when written in UTC, as its Lambda does); without it, by 0.
            cutoff = now - where.older_than
            clauses.append(
                "(#first_seen_at < :cutoff OR (attribute_not_exists(#first_seen_at) AND "
                "(#processed_at < :cutoff_iso OR attribute_not_exists(#processed_at))))"
            )
            names.update(_names("first_seen_at", FOREIGN_SEEN_ATTRIBUTE))
            values[":cutoff"] = _num(cutoff)
            values[":cutoff_iso"] = _str(_iso(cutoff))
        if where.prefix is not None:
            clauses.append(f"begins_with(#{KEY_ATTRIBUTE}, :prefix)")
            names.update(_names(KEY_ATTRIBUTE))
            values[":prefix"] = _str(where.prefix)
        if not clauses:
            return {}
        return {
            "FilterExpression": " AND ".join(clauses),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    def _scan(
        self, operation: str, args: Mapping[str, Any], page: Callable[[Mapping[str, Any]], None]
    ) -> None:
        """Every page of every segment through ``page``, the segments in parallel."""
        segments = min(SCAN_SEGMENTS, self.concurrency)

        def segment(number: int) -> None:
            start: Mapping[str, Any] | None = None
            while True:
                kwargs: dict[str, Any] = {
                    "TableName": self.table,
                    "Limit": SCAN_PAGE_ITEMS,
                    **args,
                }
                if segments > 1:
                    kwargs.update(Segment=number, TotalSegments=segments)
                if start:
                    kwargs["ExclusiveStartKey"] = start
                response = self._call(operation, self._client.scan, **kwargs)
                page(response)
                start = response.get("LastEvaluatedKey")
                if not start:
                    return

        self._map(segment, list(range(segments)))

    def purge(self, where: PurgeFilter, dry_run: bool = False) -> int:
        """Parallel Scan for the matching keys, BatchWriteItem deletes (25 a call).

        Deletes are not conditional (BatchWriteItem cannot be): a purge is an operator's
        decision about matching records, like SQLite's DELETE ... WHERE.
        """
        if where.is_empty():
            return 0
        args = self._filter(where, self.clock())
        counts: list[int] = []
        lock = threading.Lock()

        def page(response: Mapping[str, Any]) -> None:
            if dry_run:
                n = int(response.get("Count", 0))
            else:
                keys = [item[KEY_ATTRIBUTE]["S"] for item in response.get("Items", [])]
                for chunk in _chunks(keys, MAX_BATCH_WRITE):
                    self._batch_delete(chunk)
                n = len(keys)
            with lock:
                counts.append(n)

        if dry_run:
            scan_args = {**args, "Select": "COUNT"}
        else:
            names = {**args.get("ExpressionAttributeNames", {}), **_names(KEY_ATTRIBUTE)}
            scan_args = {
                **args,
                "ProjectionExpression": f"#{KEY_ATTRIBUTE}",
                "ExpressionAttributeNames": names,
            }
        self._scan("purge", scan_args, page)
        return sum(counts)

    def _batch_delete(self, keys: Sequence[str]) -> None:
        requests: Mapping[str, Any] = {
            self.table: [{"DeleteRequest": {"Key": {KEY_ATTRIBUTE: _str(k)}}} for k in keys]
        }
        for attempt in range(MAX_UNPROCESSED_ROUNDS):
            response = self._call("purge", self._client.batch_write_item, RequestItems=requests)
            requests = response.get("UnprocessedItems") or {}
            if not requests.get(self.table):
                return
            time.sleep(_backoff(attempt))
        raise StoreError(
            f"DynamoDB purge on table {self.table}: {len(requests[self.table])} deletes still "
            f"unprocessed after {MAX_UNPROCESSED_ROUNDS} rounds (throttled): run it again"
        )

    def summary(self) -> StoreSummary:
        """Parallel Scan reading only the attributes a summary needs, one partial per segment."""
        now = self.clock()
        partials: list[StoreSummary] = []
        lock = threading.Lock()
        wanted = (
            "namespace",
            "status",
            "topic",
            "first_seen_at",
            "dup_count",
            "expires_at",
            FOREIGN_SEEN_ATTRIBUTE,
        )

        def page(response: Mapping[str, Any]) -> None:
            part = StoreSummary()
            for item in response.get("Items", []):
                part.add(self._record({KEY_ATTRIBUTE: _str(""), **item}), now)
            with lock:
                partials.append(part)

        self._scan(
            "summary",
            {
                "ProjectionExpression": ", ".join(f"#{a}" for a in wanted),
                "ExpressionAttributeNames": _names(*wanted),
            },
            page,
        )
        out = StoreSummary()
        for part in partials:
            out.merge(part)
        return out

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
        self._client.close()


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


def _number(item: Item, name: str) -> Decimal | None:
    value = item.get(name)
    return None if value is None else Decimal(value["N"])


def _iso(timestamp: float) -> str:
    """A Unix time as the tutorial writes processed_at (UTC, ISO-8601, no offset)."""
    return datetime.fromtimestamp(timestamp, timezone.utc).replace(tzinfo=None).isoformat()


def _from_iso(item: Item, name: str) -> float:
    """An ISO-8601 string attribute as a Unix time (UTC when it has no offset); 0 if
    it is missing or unreadable."""
    try:
        moment = datetime.fromisoformat(item[name]["S"])
    except (KeyError, TypeError, ValueError):
        return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _to_record(item: Item) -> Record:
    """A record from an item; an item with no ``status`` is one the tutorial wrote
    (see FOREIGN_NAMESPACE): it was processed, so it reads as COMPLETED."""
    numbers = {name: _number(item, name) for name in _NUMBER_FIELDS}
    expires_at, first_seen_at = numbers["expires_at"], numbers["first_seen_at"]
    foreign = "status" not in item
    if expires_at is None:
        raise KeyError("expires_at")
    if first_seen_at is None:
        if not foreign:
            raise KeyError("first_seen_at")
        first_seen_at = Decimal(repr(_from_iso(item, FOREIGN_SEEN_ATTRIBUTE)))
    lease_until, last_dup_at = numbers["lease_until"], numbers["last_dup_at"]
    namespace = FOREIGN_NAMESPACE if foreign else ""
    return Record(
        key=item[KEY_ATTRIBUTE]["S"],
        status=RecordStatus.COMPLETED if foreign else RecordStatus(item["status"]["S"]),
        expires_at=int(expires_at),
        lease_until=float(lease_until) if lease_until is not None else None,
        claim_token=item["claim_token"]["S"] if "claim_token" in item else None,
        namespace=item["namespace"]["S"] if "namespace" in item else namespace,
        topic=item["topic"]["S"] if "topic" in item else "",
        first_seen_at=float(first_seen_at),
        dup_count=int(numbers["dup_count"] or 0),
        last_dup_at=float(last_dup_at) if last_dup_at is not None else None,
        run_id=item["run_id"]["S"] if "run_id" in item else None,
    )


def _schema_problems(table: Mapping[str, Any]) -> str:
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
