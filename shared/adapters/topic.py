"""The on-call topic: pages about cases, ids and severities only (never report content)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from shared.adapters import aws
from shared.domain.escalation import Notice, Unavailable

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient


class SnsOnCall:
    def __init__(self, topic_arn: str, client: SNSClient | None = None) -> None:
        self.topic_arn = topic_arn
        self._client = client

    @property
    def client(self) -> SNSClient:
        return self._client or aws.sns()

    def notify(self, notice: Notice) -> None:
        try:
            self.client.publish(
                TopicArn=self.topic_arn,
                Subject=notice.subject(),
                Message=json.dumps(notice.message(), separators=(",", ":")),
                # Subscriptions filter on these (P0 to the phone, the rest to the queue) without parsing the body.
                MessageAttributes={
                    "severity": {"DataType": "String", "StringValue": str(notice.severity)},
                    "family": {"DataType": "String", "StringValue": notice.family},
                },
            )
        except ClientError as exc:
            raise Unavailable(f"Publish: {exc.response.get('Error', {}).get('Code', 'Unknown')}") from exc
        except Exception as exc:
            raise Unavailable(f"Publish: {type(exc).__name__}") from exc

    def filing_stopped(self, case_id: str, stage: str, call: str | None, code: int | None) -> None:
        """A CyberTipline filing that stopped on a final answer or in doubt: nothing happens until a person looks.
        Ids, the stage and NCMEC's code only; the notificationId is stable per case and stage (one incident)."""
        message = {
            "kind": "abuse-intake.cybertipline",
            "notificationId": f"{case_id}:cybertipline:{stage}",
            "caseId": case_id,
            "stage": stage,
            "call": call,
            "code": code,
        }
        try:
            self.client.publish(
                TopicArn=self.topic_arn,
                Subject=f"[P0] abuse-intake CyberTipline filing {stage} for case {case_id}",
                Message=json.dumps(message, separators=(",", ":")),
                MessageAttributes={
                    "severity": {"DataType": "String", "StringValue": "P0"},
                    "family": {"DataType": "String", "StringValue": "child_safety"},
                },
            )
        except ClientError as exc:
            raise Unavailable(f"Publish: {exc.response.get('Error', {}).get('Code', 'Unknown')}") from exc
        except Exception as exc:
            raise Unavailable(f"Publish: {type(exc).__name__}") from exc
