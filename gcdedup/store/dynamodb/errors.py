"""botocore's exceptions as gcdedup errors: one line naming the table, what we were
doing, and the fix. A refused condition is not an error here but a result
(:class:`ConditionFailed`), and a caller may ask to handle some codes itself
(:class:`Refused`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...errors import StoreError
from .codec import DynamoDBItem

#: The fix for throttling, named by the store URL's option (the CLI adds its flag).
LOWER_CONCURRENCY = "lower the store's concurrency (concurrency=N in the store URL)"

THROTTLING_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)


class Refused(Exception):
    """An error code the caller asked to handle itself (``TableClient.call(allow=...)``)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class ConditionFailed(Exception):
    """A conditional write was refused; ``item`` is the old item when ALL_OLD asked for it."""

    def __init__(self, item: DynamoDBItem | None) -> None:
        super().__init__("conditional check failed")
        self.item = item


def one_line(value: object) -> str:
    return " ".join(str(value).split())


def error_code(exc: Any) -> str:
    """The AWS error code of a botocore ClientError ('' if none)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def old_item(exc: Any) -> DynamoDBItem | None:
    """The item a ConditionalCheckFailedException carries (ReturnValuesOnConditionCheckFailure)."""
    raw: Mapping[str, Any] = exc.response
    return raw.get("Item")


def client_error(table: str, operation: str, exc: Any) -> StoreError:
    """A botocore ClientError (the service answered with an error) as a StoreError."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    detail = one_line(error.get("Message", "") or exc)
    action = f"dynamodb:{getattr(exc, 'operation_name', '?')}"
    if code == "ResourceNotFoundException":
        return StoreError(
            f"table {table} does not exist: run gcdedup init --store dynamodb://{table}"
        )
    if code in ("AccessDeniedException", "AccessDenied"):
        return StoreError(
            f"access denied for {action} on table {table} (needed by {operation}): "
            "grant it to this role or user (see docs/stores/dynamodb.md, IAM permissions)"
        )
    if code in ("UnrecognizedClientException", "InvalidSignatureException"):
        return StoreError(
            f"AWS rejected the credentials for DynamoDB {operation} on table {table}: {detail}"
        )
    if code in ("ExpiredTokenException", "ExpiredToken"):
        return StoreError(
            f"AWS credentials expired during DynamoDB {operation} on table {table}: "
            "refresh them (e.g. aws sso login)"
        )
    if code in THROTTLING_CODES:
        return StoreError(
            f"DynamoDB throttled {operation} on table {table} after all retries "
            f"({code}): {LOWER_CONCURRENCY} or raise the table's capacity",
            setting="concurrency",
        )
    return StoreError(f"DynamoDB {operation} on table {table} failed ({code}): {detail}")


def botocore_error(table: str, operation: str, exc: Exception) -> StoreError:
    """A botocore BotoCoreError (no answer: credentials, network, timeouts) as a StoreError."""
    name = type(exc).__name__
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        message = (
            f"no AWS credentials for DynamoDB {operation} on table {table}: "
            "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        )
    elif name in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError"):
        message = f"cannot reach DynamoDB for {operation} on table {table}: {one_line(exc)}"
    else:
        message = f"DynamoDB {operation} on table {table} failed: {one_line(exc)}"
    return StoreError(message)
