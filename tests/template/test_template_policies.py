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


def _documents(body: Body, logical_id: str) -> list[dict[str, Any]]:
    """The policy documents of a role (inline), a role policy, a key, a bucket or topic policy, in that order."""
    found = props(body, logical_id)
    documents = [policy["PolicyDocument"] for policy in found.get("Policies", [])]
    documents += [found[key] for key in ("PolicyDocument", "KeyPolicy") if key in found]
    return documents


def _statements_of(body: Body, logical_id: str) -> list[dict[str, Any]]:
    """Every statement, including those under `!If [Condition, statement, !Ref AWS::NoValue]`."""
    found = []
    for document in _documents(body, logical_id):
        for item in document["Statement"]:
            found += [item["Fn::If"][1]] if "Fn::If" in item else [item]
    return found


def statement(body: Body, logical_id: str, sid: str) -> dict[str, Any]:
    (found,) = [s for s in _statements_of(body, logical_id) if s.get("Sid") == sid]
    return found


def add_role_statement(logical_id: str, added: dict[str, Any]) -> Callable[[Body], None]:
    """Append a statement to a role's first inline policy, a role policy's or a key's policy document."""

    def mutate(body: Body) -> None:
        _documents(body, logical_id)[0]["Statement"].append(added)

    return mutate


def drop_statement(logical_id: str, sid: str) -> Callable[[Body], None]:
    def mutate(body: Body) -> None:
        for document in _documents(body, logical_id):
            document["Statement"] = [
                s
                for s in document["Statement"]
                if s.get("Sid") != sid and s.get("Fn::If", [None, {}])[1].get("Sid") != sid
            ]

    return mutate


def edit_statement(logical_id: str, sid: str, edit: Callable[[dict[str, Any]], None]) -> Callable[[Body], None]:
    def mutate(body: Body) -> None:
        edit(statement(body, logical_id, sid))

    return mutate


def add_managed_policy(role: str, arn: str) -> Callable[[Body], None]:
    def mutate(body: Body) -> None:
        props(body, role).setdefault("ManagedPolicyArns", []).append(arn)

    return mutate


def both(*mutations: Callable[[Body], None]) -> Callable[[Body], None]:
    def mutate(body: Body) -> None:
        for mutation in mutations:
            mutation(body)

    return mutate


TABLE_ARN = {"Fn::GetAtt": ["ReportsTable", "Arn"]}
EVIDENCE_OBJECTS = {"Fn::Sub": "${EvidenceBucket.Arn}/evidence/*"}
EVIDENCE_KEY_ARN = {"Fn::GetAtt": ["EvidenceKey", "Arn"]}
MANAGED = "arn:aws:iam::aws:policy/"
# A function without a Role of its own: SAM makes one, with its managed policies.
LOOSE_WORKER: dict[str, Any] = {
    "Type": "AWS::Serverless::Function",
    "Metadata": {"BuildMethod": "makefile"},
    "Properties": {
        "Handler": "functions.intake.handler.lambda_handler",
        "Events": {
            "Queue": {
                "Type": "SQS",
                "Properties": {
                    "Queue": {"Fn::GetAtt": ["FragmentQueue", "Arn"]},
                    "FunctionResponseTypes": ["ReportBatchItemFailures"],
                },
            }
        },
    },
}


def loose_worker(*policies: Any) -> dict[str, Any]:
    worker = copy.deepcopy(LOOSE_WORKER)
    if policies:
        worker["Properties"]["Policies"] = list(policies)
    return worker


def without_condition(found: dict[str, Any]) -> None:
    del found["Condition"]


def leading_keys(*patterns: str) -> Callable[[dict[str, Any]], None]:
    def edit(found: dict[str, Any]) -> None:
        found["Condition"] = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(patterns)}}

    return edit


