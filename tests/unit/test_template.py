"""template.yaml: its parameter constraints accept exactly what the function accepts.

A value the template lets through but the function rejects at cold start would send
every message through its retries to the dead-letter queue.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from gcdedup.aws_lambda.container import LAMBDA_DEFAULTS
from gcdedup.errors import ConfigError
from gcdedup.keys import get_strategy, validate_namespace
from gcdedup.settings import ENV_VARS, ON_CONFLICT, Settings, parse_duration

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


def test_what_holds_state_is_kept_when_the_stack_goes(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    for name in ("DedupTable", "EventQueue", "DeadLetterQueue", "DedupFunctionLogs"):
        assert resources[name]["DeletionPolicy"] == "Retain", name
        assert resources[name]["UpdateReplacePolicy"] == "Retain", name
    table = resources["DedupTable"]["Properties"]
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_the_role_allows_only_what_the_function_calls(template: dict[str, Any]) -> None:
    """The Lambda path claims (PutItem, GetItem as a fallback), counts duplicates and
    completes (UpdateItem) and releases (DeleteItem); check mode's BatchGetItem is the CLI's."""
    policies = template["Resources"]["DedupFunction"]["Properties"]["Policies"]
    [table] = [
        statement
        for policy in policies
        if "Statement" in policy
        for statement in policy["Statement"]
        if statement["Sid"] == "DedupTable"
    ]
    assert sorted(table["Action"]) == [
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    ]


def test_a_customer_managed_key_can_decrypt_the_secret_through_secrets_manager_only(
    template: dict[str, Any],
) -> None:
    policies = template["Resources"]["DedupFunction"]["Properties"]["Policies"]
    [conditional] = [
        p
        for p in policies
        if isinstance(p, dict) and p.get("Fn::If", [None])[0] == "HasSecretKmsKey"
    ]
    [statement] = conditional["Fn::If"][1]["Statement"]
    assert statement["Action"] == "kms:Decrypt"
    assert statement["Resource"] == {"Ref": "GenesysSecretKmsKeyArn"}
    assert statement["Condition"]["StringEquals"]["kms:ViaService"] == {
        "Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"
    }


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        (
            "GenesysSecretArn",
            ["", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gcdedup/genesys-AbCdEf"],
            [
                "gcdedup/genesys",
                "arn:aws:s3:::bucket",
                "arn:aws:secretsmanager:eu-west-1:1:secret:x",
            ],
        ),
        (
            "GenesysSecretKmsKeyArn",
            ["", "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"],
            ["alias/aws/secretsmanager", "arn:aws:kms:eu-west-1:123456789012:alias/mine"],
        ),
    ],
)
def test_arn_parameters_take_an_arn_or_nothing(
    template: dict[str, Any], name: str, good: list[str], bad: list[str]
) -> None:
    parameter = template["Parameters"][name]
    assert parameter["Default"] == ""
    assert all(accepted_by_template(parameter, value) for value in good)
    assert not any(accepted_by_template(parameter, value) for value in bad)


def test_architecture_is_a_parameter_defaulting_to_arm64(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["Architecture"]
    assert (parameter["Default"], sorted(parameter["AllowedValues"])) == (
        "arm64",
        ["arm64", "x86_64"],
    )
    function = template["Resources"]["DedupFunction"]
    assert function["Properties"]["Architectures"] == [{"Ref": "Architecture"}]
    assert function["Metadata"]["BuildMethod"] == "makefile"


def test_deadline_margin_pattern_agrees_with_the_code(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["DeadlineMargin"]
    for value in ["5s", "2", "1.5s", "500ms"]:
        assert accepted_by_code(lambda v: parse_duration(v, "margin"), value)
        assert accepted_by_template(parameter, value), value
    for value in ["0", "", "soon", "-1s"]:
        assert not accepted_by_code(lambda v: parse_duration(v, "margin"), value)
        assert not accepted_by_template(parameter, value), value
    env = template["Resources"]["DedupFunction"]["Properties"]["Environment"]["Variables"]
    assert env["GCDEDUP_DEADLINE_MARGIN"] == {"Ref": "DeadlineMargin"}


def test_on_conflict_and_cache_size_are_parameters_with_the_functions_defaults(
    template: dict[str, Any],
) -> None:
    parameters = template["Parameters"]
    on_conflict = parameters["OnConflict"]
    assert tuple(on_conflict["AllowedValues"]) == ON_CONFLICT
    assert on_conflict["Default"] == Settings.on_conflict
    cache = parameters["CacheSize"]
    assert (cache["Default"], cache["MinValue"]) == (LAMBDA_DEFAULTS["cache_size"], 0)
    env = template["Resources"]["DedupFunction"]["Properties"]["Environment"]["Variables"]
    assert env[ENV_VARS["on_conflict"]] == {"Ref": "OnConflict"}
    assert env[ENV_VARS["cache_size"]] == {"Ref": "CacheSize"}
    # every value the template allows is one the function takes
    for value in (*on_conflict["AllowedValues"], str(cache["MinValue"]), str(cache["MaxValue"])):
        key = "on_conflict" if not value.isdigit() else "cache_size"
        Settings.resolve(env={ENV_VARS[key]: value}, store_url="memory://")
