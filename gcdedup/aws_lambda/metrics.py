"""CloudWatch metrics from the invocation's log line: Embedded Metric Format (EMF).

The invocation line carries an ``_aws`` member naming some of its own fields as
metrics; CloudWatch Logs extracts them. No PutMetricData call, no extra write, no
dependency. See https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/
CloudWatch_Embedded_Metric_Format_Specification.html
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

#: The CloudWatch namespace of the metrics.
NAMESPACE = "gcdedup"

#: Invocation-line field -> what it counts.
METRICS = {
    "processed": "events handled and completed",
    "duplicates": "events already completed (skipped)",
    "cached": "duplicates answered by the container cache, without a DynamoDB request",
    "conflicts": "same key, different payload (whatever the on-conflict setting did with it)",
    "unkeyed": "events without a key handled without dedup (on-unkeyable: process)",
    "in_flight": "events claimed by another live invocation (retried)",
    "failed": "events whose handler failed (retried)",
    "bad_records": "records that are not events (retried, then the dead-letter queue)",
    "not_started": "events left for a redelivery because the deadline was near",
}


def emf(counts: Mapping[str, int], *, now_ms: int | None = None) -> dict[str, Any]:
    """The fields that make a log line an EMF record of ``counts`` (one value each).

    Dimension: the function's name (``AWS_LAMBDA_FUNCTION_NAME``), so two stacks in
    one account keep apart.
    """
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or "local"
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000) if now_ms is None else now_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["FunctionName"]],
                    "Metrics": [{"Name": name, "Unit": "Count"} for name in METRICS],
                }
            ],
        },
        "FunctionName": function,
        **{name: int(counts.get(name, 0)) for name in METRICS},
    }
