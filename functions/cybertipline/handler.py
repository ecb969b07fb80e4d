"""Lambda adapter for the CyberTipline filer: FIFO SQS FilingRequests in (one case per message group), partial failures
out. No boto3 here.

For each request: read the case and its draft (the escalation worker's `ncmec/<caseId>.xml`) and the preserved files
the custody log lists, then move the case's filing as far as it goes (shared.domain.cybertipline.file_case).
- FINISHED: the receipt is kept in the evidence bucket beside the draft; FilingsFinished.
- FAILED or IN_DOUBT: a final NCMEC answer or a person's call. The message is done (delivering it again would only
  repeat the refusal); the case page shows the filing's problem, on-call is paged at once, and FilingsFailed's
  alarm pages too.
- Paused by a retryable fault (NCMEC busy, a timeout), or the draft or a file not ready yet: the message fails and
  comes back after the visibility timeout, from the step the filing recorded. The queue's oldest message growing past
  an hour (an unfinished filing) and its DLQ both page.
A later message of the same case finds the filing FINISHED and does nothing: one CyberTip per case.

Logs carry the case id, the filing's stage, NCMEC's reportId and response codes; never a document or a file's bytes.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Json

from shared.adapters.cases_table import CaseTable
from shared.adapters.custody_log import CustodyEvidenceIndex, CustodyLog
from shared.adapters.cybertipline import CyberTiplineClient
from shared.adapters.filings import CasePayloads, FilingEvidence, FilingTable, credentials
from shared.adapters.topic import SnsOnCall
from shared.config import settings
from shared.domain import cybertipline
from shared.domain.cybertipline import Filing, FilingPaused, Stage
from shared.domain.messages import FilingRequest
from shared.domain.ncmec import DraftFile

logger = Logger(service="abuse-intake")
metrics = Metrics(namespace="AbuseIntake", service="abuse-intake")


class FilingRecord(SqsRecordModel):
    body: Json[FilingRequest]


class NotReady(Exception):
    """The case's draft, or one of its files, is not there yet: the message comes back and finds it."""


processor = SqsFifoPartialProcessor(model=FilingRecord, skip_group_on_error=True)
processor.raise_on_entire_batch_failure = False


def handle(record: FilingRecord, lambda_context: LambdaContext) -> None:
    request = record.body
    config = settings()
    bucket, key_id, secret = config.required("evidence_bucket", "evidence_kms_key_id", "cybertipline_secret_arn")
    logger.append_keys(case_id=request.case_id, decision_id=request.decision_id, message_id=record.messageId)
    case = CaseTable(config.table_name).get(request.case_id)
    if case is None:
        logger.error("filing requested for a case that does not exist")
        metrics.add_metric(name="FilingsFailed", unit=MetricUnit.Count, value=1)
        return
    store, evidence = FilingTable(config.table_name), FilingEvidence(bucket, key_id)
    found = CustodyEvidenceIndex(bucket, CustodyLog(config.table_name)).evidence(sorted(case.objects))
    # The preserved copies of the case's protected objects, and the payloads its reporters sent.
    files = [*found.files, *CasePayloads(config.table_name).files(request.case_id)]
    filing = store.load(request.case_id)
    if filing is None or not filing.terminal:
        draft = evidence.draft(request.case_id)
        if draft is None or (filing is None and found.pending):
            # A filing starts with every preserved file: a copy still being verified is seconds away.
            metrics.add_metric(name="FilingsWaiting", unit=MetricUnit.Count, value=1)
            raise NotReady(f"draft ready: {draft is not None}, files pending: {len(found.pending)}")
        if filing is None:
            metrics.add_metric(name="FilingsStarted", unit=MetricUnit.Count, value=1)
        filing = _file(request.case_id, draft, files, evidence, store, config.ncmec_url, secret)
    elif filing.stage is Stage.FINISHED:
        logger.info("case filed before", extra={"ncmec_report_id": filing.report_id})
    if filing.stage is Stage.FINISHED:
        # Again on a later message too, in case the one that finished died before this: the receipt is one more
        # retained version of its key, and the custody events have fixed ids (none is written twice).
        _record_filed(filing, files, evidence, config.table_name, bucket, lambda_context)
        return
    problem = filing.problem
    call, code = (problem.call, problem.code) if problem else (None, None)
    metrics.add_metric(name="FilingsFailed", unit=MetricUnit.Count, value=1)
    logger.error("filing stopped: a person must look", extra={"stage": str(filing.stage), "call": call, "code": code})
    # Paged now rather than at the alarm's next evaluation; a failed page fails the message, which pages again.
    (topic,) = config.required("oncall_topic_arn")
    SnsOnCall(topic).filing_stopped(request.case_id, str(filing.stage), call, code)


def _file(
    case_id: str,
    draft: bytes,
    files: list[DraftFile],
    evidence: FilingEvidence,
    store: FilingTable,
    ncmec_url: str,
    secret: str,
) -> Filing:
    username, password = credentials(secret)
    try:
        return cybertipline.file_case(
            case_id,
            draft=draft,
            files=files,
            read=evidence.read,
            api=CyberTiplineClient(ncmec_url, username, password),
            store=store,
        )
    except FilingPaused as paused:
        cause = paused.cause
        metrics.add_metric(name="FilingsPaused", unit=MetricUnit.Count, value=1)
        logger.warning(
            "filing paused; the message will come back",
            extra={
                "stage": str(paused.filing.stage),
                "call": str(cause.call) if cause else None,
                "code": cause.code if cause else None,
            },
        )
        raise


def _record_filed(
    filing: Filing,
    files: list[DraftFile],
    evidence: FilingEvidence,
    table_name: str,
    bucket: str,
    lambda_context: LambdaContext,
) -> None:
    """The receipt beside the draft, and a `reported` custody event on each filed file's chain."""
    assert filing.report_id is not None  # FINISHED records the reportId first
    receipt = evidence.keep_receipt(filing.case_id, filing.report_id, filing.receipt) if filing.receipt else None
    actor = f"{lambda_context.function_name}/{lambda_context.aws_request_id}"
    custody = CustodyLog(table_name)
    for event in cybertipline.reported_events(filing, files, bucket, actor=actor):
        custody.append(event)
    CasePayloads(table_name).record_reported(filing, files, actor)
    metrics.add_metric(name="FilingsFinished", unit=MetricUnit.Count, value=1)
    logger.info(
        "case filed with the CyberTipline",
        extra={"ncmec_report_id": filing.report_id, "files": len(filing.files), "receipt": receipt},
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
