"""boto3 clients for the cloud sources (S3, SQS) and ``capture`` (EventBridge, SQS).

boto3's own configuration is used throughout: the credential chain, the region
(``AWS_REGION`` / ``AWS_DEFAULT_REGION`` / the profile), ``AWS_ENDPOINT_URL`` and
the per-service ``AWS_ENDPOINT_URL_S3`` / ``_SQS`` / ``_EVENTBRIDGE`` variables (which is
how the tests and the README point gcdedup at a local server). boto3 names
EventBridge's variable after its service id, ``AWS_ENDPOINT_URL_EVENTBRIDGE``;
``AWS_ENDPOINT_URL_EVENTS`` (after the client's name) is accepted too when that
one is not set. Retries use
botocore's ``adaptive`` mode. boto3 is an optional dependency: without it, the
error names the extra to install.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from ..aws_region import no_region, region_from_env
from ..errors import InputError, MissingDependencyError

#: The extra that installs boto3 (``pip install '.[aws]'`` in the checkout).
EXTRA = "aws"
#: Total attempts per call, first try included (botocore's adaptive retry mode).
MAX_ATTEMPTS = 8
#: Connections per client: concurrent S3 object reads share one client.
MAX_POOL = 16

_lock = threading.Lock()
_clients: dict[str, Any] = {}


def client(service: str, for_url: str | None = None) -> Any:
    """One shared boto3 client per service for this process (clients are thread-safe);
    ``for_url`` (the input that needs it) is named if it cannot be set up."""
    with _lock:
        found = _clients.get(service)
        if found is None:
            found = _clients[service] = new_client(service, for_url)
        return found


def new_client(service: str, for_url: str | None = None) -> Any:
    """A fresh boto3 client with adaptive retries; endpoints and credentials from boto3,
    the region from AWS_REGION too (see gcdedup.aws_region)."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise MissingDependencyError("boto3", EXTRA) from exc
    config = Config(
        retries={"mode": "adaptive", "total_max_attempts": MAX_ATTEMPTS},
        max_pool_connections=MAX_POOL,
        user_agent_extra="gcdedup",
    )
    endpoint = None
    if service == "events" and not os.environ.get("AWS_ENDPOINT_URL_EVENTBRIDGE"):
        endpoint = os.environ.get("AWS_ENDPOINT_URL_EVENTS") or None
    what = for_url or f"the AWS {service} client"
    try:
        return boto3.session.Session(region_name=region_from_env()).client(  # type: ignore[call-overload]
            service, endpoint_url=endpoint, config=config
        )
    except Exception as exc:  # NoRegionError, ProfileNotFound, a bad endpoint variable
        if type(exc).__name__ == "NoRegionError":
            raise InputError(no_region(what)) from exc
        raise InputError(f"cannot set up the AWS {service} client for {what}: {exc}") from exc


def reset_clients() -> None:
    """Forget the shared clients (tests change endpoints and credentials between runs)."""
    with _lock:
        _clients.clear()


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def error_message(exc: BaseException) -> str:
    """The AWS error message of a ClientError (else the exception's text)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        message = response.get("Error", {}).get("Message")
        if message:
            return str(message)
    return str(exc)


#: Error codes that mean the caller lacks a permission.
ACCESS_DENIED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthorizationError",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "ExpiredToken",
        "ExpiredTokenException",
        "SignatureDoesNotMatch",
    }
)


def is_access_denied(exc: BaseException) -> bool:
    return error_code(exc) in ACCESS_DENIED or "AccessDenied" in error_code(exc)