def set_key(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(found: dict[str, Any]) -> None:
        found[key] = value

    return edit


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
        add_role_statement("IntakeFunctionRole", {"Effect": "Allow", "Action": "dynamodb:*", "Resource": TABLE_ARN}),
        rules.least_privilege,
        ("IntakeFunction", "dynamodb:*"),
    ),
    (
        "prefix-wildcard-action",
        add_role_statement(
            "FragmentWorkerRole", {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/*"}
        ),
        rules.least_privilege,
        ("FragmentWorker", "s3:Get*"),
    ),
    (
        "data-action-on-every-resource",
        add_role_statement("IntakeFunctionRole", {"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": "*"}),
        rules.least_privilege,
        ("IntakeFunction", "dynamodb:GetItem", "'*'"),
    ),
    (
        "data-action-on-every-table",
        add_role_statement(
            "IntakeFunctionRole",
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
        add_role_statement("IntakeFunctionRole", {"Effect": "Allow", "NotAction": "iam:*", "Resource": TABLE_ARN}),
        rules.least_privilege,
        ("IntakeFunction", "NotAction"),
    ),
    (
        "full-access-managed-policy",
        add_managed_policy("IntakeFunctionRole", MANAGED + "AmazonDynamoDBFullAccess"),
        rules.least_privilege,
        ("IntakeFunction", "AmazonDynamoDBFullAccess"),
    ),
    (
        "broad-managed-policy",
        add_managed_policy("FragmentWorkerRole", MANAGED + "AmazonS3ReadOnlyAccess"),
        rules.least_privilege,
        ("FragmentWorker", "AmazonS3ReadOnlyAccess"),
    ),
    (
        # SAM's own SQSSendMessagePolicy expands to `sqs:SendMessage*`: only the translated role shows it.
        "policy-template-with-wildcard-action",
        add_resource(
            "LooseWorker",
            loose_worker({"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["FragmentQueue", "QueueName"]}}}),
        ),
        rules.least_privilege,
        ("LooseWorker", "sqs:SendMessage*"),
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
    # --- least privilege as deployed (issue 11) ---
    (
        "poller-managed-policy-put-back",
        add_managed_policy("DispatcherFunctionRole", MANAGED + "service-role/AWSLambdaDynamoDBExecutionRole"),
        rules.least_privilege,
        ("DispatcherFunction", "AWSLambdaDynamoDBExecutionRole", "every resource"),
    ),
    (
        "queue-poller-managed-policy-put-back",
        add_managed_policy("QuarantineFunctionRole", MANAGED + "service-role/AWSLambdaSQSQueueExecutionRole"),
        rules.least_privilege,
        ("QuarantineFunction", "AWSLambdaSQSQueueExecutionRole"),
    ),
    (
        "function-without-a-role-of-its-own",
        add_resource("LooseWorker", loose_worker()),
        rules.least_privilege,
        ("LooseWorker", "AWSLambdaSQSQueueExecutionRole"),
    ),
    (
        "policies-beside-a-role",
        add_statement("IntakeFunction", {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE_ARN}),
        rules.least_privilege,
        ("IntakeFunction", "ignores Policies"),
    ),
    (
        "leading-keys-removed-from-the-intake",
        edit_statement("IntakeFunctionRole", "StoreAndLookUpReports", without_condition),
        rules.table_items_by_key_prefix,
        ("IntakeFunction", "dynamodb:putitem", "LeadingKeys"),
    ),
    (
        "leading-keys-of-every-key",
        edit_statement("WebFormFunctionRole", "StoreAndLookUpReports", leading_keys("*")),
        rules.table_items_by_key_prefix,
        ("WebFormFunction", "every key"),
    ),
    (
        "quarantine-worker-touches-cases",
        edit_statement("QuarantineFunctionRole", "AppendCustodyEvents", leading_keys("CUSTODY#*", "CASE#*")),
        rules.table_items_by_key_prefix,
        ("QuarantineFunction", "CASE#*", "CUSTODY#"),
    ),
    (
        "escalation-worker-writes-reports",
        edit_statement("EscalationFunctionRole", "RecordEscalations", leading_keys("CASE#*", "REPORT#*")),
        rules.table_items_by_key_prefix,
        ("EscalationFunction", "REPORT#*"),
    ),
    (
        "casework-queries-the-table-not-its-index",
        edit_statement(
            "CaseworkFunctionRole",
            "ReadQueueAndCaseReports",
            lambda statement: statement.update(Resource={"Fn::GetAtt": ["ReportsTable", "Arn"]}),
        ),
        rules.table_items_by_key_prefix,
        ("CaseworkFunction", "dynamodb:query", "LeadingKeys"),
    ),
    (
        "completion-worker-reads-the-queue-index",
        edit_statement(
            "CompletionFunctionRole",
            "FindCaseReports",
            lambda statement: statement.update(Resource={"Fn::Sub": "${ReportsTable.Arn}/index/QueueIndex"}),
        ),
        rules.table_items_by_key_prefix,
        ("CompletionFunction", "QueueIndex", "may only Query CaseReportsIndex"),
    ),
    (
        "casework-writes-through-an-index-grant",
        edit_statement(
            "CaseworkFunctionRole",
            "ReadQueueAndCaseReports",
            lambda statement: statement.update(Action=["dynamodb:Query", "dynamodb:PutItem"]),
        ),
        rules.table_items_by_key_prefix,
        ("CaseworkFunction", "dynamodb:putitem"),
    ),
    (
        "a-scan-of-the-table",
        add_role_statement(
            "DispatcherFunctionRole",
            {
                "Effect": "Allow",
                "Action": "dynamodb:Scan",
                "Resource": TABLE_ARN,
                "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["CASE#*"]}},
            },
        ),
        rules.table_items_by_key_prefix,
        ("DispatcherFunction", "dynamodb:scan"),
    ),
    (
        "quarantine-worker-reads-evidence",
        add_role_statement(
            "QuarantineFunctionEvidencePolicy",
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": EVIDENCE_OBJECTS},
        ),
        rules.evidence_access_limited,
        ("QuarantineFunction", "EvidenceBucket", "s3:getobject"),
    ),
    (
        "dispatcher-reads-evidence-versions-by-wildcard",
        add_role_statement(
            "DispatcherFunctionRole",
            {"Effect": "Allow", "Action": "s3:GetObjectVer*", "Resource": EVIDENCE_OBJECTS},
        ),
        rules.evidence_access_limited,
        ("DispatcherFunction", "EvidenceBucket", "s3:getobjectversion"),
    ),
    (
        "evidence-bucket-policy-without-the-getobject-deny",
        drop_statement("EvidenceBucketPolicy", "OnlyEvidenceReadersReadEvidence"),
        rules.evidence_access_limited,
        ("EvidenceBucket", "deny s3:GetObject", "QuarantineFunctionRole"),
    ),
    (
        "quarantine-worker-exempt-from-the-getobject-deny",
        edit_statement(
            "EvidenceBucketPolicy",
            "OnlyEvidenceReadersReadEvidence",
            lambda found: found["Condition"]["ArnNotEquals"]["aws:PrincipalArn"].append(
                {"Fn::GetAtt": ["QuarantineFunctionRole", "Arn"]}
            ),
        ),
        rules.evidence_access_limited,
        ("EvidenceBucket", "deny s3:GetObject", "QuarantineFunctionRole"),
    ),
    (
        "retention-bypass-deny-removed",
        drop_statement("EvidenceBucketPolicy", "OnlyTheCustodianBypassesRetention"),
        rules.evidence_access_limited,
        ("EvidenceBucket", "s3:BypassGovernanceRetention"),
    ),
    (
        "a-function-may-lift-holds",
        edit_statement(
            "EvidenceBucketPolicy",
            "OnlyTheCustodianLiftsHolds",
            lambda found: found["Condition"].__setitem__(
                "ArnNotEquals", {"aws:PrincipalArn": [{"Fn::GetAtt": ["QuarantineFunctionRole", "Arn"]}]}
            ),
        ),
        rules.evidence_access_limited,
        ("EvidenceBucket", "lifting a legal hold"),
    ),
    (
        "kms-star-for-a-function-role",
        add_role_statement(
            "QuarantineFunctionEvidencePolicy", {"Effect": "Allow", "Action": "kms:*", "Resource": EVIDENCE_KEY_ARN}
        ),
        rules.least_privilege,
        ("QuarantineFunction", "kms:*"),
    ),
    (
        "kms-star-for-a-function-role-judged-as-key-use",
        add_role_statement(
            "QuarantineFunctionEvidencePolicy", {"Effect": "Allow", "Action": "kms:*", "Resource": EVIDENCE_KEY_ARN}
        ),
        rules.keys_administered_apart,
        ("QuarantineFunction", "kms:*", "never administer"),
    ),
    (
        "a-function-may-schedule-key-deletion",
        add_role_statement(
            "EscalationFunctionDraftsPolicy",
            {"Effect": "Allow", "Action": "kms:ScheduleKeyDeletion", "Resource": EVIDENCE_KEY_ARN},
        ),
        rules.keys_administered_apart,
        ("EscalationFunction", "kms:schedulekeydeletion"),
    ),
    (
        "key-policy-gives-a-function-role-kms-star",
        add_role_statement(
            "EvidenceKey",
            {
                "Effect": "Allow",
                "Principal": {"AWS": {"Fn::GetAtt": ["QuarantineFunctionRole", "Arn"]}},
                "Action": "kms:*",
                "Resource": "*",
            },
        ),
        rules.keys_administered_apart,
        ("EvidenceKey", "kms:*"),
    ),
    (
        "key-policy-lets-a-function-role-disable-the-key",
        edit_statement("EvidenceKey", "QuarantineWritesEvidence", set_key("Action", ["kms:Decrypt", "kms:DisableKey"])),
        rules.keys_administered_apart,
        ("EvidenceKey", "QuarantineFunctionRole", "kms:disablekey"),
    ),
    (
        "account-root-kms-star-put-back",
        edit_statement("EvidenceKey", "AccountKeepsTheKeyManageable", set_key("Action", "kms:*")),
        rules.keys_administered_apart,
        ("EvidenceKey", "kms:*"),
    ),
    (
        "account-root-may-schedule-deletion",
        edit_statement(
            "ServerSecretKey",
            "AccountKeepsTheKeyManageable",
            set_key("Action", ["kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"]),
        ),
        rules.keys_administered_apart,
        ("ServerSecretKey", "the account (root)", "kms:schedulekeydeletion"),
    ),
    (
        "key-administrators-may-decrypt",
        edit_statement("OnCallKey", "KeyAdministrators", lambda found: found["Action"].append("kms:Decrypt")),
        rules.keys_administered_apart,
        ("OnCallKey", "KeyAdministrators", "must not also", "kms:decrypt"),
    ),
    (
        "key-deletion-window-of-a-week",
        set_value("EvidenceKey", "PendingWindowInDays", value=7),
        rules.keys_administered_apart,
        ("EvidenceKey", "PendingWindowInDays"),
    ),
    # --- alarms reach on-call (issue 12) ---
    (
        "alarm-without-an-action",
        drop("EscalationDLQAlarm", "AlarmActions"),
        rules.alarms_page_on_call,
        ("EscalationDLQAlarm", "AlarmActions", "nobody"),
    ),
    (
        "fragment-alarm-without-an-action",
        drop("FragmentDeadLettersAlarm", "AlarmActions"),
        rules.alarms_page_on_call,
        ("FragmentDeadLettersAlarm", "AlarmActions"),
    ),
    (
        "alarm-paging-a-topic-of-another-stack",
        set_value("IntakeErrorsAlarm", "AlarmActions", value=["arn:aws:sns:us-east-1:111122223333:elsewhere"]),
        rules.alarms_page_on_call,
        ("IntakeErrorsAlarm", "AlarmActions"),
    ),
    (
        "on-call-topic-under-aws-sns",
        set_value("OnCallTopic", "KmsMasterKeyId", value="alias/aws/sns"),
        rules.alarms_page_on_call,
        ("OnCallTopic", "customer-managed"),
    ),
    (
        "cloudwatch-may-not-use-the-topic-key",
        drop_statement("OnCallKey", "AlarmsPage"),
        rules.alarms_page_on_call,
        ("OnCallKey", "cloudwatch.amazonaws.com", "OnCallTopic"),
    ),
    (
        "cloudwatch-key-use-without-source-condition",
        edit_statement("OnCallKey", "AlarmsPage", without_condition),
        rules.alarms_page_on_call,
        ("OnCallKey", "aws:SourceAccount"),
    ),
    (
        "topic-policy-removed",
        drop("OnCallTopicPolicy"),
        rules.alarms_page_on_call,
        ("OnCallTopic", "topic policy", "sns:Publish"),
    ),
    # --- event sources ---
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
            "FragmentWorkerEvidencePolicy",
            "PolicyDocument",
            value={
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "s3:PutObject",
                        "Resource": {"Fn::Sub": "${FragmentEvidenceBucket.Arn}/*"},
                    }
                ],
            },
        ),
        rules.evidence_bucket_locked,
        ("FragmentWorkerEvidencePolicy", "s3:PutObjectLegalHold"),
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


def test_violations_reports_the_least_privilege_examples_of_issue_11_together() -> None:
    """Issue 11's four mutations at once, through the one entry point `make test` uses: each is named."""
    body = with_fragment()
    add_managed_policy("DispatcherFunctionRole", MANAGED + "service-role/AWSLambdaDynamoDBExecutionRole")(body)
    edit_statement("IntakeFunctionRole", "StoreAndLookUpReports", without_condition)(body)
    add_role_statement(
        "QuarantineFunctionEvidencePolicy", {"Effect": "Allow", "Action": "s3:GetObject", "Resource": EVIDENCE_OBJECTS}
    )(body)
    add_role_statement(
        "EscalationFunctionDraftsPolicy", {"Effect": "Allow", "Action": "kms:*", "Resource": EVIDENCE_KEY_ARN}
    )(body)

    messages = rules.violations(body)

    assert any(m.startswith("DispatcherFunction") and "AWSLambdaDynamoDBExecutionRole" in m for m in messages)
    assert any(m.startswith("IntakeFunction") and "LeadingKeys" in m for m in messages)
    assert any(m.startswith("QuarantineFunction") and "may read evidence" in m for m in messages)
    assert any(m.startswith("EscalationFunction") and "kms:*" in m for m in messages)


def test_a_bucket_that_holds_no_evidence_is_not_held_to_the_evidence_rules() -> None:
    body = with_fragment()
    add_resource("EvidenceAccessLogsBucket", {"Type": "AWS::S3::Bucket", "Properties": {}})(body)

    assert rules.evidence_bucket_locked(body) == []
