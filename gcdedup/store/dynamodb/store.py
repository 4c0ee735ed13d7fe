"""DynamoDBStore: claim, complete, release, seed, check, purge and summary on one table.

Why it is safe: every state change is a single conditional write whose condition
holds the whole rule (absent, expired or lease-expired for a claim; "still my
token" for complete and release), so DynamoDB's per-item atomicity is the lock.
Nothing is read first and written after.

Why it is fast from far away: a batch is fanned out over a bounded thread pool
(one HTTP connection per worker), reads go 100 keys per ``BatchGetItem``, a
failed claim learns DUPLICATE vs IN_FLIGHT from ``ALL_OLD`` instead of a second
read, and ``Scan`` runs in parallel segments.

Why one module of over 600 lines: it is one class, the store contract on
DynamoDB, one method per primitive; the request shapes, error mapping, client
set-up and table admin already live beside it (codec, errors, client, admin).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from ...concurrency import map_in_order, waves
from ...errors import StoreError
from ..base import (
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
from .admin import init_table
from .client import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_OUTAGE_SECONDS,
    DEFAULT_RETRY_MODE,
    ClientOptions,
    Sleep,
    TableClient,
    check_table_name,
    make_client,
    parse_url,
    route_retry_sleeps,
)
from .codec import (
    KEY_ATTRIBUTE,
    SUMMARY_ATTRIBUTES,
    DynamoDBItem,
    Layout,
    names,
    new_item,
    num,
    purge_filter,
    read_record,
    string,
)
from .errors import LOWER_CONCURRENCY, ConditionFailed

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

T = TypeVar("T")
R = TypeVar("R")

#: DynamoDB's per-call limits, enforced here whatever a local server accepts.
MAX_BATCH_GET = 100
MAX_BATCH_WRITE = 25
MAX_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024
#: Items per Scan page. Our items are ~200-400 bytes, so a page stays under the
#: 1 MB DynamoDB cuts pages at; a local server that does not cut pages still
#: never sends us an unbounded one.
SCAN_PAGE_ITEMS = 1000
SCAN_SEGMENTS = 4

#: Our own retries of UnprocessedKeys / UnprocessedItems (botocore does not
#: retry those: the call itself succeeded). Full jitter, bounded rounds.
BACKOFF_BASE = 0.05
BACKOFF_CAP = 2.0
MAX_UNPROCESSED_ROUNDS = 12

# A key is claimable when absent, expired (TTL deletion lags by up to ~48 h) or an
# IN_PROGRESS whose lease ran out: the same rule as classify(), inside the write.
_CLAIMABLE = (
    "attribute_not_exists(#table_pk) OR #expires_at < :now"
    " OR (#status = :in_progress AND #lease_until < :now)"
)
#: With --on-conflict process: a completed record of another payload is claimable too.
_CONFLICTING = (
    " OR (#status = :completed AND attribute_exists(#fingerprint) AND #fingerprint <> :fingerprint)"
)
_HELD_BY_TOKEN = "#claim_token = :token AND #status = :in_progress"
#: The attribute holding the id of the last duplicate count written on a record.
DUP_WRITE = "last_dup_id"
_NOT_COUNTED_YET = f"(attribute_not_exists(#{DUP_WRITE}) OR #{DUP_WRITE} <> :id)"


def backoff(attempt: int) -> float:
    """Full-jitter exponential backoff (spreads retries of many workers apart)."""
    return random.uniform(0, backoff_bound(attempt))


def backoff_bound(attempt: int) -> float:
    """The longest wait before retry round ``attempt + 1`` (0-based)."""
    return min(BACKOFF_CAP, BACKOFF_BASE * (2**attempt))


def _written_by(item: DynamoDBItem | None, token: str) -> bool:
    """The item carries ``token``: our own write, met again by a retried request whose
    first answer was lost (a token is a fresh UUID per write: nobody else has it)."""
    return item is not None and item.get("claim_token", {}).get("S") == token


def _chunks(seq: Sequence[T], size: int) -> list[Sequence[T]]:
    return [seq[i : i + size] for i in range(0, len(seq), size)]


class DynamoDBStore(DedupStore):
    """A DedupStore in one DynamoDB table (partition key ``dedup_key``, TTL on ``expires_at``).

    ``client`` is a boto3 DynamoDB client to use instead of one made from the options
    (the caller then owns it: ``close`` leaves it open). ``sleep`` waits between
    retries: our rounds of unprocessed batch items and botocore's throttling retries
    alike (botocore still decides how long). ``clock`` is the time records are
    written and judged at.
    """

    def __init__(
        self,
        table: str,
        *,
        clock: Clock | None = None,
        run_id: str | None = None,
        client: DynamoDBClient | None = None,
        sleep: Sleep = time.sleep,
        endpoint_url: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        retry_mode: str = DEFAULT_RETRY_MODE,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        outage_seconds: float = DEFAULT_OUTAGE_SECONDS,
        pk: str | None = None,
        sk: str | None = None,
        partition: str | None = None,
        prefix: str | None = None,
    ) -> None:
        super().__init__(clock=clock or time.time, run_id=run_id)
        self.table = check_table_name(table)
        #: Where records live in the table (codec.Layout): ``?pk=PK&sk=SK`` for a
        #: single-table design.
        self.layout = Layout.from_options(pk, sk, partition, prefix)
        options = ClientOptions(
            endpoint_url, region, profile, concurrency, retry_mode, max_attempts, outage_seconds
        )
        self.concurrency = options.concurrency
        #: Items per Scan page (a test may lower it to see many pages).
        self.scan_page_items = SCAN_PAGE_ITEMS
        query = "&".join(
            [
                *(f"{k}={v}" for k, v in (("endpoint_url", endpoint_url), ("region", region)) if v),
                *([self.layout.query()] if self.layout.query() else []),
            ]
        )
        self.url = f"dynamodb://{table}" + (f"?{query}" if query else "")
        self._owns_client = client is None
        self._client = client if client is not None else make_client(self.table, options)
        self._sleep = sleep
        route_retry_sleeps(self._client, sleep)
        self._db = TableClient(
            self._client, self.table, outage_seconds=options.outage_seconds, sleep=sleep
        )
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        clock: Clock | None = None,
        run_id: str | None = None,
        client: DynamoDBClient | None = None,
        sleep: Sleep = time.sleep,
        **options: object,
    ) -> DynamoDBStore:
        """``dynamodb://Table[?endpoint_url=...&region=...&concurrency=16&profile=...]``.

        Keyword options win over the query string; ``None`` values are ignored so a
        CLI can pass its unset flags through.
        """
        table, kwargs = parse_url(url, **options)
        return cls(table, clock=clock, run_id=run_id, client=client, sleep=sleep, **kwargs)

    @property
    def client(self) -> DynamoDBClient:
        """The boto3 client (e.g. to register botocore event hooks)."""
        return self._client

    # -- plumbing -----------------------------------------------------------------------

    def _call(
        self, operation: str, fn: Callable[..., T], allow: tuple[str, ...] = (), **kwargs: Any
    ) -> T:
        return self._db.call(operation, fn, allow, **kwargs)

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.concurrency, thread_name_prefix="gcdedup-dynamodb"
                )
            return self._pool

    def _map(self, fn: Callable[[T], R], args: Sequence[T]) -> list[R]:
        """fn over args on the pool, results in input order, inline for a single call;
        nothing still writes once it has returned or raised (see map_in_order). Tasks
        never submit to the pool themselves, so a small pool cannot deadlock."""
        if len(args) <= 1 or self.concurrency == 1:
            return [fn(a) for a in args]
        return map_in_order(fn, args, self._executor())

    def _map_waves(self, keys: Sequence[str], fn: Callable[[int], R]) -> list[R]:
        """fn(index) for every position, in parallel, repeated keys in later waves."""
        out: dict[int, R] = {}
        for wave in waves(keys):
            for index, result in zip(wave, self._map(fn, wave), strict=True):
                out[index] = result
        return [out[i] for i in range(len(keys))]

    def _check_key(self, key: str) -> None:
        layout = self.layout
        if layout.partition is not None:  # the key is the sort key
            limit, what = MAX_SORT_KEY_BYTES, "a sort key"
        else:
            limit, what = MAX_KEY_BYTES - len((layout.prefix or "").encode()), "a partition key"
        if not key or len(key.encode()) > limit:
            raise StoreError(
                f"key {key[:40]!r}... cannot be stored in DynamoDB: {what} must be "
                f"1 to {limit} bytes"
            )

    def _record(self, item: DynamoDBItem) -> Record:
        return read_record(self.table, item)

    def _conditional_put(
        self, operation: str, attrs: dict[str, Any], now: float, take_conflicts: bool = False
    ) -> tuple[bool, DynamoDBItem | None]:
        """Put if claimable: (True, the item it replaced if it reports one) or (False, the
        item that stood in the way). One request either way: the old item comes back in
        the response (``ReturnValues`` / ``ReturnValuesOnConditionCheckFailure``)."""
        condition = _CLAIMABLE
        attribute_names = {
            "#table_pk": self.layout.pk,
            **names("expires_at", "status", "lease_until"),
        }
        values: dict[str, Any] = {
            ":now": num(now),
            ":in_progress": string(RecordStatus.IN_PROGRESS.value),
        }
        extra: dict[str, Any] = {}
        if take_conflicts and "fingerprint" in attrs:
            # Records without a fingerprint are never taken (attribute_exists: moto
            # answers true for <> on a missing attribute).
            condition += _CONFLICTING
            attribute_names.update(names("fingerprint"))
            values[":completed"] = string(RecordStatus.COMPLETED.value)
            values[":fingerprint"] = attrs["fingerprint"]
            extra["ReturnValues"] = "ALL_OLD"
        try:
            response = self._call(
                operation,
                self._client.put_item,
                TableName=self.table,
                Item=attrs,
                ConditionExpression=condition,
                ExpressionAttributeNames=attribute_names,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **extra,
            )
        except ConditionFailed as failed:
            if failed.item is None:  # a server without ALL_OLD support: read it
                return False, self._get_item(operation, str(attrs[KEY_ATTRIBUTE]["S"])) or {}
            return False, failed.item
        return True, (response.get("Attributes") or None)

    def _get_item(self, operation: str, key: str) -> DynamoDBItem | None:
        response = self._call(
            operation,
            self._client.get_item,
            TableName=self.table,
            Key=self.layout.key(key),
            ConsistentRead=True,
        )
        return response.get("Item")

    def _retry_unprocessed(
        self,
        operation: str,
        send: Callable[[Mapping[str, Any]], Mapping[str, Any]],
        request: Mapping[str, Any],
        left: Callable[[Mapping[str, Any]], int],
        what: str,
        advice: str,
        setting: str | None = None,
    ) -> None:
        """``send(request)``, then what it hands back unprocessed (throttling, response
        caps) again after a jittered backoff, a bounded number of rounds."""
        for attempt in range(MAX_UNPROCESSED_ROUNDS):
            request = send(request)
            if not left(request):
                return
            self._sleep(backoff(attempt))
        raise StoreError(
            f"DynamoDB {operation} on table {self.table}: {left(request)} {what} still "
            f"unprocessed after {MAX_UNPROCESSED_ROUNDS} rounds (throttled): {advice}",
            setting=setting,
        )

    # -- the contract ---------------------------------------------------------------------

    def init(self) -> str:
        """Create the table (on-demand, TTL on expires_at) or verify an existing one."""
        return init_table(self._db, self.layout)

    def claim(
        self,
        items: Sequence[KeyItem],
        lease_seconds: float,
        ttl_seconds: int,
        *,
        take_conflicts: bool = False,
        count_duplicates: bool = True,
    ) -> list[Result]:
        """One conditional PutItem per key: all a new event or a duplicate costs (a
        duplicate learns its record from ``ALL_OLD``); ``count_duplicates`` adds one
        UpdateItem per duplicate for its counter."""
        for item in items:
            self._check_key(item.key)
        now = self.clock()
        claimed: list[tuple[str, str]] = []  # appended from the pool's threads
        lock = threading.Lock()

        def one(index: int) -> Result:
            item = items[index]
            token = new_token()
            attrs = new_item(
                item,
                RecordStatus.IN_PROGRESS,
                now,
                ttl_seconds,
                self.run_id,
                token,
                lease_seconds,
                counted=count_duplicates,
                layout=self.layout,
            )
            won, old = self._conditional_put("claim", attrs, now, take_conflicts)
            if not won and _written_by(old, token):
                # Our own claim, applied by an attempt whose answer was lost. (With
                # take_conflicts the record it replaced went with that answer.)
                won, old = True, None
            if won:
                with lock:
                    claimed.append((item.key, token))
                replaced = self._record(old) if old else None
                if replaced is not None and (
                    classify(replaced, now, item.fingerprint) is Outcome.CONFLICT
                ):
                    return Result(
                        item.key, Outcome.CLAIMED, token=token, record=replaced, conflict=True
                    )
                return Result(item.key, Outcome.CLAIMED, token=token)
            assert old is not None
            return self._count_duplicate(item, old, now, count_duplicates)

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

    def _count_duplicate(
        self, item: KeyItem, old: DynamoDBItem, now: float, count: bool = True
    ) -> Result:
        """The claim failed: the record is live. With ``count``, count the delivery on it.

        Only counted duplicates pay this second write. It is bound to the same life of
        the record (same first_seen_at), so a count never lands on a record that was
        released and claimed again in between. A conflict is not counted.
        """
        key = item.key
        if not old:  # vanished between the put and the read
            return Result(key, Outcome.IN_FLIGHT)
        before = self._record(old)
        outcome = classify(before, now, item.fingerprint)
        if outcome is Outcome.NEW:  # cannot happen: the condition said it is live
            outcome = Outcome.IN_FLIGHT
        if not count or outcome is Outcome.CONFLICT:
            return Result(key, outcome, record=before)
        if "first_seen_at" in old:
            same_life = "#first_seen_at = :seen"
            attribute_names = names("dup_count", "last_dup_at", "first_seen_at", DUP_WRITE)
            seen = {":seen": old["first_seen_at"]}
        else:  # an item the tutorial wrote: bound to its expiry instead
            same_life = "attribute_not_exists(#first_seen_at) AND #expires_at = :seen"
            attribute_names = names(
                "dup_count", "last_dup_at", "first_seen_at", "expires_at", DUP_WRITE
            )
            seen = {":seen": old["expires_at"]}
        # The count carries its own id, so a retry of it (its answer lost) is refused
        # instead of counting the same delivery twice.
        count_id = new_token()
        try:
            response = self._call(
                "claim",
                self._client.update_item,
                TableName=self.table,
                Key=self.layout.key(key),
                UpdateExpression=f"ADD #dup_count :one SET #last_dup_at = :now, #{DUP_WRITE} = :id",
                ConditionExpression=f"{same_life} AND {_NOT_COUNTED_YET}",
                ExpressionAttributeNames=attribute_names,
                ExpressionAttributeValues={
                    ":one": num(1),
                    ":now": num(now),
                    ":id": string(count_id),
                    **seen,
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ConditionFailed as failed:
            if failed.item and failed.item.get(DUP_WRITE, {}).get("S") == count_id:
                return Result(key, outcome, record=self._record(failed.item))
            return Result(key, outcome, record=before)
        return Result(key, outcome, record=self._record(response["Attributes"]))

    def complete(self, key: str, token: str, ttl_seconds: int, result: str | None = None) -> bool:
        return self.complete_many([(key, token)], ttl_seconds, [result])[0]

    def complete_many(
        self,
        pairs: Sequence[tuple[str, str]],
        ttl_seconds: int,
        results: Sequence[str | None] | None = None,
    ) -> list[bool]:
        """One conditional UpdateItem per claim (a saved result goes in the same write)."""
        expires_at = int(self.clock()) + ttl_seconds
        values = {
            ":completed": string(RecordStatus.COMPLETED.value),
            ":expires_at": num(expires_at),
        }
        # The token stays on the completed record: a retried completion (its answer
        # lost) recognises its own work by it.
        update = "SET #status = :completed, #expires_at = :expires_at"
        remove = " REMOVE #lease_until"
        attributes = ("status", "expires_at", "lease_until", "claim_token")
        saved = results if results is not None else [None] * len(pairs)

        def with_result(index: int) -> tuple[str, tuple[str, ...], dict[str, Any]] | None:
            result = saved[index]
            if result is None:
                return None
            return (
                update + ", #result = :result" + remove,
                (*attributes, "result"),
                {**values, ":result": string(result)},
            )

        def completed(item: DynamoDBItem, token: str) -> bool:
            return _written_by(item, token) and item.get("status", {}).get("S") == (
                RecordStatus.COMPLETED.value
            )

        return self._update_held(
            "complete",
            pairs,
            update + remove,
            attributes,
            values,
            per_pair=with_result,
            already=completed,
        )

    def renew(self, pairs: Sequence[tuple[str, str]], lease_seconds: float) -> list[bool]:
        """``expires_at`` is set just past the new lease: DynamoDB has no ``max`` in an
        update, and while a claim is IN_PROGRESS only its lease decides who may take it."""
        lease_until = self.clock() + lease_seconds
        return self._update_held(
            "renew",
            pairs,
            "SET #lease_until = :lease_until, #expires_at = :expires_at",
            ("lease_until", "expires_at", "claim_token", "status"),
            {":lease_until": num(lease_until), ":expires_at": num(int(lease_until) + 1)},
        )

    def _update_held(
        self,
        operation: str,
        pairs: Sequence[tuple[str, str]],
        update: str,
        attributes: tuple[str, ...],
        values: dict[str, Any],
        per_pair: Callable[[int], tuple[str, tuple[str, ...], dict[str, Any]] | None] | None = None,
        already: Callable[[DynamoDBItem, str], bool] | None = None,
    ) -> list[bool]:
        """One conditional UpdateItem per claim, the token check inside the condition
        (``attributes``: every #name the update and that condition use); False for a
        claim the token no longer holds. ``per_pair(index)`` may give one pair its own
        (update, attributes, values), e.g. to save its result in the same write.
        ``already(item, token)``: the refused update's effect is on the item already
        (our own earlier attempt, its answer lost): True then."""

        def one(index: int) -> bool:
            key, token = pairs[index]
            own = per_pair(index) if per_pair is not None else None
            update_, attributes_, values_ = own or (update, attributes, values)
            try:
                self._call(
                    operation,
                    self._client.update_item,
                    TableName=self.table,
                    Key=self.layout.key(key),
                    UpdateExpression=update_,
                    ConditionExpression=_HELD_BY_TOKEN,
                    ExpressionAttributeNames=names(*attributes_),
                    ExpressionAttributeValues={
                        **values_,
                        ":token": string(token),
                        ":in_progress": string(RecordStatus.IN_PROGRESS.value),
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ConditionFailed as failed:
                item = failed.item
                return already is not None and item is not None and already(item, token)
            return True

        return self._map_waves([key for key, _ in pairs], one)

    def release(self, key: str, token: str) -> bool:
        try:
            self._call(
                "release",
                self._client.delete_item,
                TableName=self.table,
                Key=self.layout.key(key),
                ConditionExpression=_HELD_BY_TOKEN,
                ExpressionAttributeNames=names("claim_token", "status"),
                ExpressionAttributeValues={
                    ":token": string(token),
                    ":in_progress": string(RecordStatus.IN_PROGRESS.value),
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ConditionFailed as failed:
            # Gone after a retry: our first attempt deleted it and its answer was lost.
            return failed.retried and not failed.item
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
            ours, old = self._put_completed("seed", item, now, ttl_seconds)
            if ours:
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

    def mark_done(
        self,
        items: Sequence[KeyItem],
        ttl_seconds: int,
        *,
        count_duplicates: bool,
        uncounted: bool = False,
    ) -> list[Result]:
        """One conditional PutItem of a COMPLETED record per key (the claim's condition),
        instead of a claim and a completion: 1 WCU for a new event. A live record is
        answered from ``ALL_OLD`` as a claim would (DUPLICATE, CONFLICT, IN_FLIGHT), and
        counted on it with ``count_duplicates``. Later copies of a key in ``items``
        run in later waves, so they meet the record the first copy wrote."""
        if not count_duplicates and not uncounted:
            return self.seed(items, ttl_seconds)
        for item in items:
            self._check_key(item.key)
        now = self.clock()

        def one(index: int) -> Result:
            item = items[index]
            ours, old = self._put_completed("claim", item, now, ttl_seconds, not uncounted)
            if ours:
                return Result(item.key, Outcome.SEEDED)
            assert old is not None
            return self._count_duplicate(item, old, now, count_duplicates)

        return self._map_waves([i.key for i in items], one)

    def _put_completed(
        self, action: str, item: KeyItem, now: float, ttl_seconds: int, counted: bool = True
    ) -> tuple[bool, DynamoDBItem | None]:
        """A COMPLETED record of ``item`` under the claim's condition: whether it is ours
        (also when the first answer was lost and a retry met our own token), and the
        item that was there."""
        token = new_token()
        attrs = new_item(
            item,
            RecordStatus.COMPLETED,
            now,
            ttl_seconds,
            self.run_id,
            token,
            counted=counted,
            layout=self.layout,
        )
        won, old = self._conditional_put(action, attrs, now)
        return won or _written_by(old, token), old

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

    def _batch_get(self, keys: Sequence[str]) -> list[DynamoDBItem]:
        """One BatchGetItem, then its UnprocessedKeys (throttling or the 16 MB response
        cap) again with jittered backoff, a bounded number of rounds."""
        items: list[DynamoDBItem] = []

        def send(request: Mapping[str, Any]) -> Mapping[str, Any]:
            response: Mapping[str, Any] = self._call(
                "check", self._client.batch_get_item, RequestItems=request
            )
            items.extend(response.get("Responses", {}).get(self.table, []))
            return response.get("UnprocessedKeys") or {}

        self._retry_unprocessed(
            "check",
            send,
            {self.table: {"Keys": [self.layout.key(k) for k in keys], "ConsistentRead": True}},
            lambda unprocessed: len(unprocessed.get(self.table, {}).get("Keys", [])),
            "keys",
            f"retry later or {LOWER_CONCURRENCY}",
            setting="concurrency",
        )
        return items

    def get(self, key: str) -> Record | None:
        self._check_key(key)
        item = self._get_item("get", key)
        return self._record(item) if item is not None else None

    # -- parallel Scans (purge, summary) ----------------------------------------------

    def _scan_segments(
        self,
        operation: str,
        request: Mapping[str, Any],
        on_page: Callable[[Mapping[str, Any]], None],
    ) -> None:
        """Every Scan page of every segment through ``on_page``, the segments in parallel."""
        segments = min(SCAN_SEGMENTS, self.concurrency)
        request = self._scoped(request)

        def segment(number: int) -> None:
            start: Mapping[str, Any] | None = None
            while True:
                kwargs: dict[str, Any] = {
                    "TableName": self.table,
                    "Limit": self.scan_page_items,
                    **request,
                }
                if segments > 1:
                    kwargs.update(Segment=number, TotalSegments=segments)
                if start:
                    kwargs["ExclusiveStartKey"] = start
                response = self._call(operation, self._client.scan, **kwargs)
                on_page(response)
                start = response.get("LastEvaluatedKey")
                if not start:
                    return

        self._map(segment, list(range(segments)))

    def _scoped(self, request: Mapping[str, Any]) -> Mapping[str, Any]:
        """A Scan request reading this layout's records only (a single table holds
        other entities too); unchanged for gcdedup's own table."""
        clause, scope_names, values = self.layout.scope()
        if not clause:
            return request
        given = request.get("FilterExpression")
        return {
            **request,
            "FilterExpression": f"{clause} AND {given}" if given else clause,
            "ExpressionAttributeNames": {
                **request.get("ExpressionAttributeNames", {}),
                **scope_names,
            },
            "ExpressionAttributeValues": {
                **request.get("ExpressionAttributeValues", {}),
                **values,
            },
        }

    def purge(self, where: PurgeFilter, dry_run: bool = False) -> int:
        """Parallel Scan for the matching keys, BatchWriteItem deletes (25 a call).

        Deletes are not conditional (BatchWriteItem cannot be): a purge is an operator's
        decision about matching records, like SQLite's DELETE ... WHERE.
        """
        if where.is_empty():
            return 0
        matching = purge_filter(where, self.clock())
        counts: list[int] = []
        lock = threading.Lock()

        def on_page(page: Mapping[str, Any]) -> None:
            if dry_run:
                n = int(page.get("Count", 0))
            else:
                keys = [self.layout.key_of_item(item) for item in page.get("Items", [])]
                for chunk in _chunks(keys, MAX_BATCH_WRITE):
                    self._batch_delete(chunk)
                n = len(keys)
            with lock:
                counts.append(n)

        if dry_run:
            request = {**matching, "Select": "COUNT"}
        else:
            table_keys = [a for a in (self.layout.pk, self.layout.sk) if a is not None]
            projected = {**matching.get("ExpressionAttributeNames", {}), **names(*table_keys)}
            request = {
                **matching,
                "ProjectionExpression": ", ".join(f"#{a}" for a in table_keys),
                "ExpressionAttributeNames": projected,
            }
        self._scan_segments("purge", request, on_page)
        return sum(counts)

    def _batch_delete(self, keys: Sequence[Mapping[str, Any]]) -> None:
        def send(request: Mapping[str, Any]) -> Mapping[str, Any]:
            response = self._call("purge", self._client.batch_write_item, RequestItems=request)
            return response.get("UnprocessedItems") or {}

        self._retry_unprocessed(
            "purge",
            send,
            {self.table: [{"DeleteRequest": {"Key": dict(k)}} for k in keys]},
            lambda unprocessed: len(unprocessed.get(self.table, [])),
            "deletes",
            "run it again",
        )

    def summary(self) -> StoreSummary:
        """Parallel Scan reading only the attributes a summary needs, one partial per page."""
        now = self.clock()
        partials: list[StoreSummary] = []
        lock = threading.Lock()

        def on_page(page: Mapping[str, Any]) -> None:
            part = StoreSummary()
            for item in page.get("Items", []):
                part.add(self._record({KEY_ATTRIBUTE: string(""), **item}), now)
            with lock:
                partials.append(part)

        self._scan_segments(
            "summary",
            {
                "ProjectionExpression": ", ".join(f"#{a}" for a in SUMMARY_ATTRIBUTES),
                "ExpressionAttributeNames": names(*SUMMARY_ATTRIBUTES),
            },
            on_page,
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
        if self._owns_client:
            self._client.close()
