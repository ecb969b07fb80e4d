"""What infra/template.yaml says about quarantine agrees with the code that relies on it (no AWS, no moto)."""

from __future__ import annotations

from typing import Any

from local.template import event_sources, load_template, referenced_logical_id
from local.world import World
from shared.domain.quarantine import protected_bucket_policy
from shared.settings import Settings


def world() -> World:
    # A World that creates nothing: it only resolves the template's values (stand-ins for roles, parameters).
    return World(load_template())


def statements(function: str) -> list[dict[str, Any]]:
    """Every statement of the function's role: its inline policies and the policy resources attached to it."""
    template = load_template()
    role = referenced_logical_id(template.properties(function)["Role"])
    assert role is not None, f"{function} has no Role of its own"
    documents = [policy["PolicyDocument"] for policy in template.properties(role).get("Policies", [])]
    documents += [
        template.properties(logical_id)["PolicyDocument"]
        for logical_id in template.resources_of_type("AWS::IAM::RolePolicy")
        if referenced_logical_id(template.properties(logical_id)["RoleName"]) == role
    ]
    return [s for document in documents for s in document["Statement"]]


def test_the_template_installs_the_same_bucket_policy_the_code_builds():
    w = world()
    declared = load_template().resources["ProtectedBucketPolicy"]
    assert w.condition(declared["Condition"]) is True
    props = w.resolve(declared["Properties"])
    role = w.get_att("QuarantineFunctionRole", "Arn")
    assert props["Bucket"] in w.parameters["ProtectedBuckets"]
    assert props["PolicyDocument"] == protected_bucket_policy(props["Bucket"], [role])


def test_no_bucket_policy_is_installed_when_the_target_is_left_empty():
    w = World(load_template(), parameters={"ProtectedBucketPolicyTarget": ""})
    assert w.condition("InstallProtectedBucketPolicy") is False


def test_the_worker_reads_and_tags_exactly_the_protected_buckets_objects():
    w = World(load_template(), parameters={"ProtectedBuckets": "bucket-a,bucket-b"})
    by_sid = {s["Sid"]: s for s in statements("QuarantineFunction")}
    assert w.resolve(by_sid["ReadAndTagProtectedObjectVersions"]["Resource"]) == [
        "arn:aws:s3:::bucket-a/*",
        "arn:aws:s3:::bucket-b/*",
    ]
    variables = load_template().properties("QuarantineFunction")["Environment"]["Variables"]
    assert w.resolve(variables["PROTECTED_BUCKETS"]) == "bucket-a,bucket-b"


def test_the_worker_may_not_delete_bypass_retention_or_write_outside_evidence():
    actions = {a for s in statements("QuarantineFunction") for a in s["Action"]}
    forbidden = {"s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention", "s3:PutBucketPolicy"}
    assert not actions & forbidden
    assert not any(a.endswith("*") for a in actions)
    writes = [s for s in statements("QuarantineFunction") if "s3:PutObject" in s["Action"]]
    assert [s["Resource"] for s in writes] == [{"Fn::Sub": "${EvidenceBucket.Arn}/evidence/*"}]
    (custody,) = [s for s in statements("QuarantineFunction") if s["Sid"] == "AppendCustodyEvents"]
    assert custody["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["CUSTODY#*"]}}


def test_the_worker_checks_evidence_copies_without_being_able_to_read_them():
    on_evidence = [s for s in statements("QuarantineFunction") if "EvidenceBucket" in str(s["Resource"])]
    actions = {a for s in on_evidence for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert {"s3:GetObjectAttributes", "s3:GetObjectLegalHold", "s3:GetObjectRetention"} <= actions
    assert not actions & {"s3:GetObject", "s3:GetObjectVersion"}
    declared = load_template().properties("EvidenceBucketPolicy")["PolicyDocument"]["Statement"]
    (deny,) = [s for s in declared if s["Sid"] == "OnlyEvidenceReadersReadEvidence"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and "s3:GetObject" in deny["Action"]
    assert deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] == [
        {"Fn::GetAtt": ["EscalationFunctionRole", "Arn"]},
        {"Fn::GetAtt": ["CaseworkFunctionRole", "Arn"]},  # it signs the analysts' recorded 60-second views
        {"Fn::GetAtt": ["CyberTiplineFunctionRole", "Arn"]},  # it uploads the preserved files to NCMEC
    ]


def test_the_queue_outlasts_six_worker_timeouts_and_failures_come_back_one_by_one():
    template = load_template()
    timeout = template.properties("QuarantineFunction")["Timeout"]
    queue = template.properties("QuarantineQueue")
    assert queue["VisibilityTimeout"] >= 6 * timeout
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    (source,) = [s for s in event_sources(template, world().resolve) if s.function == "QuarantineFunction"]
    assert source.queue == "QuarantineQueue" and source.report_batch_item_failures


def test_the_evidence_bucket_holds_in_governance_mode_for_a_year_with_the_evidence_key():
    props = load_template().properties("EvidenceBucket")
    assert props["ObjectLockEnabled"] is True
    assert props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"] == {"Mode": "GOVERNANCE", "Days": 365}
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": ["EvidenceKey", "Arn"]},
    }
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]


def test_every_variable_the_worker_reads_is_a_setting():
    variables = load_template().properties("QuarantineFunction")["Environment"]["Variables"]
    fields = {name.upper() for name in Settings.model_fields}
    assert {"EVIDENCE_BUCKET", "EVIDENCE_KMS_KEY_ID", "PROTECTED_BUCKETS", "TABLE_NAME"} <= set(variables) & fields
