"""template.yaml: its parameter constraints accept exactly what the function accepts.

A value the template lets through but the function rejects at cold start would send
every message through its retries to the dead-letter queue.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from gcdedup.errors import ConfigError
from gcdedup.keys import get_strategy, validate_namespace
from gcdedup.settings import parse_duration

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """The template, CloudFormation's short tags (``!Ref``, ``!GetAtt``...) included."""
    from cfnlint.decode import cfn_yaml

    loaded: dict[str, Any] = cfn_yaml.load(str(TEMPLATE))
    return loaded


def accepted_by_code(check: Any, value: str) -> bool:
    try:
        check(value)
    except ConfigError:
        return False
    return True


def accepted_by_template(parameter: dict[str, Any], value: str) -> bool:
    # CloudFormation matches AllowedPattern against the whole value.
    return re.fullmatch(parameter["AllowedPattern"], value) is not None


CASES = {
    "Namespace": (
        validate_namespace,
        ["default", "prod", "a", "team-1.events_v2", "9lives", "x" * 64],
        ["", "a#b", "-lead", ".lead", "_lead", "x" * 65, "with space", "é", "a/b"],
    ),
    "DedupTtl": (
        lambda value: parse_duration(value, "TTL"),
        ["5d", "90", "90s", "15m", "2h", "1w", "1.5d", "500ms", " 4d ", "4 d", "0.5h"],
        ["", "0", "0d", "0.0h", "5 days", "d", "-1d", "1y", "1.d", ".5d", "5dd"],
    ),
    "KeyStrategy": (
        get_strategy,
        ["genesys", "envelope", "content", "tutorial", "jmespath:detail.eventBody.id"],
        ["", "Genesys", "sha256", "jmespath:", "genesys ", "tutorials"],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_parameter_patterns_agree_with_the_code(template: dict[str, Any], name: str) -> None:
    parameter = template["Parameters"][name]
    assert parameter["ConstraintDescription"]
    check, good, bad = CASES[name]
    assert accepted_by_template(parameter, parameter["Default"])
    for value in good:
        assert accepted_by_code(check, value), value
        assert accepted_by_template(parameter, value), value
    for value in bad:
        assert not accepted_by_code(check, value), value
        assert not accepted_by_template(parameter, value), value


def test_batch_size_needs_no_batching_window(template: dict[str, Any]) -> None:
    """SQS batches over 10 need MaximumBatchingWindowInSeconds >= 1, which is not set."""
    assert template["Parameters"]["BatchSize"]["MaxValue"] <= 10
    events = template["Resources"]["DedupFunction"]["Properties"]["Events"]
    assert "MaximumBatchingWindowInSeconds" not in events["GenesysQueue"]["Properties"]


def test_events_the_rule_cannot_deliver_go_to_the_dead_letter_queue(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    [target] = resources["GenesysEventsRule"]["Properties"]["Targets"]
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] == 86400
    policy = resources["DeadLetterQueuePolicy"]["Properties"]
    assert policy["Queues"] == [{"Ref": "DeadLetterQueue"}]
    [statement] = policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == {
        "Fn::GetAtt": ["GenesysEventsRule", "Arn"]
    }
