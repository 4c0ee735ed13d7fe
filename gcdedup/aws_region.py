"""The AWS region when only ``AWS_REGION`` says it.

boto3 reads ``AWS_DEFAULT_REGION`` and the profile's ``region``, not ``AWS_REGION``
(which Lambda, the AWS CLI v2 and most SDKs read first): with only ``AWS_REGION`` set,
a client fails with "You must specify a region". gcdedup passes ``AWS_REGION`` on, in the
order the AWS CLI uses (``AWS_REGION``, then ``AWS_DEFAULT_REGION``, then the profile),
and a missing region names the variables to set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

#: The variables that give the region, in the order they are read.
REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")


def region_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """``AWS_REGION`` when set (boto3 reads the rest itself), else None."""
    env = os.environ if env is None else env
    return (env.get("AWS_REGION") or "").strip() or None


def no_region(what: str, hint: str = "") -> str:
    """The message for a client that found no region: what needed it and how to give one."""
    return (
        f"no AWS region for {what}: set AWS_REGION or AWS_DEFAULT_REGION (e.g. "
        f"export AWS_REGION=eu-west-1), or a region in your AWS profile{hint}"
    )
