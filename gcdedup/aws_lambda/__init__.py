"""The AWS Lambda entry point: ``gcdedup.aws_lambda.handler``.

* :mod:`.entry`: the handler (an SQS batch or one EventBridge event, within the
  invocation's deadline);
* :mod:`.container`: what a container builds once (settings, store, handler, clients);
* :mod:`.logs`: JSON log lines with the request id; :mod:`.metrics`: the EMF record;
* :mod:`.secrets`: the Genesys OAuth client from Secrets Manager.

Importing this package imports neither the CLI (Typer, Rich) nor boto3. In Lambda's
init phase (the runtime sets ``AWS_LAMBDA_RUNTIME_API``) the container is built at
import, so its clients exist before the first invocation, unless the function's
handler (``_HANDLER``) is another one (a user's, built with :func:`gcdedup.dedup`).
"""

from __future__ import annotations

import os

from .container import (
    Container,
    Deadline,
    LambdaContext,
    build_container,
    get_container,
    lease_seconds,
    prewarm,
    reset,
)
from .entry import RETRY_STATUSES, InvocationError, handler
from .logs import JsonLines, configure_logging, package_log
from .secrets import fetch_genesys_secret

__all__ = [
    "RETRY_STATUSES",
    "Container",
    "Deadline",
    "InvocationError",
    "JsonLines",
    "LambdaContext",
    "build_container",
    "configure_logging",
    "fetch_genesys_secret",
    "get_container",
    "handler",
    "lease_seconds",
    "package_log",
    "prewarm",
    "reset",
]

# Only when the function's handler is ours: a user's handler built with the library API
# (gcdedup.dedup) imports this package too, without the configuration variables.
if os.environ.get("AWS_LAMBDA_RUNTIME_API") and os.environ.get(
    "_HANDLER", "gcdedup.aws_lambda"
).startswith("gcdedup.aws_lambda"):
    prewarm()
