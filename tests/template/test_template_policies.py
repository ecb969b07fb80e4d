"""The template's rules hold on infra/template.yaml, and each one catches the mistake it exists for.

Every rule runs three ways: on the real template (it must pass, now and as resources are added), on the real template
plus a correct fragment with the resources it does not have yet (a bucket, queues, a stream source: it must pass),
and on mutated copies of that (it must name the resource at fault). A rule that passes everything is no gate.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from local.template import load_template
from tests.template import rules

pytestmark = pytest.mark.template

FRAGMENT = Path(__file__).resolve().parent / "fragment.yaml"

Body = dict[str, Any]


def real_template() -> Body:
    return copy.deepcopy(dict(load_template().body))


def with_fragment() -> Body:
    body = real_template()
    fragment = load_template(FRAGMENT).body["Resources"]
    clash = set(fragment) & set(body["Resources"])
    assert not clash, f"fragment.yaml reuses logical ids of infra/template.yaml: {sorted(clash)}; rename them there"
    body["Resources"] = {**body["Resources"], **copy.deepcopy(dict(fragment))}
    return body


def resource(body: Body, logical_id: str) -> dict[str, Any]:
    return body["Resources"][logical_id]


def props(body: Body, logical_id: str) -> dict[str, Any]:
    return resource(body, logical_id).setdefault("Properties", {})


def event(body: Body, function: str, name: str) -> dict[str, Any]:
    return props(body, function)["Events"][name]["Properties"]


def add_statement(function: str, statement: dict[str, Any]) -> Callable[[Body], None]:
    def mutate(body: Body) -> None:
        props(body, function).setdefault("Policies", []).append({"Version": "2012-10-17", "Statement": [statement]})

    return mutate


def add_policy(function: str, policy: Any) -> Callable[[Body], None]:
    def mutate(body: Body) -> None:
        props(body, function).setdefault("Policies", []).append(policy)

    return mutate


def drop(logical_id: str, *path: str) -> Callable[[Body], None]:
    """Delete Properties[path...] of a resource (or the resource itself, given no path)."""

    def mutate(body: Body) -> None:
        if not path:
            del body["Resources"][logical_id]
            return
        node = props(body, logical_id)
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


def set_value(logical_id: str, *path: str, value: Any) -> Callable[[Body], None]:
    def mutate(body: Body) -> None:
        node = props(body, logical_id)
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value

    return mutate


def set_event(function: str, name: str, key: str, value: Any) -> Callable[[Body], None]:
    def mutate(body: Body) -> None:
        event(body, function, name)[key] = value

    return mutate


def drop_event_key(function: str, name: str, key: str) -> Callable[[Body], None]:
    def mutate(body: Body) -> None:
        del event(body, function, name)[key]

    return mutate


def set_globals(key: str, value: Any) -> Callable[[Body], None]:
    def mutate(body: Body) -> None:
        body["Globals"]["Function"][key] = value

    return mutate


def drop_build_method(function: str) -> Callable[[Body], None]:
    def mutate(body: Body) -> None:
        resource(body, function).pop("Metadata", None)

    return mutate


def add_resource(logical_id: str, definition: dict[str, Any]) -> Callable[[Body], None]:
    def mutate(body: Body) -> None:
        body["Resources"][logical_id] = definition

    return mutate


def both(*mutations: Callable[[Body], None]) -> Callable[[Body], None]:
    def mutate(body: Body) -> None:
        for mutation in mutations:
            mutation(body)

    return mutate


TABLE_ARN = {"Fn::GetAtt": ["ReportsTable", "Arn"]}
UNBATCHED_ESM = {
    "Type": "AWS::Lambda::EventSourceMapping",
    "Properties": {
        "FunctionName": {"Ref": "FragmentWorker"},
        "EventSourceArn": {"Fn::GetAtt": ["FragmentQueue", "Arn"]},
        "BatchSize": 10,
    },
}

# (id, mutation, rule expected to object, words its message must contain: the resource at fault first)
MUTATIONS: list[tuple[str, Callable[[Body], None], rules.Rule, tuple[str, ...]]] = [
    (
        "crud-policy-template",
        add_policy("IntakeFunction", {"DynamoDBCrudPolicy": {"TableName": {"Ref": "ReportsTable"}}}),
        rules.least_privilege,
        ("IntakeFunction", "DynamoDBCrudPolicy"),
    ),
    (
        "service-wildcard-action",
        add_statement("IntakeFunction", {"Effect": "Allow", "Action": "dynamodb:*", "Resource": TABLE_ARN}),
        rules.least_privilege,
        ("IntakeFunction", "dynamodb:*"),
    ),
    (
        "prefix-wildcard-action",
        add_statement("FragmentWorker", {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/*"}),
        rules.least_privilege,
        ("FragmentWorker", "s3:Get*"),
    ),
    (
        "data-action-on-every-resource",
        add_statement("IntakeFunction", {"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": "*"}),
        rules.least_privilege,
        ("IntakeFunction", "dynamodb:GetItem", "'*'"),
    ),
    (
        "data-action-on-every-table",
        add_statement(
            "IntakeFunction",
            {
                "Effect": "Allow",
                "Action": "dynamodb:Query",
                "Resource": {"Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/*"},
            },
        ),
        rules.least_privilege,
        ("IntakeFunction", "dynamodb:Query", "table/*"),
    ),
    (
        "not-action",
        add_statement("IntakeFunction", {"Effect": "Allow", "NotAction": "iam:*", "Resource": TABLE_ARN}),
        rules.least_privilege,
        ("IntakeFunction", "NotAction"),
    ),
    (
        "full-access-managed-policy",
        add_policy("IntakeFunction", "AmazonDynamoDBFullAccess"),
        rules.least_privilege,
        ("IntakeFunction", "AmazonDynamoDBFullAccess"),
    ),
    (
        "broad-managed-policy",
        add_policy("FragmentWorker", "AmazonS3ReadOnlyAccess"),
        rules.least_privilege,
        ("FragmentWorker", "AmazonS3ReadOnlyAccess"),
    ),
    (
        # SAM's own SQSSendMessagePolicy expands to `sqs:SendMessage*`: only the translated role shows it.
        "policy-template-with-wildcard-action",
        add_policy(
            "FragmentWorker", {"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["FragmentQueue", "QueueName"]}}}
        ),
        rules.least_privilege,
        ("FragmentWorker", "sqs:SendMessage*"),
    ),
    (
        "wildcard-in-a-standalone-role",
        add_resource(
            "LooseRole",
            {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "lambda.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    },
                    "Policies": [
                        {
                            "PolicyName": "all",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                            },
                        }
                    ],
                },
            },
        ),
        rules.least_privilege,
        ("LooseRole", "wildcard action '*'"),
    ),
    (
        "sqs-source-without-batch-item-failures",
        drop_event_key("FragmentWorker", "Queue", "FunctionResponseTypes"),
        rules.sqs_sources_report_batch_item_failures,
        ("FragmentWorker.Events.Queue", "ReportBatchItemFailures"),
    ),
    (
        "plain-event-source-mapping-without-batch-item-failures",
        add_resource("UnbatchedMapping", UNBATCHED_ESM),
        rules.sqs_sources_report_batch_item_failures,
        ("UnbatchedMapping",),
    ),
    (
        "stream-source-without-retry-bound",
        drop_event_key("FragmentWorker", "Stream", "MaximumRetryAttempts"),
        rules.stream_sources_bounded,
        ("FragmentWorker.Events.Stream", "MaximumRetryAttempts"),
    ),
    (
        "stream-source-retrying-forever",
        set_event("FragmentWorker", "Stream", "MaximumRetryAttempts", -1),
        rules.stream_sources_bounded,
        ("FragmentWorker.Events.Stream", "MaximumRetryAttempts"),
    ),
    (
        "stream-source-without-bisect",
        set_event("FragmentWorker", "Stream", "BisectBatchOnFunctionError", False),
        rules.stream_sources_bounded,
        ("FragmentWorker.Events.Stream", "BisectBatchOnFunctionError"),
    ),
    (
        "stream-source-without-on-failure-destination",
        drop_event_key("FragmentWorker", "Stream", "DestinationConfig"),
        rules.stream_sources_bounded,
        ("FragmentWorker.Events.Stream", "OnFailure"),
    ),
    (
        "queue-without-redrive-policy",
        drop("FragmentQueue", "RedrivePolicy"),
        rules.queues_have_dead_letter_queues,
        ("FragmentQueue", "RedrivePolicy"),
    ),
    (
        "dlq-removed",
        both(drop("FragmentDeadLetters"), drop("FragmentDeadLettersAlarm")),
        rules.queues_have_dead_letter_queues,
        ("FragmentQueue", "deadLetterTargetArn"),
    ),
    (
        "redrive-without-max-receive-count",
        drop("FragmentQueue", "RedrivePolicy", "maxReceiveCount"),
        rules.queues_have_dead_letter_queues,
        ("FragmentQueue", "maxReceiveCount"),
    ),
    (
        "object-lock-compliance-mode",
        set_value(
            "FragmentEvidenceBucket", "ObjectLockConfiguration", "Rule", "DefaultRetention", "Mode", value="COMPLIANCE"
        ),
        rules.evidence_bucket_locked,
        ("FragmentEvidenceBucket", "COMPLIANCE"),
    ),
    (
        "object-lock-off",
        both(
            drop("FragmentEvidenceBucket", "ObjectLockEnabled"),
            drop("FragmentEvidenceBucket", "ObjectLockConfiguration"),
        ),
        rules.evidence_bucket_locked,
        ("FragmentEvidenceBucket", "ObjectLockEnabled"),
    ),
    (
        "new-unlocked-bucket-named-as-evidence",
        add_resource("SecondEvidenceBucket", {"Type": "AWS::S3::Bucket", "Properties": {}}),
        rules.evidence_bucket_locked,
        ("SecondEvidenceBucket", "ObjectLockEnabled"),
    ),
    (
        "retention-under-a-year",
        set_value("FragmentEvidenceBucket", "ObjectLockConfiguration", "Rule", "DefaultRetention", "Days", value=30),
        rules.evidence_bucket_locked,
        ("FragmentEvidenceBucket", "365 days"),
    ),
    (
        "versioning-suspended",
        set_value("FragmentEvidenceBucket", "VersioningConfiguration", "Status", value="Suspended"),
        rules.evidence_bucket_locked,
        ("FragmentEvidenceBucket", "Versioning"),
    ),
    (
        "public-access-block-partial",
        set_value("FragmentEvidenceBucket", "PublicAccessBlockConfiguration", "RestrictPublicBuckets", value=False),
        rules.evidence_bucket_locked,
        ("FragmentEvidenceBucket", "RestrictPublicBuckets"),
    ),
    (
        "sse-s3-instead-of-kms",
        set_value(
            "FragmentEvidenceBucket",
            "BucketEncryption",
            "ServerSideEncryptionConfiguration",
            value=[{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}],
        ),
        rules.evidence_bucket_locked,
        ("FragmentEvidenceBucket", "SSE-KMS"),
    ),
    (
        "acls-enabled",
        set_value("FragmentEvidenceBucket", "OwnershipControls", "Rules", value=[{"ObjectOwnership": "ObjectWriter"}]),
        rules.evidence_bucket_locked,
        ("FragmentEvidenceBucket", "BucketOwnerEnforced"),
    ),
    (
        "evidence-writer-without-legal-hold",
        set_value(
            "FragmentWorker",
            "Policies",
            value=[
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "s3:PutObject",
                            "Resource": {"Fn::Sub": "${FragmentEvidenceBucket.Arn}/*"},
                        }
                    ],
                }
            ],
        ),
        rules.evidence_bucket_locked,
        ("FragmentWorker", "s3:PutObjectLegalHold"),
    ),
    (
        "pitr-dropped",
        drop("ReportsTable", "PointInTimeRecoverySpecification"),
        rules.tables_protected,
        ("ReportsTable", "PointInTimeRecovery"),
    ),
    (
        "table-encryption-off",
        set_value("ReportsTable", "SSESpecification", "SSEEnabled", value=False),
        rules.tables_protected,
        ("ReportsTable", "SSEEnabled"),
    ),
    (
        "function-runtime-python3.9",
        set_value("IntakeFunction", "Runtime", value="python3.9"),
        rules.runtimes_current,
        ("IntakeFunction", "python3.9"),
    ),
    (
        "global-runtime-python3.9",
        set_globals("Runtime", "python3.9"),
        rules.runtimes_current,
        ("FragmentWorker", "python3.9"),
    ),
    (
        "function-errors-alarm-removed",
        drop("IntakeErrorsAlarm"),
        rules.alarms_on_failures,
        ("IntakeFunction", "Errors"),
    ),
    (
        "dlq-depth-alarm-removed",
        drop("FragmentDeadLettersAlarm"),
        rules.alarms_on_failures,
        ("FragmentDeadLetters", "ApproximateNumberOfMessagesVisible"),
    ),
    (
        "dlq-alarm-on-queue-url",
        set_value(
            "FragmentDeadLettersAlarm",
            "Dimensions",
            value=[{"Name": "QueueName", "Value": {"Ref": "FragmentDeadLetters"}}],
        ),
        rules.alarms_on_failures,
        ("FragmentDeadLetters", "QueueName"),
    ),
    (
        "on-failure-destination-alarm-removed",
        drop("FragmentStreamFailuresAlarm"),
        rules.alarms_on_failures,
        ("FragmentStreamFailures",),
    ),
    (
        "dlq-alarm-after-ten-messages",
        set_value("FragmentDeadLettersAlarm", "Threshold", value=10),
        rules.alarms_on_failures,
        ("FragmentDeadLetters", "first message"),
    ),
    (
        "function-built-from-the-whole-repository",
        drop_build_method("IntakeFunction"),
        rules.functions_use_the_artifact_build,
        ("IntakeFunction", "BuildMethod"),
    ),
    (
        "function-on-x86",
        set_value("FragmentWorker", "Architectures", value=["x86_64"]),
        rules.functions_use_the_artifact_build,
        ("FragmentWorker", "arm64"),
    ),
]


@pytest.mark.parametrize("rule", rules.RULES, ids=lambda rule: rule.__name__)
def test_real_template_keeps_the_rule(rule: rules.Rule) -> None:
    assert rule(real_template()) == []


@pytest.mark.parametrize("rule", rules.RULES, ids=lambda rule: rule.__name__)
def test_correct_fragment_keeps_the_rule(rule: rules.Rule) -> None:
    assert rule(with_fragment()) == []


@pytest.mark.parametrize(("mutate", "rule", "words"), [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS])
def test_mutation_is_caught_naming_the_resource(
    mutate: Callable[[Body], None], rule: rules.Rule, words: tuple[str, ...]
) -> None:
    body = with_fragment()
    mutate(body)

    messages = rule(body)

    resource_at_fault, *what = words
    assert any(m.startswith(resource_at_fault) and all(w in m for w in what) for m in messages), (
        f"{rule.__name__} should object, naming {resource_at_fault} first and saying {what}; it said {messages}"
    )


def test_every_rule_has_a_mutation_that_it_catches() -> None:
    caught = {rule for _, _, rule, _ in MUTATIONS}
    assert set(rules.RULES) <= caught, f"rules never shown to fail: {[r.__name__ for r in set(rules.RULES) - caught]}"


def test_violations_reports_the_issue_examples_together() -> None:
    """The two mutations the issue names, at once, through the one entry point `make test` uses."""
    body = with_fragment()
    add_policy("IntakeFunction", {"DynamoDBCrudPolicy": {"TableName": {"Ref": "ReportsTable"}}})(body)
    drop("FragmentQueue", "RedrivePolicy")(body)

    messages = rules.violations(body)

    assert any(m.startswith("IntakeFunction") and "DynamoDBCrudPolicy" in m for m in messages)
    assert any(m.startswith("FragmentQueue") and "RedrivePolicy" in m for m in messages)
    assert rules.violations(with_fragment()) == []


def test_a_bucket_that_holds_no_evidence_is_not_held_to_the_evidence_rules() -> None:
    body = with_fragment()
    add_resource("EvidenceAccessLogsBucket", {"Type": "AWS::S3::Bucket", "Properties": {}})(body)

    assert rules.evidence_bucket_locked(body) == []
