"""build_world under moto.mock_aws: what the template declares is what gets created, and a second run reuses it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from local.template import SqsEventSource, event_sources, load_template
from local.world import World, build_world

SYNTHETIC_TEMPLATE = """\
AWSTemplateFormatVersion: 2010-09-09
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: test
  RetentionDays:
    Type: Number
    Default: 365
Globals:
  Function:
    Environment:
      Variables:
        STAGE: !Ref Stage
        TABLE_NAME: !Ref Table
Resources:
  # Declared before its dead-letter queue on purpose: creation must follow references, not template order.
  Work:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
      ContentBasedDeduplication: true
      VisibilityTimeout: 60
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt WorkDlq.Arn
        maxReceiveCount: 5
  WorkDlq:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
      MessageRetentionPeriod: 1209600
  EvidenceKey:
    Type: AWS::KMS::Key
    Properties:
      Description: evidence
      EnableKeyRotation: true
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {AWS: !Sub "arn:aws:iam::${AWS::AccountId}:root"}
            Action: kms:*
            Resource: "*"
  EvidenceKeyAlias:
    Type: AWS::KMS::Alias
    Properties:
      AliasName: alias/evidence-test
      TargetKeyId: !Ref EvidenceKey
  Evidence:
    Type: AWS::S3::Bucket
    Properties:
      ObjectLockEnabled: true
      ObjectLockConfiguration:
        ObjectLockEnabled: Enabled
        Rule:
          DefaultRetention: {Mode: GOVERNANCE, Days: !Ref RetentionDays}
      VersioningConfiguration: {Status: Enabled}
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault: {SSEAlgorithm: "aws:kms", KMSMasterKeyID: !GetAtt EvidenceKey.Arn}
            BucketKeyEnabled: true
      PublicAccessBlockConfiguration:
        BlockPublicAcls: true
        BlockPublicPolicy: true
        IgnorePublicAcls: true
        RestrictPublicBuckets: true
      OwnershipControls:
        Rules: [{ObjectOwnership: BucketOwnerEnforced}]
  Alerts:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: alerts
  AlertsToNotifications:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !Ref Alerts
      Protocol: sqs
      Endpoint: !GetAtt Notifications.Arn
      RawMessageDelivery: true
  Notifications:
    Type: AWS::SQS::Queue
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: PK, AttributeType: S}
        - {AttributeName: SK, AttributeType: S}
        - {AttributeName: GSI1PK, AttributeType: S}
        - {AttributeName: GSI1SK, AttributeType: N}
      KeySchema:
        - {AttributeName: PK, KeyType: HASH}
        - {AttributeName: SK, KeyType: RANGE}
      GlobalSecondaryIndexes:
        - IndexName: GSI1
          KeySchema:
            - {AttributeName: GSI1PK, KeyType: HASH}
            - {AttributeName: GSI1SK, KeyType: RANGE}
          Projection: {ProjectionType: INCLUDE, NonKeyAttributes: [status]}
  Dashboard:
    Type: AWS::CloudWatch::Dashboard
    Properties:
      DashboardBody: "{}"
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Handler: worker.handler
      Environment:
        Variables:
          QUEUE_URL: !Ref Work
          QUEUE_ARN: !GetAtt Work.Arn
          DLQ_NAME: !GetAtt WorkDlq.QueueName
          BUCKET: !Ref Evidence
          KEY_ARN: !GetAtt EvidenceKey.Arn
          TOPIC_ARN: !Ref Alerts
          SUMMARY: !Sub "${AWS::StackName}/${AWS::Region}/${Table}/${Table.Arn}/${!Literal}"
          RETENTION_DAYS: !Ref RetentionDays
          ENABLED: true
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Work.Arn
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
"""


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    # mock_aws only intercepts AWS's own endpoints, so no endpoint override may leak in from the environment.
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")] + ["AWS_PROFILE", "AWS_SESSION_TOKEN"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.Session(region_name="us-east-1")


@pytest.fixture
def synthetic(tmp_path: Path) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(SYNTHETIC_TEMPLATE)
    return path


def test_the_real_template_makes_the_reports_table_as_declared(session: boto3.Session) -> None:
    world = build_world(session_or_clients=session)
    declared = load_template().resources["ReportsTable"]["Properties"]
    ddb = session.client("dynamodb")
    name = world.physical_name("ReportsTable")
    assert name == "abuse-intake-local-ReportsTable"

    table = ddb.describe_table(TableName=name)["Table"]
    assert table["KeySchema"] == declared["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=str) == sorted(declared["AttributeDefinitions"], key=str)
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert world.get_att("ReportsTable", "StreamArn") == table["LatestStreamArn"]
    assert world.arn("ReportsTable") == table["TableArn"]
    backups = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED"
    assert ttl["AttributeName"] == declared["TimeToLiveSpecification"]["AttributeName"]


def test_building_twice_reuses_what_exists(session: boto3.Session) -> None:
    first = build_world(session_or_clients=session)
    ddb = session.client("dynamodb")
    table = first.physical_name("ReportsTable")
    ddb.put_item(TableName=table, Item={"PK": {"S": "p"}, "SK": {"S": "s"}})

    second = build_world(session_or_clients=session)

    assert second.physical_name("ReportsTable") == table
    assert second.get_att("ReportsTable", "StreamArn") == first.get_att("ReportsTable", "StreamArn")
    assert ddb.get_item(TableName=table, Key={"PK": {"S": "p"}, "SK": {"S": "s"}}).get("Item")


def test_a_synthetic_template_is_created_faithfully(session: boto3.Session, synthetic: Path) -> None:
    world = build_world(synthetic, session_or_clients=session)

    sqs = session.client("sqs")
    assert world.physical_name("Work") == "abuse-intake-local-Work.fifo"
    work = sqs.get_queue_attributes(QueueUrl=world.queue_url("Work"), AttributeNames=["All"])["Attributes"]
    assert (work["FifoQueue"], work["ContentBasedDeduplication"], work["VisibilityTimeout"]) == ("true", "true", "60")
    redrive = json.loads(work["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == world.arn("WorkDlq")
    assert int(redrive["maxReceiveCount"]) == 5
    dlq = sqs.get_queue_attributes(QueueUrl=world.queue_url("WorkDlq"), AttributeNames=["All"])["Attributes"]
    assert (dlq["FifoQueue"], dlq["MessageRetentionPeriod"]) == ("true", "1209600")

    kms = session.client("kms")
    key_id = world.ref("EvidenceKey")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "evidence"
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    assert kms.describe_key(KeyId="alias/evidence-test")["KeyMetadata"]["KeyId"] == key_id

    s3 = session.client("s3")
    bucket = world.physical_name("Evidence")
    assert bucket == "abuse-intake-local-evidence"
    lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    # moto also reports the unset unit of the retention period as 0 (`"Years": 0`); S3 reports only the one set.
    retention = {key: value for key, value in lock["Rule"]["DefaultRetention"].items() if value != 0}
    assert retention == {"Mode": "GOVERNANCE", "Days": 365}
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    by_default = rule["ApplyServerSideEncryptionByDefault"]
    assert by_default == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": world.arn("EvidenceKey")}
    assert rule["BucketKeyEnabled"] is True
    assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    ownership = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert ownership == [{"ObjectOwnership": "BucketOwnerEnforced"}]

    sns = session.client("sns")
    assert sns.get_topic_attributes(TopicArn=world.ref("Alerts"))["Attributes"]["DisplayName"] == "alerts"

    declared_gsi = world.template.resources["Table"]["Properties"]["GlobalSecondaryIndexes"][0]
    (gsi,) = session.client("dynamodb").describe_table(TableName=world.physical_name("Table"))["Table"][
        "GlobalSecondaryIndexes"
    ]
    assert (gsi["IndexName"], gsi["KeySchema"], gsi["Projection"]) == (
        declared_gsi["IndexName"],
        declared_gsi["KeySchema"],
        declared_gsi["Projection"],
    )
    assert "Dashboard" not in world.resources  # not emulated: skipped, yet still nameable
    assert world.ref("Dashboard") == "abuse-intake-local-Dashboard"


def test_a_second_build_reuses_key_queues_and_subscriptions_and_applies_changed_settings(
    session: boto3.Session, synthetic: Path
) -> None:
    first = build_world(synthetic, session_or_clients=session)
    synthetic.write_text(SYNTHETIC_TEMPLATE.replace("VisibilityTimeout: 60", "VisibilityTimeout: 90"))

    second = build_world(synthetic, session_or_clients=session)

    assert second.ref("EvidenceKey") == first.ref("EvidenceKey")  # found through its lookup alias, not re-created
    assert len(session.client("kms").list_keys()["Keys"]) == 1
    assert second.queue_url("Work") == first.queue_url("Work")
    attributes = session.client("sqs").get_queue_attributes(QueueUrl=second.queue_url("Work"), AttributeNames=["All"])
    assert attributes["Attributes"]["VisibilityTimeout"] == "90"
    assert second.ref("Alerts") == first.ref("Alerts")
    assert second.ref("AlertsToNotifications") == first.ref("AlertsToNotifications")
    (subscription,) = session.client("sns").list_subscriptions_by_topic(TopicArn=second.ref("Alerts"))["Subscriptions"]
    assert subscription["Endpoint"] == second.arn("Notifications")


def test_function_environment_is_resolved_to_physical_strings(session: boto3.Session, synthetic: Path) -> None:
    world = build_world(synthetic, session_or_clients=session, parameters={"Stage": "dev"})
    table = world.physical_name("Table")
    assert world.function_environment("Worker") == {
        "STAGE": "dev",
        "TABLE_NAME": table,
        "QUEUE_URL": world.queue_url("Work"),
        "QUEUE_ARN": world.arn("Work"),
        "DLQ_NAME": "abuse-intake-local-WorkDlq.fifo",
        "BUCKET": "abuse-intake-local-evidence",
        "KEY_ARN": world.arn("EvidenceKey"),
        "TOPIC_ARN": world.ref("Alerts"),
        "SUMMARY": f"abuse-intake-local/us-east-1/{table}/{world.arn('Table')}/${{Literal}}",
        "RETENTION_DAYS": "365",
        "ENABLED": "true",
    }


def test_event_sources_point_at_created_resources(session: boto3.Session, synthetic: Path) -> None:
    world: World = build_world(synthetic, session_or_clients=session)
    (jobs,) = event_sources(world.template, world.resolve)
    assert isinstance(jobs, SqsEventSource)
    assert (jobs.queue, jobs.batch_size, jobs.report_batch_item_failures) == ("Work", 5, True)
    assert world.queue_url(jobs.queue).endswith("abuse-intake-local-Work.fifo")
